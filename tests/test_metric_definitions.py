"""The README's metric definitions, each on a small case worked out by hand (not by the
production fold), at the edges where a one-character change to the code would show."""

from __future__ import annotations

import itertools

import pytest

from streams.analytics.queue_window import WindowAgg
from streams.processors.contact_lifecycle import ContactState
from streams.reports.outcomes import Contact, fcr_outcomes

S = 1000
T = 20 * S  # the service-level threshold of these windows
DAY = 86_400_000


def window() -> dict:
    agg = WindowAgg()
    for _ in range(10):
        agg.add("OFFERED", None, None, None, T)
    for wait in (5 * S, 20 * S, 21 * S, 60 * S):  # 20 s is exactly T: answered within it
        agg.add("ANSWERED", wait, None, None, T)
    for wait in (10 * S, 20 * S, 30 * S, 90 * S):  # 20 s is exactly T: a short abandon
        agg.add("ABANDONED", wait, None, None, T)
    agg.add("ENDED", None, 100 * S, 300 * S, T)
    agg.add("ENDED", None, 200 * S, 500 * S, T)
    return agg.record("q", "VOICE", "r", "MINUTE", 0, 60 * S, T)


def test_the_queue_figures_of_a_window() -> None:
    r = window()
    assert (r["offered"], r["answered"], r["abandoned"]) == (10, 4, 4)
    assert r["answered_within_threshold"] == 2  # 5 s and 20 s: wait <= T
    assert r["short_abandoned"] == 2  # 10 s and 20 s: wait <= T
    assert r["asa_ms"] == (5 + 20 + 21 + 60) * S / 4 == 26_500
    # SL = answered within T / (answered + abandoned after T) = 2 / (4 + 2)
    assert r["service_level"] == pytest.approx(2 / 6)
    # abandonment over offered (not over answered + abandoned: 4 / 8)
    assert r["abandonment_rate"] == pytest.approx(4 / 10)
    assert r["aht_ms"] == 150 * S and r["avg_duration_ms"] == 400 * S
    assert r["wait_max_ms"] == 60 * S


def test_no_answers_no_averages() -> None:
    agg = WindowAgg()
    agg.add("OFFERED", None, None, None, T)
    r = agg.record("q", "VOICE", "r", "MINUTE", 0, 60 * S, T)
    assert r["asa_ms"] is None and r["service_level"] is None and r["wait_max_ms"] is None
    assert r["abandonment_rate"] == 0 and r["aht_ms"] is None


def ev(kind: str, at_s: int, **fields: object) -> dict:
    base = {"event_id": f"{kind}-{at_s}", "contact_id": "X", "type": kind, "occurred_at": at_s * S,
            "channel": "VOICE", "queue": None, "agent_id": None, "subscriber_id": "sub", "region": "r",
            "reason": "billing", "line": 1, "disposition": None, "after_contact_work_ms": None}
    return {**base, **fields}


# One contact whose events disagree: two queue entries, two answers, two ends, two abandons
# (it was answered, so not abandoned), after-contact work reported twice.
EVENTS = [ev("CREATED", 0), ev("QUEUED", 10, queue="q1"), ev("ANSWERED", 30, agent_id="a1"),
          ev("QUEUED", 50, queue="q2", line=2, event_id="QUEUED-50"), ev("ANSWERED", 70, agent_id="a2"),
          ev("ABANDONED", 40), ev("ABANDONED", 35), ev("ENDED", 90, disposition="CALLBACK"),
          ev("ENDED", 100, disposition="RESOLVED", after_contact_work_ms=10 * S),
          ev("WRAPUP_ENDED", 110, after_contact_work_ms=5 * S)]
SURVEYS = [{"response_id": "s1", "contact_id": "X", "subscriber_id": "sub", "occurred_at": 200 * S, "score": 3},
           {"response_id": "s2", "contact_id": "X", "subscriber_id": "sub", "occurred_at": 150 * S, "score": 5}]
SUMMARY = {"status": "ENDED", "first_queue": "q1", "last_queue": "q2", "queued_at": 10 * S,
           "answered_at": 30 * S, "agent_id": "a2", "ended_at": 100 * S, "disposition": "RESOLVED",
           "abandoned_at": None, "wait_ms": 20 * S, "handle_time_ms": (100 - 30) * S + 10 * S,
           "duration_ms": 100 * S, "created_at": 0, "line": 2, "csat_score": 3, "updated_at": 110 * S,
           "version": len(EVENTS) + len(SURVEYS)}


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_a_contact_summary_in_any_order(order: int) -> None:
    items = [("e", e) for e in EVENTS] + [("s", s) for s in SURVEYS]
    arranged = [items, items[::-1], *[list(p) for p in itertools.islice(itertools.permutations(items[:6]), 2)]][order]
    if order >= 2:
        arranged += items[6:]
    state = ContactState("X")
    for kind, item in arranged:
        state.apply(item) if kind == "e" else state.apply_survey(item)
    got = state.summary()
    assert {k: got[k] for k in SUMMARY} == SUMMARY


