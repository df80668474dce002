"""The routing engine's decisions whole, every field worked out by hand (the scenario tests of
test_routing_engine.py look at kinds and agents; a wrong priority, reason, position, EWT or time
on a decision is what a desk, an IVR announcement or a report would show). Also its service-rate
arithmetic and its state's round trip through the tables."""

from __future__ import annotations

import pytest

from streams.routing.engine import (Agent, AgentChanged, Contact, ContactLeft, ContactQueued, Decision, OfferAnswered,
                                    Router, ServiceRate, Tick, violations)
from tests.test_routing_engine import BASIC, router as new_router

# A decision id is the contact, the router's sequence number of the contact's entry and the
# contact's decision count. The scenarios below write the count by hand; the entry is the one the
# router under test gave the contact (checked by hand in the re-entry test at the end).
_under_test: list[Router] = []
_entries: dict[str, int] = {}


def router(text: str = BASIC) -> Router:
    r = new_router(text)
    _under_test[:] = [r]
    _entries.clear()
    return r


def entry_of(contact_id: str) -> int:
    c = _under_test[0].contacts.get(contact_id) if _under_test else None
    if c is not None:
        _entries[contact_id] = c.entry
    return _entries[contact_id]


def d(kind: str, contact_id: str, n: int, at: int, priority: int, reason: str, agent: str | None = None,
      queue: str = "billing", rule: str = "as-queued", escalated: bool = False, position: int | None = None,
      ewt_ms: int | None = None, channel: str = "VOICE") -> Decision:
    return Decision(kind, f"{contact_id}:{entry_of(contact_id)}:{n}", at, contact_id, channel, queue, rule, priority, reason, agent,
                    escalated, position, ewt_ms)


WIDEN = "waited 60 s: skills widened to {'billing': 1}"
OVERFLOW = "waited 120 s in billing: overflow to line2"


def test_one_agent_four_callers_every_decision_whole():
    r = router()
    assert r.handle(AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1})) == []
    assert r.handle(ContactQueued(1_000, "c1", "VOICE", "billing")) == [
        d("QUEUED", "c1", 1, 1_000, 0, "rule as-queued", position=0, ewt_ms=0),
        d("OFFERED", "c1", 2, 1_000, 0, "longest-idle in billing", "a")]
    # a busy: c2 waits first in line; no ends seen and no assignments yet: the mean handle time
    # (180 s) over the one place that could take it
    assert r.handle(ContactQueued(2_000, "c2", "VOICE", "billing")) == [
        d("QUEUED", "c2", 1, 2_000, 0, "rule as-queued", position=0, ewt_ms=180_000)]
    assert r.handle(ContactQueued(3_000, "c3", "VOICE", "billing", segment="vip")) == [
        d("QUEUED", "c3", 1, 3_000, 2, "rule vip", rule="vip", position=0, ewt_ms=180_000)]
    # c3's priority 2 is ahead of c4, and so is c2: position 2, three handle times
    assert r.handle(ContactQueued(4_000, "c4", "VOICE", "billing")) == [
        d("QUEUED", "c4", 1, 4_000, 0, "rule as-queued", position=2, ewt_ms=540_000)]
    assert r.handle(OfferAnswered(5_000, "c1", "a", True)) == [
        d("ASSIGNED", "c1", 3, 5_000, 0, "offer accepted", "a")]
    assert r.handle(OfferAnswered(6_000, "c1", "a", True)) == [] and r.stale_answers == 1
    assert r.handle(OfferAnswered(6_000, "c1", "a", True, offer_id="c1:1:2")) == [] and r.stale_answers == 2
    # the first ring of each waiting contact, in the order they fall due; aging adds 1 per 60 s
    assert r.handle(Tick(65_000)) == [
        d("ESCALATED", "c2", 2, 65_000, 1, WIDEN, escalated=True),
        d("ESCALATED", "c3", 2, 65_000, 3, WIDEN, rule="vip", escalated=True),
        d("ESCALATED", "c4", 2, 65_000, 1, WIDEN, escalated=True)]
    # c1 ends after 65 s with a: the first end sets the mean handle time; a takes the best waiting
    assert r.handle(ContactLeft(66_000, "c1")) == [
        d("OFFERED", "c3", 3, 66_000, 3, "longest-idle in billing", "a", rule="vip", escalated=True)]
    assert r.rates[("billing", "VOICE")].encode() == [[(0, 1)], 65_000.0, 1]
    assert r.agents["a"].idle_since == 66_000 and r.agents["a"].handled == 1
    # the offer rings out: c3 goes back, a is set away
    assert r.handle(Tick(87_000)) == [
        d("REQUEUED", "c3", 4, 87_000, 3, "offer timed out", "a", rule="vip", escalated=True)]
    assert r.agents["a"].state == "AWAY" and r.contacts["c3"].declined == ["a"]
    # back: a never gets c3 again; c2 is the oldest of the rest
    assert r.handle(AgentChanged(88_000, "a", "AVAILABLE")) == [
        d("OFFERED", "c2", 3, 88_000, 1, "longest-idle in billing", "a", escalated=True)]
    assert r.agents["a"].idle_since == 88_000
    assert r.handle(OfferAnswered(89_000, "c2", "a", False)) == [
        d("REQUEUED", "c2", 4, 89_000, 1, "offer rejected", "a", escalated=True),
        d("OFFERED", "c4", 3, 89_000, 1, "longest-idle in billing", "a", escalated=True)]
    # c4's offer rings out (due at 109 s, seen at 123 s); then c2 and c3 overflow to line2,
    # carrying the priority they had reached
    assert r.handle(Tick(123_000)) == [
        d("REQUEUED", "c4", 4, 123_000, 1, "offer timed out", "a", escalated=True),
        d("ESCALATED", "c2", 5, 123_000, 2, OVERFLOW, queue="line2", escalated=True),
        d("ESCALATED", "c3", 5, 123_000, 4, OVERFLOW, queue="line2", rule="vip", escalated=True)]
    assert r.waiting() == 3 and r.agents["a"].state == "AWAY" and r.agents["a"].handled == 1
    assert r.meta() == {"now": 123_000, "seq": 6, "cursor": {"billing": "a"},
                        "rates": {"billing\x1fVOICE": [[(0, 1)], 65_000.0, 1]}}
    c2 = r.contacts["c2"]
    assert (c2.queue, c2.priority, c2.entered_at, c2.ring, c2.seq, c2.first_queued_at, c2.declined) == (
        "line2", 2, 123_000, 0, 5, 2_000, ["a"])
    assert r.next_due() == 124_000  # c4's overflow


