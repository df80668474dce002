"""The peers of `make bench` (tests/bench.py --only peers): the contact-summary fold in
firstline, and the same fold written the documented way in faust-streaming and in quix-streams
(tests/peers/), over the same backlog in the same run, next to a raw consumer that only decodes.

Each reads the whole backlog of contact events from the beginning in a consumer group of its
own; CPU per event is the process's (all its threads) from its first record to its last, as
each peer reports it, and, for firstline, the worker's from its ready to its group committing
the last event. firstline's worker does more per event than the peers (queue facts, minute
deltas and the queue statistics they feed, state expiry, watermarks). quix-streams runs in a
virtual environment of its own (.venv-peers, `make peers`): its dependencies are not firstline's.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from streams.admin.topics import create_topics
from streams.settings import REPO_ROOT, Settings
from streams.topics import spec
from tests.bench_sms import committed, raw_decode
from tests.support import Worker, isolated_settings, settings_env, wait_until

PEERS = {"faust": [sys.executable, "-m", "tests.peers.faust_fold", "worker", "-l", "warn", "--without-web"],
         "quix": [str(REPO_ROOT / ".venv-peers" / "bin" / "python"), "-m", "tests.peers.quix_fold"],
         "quix-avro": [str(REPO_ROOT / ".venv-peers" / "bin" / "python"), "-m", "tests.peers.quix_fold"]}
# quix-avro: quix-streams reading and writing with its own Avro serializers, as its documentation
# has them; the others are handed firstline's codec, which favours them.
SERDE = {"quix-avro": "quix"}


def run_peer(name: str, settings: Settings, events: int, tmp: Path, round_: int) -> dict[str, float]:
    group = f"{settings.namespace}-peer-{name}-{round_}"
    env = {**settings_env(settings), "PEER_INPUT": spec("contact-events").full_name(settings),
           "PEER_OUTPUT": f"{settings.namespace}.peer-{name}-{round_}-summaries", "PEER_GROUP": group,
           "PEER_EXPECTED": str(events), "PEER_DATADIR": str(tmp / group), "PATH": "/usr/bin:/bin",
           "PEER_SERDE": SERDE.get(name, "firstline")}
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:  # the broker creates no topic by itself, and faust declares only those it reads
        admin.create_topics([NewTopic(env["PEER_OUTPUT"], settings.partitions, 1)])
    finally:
        admin.close()
    log = tmp / f"{group}.log"
    with open(log, "wb") as out:  # faust's worker sends what a program prints to its log
        proc = subprocess.Popen(PEERS[name], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            exited = proc.poll() is not None  # before reading: what it printed before it exited counts
            found = re.search(rb"PEER (\{.*?\})", log.read_bytes())
            if found:
                r = orjson.loads(found.group(1))
                return {"events_per_s": r["records"] / r["wall_s"], "cpu_us": r["cpu_s"] / r["records"] * 1e6}
            if exited:
                break
            time.sleep(0.5)
        raise SystemExit(f"peer {name} gave no figures: {log.read_text()[-3000:]}")
    finally:
        proc.kill()
        proc.wait()


def run_firstline(settings: Settings, events: int, round_: int) -> dict[str, float]:
    from tests.bench import cpu_seconds  # here: tests.bench imports this module

    with Worker(settings, f"firstline-{round_}") as worker:
        assert worker.proc is not None
        ready_ms, cpu_from = worker.ready_ms(), cpu_seconds(worker.proc.pid)
        done = wait_until(lambda: committed(settings, "contact-events") >= events and time.time(), timeout=600,
                          interval=0.1, what="every event folded", worker=worker)
        cpu = cpu_seconds(worker.proc.pid) - cpu_from
    return {"events_per_s": events / (done - ready_ms / 1000), "cpu_us": cpu / events * 1e6}


def bench_peers(contacts: int, tmp: Path, rounds: int = 2) -> dict[str, Any]:
    """Rounds in turn, each on a backlog of its own (the same events: firstline's consumer group
    and state topics are its namespace's), the order reversed every other round."""
    from tests.bench import load

    runs: dict[str, list[dict[str, float]]] = {"raw": [], "firstline": [], "faust": [], "quix": [], "quix-avro": []}
    for round_ in range(rounds):
        # firstline runs the contact-summary processor alone, as the peers fold contact summaries
        # alone (it still sends the minute deltas the statistics would merge, which they do not).
        settings = isolated_settings(tmp / f"peers-{round_}", partitions=3, role="processors",
                                     processors="contact-summary",
                                     commit_interval_s=Settings.from_env().commit_interval_s)
        create_topics(settings)
        events = load(settings, contacts, int(time.time() * 1000) - 3 * 86_400_000, seed=3)
        raw_s, raw_cpu = asyncio.run(raw_decode(settings, events, "contact-events"))
        runs["raw"].append({"events_per_s": events / raw_s, "cpu_us": raw_cpu / events * 1e6})
        order = ["firstline", "faust", "quix", "quix-avro"]
        for name in order if round_ % 2 == 0 else order[::-1]:
            r = run_firstline(settings, events, round_) if name == "firstline" else \
                run_peer(name, settings, events, tmp, round_)
            runs[name].append(r)
            print(f"  round {round_ + 1} {name:<10} {r['events_per_s']:>9,.0f} events/s  {r['cpu_us']:>6.1f} us CPU per event")
    return {"events": events, "runs": runs}


def report_peers(contacts: int, tmp: Path, rounds: int = 2) -> dict[str, Any]:
    import statistics

    print(f"peers: the contact-summary fold over {contacts:,} contacts' events, rounds in turn")
    b = bench_peers(contacts, tmp, rounds)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("events_per_s", "cpu_us")}
           for name, rs in b["runs"].items()}
    best = min(med["faust"]["cpu_us"], med["quix"]["cpu_us"])
    documented = min(med["faust"]["cpu_us"], med["quix-avro"]["cpu_us"])
    for name, m in med.items():
        print(f"peers {name:<9} median {m['events_per_s']:>9,.0f} events/s  {m['cpu_us']:>6.1f} us CPU per event")
    print(f"peers firstline's CPU per event / the best peer's: {med['firstline']['cpu_us'] / best:.2f} with "
          f"firstline's codec in the peers, {med['firstline']['cpu_us'] / documented:.2f} with their own "
          f"({b['events']:,} events)")
    return {"peers_events": b["events"], **{f"peers_{n}_{k}": v for n, m in med.items() for k, v in m.items()},
            "peers_runs": b["runs"]}