def test_an_abandoned_contact_keeps_its_first_abandon() -> None:
    state = ContactState("Y")
    for e in (ev("QUEUED", 10, contact_id="Y", queue="q"), ev("ABANDONED", 50, contact_id="Y"),
              ev("ABANDONED", 40, contact_id="Y", event_id="A-40")):
        state.apply(e)
    got = state.summary()
    assert (got["status"], got["abandoned_at"], got["wait_ms"], got["duration_ms"]) == ("ABANDONED", 40 * S, 30 * S, 30 * S)


def contact(cid: str, at: int, line: int = 1, status: str = "ENDED") -> Contact:
    return Contact(cid, "VOICE", "q", "sub", "billing", status, line, at, True, None)


def test_fcr_a_contact_still_being_handled_is_not_counted_yet_but_makes_a_later_one_a_repeat() -> None:
    # The README: "the others, once ended, are first contacts"; "resolved when it ended at line 1".
    open_one, later = fcr_outcomes([contact("a", 0, status="IN_PROGRESS"), contact("b", DAY)], as_of=30 * DAY)
    assert (open_one.first, open_one.resolved) == (False, False)
    assert (later.first, later.resolved) == (False, False)


@pytest.mark.parametrize("gap, repeat", [(7 * DAY, True), (7 * DAY + 1, False), (6 * DAY, True)])
def test_fcr_a_repeat_is_within_seven_days_inclusive(gap: int, repeat: bool) -> None:
    first, second = fcr_outcomes([contact("a", 0), contact("b", gap)], as_of=30 * DAY)
    assert first.first and second.first is not repeat
    assert first.resolved is not repeat  # a repeat within the window unresolves the first contact
    assert first.final and second.final


def test_fcr_a_contact_escalated_to_line_2_is_not_resolved_and_an_open_window_is_provisional() -> None:
    (escalated,) = fcr_outcomes([contact("a", 0, line=2)], as_of=30 * DAY)
    assert escalated.first and not escalated.resolved
    (fresh,) = fcr_outcomes([contact("b", 0)], as_of=7 * DAY - 1)
    assert fresh.resolved and not fresh.final


def test_created_at_is_the_earliest_of_several_created_events() -> None:
    for order in (1, -1):
        state = ContactState("X")
        for e in [ev("CREATED", 20), ev("CREATED", 5, event_id="C-5"), ev("ENDED", 60)][::order]:
            state.apply(e)
        assert state.summary()["created_at"] == 5 * S and state.summary()["duration_ms"] == 55 * S


def test_a_survey_counts_toward_the_events_a_contact_may_have() -> None:
    from streams.engine.errors import TooLarge

    state = ContactState("X")
    state.apply(ev("CREATED", 0), max_events=2)
    assert state.apply_survey(SURVEYS[0], max_events=2)  # the second of two: allowed
    with pytest.raises(TooLarge):
        state.apply_survey(SURVEYS[1], max_events=2)


@pytest.mark.parametrize("field, good, bad", [
    ("line", (1, 9), (0, 10)),
    ("after_contact_work_ms", (0, 24 * 3600 * S), (-1, 24 * 3600 * S + 1)),
    ("occurred_at", (946_684_800_000, 2_000_000_000_000), (946_684_799_999, 2_000_000_000_001)),
])
def test_event_values_at_their_bounds(field: str, good: tuple, bad: tuple) -> None:
    from streams.processors.contact_lifecycle import InvalidEvent, validate_event

    valid = ev("CREATED", 1, occurred_at=1_764_000_000_000)
    for value in good:
        validate_event({**valid, field: value}, 2_000_000_000_000)
    for value in bad:
        with pytest.raises(InvalidEvent):
            validate_event({**valid, field: value}, 2_000_000_000_000)