def test_an_unroutable_contact_is_said_so_whole():
    r = router()
    assert r.handle(ContactQueued(7_000, "x", "CHAT", "nowhere")) == [
        Decision("UNROUTABLE", "x:unroutable:7000", 7_000, "x", "CHAT", "nowhere", "", 0,
                 "no rule matches and the queue 'nowhere' is not configured")]
    assert r.handle(ContactQueued(8_000, "y", "CHAT")) == [
        Decision("UNROUTABLE", "y:unroutable:8000", 8_000, "y", "CHAT", "", "", 0,
                 "no rule matches and the queue None is not configured")]
    assert r.contacts == {} and r.waiting() == 0


def test_rules_see_every_attribute_of_the_contact():
    text = BASIC + """
[[rules]]
name = "english"
language = ["en"]
channel = ["CHAT"]
queue = "chat"
priority = 1

[[rules]]
name = "second-line"
line = [2]
queue = "line2"
"""
    r = router(text)
    out = r.handle(ContactQueued(1, "e", "CHAT", "billing", language="en"))
    assert (out[0].queue, out[0].rule, out[0].priority) == ("chat", "english", 1)
    out = r.handle(ContactQueued(2, "l", "VOICE", "billing", line=2))
    assert (out[0].queue, out[0].rule) == ("line2", "second-line")


def test_a_transfer_keeps_the_decision_count_and_starts_a_new_stay():
    r = router()
    r.handle(AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))
    r.handle(ContactQueued(1_000, "c", "VOICE", "billing"))
    r.handle(OfferAnswered(2_000, "c", "a", True))
    out = r.handle(ContactQueued(10_000, "c", "VOICE", "line2", line=2))
    assert out == [d("QUEUED", "c", 4, 10_000, 0, "rule as-queued", queue="line2", position=0, ewt_ms=180_000)]
    c = r.contacts["c"]
    assert (c.entered_at, c.first_queued_at, c.seq, c.held_by) == (10_000, 10_000, 2, None)
    assert r.agents["a"].contacts == {} and r.rates[("billing", "VOICE")].ends == 1
    # the agent freed by the transfer is idle from then on
    assert r.agents["a"].idle_since == 10_000
    assert r.handle(ContactQueued(10_500, "c", "VOICE", "billing")) == []  # it waits: a repeated event
    # transferred from an agent's hands to where nothing routes: the agent is free, the contact gone
    r.handle(AgentChanged(11_000, "h", "AVAILABLE", {"line2": 1}, {"VOICE": 1}))
    r.handle(OfferAnswered(11_000, "c", "h", True))
    assert r.handle(ContactQueued(12_000, "c", "VOICE", "nowhere")) == [
        Decision("UNROUTABLE", "c:unroutable:12000", 12_000, "c", "VOICE", "nowhere", "", 0,
                 "no rule matches and the queue 'nowhere' is not configured")]
    assert "c" not in r.contacts and r.agents["h"].contacts == {} and r.agents["h"].idle_since == 12_000


def test_changes_report_what_each_event_touched_and_then_nothing():
    r = router()
    r.handle(AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))
    r.handle(ContactQueued(1_000, "c", "VOICE", "billing"))
    agents, contacts = r.changes()
    assert set(agents) == {"a"} and agents["a"] is r.agents["a"] and contacts == {"c": r.contacts["c"]}
    assert r.changes() == ({}, {})
    r.handle(OfferAnswered(2_000, "c", "a", True))
    agents, contacts = r.changes()
    assert set(agents) == {"a"} and set(contacts) == {"c"}
    r.handle(ContactLeft(3_000, "c"))
    assert r.changes() == ({"a": r.agents["a"]}, {"c": None})
    r.handle(ContactLeft(3_000, "c"))  # already gone
    assert r.changes() == ({}, {})


