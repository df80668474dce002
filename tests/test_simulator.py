"""The simulator on its own (pure logic): deterministic, valid records, the seed's figures."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from streams.codec import Codec, load_registry
from streams.processors.contact_lifecycle import ContactState
from streams.settings import Settings
from streams.simulator.engine import DAY_MS, HOUR_MS, Simulation
from streams.simulator.profile import erlang_profile, seed_profile
from streams.topics import spec
from tests.test_contact_lifecycle import SCHEMA_DEFAULTS

START = 1_764_000_000_000 - 1_764_000_000_000 % DAY_MS


def test_same_seed_same_records_and_every_record_fits_its_schema() -> None:
    first = list(Simulation(erlang_profile(), START, seed=3).run(5 * HOUR_MS))
    again = list(Simulation(erlang_profile(), START, seed=3).run(5 * HOUR_MS))
    assert first == again and len(first) > 1000
    assert first != list(Simulation(erlang_profile(), START, seed=4).run(5 * HOUR_MS))
    codec = Codec(load_registry(Settings().schemas_dir))
    for topic, record in first:
        codec.encode(spec(topic).value_schema, record, check=True)
    times = [r["occurred_at"] for _, r in first]
    assert times == sorted(times)  # published in event-time order


def test_the_seed_profile_resembles_the_press_release() -> None:
    states: dict[str, ContactState] = {}
    scores = []
    for topic, record in Simulation(seed_profile(), START, seed=1).run(DAY_MS):
        if topic == "contact-events":
            states.setdefault(record["contact_id"], ContactState(record["contact_id"])).apply({**SCHEMA_DEFAULTS, **record})
        elif topic == "survey-responses":
            scores.append(record["score"])
    summaries = [s.summary() for s in states.values()]
    voice = [s for s in summaries if s["channel"] == "VOICE"]
    asa = statistics.fmean(s["wait_ms"] for s in voice if s["answered_at"] is not None) / 1000
    duration = statistics.fmean(s["duration_ms"] for s in voice if s["status"] == "ENDED") / 1000
    assert abs(asa - 90) <= 0.05 * 90, asa  # "1.5 minutes to answer"
    assert abs(duration - 256) <= 0.05 * 256, duration  # "4 min 16 s in all"
    assert sum(s["line"] == 1 for s in summaries) / len(summaries) >= 0.965  # "> 97 % at the first line"
    assert 0.93 <= sum(x == 5 for x in scores) / len(scores) <= 0.97  # "> 95 % give 5 of 5"
    assert 0.25 <= 1 - len(voice) / len(summaries) <= 0.45  # online share


def test_a_scaled_centre_has_that_many_times_the_contacts_and_fixed_staff() -> None:
    base, big = seed_profile(), seed_profile().scaled(5)
    assert big.name == "seedx5" and seed_profile().scaled(1) == base
    assert [c.contacts_per_day for c in big.channels] == [5 * c.contacts_per_day for c in base.channels]
    assert {g.name: g.count for g in big.agents} == {g.name: 5 * g.count for g in base.agents}

    def contacts_and_agents(profile: Any) -> tuple[int, int]:
        records = list(Simulation(profile, START, seed=2).run(12 * HOUR_MS))
        contacts = {r["contact_id"] for t, r in records if t == "contact-events"}
        agents = {r["agent_id"] for t, r in records if t == "agent-events"}
        return len(contacts), len(agents)

    (small_contacts, small_agents), (big_contacts, big_agents) = contacts_and_agents(base), contacts_and_agents(big)
    # Poisson arrivals: ~3,600 contacts against ~18,000; 4 % is many standard deviations.
    assert abs(big_contacts / small_contacts - 5) <= 0.2, (small_contacts, big_contacts)
    assert 4 * small_agents <= big_agents <= 6 * small_agents  # the hourly staffing grows with the load
    with pytest.raises(ValueError):
        base.scaled(0)


def test_the_live_router_fed_the_acds_requests_decides_as_the_simulated_acd_did(tmp_path) -> None:
    """With a routing group, the simulator publishes what its ACD told its routing engine; the live
    router (here on the broker-less context), configured with `routing_config_for(profile, group)`
    and without clock ticks, reads those requests and makes exactly the ACD's decisions, ids,
    agents, times and all: what `firstline run` shows on the wallboard is the simulated routing."""
    from streams.engine.testing import Harness, offline_settings
    from streams.processors.router import Router as LiveRouter
    from streams.routing.config import dumps
    from streams.simulator.engine import routing_config_for

    import time

    day = int(time.time() * 1000) // DAY_MS * DAY_MS - DAY_MS
    profile = seed_profile().scaled(0.1)
    sim = Simulation(profile, day, seed=5, id_prefix="rt", routing_group="sim-rt")
    made: list[Any] = []
    handle = sim.router.handle

    def recorded(event: Any) -> Any:
        decided = handle(event)
        made.extend(decided)
        return decided

    sim.router.handle = recorded  # type: ignore[method-assign]
    records = list(sim.run(14 * HOUR_MS))
    requests = [r for topic, r in records if topic == "routing-requests"]
    assert {r["kind"] for r in requests} == {"AGENT", "CONTACT_QUEUED", "OFFER_ACCEPTED", "CONTACT_LEFT"}
    assert len({r["request_id"] for r in requests}) == len(requests)
    # Without a routing group the simulation publishes exactly what it did before.
    plain = list(Simulation(profile, day, seed=5, id_prefix="rt").run(14 * HOUR_MS))
    assert plain == [(t, r) for t, r in records if t != "routing-requests"]

    config = tmp_path / "routing.toml"
    config.write_text(dumps(routing_config_for(profile, "sim-rt")))
    h = Harness(LiveRouter, offline_settings(routing_config=config, routing_tick_s=0.0))
    for r in requests:
        h.feed("routing-requests", r, key=r["group"])
    h.run()
    assert not h.dead_letters()
    live = [(d["decision_id"], d["kind"], d["contact_id"], d["agent_id"], d["queue"], d["occurred_at"], d["position"],
             d["ewt_ms"]) for d in h.outputs("routing-decisions")]
    acd = [(d.decision_id, d.kind, d.contact_id, d.agent_id, d.queue, d.at, d.position, d.ewt_ms) for d in made]
    assert len(acd) > 500 and {k for _, k, *_ in acd} >= {"QUEUED", "OFFERED", "ASSIGNED"}
    assert live == acd
    assert h.processor.timers() == []  # no clock ticks for a stream played faster than time
