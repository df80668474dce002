"""The contact-summary fold written the documented way in the frameworks a user would otherwise
pick (faust-streaming, quix-streams), for `make bench ARGS="--only peers"` (tests/bench_peers.py).
Each folds the same backlog with the same pure code as firstline (decode, check, pseudonymise,
ContactState.apply, summary, encode) and reports its own CPU from its first record to its last."""