def test_agents_and_contacts_come_back_whole_from_their_records():
    a = Agent("a", "BUSY", {"billing": 5}, {"VOICE": 1, "CHAT": 3}, {"CHAT": 2}, {"c1": "CHAT", "c2": "CHAT"}, 17, 4)
    back = Agent.decode("a", a.encode())
    assert back == a and back.load == {"CHAT": 2}
    c = Contact("c1", "CHAT", "chat", 3, "vip", 10, 7, 5, ring=1, offered_to="a", offer_id="c1:4", offered_at=12,
                declined=["b"], decisions=4, escalated=True, token=3, waiting=False, held_by=None)
    back = Contact.decode("c1", c.encode())
    assert back == Contact("c1", "CHAT", "chat", 3, "vip", 10, 7, 5, ring=1, offered_to="a", offer_id="c1:4",
                           offered_at=12, declined=["b"], decisions=4, escalated=True)
    held = Contact("c2", "VOICE", "billing", 0, "as-queued", 1, 2, 1, held_by="a")
    assert Contact.decode("c2", held.encode()).held_by == "a"


# -- the service rate behind the EWT ------------------------------------------------------------------------

def test_a_new_service_rate():
    rate = ServiceRate()
    assert (rate.window_min, rate.min_samples, rate.handle_ms, rate.ends, rate.per_minute) == (15, 20, 180_000.0, 0, {})
    assert rate.encode() == [[], 180_000.0, 0]


def test_the_mean_handle_time_is_a_running_mean_then_an_ewma_of_about_100():
    rate = ServiceRate()
    rate.ended(0)  # no handle time: not an end
    assert rate.ends == 0 and rate.handle_ms == 180_000.0
    rate.ended(100_000)
    assert rate.ends == 1 and rate.handle_ms == 100_000.0
    rate.ended(1)
    assert rate.ends == 2 and rate.handle_ms == 50_000.5
    rate.ends, rate.handle_ms = 100, 1_000.0
    rate.ended(2_000)
    assert rate.ends == 101 and rate.handle_ms == pytest.approx(1_010.0)
    rate.ends, rate.handle_ms = 99, 1_000.0
    rate.ended(2_000)
    assert rate.handle_ms == pytest.approx(1_010.0)  # 1/100 at the 100th end


def test_assignments_are_counted_per_minute_and_old_minutes_pruned():
    rate = ServiceRate(window_min=2)
    rate.assigned(59_999)
    rate.assigned(60_000)
    rate.assigned(119_999)
    assert rate.per_minute == {0: 1, 1: 2}
    rate.assigned(2 * 60_000)
    assert rate.per_minute == {0: 1, 1: 2, 2: 1}  # three minutes (window + 1) kept: no pruning yet
    rate.assigned(4 * 60_000)  # a fourth: the minutes before 4 - 2 go, minute 2 stays
    assert rate.per_minute == {2: 1, 4: 1}


def test_the_ewt_from_the_mean_handle_time_once_enough_have_ended():
    rate = ServiceRate()
    rate.handle_ms, rate.ends = 60_000.0, 20
    now = 600_000
    rate.per_minute = {10: 10}  # plenty of recent assignments: the fallback would give 100 ms per place
    assert rate.ewt_ms(now, 0, 2) == 30_000
    assert rate.ewt_ms(now, 2, 1) == 180_000
    assert rate.ewt_ms(now, 2, 0) == 300  # no one present: the recent assignments instead
    rate.ends = 19
    assert rate.ewt_ms(now, 2, 3) == 300


def test_the_ewt_from_recent_assignments_needs_five_in_the_window():
    rate = ServiceRate()
    now = 20 * 60_000 + 30_000
    rate.per_minute = {4: 10, 5: 3, 20: 2}  # minute 4 is out of the window (since minute 5)
    assert rate.ewt_ms(now, 0, 3) == (now - 5 * 60_000) // 5
    assert rate.ewt_ms(now, 1, 3) == 2 * (now - 5 * 60_000) // 5
    rate.per_minute = {4: 10, 5: 2, 20: 2}  # four: the mean handle time over the places
    assert rate.ewt_ms(now, 1, 3) == 120_000
    assert rate.ewt_ms(now, 1, 0) == 360_000
    rate.per_minute = {20: 5}  # all in this minute, 30 s in: a second at least
    assert rate.ewt_ms(20 * 60_000, 0, 1) == 200


def test_a_service_rate_comes_back_from_its_record():
    rate = ServiceRate()
    rate.assigned(60_000)
    rate.ended(5_000)
    back = ServiceRate.decode(rate.encode())
    assert (back.per_minute, back.handle_ms, back.ends) == ({1: 1}, 5_000.0, 1)
    assert ServiceRate.decode([[["3", 4]], 1.5, 2]).per_minute == {3: 4}


