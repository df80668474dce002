"""Simulator -> Kafka -> processors -> statistics agrees with Erlang C (the M/M/N queue).

The textbook case (100 calls per 30 min, AHT 180 s, 14 agents, FIFO, no abandonment) over a long
simulated run. Tolerance: 4 standard errors, estimated by batch means (20 consecutive batches of
answered contacts), since successive waits are correlated. The figures come from what the pipeline
stored: ASA and SL(20 s) from the queue-statistics day records, P(wait) from contact summaries.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.analytics import erlang
from streams.simulator.engine import DAY_MS, HOUR_MS, Simulation
from streams.simulator.profile import erlang_profile
from streams.simulator.publish import publish
from tests.support import Worker, isolated_settings, query, wait_until

HOURS = 40
THRESHOLD_MS = 20_000


def batch_se(values: list[float], batches: int = 20) -> float:
    size = len(values) // batches
    means = [statistics.fmean(values[i * size:(i + 1) * size]) for i in range(batches)]
    return statistics.stdev(means) / math.sqrt(batches)


@pytest.mark.kafka
def test_pipeline_agrees_with_erlang_c(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, sl_thresholds=f"voice-erlang={THRESHOLD_MS // 1000}")
    create_topics(settings)
    start = 1_764_000_000_000 - 1_764_000_000_000 % DAY_MS
    simulation = Simulation(erlang_profile(), start, seed=5, id_prefix="erl")
    with Worker(settings) as worker:
        # Long enough for every source partition to be declared idle before the backlog arrives:
        # the woken partitions must hold the watermark back at once (source_heartbeats.py).
        time.sleep(3 * settings.watermark_idle_s)
        publish(simulation, settings, HOURS * HOUR_MS, progress_every_ms=50 * HOUR_MS)
        answered = simulation.stats["answered"]
        assert simulation.stats["abandoned"] == 0 and answered > 7_000

        def day_rows() -> list | None:
            rows = query(settings, "SELECT answered, asa_ms, answered_within_threshold, abandoned, short_abandoned, "
                                   "late_events FROM queue_statistics "
                                   "WHERE \"window\" = 'DAY' AND region = '*' AND queue = 'voice-erlang'")
            return rows if sum(r[0] for r in rows) == answered else None

        rows = wait_until(day_rows, timeout=600, interval=2, what="all answered contacts in the day records",
                          worker=worker)
    # Published in event-time order, so nothing may be late however far the pipeline lags behind.
    assert sum(r[5] for r in rows) == 0
    total = sum(r[0] for r in rows)
    asa_s = sum(r[0] * r[1] for r in rows) / total / 1000
    sl = sum(r[2] for r in rows) / sum(r[0] + r[3] - r[4] for r in rows)

    waits = [w / 1000 for (w,) in query(settings, "SELECT wait_ms FROM contact_summaries "
                                                  "WHERE answered_at IS NOT NULL ORDER BY answered_at")]
    assert len(waits) == total
    p_wait = sum(1 for w in waits if w > 0) / len(waits)
    assert asa_s == pytest.approx(statistics.fmean(waits), rel=1e-9)  # two views, one truth

    load = erlang.offered_load(100 / 1800, 180)
    theory = {"P(wait)": erlang.prob_wait(14, load), "ASA": erlang.asa(14, load, 180),
              "SL(20 s)": erlang.service_level(14, load, 180, THRESHOLD_MS / 1000)}
    measured = {"P(wait)": p_wait, "ASA": asa_s, "SL(20 s)": sl}
    errors = {"P(wait)": batch_se([1.0 if w > 0 else 0.0 for w in waits]),
              "ASA": batch_se(waits),
              "SL(20 s)": batch_se([1.0 if w <= THRESHOLD_MS / 1000 else 0.0 for w in waits])}
    report = {k: (round(measured[k], 4), round(theory[k], 4), round(errors[k], 4)) for k in theory}
    print("measured, Erlang C, standard error:", report)
    for key in theory:
        assert abs(measured[key] - theory[key]) <= 4 * errors[key], report
