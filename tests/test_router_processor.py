"""The live router on the broker-less context: requests in, decisions out, bad requests to the dead
letters, and a crash between sending and committing decided again alike."""

from __future__ import annotations

import time
from pathlib import Path

from streams.engine.testing import Harness, offline_settings
from streams.processors.router import Router
from tests.routing_requests import agent, answer, left, queued, request

REPO = Path(__file__).resolve().parent.parent


def wall() -> int:
    return int(time.time() * 1000)


def decisions(h: Harness) -> list[tuple[str, str, str | None]]:
    return [(d["kind"], d["contact_id"], d["agent_id"]) for d in h.outputs("routing-decisions")]


def test_requests_become_decisions_with_the_queue_the_rules_choose():
    NOW = wall()
    h = Harness(Router, offline_settings())
    h.feed("routing-requests", agent(NOW, "v1", voice=3, ru=1))
    h.feed("routing-requests", agent(NOW, "sec", security=2))
    h.feed("routing-requests", queued(NOW + 1, "c1"))
    h.feed("routing-requests", queued(NOW + 2, "f1", reason="fraud"))
    h.run()
    assert decisions(h) == [("QUEUED", "c1", None), ("OFFERED", "c1", "v1"),
                            ("QUEUED", "f1", None), ("OFFERED", "f1", "sec")]
    out = h.outputs("routing-decisions")
    assert out[2]["queue"] == "security" and out[2]["rule"] == "fraud" and out[2]["priority"] == 10
    assert all(d["group"] == "default" for d in out)
    h.feed("routing-requests", answer(NOW + 3, "c1", "v1", offer_id=out[1]["decision_id"]))
    h.feed("routing-requests", left(NOW + 4, "f1"))
    h.run()
    assert decisions(h)[4:] == [("ASSIGNED", "c1", "v1")]


def test_bad_requests_go_to_the_dead_letters_and_the_good_ones_around_them_are_decided():
    NOW = wall()
    h = Harness(Router, offline_settings())
    bad = [
        request("AGENT", NOW, agent_id="a"),  # no state
        request("CONTACT_QUEUED", NOW, contact_id="x"),  # no channel
        request("OFFER_ACCEPTED", NOW, contact_id="x"),  # no agent
        request("CONTACT_LEFT", NOW),  # no contact
        queued(NOW, "y", group="elsewhere"),  # unknown group
        queued(NOW + 3_600_000, "z"),  # an hour in the future
        agent(NOW, "a", capacity={"VOICE": 1000}),
    ]
    h.feed("routing-requests", agent(NOW, "v1", voice=3, ru=1))
    for r in bad:
        h.feed("routing-requests", r, key=r["group"])
    h.feed("routing-requests", b"\x00garbage", key="default")
    h.feed("routing-requests", queued(NOW + 1, "c1"))
    h.run()
    reasons = [d["error"] for d in h.dead_letters()]
    assert len(reasons) == len(bad) + 1, reasons
    assert any("routing group 'elsewhere'" in r for r in reasons)
    assert decisions(h) == [("QUEUED", "c1", None), ("OFFERED", "c1", "v1")]


def test_a_crash_before_the_commit_decides_the_same_again():
    NOW = wall()
    h = Harness(Router, offline_settings())
    for i in range(3):
        h.feed("routing-requests", agent(NOW, f"v{i}", voice=3, ru=1))
    h.run()
    for i in range(6):
        h.feed("routing-requests", queued(NOW + 10 + i, f"c{i}"))
    h.fail("changelog")  # the decisions are sent, the state is not written: nothing is committed
    try:
        h.run()
    except Exception:
        pass
    first = [(d["decision_id"], d["agent_id"]) for d in h.outputs("routing-decisions")]
    h = h.restart()
    h.run()
    again = [(d["decision_id"], d["agent_id"]) for d in h.outputs("routing-decisions")]
    offered = {}
    for decision_id, agent_id in again:
        assert offered.setdefault(decision_id, agent_id) == agent_id  # the same id, the same agent
    assert set(first) <= set(again) and len(set(again)) == 9  # 6 queued, 3 offered


def test_the_clock_ticks_through_the_topic_while_an_offer_is_pending(tmp_path):
    """An offer nobody answers times out through the router's own TICK records: written while
    anything is pending, read back, acted on (here with an offer timeout of 1 s)."""
    config = tmp_path / "routing.toml"
    config.write_text((REPO / "deploy" / "routing.toml").read_text().replace("offer_timeout_s = 20", "offer_timeout_s = 1"))
    h = Harness(Router, offline_settings(routing_config=config))
    h.feed("routing-requests", agent(wall(), "v1", voice=3, ru=1))
    h.feed("routing-requests", queued(wall(), "c1"))
    h.run()
    now = [time.time()]
    h.ctx.clock.now = lambda: now[0]  # the worker's clock, moved by the test
    ticks_read = 0
    for step_s in (0.5, 0.6):  # the offer is 0.5 s old, then 1.1 s: past its timeout
        assert decisions(h)[-1] == ("OFFERED", "c1", "v1")
        now[0] += step_s
        h.tick()  # a TICK goes to the group's partition while the offer is pending
        ticks = [r for r in h.outputs("routing-requests") if r["kind"] == "TICK"][ticks_read:]
        assert len(ticks) == 1 and ticks[0]["group"] == "default" and ticks[0]["occurred_at"] == int(now[0] * 1000)
        h.feed("routing-requests", ticks[0])  # read back, as the worker would
        ticks_read += 1
        h.run()
    assert decisions(h)[-1] == ("REQUEUED", "c1", "v1")
    assert h.outputs("routing-decisions")[-1]["reason"] == "offer timed out"
    assert ticks_read == 2  # the second tick timed it out


def test_the_state_records_stay_small_however_busy_the_group():
    """The changelog record of a group's engine (clock, sequence, service rates) and of each agent
    and contact is bounded: the rates are counted per minute, not kept per assignment (a first
    version's grew by one timestamp per assignment, past the broker's message size at 500
    contacts/s)."""
    NOW = wall() - 600_000
    h = Harness(Router, offline_settings())
    h.feed("routing-requests", agent(NOW, "v0", voice=3, ru=1))
    for n in range(3000):  # one agent, who answers every offer and ends each contact at once
        at = NOW + n * 100
        h.feed("routing-requests", queued(at, f"c{n}"))
        h.feed("routing-requests", answer(at, f"c{n}", "v0"))
        h.feed("routing-requests", left(at, f"c{n}"))
        if n % 500 == 499:
            h.run()
    assert sum(d["kind"] == "ASSIGNED" for d in h.outputs("routing-decisions")) == 3000
    sizes = {}
    for table in ("routing-meta", "routing-agents", "routing-contacts"):
        name = f"{h.settings.namespace}-{table}-changelog"
        sizes[table] = max((len(s.value or b"") for s in h.broker.topics.get(name, [])), default=0)
    assert 0 < sizes["routing-meta"] < 1024 and 0 < sizes["routing-agents"] < 512, sizes