# -- the invariants' checker itself (the property tests rely on it seeing every breach) ---------------------

def _offered() -> Router:
    r = router()
    r.handle(AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1, "CHAT": 2}))
    r.handle(ContactQueued(1, "c1", "VOICE", "billing"))
    assert violations(r) == []
    return r


def test_violations_name_an_offer_over_capacity_and_a_call_with_more():
    r = _offered()
    a = r.agents["a"]
    a.capacity = {"VOICE": 0, "CHAT": 2}
    assert violations(r) == ["a holds 1 VOICE over its capacity {'VOICE': 0, 'CHAT': 2}"]
    r.contacts["c1"].held_by, r.contacts["c1"].offered_to = "a", None  # in hand: it may stay
    assert violations(r) == []
    a.capacity = {"VOICE": 1, "CHAT": 2}
    a.load["CHAT"] = 1
    assert violations(r) == ["a has a call and more {'VOICE': 1, 'CHAT': 1}"]


def test_violations_name_mixed_channels_under_single_channel():
    r = router(BASIC.replace('mixing = "voice-exclusive"', 'mixing = "single-channel"'))
    r.handle(AgentChanged(0, "a", "AVAILABLE", {"chat": 1}, {"CHAT": 2, "EMAIL": 2}))
    r.handle(ContactQueued(1, "c1", "CHAT", "chat"))
    r.agents["a"].load["EMAIL"] = 1
    assert violations(r) == ["a mixes channels {'CHAT': 1, 'EMAIL': 1}"]


def test_violations_name_a_contact_with_two_agents_or_with_a_disagreeing_one():
    r = _offered()
    r.handle(AgentChanged(2, "b", "AWAY", {"billing": 5}, {"VOICE": 1}))
    r.agents["b"].contacts["c1"] = "VOICE"
    r.agents["b"].load["VOICE"] = 1
    assert violations(r) == ["c1 is with a and b", "c1 says a but the agents say b"]


def test_violations_name_waiting_with_an_agent_neither_and_an_absent_agent():
    r = _offered()
    c = r.contacts["c1"]
    c.waiting = True
    assert violations(r) == ["c1 waits and is with a"]
    c.waiting, c.offered_to = False, None
    assert violations(r) == ["c1 neither waits nor is with an agent"]
    c.offered_to = "a"
    r.agents["a"].state = "AWAY"
    assert violations(r) == ["c1 is offered to a, who is AWAY"]


def test_violations_name_an_idle_agent_beside_a_contact_it_could_take():
    r = _offered()
    r.handle(ContactQueued(2, "c2", "VOICE", "billing"))
    assert violations(r) == []
    r.handle(AgentChanged(3, "b", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))
    assert r.contacts["c2"].offered_to == "b"
    r.agents["b"].contacts.clear()
    r.agents["b"].load.clear()
    r.contacts["c2"].offered_to, r.contacts["c2"].waiting = None, True
    assert violations(r) == ["b could take c2 waiting in billing but has no offer"]
    r.contacts["c2"].declined.append("b")
    assert violations(r) == []


# -- timers, gaps, capacity -------------------------------------------------------------------------------

def _handle_all(r: Router, *events) -> list[Decision]:
    out = []
    for e in events:
        out.extend(r.handle(e))
        assert None not in r.dirty_agents and None not in r.dirty_contacts
    return out


def _busy_then_offered() -> Router:
    """c waits behind c0 from 1 s, widens at 61 s, is offered to a at 110 s."""
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                ContactQueued(500, "c0", "VOICE", "billing"), OfferAnswered(600, "c0", "a", True),
                ContactQueued(1_000, "c", "VOICE", "billing"), Tick(61_000), ContactLeft(110_000, "c0"))
    assert r.contacts["c"].offered_to == "a" and r.contacts["c"].ring == 1
    assert r.next_due() == 121_000  # the overflow step (the offer's timeout is at 130 s)
    assert _handle_all(r, Tick(121_000)) == []  # offered: the overflow waits for the answer
    assert r.next_due() == 130_000
    return r


def test_an_overflow_that_fell_due_during_an_offer_follows_a_rejection():
    r = _busy_then_offered()
    assert _handle_all(r, OfferAnswered(125_000, "c", "a", False)) == [
        d("REQUEUED", "c", 4, 125_000, 2, "offer rejected", "a", escalated=True),
        d("ESCALATED", "c", 5, 125_000, 2, OVERFLOW, queue="line2", escalated=True)]
    assert r.contacts["c"].queue == "line2" and r.contacts["c"].waiting and r.agents["a"].contacts == {}


def test_an_overflow_that_fell_due_during_an_offer_follows_its_timeout():
    r = _busy_then_offered()
    assert _handle_all(r, Tick(130_000)) == [
        d("REQUEUED", "c", 4, 130_000, 2, "offer timed out", "a", escalated=True),
        d("ESCALATED", "c", 5, 130_000, 2, OVERFLOW, queue="line2", escalated=True)]
    assert r.agents["a"].state == "AWAY" and r.next_due() is None