def test_survey_values_at_their_bounds() -> None:
    from streams.processors.contact_lifecycle import InvalidEvent, validate_survey

    newest = 2_000_000_000_000
    for score, at in ((1, newest), (5, 946_684_800_000)):
        validate_survey({**SURVEYS[0], "score": score, "occurred_at": at}, newest)
    for score, at in ((0, newest), (6, newest), (3, newest + 1), (3, 946_684_799_999)):
        with pytest.raises(InvalidEvent):
            validate_survey({**SURVEYS[0], "score": score, "occurred_at": at}, newest)


def test_wait_percentiles_by_rank_and_the_statistics_id() -> None:
    agg = WindowAgg()
    for wait_s in range(1, 22):  # 21 answered contacts: 1 s .. 21 s
        agg.add("ANSWERED", wait_s * S, None, None, T)
    r = agg.record("q", "VOICE", "r", "MINUTE", 0, 60 * S, T)
    # rank q*(n-1) over the sorted waits: p50 the 11th value, p90 the 19th, p95 the 20th
    assert r["wait_p50_ms"] == pytest.approx(11 * S, rel=0.01)
    assert r["wait_p90_ms"] == pytest.approx(19 * S, rel=0.01)
    assert r["wait_p95_ms"] == pytest.approx(20 * S, rel=0.01)
    assert r["wait_max_ms"] == 21 * S
    assert r["stat_id"] == "q|VOICE|r|MINUTE|0" and window()["stat_id"] == "q|VOICE|r|MINUTE|0"


def summary_of(*events: dict) -> dict:
    state = ContactState(events[0]["contact_id"])
    for e in events:
        state.apply(e)
    return state.summary()


def test_who_and_what_of_a_summary_and_the_values_that_stick() -> None:
    got = summary_of(ev("CREATED", 0, subscriber_id="s1", region="r1", reason="billing"),
                     ev("QUEUED", 5, queue="q", subscriber_id="s2", region="r2", reason="roaming"),
                     ev("ANSWERED", 9, channel="UNKNOWN"))  # a system that does not know: VOICE stays
    assert {k: got[k] for k in ("contact_id", "channel", "subscriber_id", "region", "reason", "agent_id", "status")} == \
        {"contact_id": "X", "channel": "VOICE", "subscriber_id": "s1", "region": "r1", "reason": "billing",
         "agent_id": None, "status": "IN_PROGRESS"}
    ended = summary_of(ev("QUEUED", 0, queue="q"), ev("ANSWERED", 1), ev("ENDED", 2))
    assert ended["disposition"] is None and ended["status"] == "ENDED"
    assert summary_of(ev("CREATED", 0))["status"] == "OPEN"
    assert summary_of(ev("CREATED", 0), ev("QUEUED", 1, queue="q"))["status"] == "QUEUED"


def test_clocks_that_disagree_never_give_negative_times() -> None:
    answered = summary_of(ev("QUEUED", 100, queue="q"), ev("ANSWERED", 95), ev("ENDED", 94))
    assert (answered["wait_ms"], answered["handle_time_ms"]) == (0, 0)
    ended = outcomes(ev("QUEUED", 100, queue="q"), ev("ANSWERED", 95), ev("ENDED", 94))[("ENDED", 0)]
    assert ended[3] == 0  # handle time in the queue, never negative
    abandoned = summary_of(ev("QUEUED", 100, queue="q"), ev("ABANDONED", 98))
    assert (abandoned["wait_ms"], abandoned["duration_ms"]) == (0, 0)


def test_created_at_is_the_created_event_even_when_another_came_earlier() -> None:
    got = summary_of(ev("QUEUED", 5, queue="q"), ev("CREATED", 10), ev("ABANDONED", 40))
    assert (got["created_at"], got["duration_ms"], got["wait_ms"]) == (10 * S, 30 * S, 35 * S)
    for order in (1, -1):  # the first abandon, whichever arrives first
        got = summary_of(*[ev("QUEUED", 1, queue="q"), ev("ABANDONED", 40), ev("ABANDONED", 50)][::order])
        assert got["abandoned_at"] == 40 * S


def outcomes(*events: dict) -> dict:
    from streams.processors.queue_facts import outcomes_of

    state = ContactState(events[0]["contact_id"])
    for e in events:
        state.apply(e)
    return outcomes_of(state)


