"""An M/M/N run through the whole pipeline: every stored figure equals the same events folded by hand.

The textbook case (100 calls per 30 min, AHT 180 s, 14 agents, FIFO, no abandonment) for 40
simulated hours, published as fast as the simulator goes. What the pipeline stored (each day's
queue-statistics record: offered, answered, ASA, answered within T, the service level itself,
AHT, the longest wait; each contact's wait) must equal the fold of the very events the simulator
published (tests/expected_figures.py, none of the pipeline's code), exactly: this is where a
pipeline bug shows. That the simulator itself agrees with Erlang C, within 2 standard errors and
ASA within 5 %, is shown over 1,000 simulated hours per case in test_routing_erlang.py: a 40-hour
run is too short for that (its standard error of ASA is about 40 %).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.simulator.engine import DAY_MS, HOUR_MS, Simulation
from streams.simulator.profile import erlang_profile
from streams.simulator.publish import publish
from streams.topics import spec
from tests import expected_figures
from tests.support import Worker, decoded, isolated_settings, query, wait_until

HOURS = 40
THRESHOLD_MS = 20_000
QUEUE = "voice-erlang"


@pytest.mark.kafka
def test_pipeline_figures_of_an_erlang_run_equal_the_hand_fold(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, sl_thresholds=f"{QUEUE}={THRESHOLD_MS // 1000}")
    create_topics(settings)
    start = 1_764_000_000_000 - 1_764_000_000_000 % DAY_MS
    simulation = Simulation(erlang_profile(), start, seed=5, id_prefix="erl")
    with Worker(settings) as worker:
        # Every source partition declared idle before the backlog arrives: the woken partitions
        # must hold the watermark back at once (source_heartbeats.py).
        sources = set(range(spec("contact-events").partition_count(settings)))

        def all_idle() -> bool:
            idle = {f["source_partition"] for r in decoded(settings, "queue-facts")
                    for f in r["facts"] if f.get("source_idle")}
            return idle >= sources

        wait_until(all_idle, timeout=120, worker=worker, what="every source partition declared idle")
        publish(simulation, settings, HOURS * HOUR_MS, progress_every_ms=50 * HOUR_MS)
        answered = simulation.stats["answered"]
        assert simulation.stats["abandoned"] == 0 and answered > 7_000

        # The same events again, folded by hand.
        events = list(Simulation(erlang_profile(), start, seed=5, id_prefix="erl").run(HOURS * HOUR_MS))
        contacts = expected_figures.contacts_of(events)
        expected = {day: expected_figures.window_figures(contacts.values(), day,
                                                         thresholds={QUEUE: THRESHOLD_MS})[QUEUE].figures()
                    for day in range(start, start + HOURS * HOUR_MS, DAY_MS)}
        assert sum(f["answered"] for f in expected.values()) == answered
        columns = list(next(iter(expected.values())))
        names = ", ".join(f'"{c}"' for c in columns)

        def stored() -> dict[int, dict] | None:
            rows = query(settings, f"SELECT window_start, {names}, late_events FROM queue_statistics "
                                   f"WHERE \"window\" = 'DAY' AND region = '*' AND queue = '{QUEUE}'")
            got = {r[0]: dict(zip([*columns, "late_events"], r[1:])) for r in rows}
            return got if sum(d["answered"] for d in got.values()) == answered else None

        got = wait_until(stored, timeout=600, interval=2, what="all answered contacts in the day records",
                         worker=worker)
    # Published in event-time order, so nothing may be late however far the pipeline lags behind.
    assert sum(d.pop("late_events") for d in got.values()) == 0
    assert not expected_figures.differences(got, expected)

    waits = dict(query(settings, "SELECT contact_id, wait_ms FROM contact_summaries WHERE answered_at IS NOT NULL"))
    assert waits == {cid: c.summary()["wait_ms"] for cid, c in contacts.items() if c.answers}
    waited = sum(1 for w in waits.values() if w > 0) / len(waits)
    print("P(wait)", round(waited, 4), "ASA s", round(sum(waits.values()) / len(waits) / 1000, 3))