def test_next_due_skips_timers_that_no_longer_apply():
    r = router()
    assert r.next_due() is None
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                ContactQueued(1_000, "c", "VOICE", "billing"))
    assert r.next_due() == 21_000  # the offer's timeout before the step at 61 s
    _handle_all(r, OfferAnswered(2_000, "c", "a", True))
    assert r.next_due() is None  # accepted: neither applies
    assert r._timers == []


@pytest.mark.parametrize("gap, paused", [(5_000, False), (5_001, True)])
def test_a_gap_longer_than_stall_pauses_offers_but_not_contacts_in_hand(gap, paused):
    r = router(BASIC.replace("stall_s = 3600", "stall_s = 5"))
    _handle_all(r, AgentChanged(1_000, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                AgentChanged(1_000, "b", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                ContactQueued(1_000, "x:1", "VOICE", "billing"), ContactQueued(1_000, "y", "VOICE", "billing"),
                OfferAnswered(1_000, "y", "b", True), ContactQueued(1_000, "z", "VOICE", "billing"))
    assert r.contacts["z"].waiting
    r.changes()
    _handle_all(r, Tick(1_000 + gap))
    assert r.contacts["x:1"].offered_at == (1_000 + gap if paused else 1_000)
    assert r.contacts["y"].offered_at == 1_000 and r.contacts["z"].offered_at == 0
    assert set(r.changes()[1]) == ({"x:1"} if paused else set())
    assert r.next_due() == (21_000 + gap if paused else 21_000)


def test_aging_of_a_millisecond_counts_every_millisecond():
    r = router(BASIC.replace("aging_s = 60", "aging_s = 0.001"))
    assert _handle_all(r, ContactQueued(1_000, "c", "VOICE", "billing"))[0].priority == 0
    assert _handle_all(r, AgentChanged(1_250, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))[0].priority == 250


def test_a_lowered_capacity_returns_the_newest_offers_and_keeps_what_is_in_hand():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"chat": 1}, {"CHAT": 3}),
                *[ContactQueued(1_000 + i, f"c{i}", "CHAT", "chat") for i in range(3)],
                OfferAnswered(2_000, "c0", "a", True))
    out = _handle_all(r, AgentChanged(3_000, "a", "AVAILABLE", None, {"CHAT": 1, "VOICE": 0}))
    assert out == [d("REQUEUED", "c2", 3, 3_000, 0, "agent capacity lowered", "a", queue="chat", channel="CHAT"),
                   d("REQUEUED", "c1", 3, 3_000, 0, "agent capacity lowered", "a", queue="chat", channel="CHAT")]
    assert r.agents["a"].capacity == {"CHAT": 1} and r.agents["a"].contacts == {"c0": "CHAT"}
    assert r.agents["a"].load == {"CHAT": 1} and r.waiting() == 2


def test_an_unknown_agent_state_is_offline_and_a_new_agent_idles_from_its_first_event():
    r = router()
    _handle_all(r, Tick(5_000), AgentChanged(6_000, "a", "LUNCH", {"billing": 5}, {"VOICE": 1}))
    assert r.agents["a"].state == "OFFLINE" and r.agents["a"].idle_since == 6_000
    _handle_all(r, ContactQueued(7_000, "c", "VOICE", "billing"), AgentChanged(8_000, "a", "AVAILABLE"))
    assert r.agents["a"].idle_since == 8_000 and r.contacts["c"].offered_to == "a"
    assert _handle_all(r, AgentChanged(9_000, "a", "OFFLINE")) == [
        d("REQUEUED", "c", 3, 9_000, 0, "agent offline", "a")]


def test_an_overflow_due_at_the_very_moment_of_a_rejection_happens_then():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                ContactQueued(500, "c0", "VOICE", "billing"), OfferAnswered(600, "c0", "a", True),
                ContactQueued(1_000, "c", "VOICE", "billing"), Tick(61_000), ContactLeft(110_000, "c0"))
    assert _handle_all(r, OfferAnswered(121_000, "c", "a", False)) == [
        d("REQUEUED", "c", 4, 121_000, 2, "offer rejected", "a", escalated=True),
        d("ESCALATED", "c", 5, 121_000, 2, OVERFLOW, queue="line2", escalated=True)]


RINGS = """
[routing]
stall_s = 3600

[[queues]]
name = "billing"
skills = { billing = 3 }
[[queues.escalation]]
after_s = 60
skills = { billing = 2 }
[[queues.escalation]]
after_s = 120
skills = { billing = 1 }
"""


def test_rings_widen_one_after_another():
    r = router(RINGS)
    _handle_all(r, ContactQueued(0, "c", "VOICE", "billing"), Tick(60_000))
    assert r.contacts["c"].ring == 1
    _handle_all(r, AgentChanged(61_000, "one", "AVAILABLE", {"billing": 1}, {"VOICE": 1}))
    assert r.contacts["c"].waiting  # ring 1 asks billing 2
    assert _handle_all(r, Tick(120_000))[0].reason == "waited 120 s: skills widened to {'billing': 1}"
    assert r.contacts["c"].ring == 2 and r.contacts["c"].offered_to == "one"