def test_outcomes_per_leg_at_their_boundaries() -> None:
    # Queued in q1, transferred, queued in q2 on line 2 and answered at the very moment q2 took
    # it: the answer belongs to the second leg (wait 0), the first leg was offered, not answered.
    got = outcomes(ev("QUEUED", 10, queue="q1"), ev("TRANSFERRED", 40, queue="q2"),
                   ev("QUEUED", 50, queue="q2", line=2, event_id="Q2"), ev("ANSWERED", 50, agent_id="a"),
                   ev("ENDED", 150, after_contact_work_ms=5 * S))
    assert got == {
        ("OFFERED", 0): ("q1", 10 * S, None, None, None),
        ("OFFERED", 1): ("q2", 50 * S, None, None, None),
        ("ESCALATION", 1): ("q1", 50 * S, None, None, None),  # moved from q1 to line 2
        ("ANSWERED", 1): ("q2", 50 * S, 0, None, None),
        ("ENDED", 1): ("q2", 150 * S, None, 105 * S, 140 * S),  # handle 100 s + 5 s of work; since 10 s
        ("TRANSFER", 0): ("q1", 40 * S, None, None, None),
    }


def test_outcomes_of_skewed_clocks_a_line_2_start_and_a_waiting_contact() -> None:
    early = outcomes(ev("QUEUED", 100, queue="q"), ev("ANSWERED", 95))
    assert early[("ANSWERED", 0)] == ("q", 95 * S, 0, None, None)  # answered 5 s "before": wait 0
    gone = outcomes(ev("QUEUED", 100, queue="q"), ev("ABANDONED", 98))
    assert gone[("ABANDONED", 0)] == ("q", 98 * S, 0, None, None)
    line2 = outcomes(ev("QUEUED", 10, queue="l2a", line=2), ev("QUEUED", 20, queue="l2b", line=2, event_id="Q20"))
    assert line2 == {("OFFERED", 0): ("l2a", 10 * S, None, None, None), ("OFFERED", 1): ("l2b", 20 * S, None, None, None),
                     ("ESCALATION", 0): ("l2a", 10 * S, None, None, None),  # straight to line 2: once
                     ("WAITING", 1): ("l2b", 20 * S, None, None, None)}
    assert outcomes(ev("CREATED", 0)) == {}


def test_erlang_c_by_hand_and_at_its_edges() -> None:
    import math

    from streams.analytics.erlang import agents_for_asa, asa, prob_wait, service_level

    # N = 3 agents, A = 2 Erlangs: A^N/N! * N/(N-A) = 8/6 * 3 = 4; sum_{k<3} A^k/k! = 1 + 2 + 2 = 5
    assert prob_wait(3, 2.0) == pytest.approx(4 / 9)
    assert asa(3, 2.0, 180) == pytest.approx(4 / 9 * 180 / 1)  # 80 s
    assert service_level(3, 2.0, 180, 20) == pytest.approx(1 - 4 / 9 * math.exp(-20 / 180))
    # N = 1, A = 0.5 (M/M/1): C = rho
    assert prob_wait(1, 0.5) == pytest.approx(0.5)
    # at and past saturation every contact waits, for ever; with no load nobody waits
    assert prob_wait(2, 2.0) == 1.0 and prob_wait(0, 0.0) == 1.0 and prob_wait(2, 0.0) == 0.0
    assert asa(2, 2.0, 180) == math.inf and service_level(2, 2.0, 180, 20) == 0.0
    # staffing: 2 Erlangs at 180 s AHT take 3 agents for an ASA of 100 s (3: 80 s, 2: unstable)
    assert agents_for_asa(2 / 180, 180, 100) == 3
    assert agents_for_asa(2 / 180, 180, 15) == 5  # 4 agents: 15.65 s
    assert agents_for_asa(0.5 / 180, 180, 1_000) == 1  # a light load: one agent


def test_an_answer_belongs_to_the_leg_it_came_in_and_a_transfer_to_the_leg_it_left() -> None:
    got = outcomes(ev("QUEUED", 10, queue="q1"), ev("QUEUED", 20, queue="q2", event_id="Q20"), ev("ANSWERED", 25),
                   ev("TRANSFERRED", 38, queue="q3"), ev("QUEUED", 40, queue="q3", event_id="Q40"),
                   ev("ANSWERED", 45, event_id="A45"), ev("TRANSFERRED", 40, queue="q4", event_id="T40"),
                   ev("TRANSFERRED", 5, queue="q1", event_id="T5"))
    assert ("ANSWERED", 0) not in got  # q1 passed it on unanswered
    assert got[("ANSWERED", 1)] == ("q2", 25 * S, 5 * S, None, None)
    assert got[("ANSWERED", 2)] == ("q3", 45 * S, 5 * S, None, None)
    # transfers by time: 5 s, before any queue, counts for the first; 38 s for q2; 40 s, the
    # moment q3 took the contact, for q3 (the leg that had begun)
    transfers = sorted(o for k, o in got.items() if k[0] == "TRANSFER")
    assert transfers == [("q1", 5 * S, None, None, None), ("q2", 38 * S, None, None, None),
                         ("q3", 40 * S, None, None, None)]


