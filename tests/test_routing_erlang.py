"""The routing engine wastes no agent time: the simulator, routing through it, agrees with Erlang C.

N identical agents, one FIFO queue, Poisson arrivals, exponential handle times, nobody abandons:
the M/M/N queue, whose P(wait), ASA and SL(20 s) Erlang C gives exactly. An engine that left an
agent idle while a contact waited (or served out of order in a way that changed the mean) would
wait longer than the formula. Long runs (1,000 simulated hours, 100,000+ contacts each);
standard errors by batch means (20 batches), since successive waits are correlated. Pass: every
figure within 2 standard errors, and ASA within 5 %. The seeds are fixed, so the test is
repeatable; other seeds were tried when it was written (docs/testing.md).
"""

from __future__ import annotations

import math
import statistics

import pytest

from streams.analytics import erlang
from streams.simulator.engine import HOUR_MS, Simulation
from streams.simulator.profile import erlang_profile

THRESHOLD_S = 20.0
START = 1_764_000_000_000


def batch_se(values: list[float], batches: int = 20) -> float:
    """The standard error of the mean by batch means: successive waits are correlated."""
    size = len(values) // batches
    means = [statistics.fmean(values[i * size:(i + 1) * size]) for i in range(batches)]
    return statistics.stdev(means) / math.sqrt(batches)


def waits_of(simulation: Simulation, hours: int) -> list[float]:
    queued: dict[str, int] = {}
    waits = []
    for topic, record in simulation.run(hours * HOUR_MS):
        if topic != "contact-events":
            continue
        if record["type"] == "QUEUED":
            queued[record["contact_id"]] = record["occurred_at"]
        elif record["type"] == "ANSWERED":
            waits.append((record["occurred_at"] - queued.pop(record["contact_id"])) / 1000)
    return waits


@pytest.mark.parametrize("per_30_min, aht_s, agents, seed", [
    (100, 180, 14, 3),  # occupancy 0.71
    (60, 180, 8, 3),  # 0.75, few agents
    (150, 180, 17, 3),  # 0.88, half the callers wait
])
def test_the_engine_as_acd_agrees_with_erlang_c(per_30_min: int, aht_s: int, agents: int, seed: int) -> None:
    simulation = Simulation(erlang_profile(per_30_min, aht_s, agents), START, seed=seed)
    waits = waits_of(simulation, 1000)
    assert simulation.stats["abandoned"] == 0 and len(waits) > 100_000
    load = erlang.offered_load(per_30_min / 1800, aht_s)
    theory = {"P(wait)": erlang.prob_wait(agents, load), "ASA": erlang.asa(agents, load, aht_s),
              "SL(20 s)": erlang.service_level(agents, load, aht_s, THRESHOLD_S)}
    samples = {"P(wait)": [1.0 if w > 0 else 0.0 for w in waits], "ASA": waits,
               "SL(20 s)": [1.0 if w <= THRESHOLD_S else 0.0 for w in waits]}
    measured = {k: statistics.fmean(v) for k, v in samples.items()}
    errors = {k: batch_se(v) for k, v in samples.items()}
    report = {k: (round(measured[k], 4), round(theory[k], 4), round(errors[k], 4)) for k in theory}
    print("measured, Erlang C, standard error:", report)
    for key in theory:
        assert abs(measured[key] - theory[key]) <= 2 * errors[key], report
    assert measured["ASA"] == pytest.approx(theory["ASA"], rel=0.05), report


@pytest.mark.parametrize("per_30_min, aht_s, agents", [(60, 180, 10), (150, 180, 17)])
def test_the_estimated_wait_agrees_with_the_waits_that_followed(per_30_min: int, aht_s: int, agents: int) -> None:
    """EWT announced when a contact joins the queue against its wait (contacts that waited; at
    occupancy 0.60 and 0.88). Unbiased within 10 % of the mean wait; the error of one estimate is
    that of the wait itself ((k + 1) exponential phases), stated in docs/routing.md."""
    simulation = Simulation(erlang_profile(per_30_min, aht_s, agents), START, seed=4)
    for _ in simulation.run(200 * HOUR_MS):
        pass
    pairs = [(estimate / 1000, wait / 1000) for estimate, wait in simulation.ewt.values() if wait >= 0]
    assert len(pairs) > 2000
    mean_wait = statistics.fmean(w for _, w in pairs)
    bias = statistics.fmean(e - w for e, w in pairs)
    print(f"mean wait {mean_wait:.1f} s, bias {bias:+.1f} s, "
          f"mean |error| {statistics.fmean(abs(e - w) for e, w in pairs):.1f} s")
    assert abs(bias) <= 0.1 * mean_wait