def _restorable() -> Router:
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5, "chat": 1}, {"VOICE": 1, "CHAT": 2}),
                AgentChanged(0, "b", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                ContactQueued(1_000, "chat:1", "CHAT", "chat"),  # offered to a, in a queue dropped below
                ContactQueued(2_000, "x:1", "VOICE", "billing"),  # offered to b
                ContactQueued(3_000, "h", "VOICE", "billing", segment="vip"),  # waits (vip), then b's
                ContactQueued(4_000, "w", "VOICE", "billing"),  # waits
                OfferAnswered(5_000, "x:1", "b", False),  # back: b declined it; a is on a chat
                ContactLeft(6_000, "chat:1"))
    return r


def _live_timers(r: Router) -> list:
    return sorted(t for t in r._timers if r._live(*t))


def _heaps(r: Router) -> dict:
    return {k: sorted((seq, cid) for seq, tok, cid in h if r.contacts.get(cid) is not None
                      and r.contacts[cid].seq == seq and r.contacts[cid].token == tok and r.contacts[cid].waiting)
            for k, h in r._heaps.items()}


def test_a_router_restored_from_its_tables_holds_the_same_timers_queues_and_rates():
    r = _restorable()
    agents = {k: Agent.decode(k, v.encode()) for k, v in r.agents.items()}
    contacts = {k: Contact.decode(k, v.encode()) for k, v in r.contacts.items()}
    back = Router(r.config)
    back.restore(agents, contacts, r.meta())
    assert back.meta() == r.meta() and back.now == 6_000
    assert _live_timers(back) == _live_timers(r) and _live_timers(r)
    assert sorted(back._timers) == _live_timers(r)  # nothing void is re-armed
    assert _heaps(back) == {k: v for k, v in _heaps(r).items() if v}
    assert {k: n for k, n in back._waiting.items() if n} == {k: n for k, n in r._waiting.items() if n}
    assert back.rates[("billing", "VOICE")].encode() == r.rates[("billing", "VOICE")].encode()
    assert back.changes() == ({}, {})
    later = [Tick(30_000), AgentChanged(31_000, "c", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
             OfferAnswered(32_000, "h", "a", True), ContactLeft(33_000, "h"), Tick(200_000)]
    assert [back.handle(e) for e in later] == [r.handle(e) for e in later]


def test_a_restore_skips_contacts_of_queues_no_longer_configured_and_restores_the_rest():
    r = router()
    _handle_all(r, ContactQueued(1_000, "old", "CHAT", "chat"), ContactQueued(2_000, "w", "VOICE", "billing"),
                ContactQueued(3_000, "w2", "VOICE", "billing"))
    contacts = {k: Contact.decode(k, v.encode()) for k, v in r.contacts.items()}
    smaller = router(BASIC.replace('[[queues]]\nname = "chat"\nskills = { chat = 1 }\n', ""))
    smaller.restore({}, contacts, r.meta())
    assert smaller.waiting() == 2 and smaller._waiting == {("billing", "VOICE", 0): 2}
    assert sorted(t[2] for t in smaller._timers) == ["w", "w2"]
    smaller.restore({}, {}, None)  # no meta (an empty table): nothing waits, the clock is left alone
    assert smaller.waiting() == 0 and smaller._timers == [] and smaller.now == 3_000


def test_violations_count_a_channel_missing_from_the_capacity_as_none():
    r = _offered()
    r.agents["a"].capacity = {"CHAT": 2}
    assert violations(r) == ["a holds 1 VOICE over its capacity {'CHAT': 2}"]


def test_the_ewt_uses_the_learnt_handle_time_and_every_place_that_could_take_the_contact():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                AgentChanged(0, "b", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                AgentChanged(0, "n", "AVAILABLE", {"chat": 1}, {"VOICE": 1}),  # cannot take billing
                ContactQueued(1_000, "c1", "VOICE", "billing"), ContactQueued(1_000, "c2", "VOICE", "billing"))
    rate = r.rates.setdefault(("billing", "VOICE"), ServiceRate())
    rate.handle_ms, rate.ends = 60_000.0, 20
    out = _handle_all(r, ContactQueued(2_000, "c3", "VOICE", "billing"), ContactQueued(2_000, "c4", "VOICE", "billing"))
    assert [(o.position, o.ewt_ms) for o in out] == [(0, 30_000), (1, 60_000)]


def test_every_accepted_offer_counts_for_the_agent():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))
    for i in range(3):
        _handle_all(r, ContactQueued(1_000 * i, f"c{i}", "VOICE", "billing"),
                    OfferAnswered(1_000 * i, f"c{i}", "a", True), ContactLeft(1_000 * i + 500, f"c{i}"))
    assert r.agents["a"].handled == 3