def test_a_window_taken_out_again_leaves_the_others() -> None:
    one, two = WindowAgg(), WindowAgg()
    for agg, n in ((one, 1), (two, 2)):
        for kind, wait in (("OFFERED", None), ("ANSWERED", 5 * S * n), ("ABANDONED", 30 * S * n),
                           ("TRANSFER", None), ("ESCALATION", None)):
            for _ in range(n):
                agg.add(kind, wait, None, None, T)
        agg.add("ENDED", None, 10 * S * n, 20 * S * n, T)
    both = WindowAgg()
    both.merge(one)
    both.merge(two)
    both.subtract(one)
    keep = ("version", "offered", "answered", "answered_within", "abandoned", "short_abandoned", "wait_sum",
            "ended", "handle_sum", "duration_sum", "transfers", "escalations", "late")
    assert {k: getattr(both, k) for k in keep} == {k: getattr(two, k) for k in keep}
    assert both.waits.count == two.waits.count


def test_staffing_stops_at_the_first_count_that_meets_the_target_exactly() -> None:
    from streams.analytics.erlang import agents_for_asa, asa

    assert agents_for_asa(2 / 180, 180, asa(3, 2.0, 180)) == 3


def test_surveys_join_their_contact_once_and_bring_a_missing_subscriber() -> None:
    from streams.processors.contact_lifecycle import InvalidEvent, validate_event, validate_survey

    state = ContactState("X")
    state.apply(ev("QUEUED", 1, queue="q", subscriber_id=None, event_id="s1"))
    survey = {**SURVEYS[0], "response_id": "s1"}  # the same id as an event: still its own
    assert state.apply_survey(survey) and not state.apply_survey(survey)
    got = state.summary()
    assert (got["version"], got["subscriber_id"], got["csat_score"]) == (2, "sub", 3)
    valid = {**SURVEYS[0], "occurred_at": 1_764_000_000_000}
    validate_survey(valid, 2_000_000_000_000)
    for bad in ({"response_id": ""}, {"contact_id": ""}):
        with pytest.raises(InvalidEvent, match="must not be empty"):
            validate_survey({**valid, **bad}, 2_000_000_000_000)
    with pytest.raises(InvalidEvent, match="without a queue"):
        validate_event(ev("TRANSFERRED", 1, occurred_at=1_764_000_000_000), 2_000_000_000_000)


def test_facts_of_a_contact_without_a_region_and_records_of_a_very_busy_queue() -> None:
    from streams.processors.queue_facts import MAX_FACTS_PER_RECORD, as_fact, fact_records

    state = ContactState("X")
    state.apply(ev("QUEUED", 1, queue="q", region=None))
    fact = as_fact(state, ("OFFERED", 0), ("q", 1 * S, None, None, None))
    assert (fact["region"], fact["contact_id"], fact["fact_id"]) == ("unknown", "X", "X|OFFERED|0")
    facts = [{**fact, "queue": "small"}] + [{**fact, "queue": "busy"}] * (MAX_FACTS_PER_RECORD + 1)
    records = fact_records(facts)
    assert [(k, len(r["facts"])) for k, r in records] == [("small", 1), ("busy", MAX_FACTS_PER_RECORD), ("busy", 1)]
    assert all(r["queue"] == k for k, r in records)


def test_a_transferred_contact_counts_its_duration_once_in_the_queue_it_ended_in() -> None:
    # Answered in q1, transferred, answered again in q2, ended: one ENDED outcome, in q2, with the
    # whole contact's duration (from its first event, 10 s, to its end) and q2's handle time.
    got = outcomes(ev("QUEUED", 10, queue="q1"), ev("ANSWERED", 20, agent_id="a"),
                   ev("TRANSFERRED", 60, queue="q2", event_id="T"), ev("QUEUED", 61, queue="q2", line=2, event_id="Q2"),
                   ev("ANSWERED", 70, agent_id="b", event_id="A2"), ev("ENDED", 170, event_id="E"))
    ended = {k: o for k, o in got.items() if k[0] == "ENDED"}
    assert ended == {("ENDED", 1): ("q2", 170 * S, None, 100 * S, 160 * S)}
    assert got[("ANSWERED", 0)] == ("q1", 20 * S, 10 * S, None, None)
    assert got[("ANSWERED", 1)] == ("q2", 70 * S, 9 * S, None, None)