def test_an_answer_to_another_offer_of_the_same_contact_is_stale():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                ContactQueued(1_000, "c", "VOICE", "billing"))
    assert _handle_all(r, OfferAnswered(2_000, "c", "a", True, offer_id="c:1:1")) == [] and r.stale_answers == 1
    assert _handle_all(r, OfferAnswered(2_000, "c", "a", True, offer_id="c:1:2"))[0].kind == "ASSIGNED"


def test_single_channel_fills_the_one_channel_in_hand():
    r = router(BASIC.replace('mixing = "voice-exclusive"', 'mixing = "single-channel"'))
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"chat": 1}, {"CHAT": 2}),
                ContactQueued(1, "c1", "CHAT", "chat"), ContactQueued(2, "c2", "CHAT", "chat"))
    assert r.contacts["c1"].offered_to == r.contacts["c2"].offered_to == "a"


# -- the last untriaged mutants of the engine, each with the case that tells it apart --------------------

def test_the_ewt_window_is_counted_in_minutes_of_the_epoch():
    rate = ServiceRate()
    minute = 29_000_000  # 2025, in minutes since 1970
    rate.per_minute = {minute - 20: 10}  # busy 20 minutes ago, out of the 15-minute window
    assert rate.ewt_ms(minute * 60_000, 0, 2) == 90_000  # so the mean handle time over two places
    rate.per_minute = {20: 5}
    assert rate.ewt_ms(20 * 60_000 + 500, 4, 1) == 1_000  # half a second in: a second at least, exactly


def test_the_position_counts_every_higher_priority_ahead():
    r = router(BASIC + '\n[[rules]]\nname = "gold"\nsegment = ["gold"]\nqueue = "billing"\npriority = 1\n')
    _handle_all(r, ContactQueued(1, "v", "VOICE", "billing", segment="vip"),
                ContactQueued(2, "g1", "VOICE", "billing", segment="gold"),
                ContactQueued(3, "g2", "VOICE", "billing", segment="gold"))
    out = _handle_all(r, ContactQueued(4, "n", "VOICE", "billing"))
    assert (out[0].position, out[0].ewt_ms) == (3, 4 * 180_000)  # one vip and two gold ahead


def test_the_ewt_counts_the_places_of_the_first_ring_and_of_the_contacts_channel_only():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                AgentChanged(0, "w", "AVAILABLE", {"billing": 1}, {"VOICE": 1}),  # only once widened
                AgentChanged(0, "v", "AVAILABLE", {"billing": 5}, {"CHAT": 2}),  # no calls
                ContactQueued(1_000, "c1", "VOICE", "billing"))
    assert r.contacts["c1"].offered_to == "a"
    rate = r.rates.setdefault(("billing", "VOICE"), ServiceRate())
    rate.handle_ms, rate.ends = 60_000.0, 20
    out = _handle_all(r, ContactQueued(2_000, "c2", "VOICE", "billing"))
    assert (out[0].position, out[0].ewt_ms) == (0, 60_000)  # a's one place


def test_an_offer_timing_out_at_the_moment_a_ring_widens_goes_back_first():
    r = router()
    _handle_all(r, AgentChanged(0, "w", "AVAILABLE", {"billing": 1}, {"VOICE": 1}),
                ContactQueued(0, "c", "VOICE", "billing"),
                AgentChanged(40_000, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))
    assert r.contacts["c"].offered_to == "a"  # rings out at 60 s, when the first ring widens
    assert _handle_all(r, Tick(60_000)) == [
        d("REQUEUED", "c", 3, 60_000, 1, "offer timed out", "a"),
        d("ESCALATED", "c", 4, 60_000, 1, WIDEN, escalated=True),
        d("OFFERED", "c", 5, 60_000, 1, "longest-idle in billing", "w", escalated=True)]


def test_an_agent_present_all_along_keeps_its_offers_and_its_idle_time():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                AgentChanged(1_000, "b", "AVAILABLE", {"billing": 5}, {"VOICE": 1}),
                AgentChanged(5_000, "a", "AVAILABLE", {"billing": 5, "chat": 1}))  # new skills, still idle
    assert r.agents["a"].idle_since == 0
    _handle_all(r, ContactQueued(6_000, "c", "VOICE", "billing"))
    assert r.contacts["c"].offered_to == "a"  # idle the longest
    assert _handle_all(r, AgentChanged(7_000, "a", "BUSY")) == []  # still at the desk: the offer stays
    assert r.contacts["c"].offered_to == "a" and r.agents["a"].idle_since == 0


ROUND_ROBIN = BASIC.replace('name = "chat"\n', 'name = "chat"\nstrategy = "round-robin"\n')


def test_round_robin_goes_by_agent_id_after_the_last_one_given_a_contact():
    r = router(ROUND_ROBIN)
    for at, agent_id in enumerate(["c", "b", "a"]):  # c idle the longest: longest-idle would start there
        _handle_all(r, AgentChanged(at, agent_id, "AVAILABLE", {"chat": 1}, {"CHAT": 1}))
    _handle_all(r, *(ContactQueued(10 + i, f"k{i}", "CHAT", "chat") for i in range(3)))
    assert [r.contacts[f"k{i}"].offered_to for i in range(3)] == ["a", "b", "c"]
    _handle_all(r, ContactLeft(20, "k1"), ContactLeft(21, "k0"), ContactQueued(22, "k3", "CHAT", "chat"))
    assert r.contacts["k3"].offered_to == "a"  # after c, round to the start


def test_round_robin_starts_at_the_first_agent_id_in_code_point_order():
    r = router(ROUND_ROBIN)
    _handle_all(r, AgentChanged(0, "ann", "AVAILABLE", {"chat": 1}, {"CHAT": 1}),
                AgentChanged(1, "Bob", "AVAILABLE", {"chat": 1}, {"CHAT": 1}),
                ContactQueued(2, "k", "CHAT", "chat"))
    assert r.contacts["k"].offered_to == "Bob"  # "B" < "a"


def test_an_earlier_entry_of_a_contact_id_used_again_does_not_jump_the_queue():
    r = router()
    _handle_all(r, ContactQueued(1_000, "h", "VOICE", "billing"), ContactQueued(2_000, "x", "VOICE", "billing"),
                ContactQueued(3_000, "y", "VOICE", "billing"), ContactLeft(4_000, "x"),
                ContactQueued(5_000, "x", "VOICE", "billing"),  # the same id again, last in line
                AgentChanged(6_000, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))
    assert r.contacts["h"].offered_to == "a"
    # a declines h: the walk past h meets x's entry of its first stay before y's
    assert _handle_all(r, OfferAnswered(7_000, "h", "a", False)) == [
        d("REQUEUED", "h", 3, 7_000, 0, "offer rejected", "a"),
        d("OFFERED", "y", 2, 7_000, 0, "longest-idle in billing", "a")]


def test_service_rates_of_a_queue_named_with_spaces_come_back():
    text = BASIC.replace('name = "line2"', 'name = "second line"').replace('queue = "line2"', 'queue = "second line"')
    r = router(text)
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"line2": 1}, {"VOICE": 1}),
                ContactQueued(1_000, "c", "VOICE", "second line"), OfferAnswered(2_000, "c", "a", True),
                ContactLeft(62_000, "c"))
    back = Router(r.config)
    back.restore({}, {}, r.meta())
    assert back.rates[("second line", "VOICE")].encode() == [[(0, 1)], 61_000.0, 1]


def test_voice_exclusive_offers_no_chat_to_an_agent_on_a_call():
    r = router()
    _handle_all(r, AgentChanged(0, "a", "AVAILABLE", {"billing": 5, "chat": 1}, {"VOICE": 1, "CHAT": 2}),
                ContactQueued(1_000, "call", "VOICE", "billing"), OfferAnswered(2_000, "call", "a", True))
    assert _handle_all(r, ContactQueued(3_000, "k", "CHAT", "chat"))[-1].kind == "QUEUED"
    assert r.contacts["k"].waiting
    assert _handle_all(r, ContactLeft(4_000, "call"))[-1] == d(
        "OFFERED", "k", 2, 4_000, 0, "longest-idle in chat", "a", queue="chat", channel="CHAT")


def test_a_contact_that_left_and_is_queued_again_gets_new_decision_ids() -> None:
    """Consumers keep the first decision of each id: a contact the channel system lets go and
    queues again (a transfer told as CONTACT_LEFT then CONTACT_QUEUED) must not reuse the ids of its
    first time, or its second routing would be dropped as a replay."""
    r = router()
    r.handle(AgentChanged(0, "a", "AVAILABLE", {"billing": 5}, {"VOICE": 1}))
    first = r.handle(ContactQueued(1_000, "c1", "VOICE", "billing"))
    first += r.handle(OfferAnswered(1_500, "c1", "a", True, first[-1].decision_id))
    r.handle(ContactLeft(2_000, "c1"))
    again = r.handle(ContactQueued(2_001, "c1", "VOICE", "billing"))
    again += r.handle(OfferAnswered(2_500, "c1", "a", True, again[-1].decision_id))
    assert [d.kind for d in first] == [d.kind for d in again] == ["QUEUED", "OFFERED", "ASSIGNED"]
    assert [d.decision_id for d in first] == ["c1:1:1", "c1:1:2", "c1:1:3"]
    assert [d.decision_id for d in again] == ["c1:2:1", "c1:2:2", "c1:2:3"]
    assert r.stale_answers == 0
    # A transfer from an agent's hands (queued again without leaving) goes on counting.
    more = r.handle(ContactQueued(3_000, "c1", "VOICE", "billing"))
    assert more[0].decision_id == "c1:2:4"
    # A contact restored from state written before ids had an entry keeps its old ids.
    old = Contact.decode("c9", Contact("c9", "VOICE", "billing", 0, "as-queued", 1, 2, 1, decisions=3).encode()[:15])
    assert old.entry == 0 and old.decision_id(4) == "c9:4"
