"""Folding lifecycle events into a contact summary (pure logic)."""

from __future__ import annotations

import itertools
import random

import pytest

from streams.engine.errors import TooLarge
from streams.processors.contact_lifecycle import STORED_FIELDS, ContactState, InvalidEvent, validate_event
from tests.scenarios import EXPECTED, SCRIPTED, T0, ev

NOW = T0 + 30 * 24 * 3600 * 1000  # the wall clock plus the allowed skew, for these events
SCHEMA_DEFAULTS = {"queue": None, "agent_id": None, "language": None, "segment": None, "line": 1,
                   "disposition": None, "after_contact_work_ms": None}


def fold(events: list[dict]) -> dict:
    state = ContactState(events[0]["contact_id"])
    for e in events:
        e = {**SCHEMA_DEFAULTS, **e}
        validate_event(e, NOW)
        state = ContactState.from_json(state.to_json())  # as the table stores it between events
        state.apply(e)
    return state.summary()


@pytest.mark.parametrize("contact", sorted(SCRIPTED))
def test_summary_in_order(contact: str) -> None:
    got = fold(SCRIPTED[contact])
    expected = EXPECTED[contact]
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("contact", ["A", "B", "C"])
def test_any_order_and_duplicates_give_the_same_summary(contact: str) -> None:
    events = SCRIPTED[contact]
    orders = list(itertools.permutations(events)) if len(events) <= 5 else \
        [random.Random(seed).sample(events, len(events)) for seed in range(200)]
    for order in orders:
        doubled = [*order, *order[: len(order) // 2]]
        got = fold(list(doubled))
        assert {k: got[k] for k in EXPECTED[contact]} == EXPECTED[contact]


def test_answered_contact_is_not_abandoned_whatever_the_channel_says() -> None:
    got = fold([ev("X", "QUEUED", 0, queue="q"), ev("X", "ANSWERED", 10, queue="q", agent_id="a"),
                ev("X", "ABANDONED", 12, queue="q")])
    assert got["status"] == "IN_PROGRESS" and got["abandoned_at"] is None and got["wait_ms"] == 10_000


def test_duplicate_event_ids_are_folded_once() -> None:
    e = ev("Y", "TRANSFERRED", 5, queue="q2")
    state = ContactState("Y")
    assert state.apply({**SCHEMA_DEFAULTS, **e}) is True
    assert state.apply({**SCHEMA_DEFAULTS, **e}) is False
    assert state.summary()["transfers"] == 1 and state.summary()["version"] == 1


@pytest.mark.parametrize("change, reason", [
    ({"occurred_at": 1_764_000_000}, "milliseconds"),          # seconds, not milliseconds
    ({"occurred_at": NOW + 1}, "past the wall clock"),       # dated ahead of the clock
    ({"contact_id": ""}, "contact_id"),
    ({"event_id": ""}, "event_id"),
    ({"type": "UNKNOWN"}, "type"),
    ({"line": 0}, "line"),
    ({"after_contact_work_ms": -5}, "after_contact_work_ms"),
    ({"queue": None}, "without a queue"),
])
def test_impossible_values_are_rejected(change: dict, reason: str) -> None:
    e = {**SCHEMA_DEFAULTS, **ev("Z", "QUEUED", 0, queue="q"), **change}
    with pytest.raises(InvalidEvent, match=reason):
        validate_event(e, NOW)


def test_valid_event_passes() -> None:
    validate_event({**SCHEMA_DEFAULTS, **ev("Z", "QUEUED", 0, queue="q")}, NOW)
    validate_event({**SCHEMA_DEFAULTS, **ev("Z", "QUEUED", 0, queue="q"), "occurred_at": NOW}, NOW)  # the edge
    assert T0 > 0


def test_a_duplicate_is_found_in_constant_time_and_a_contact_has_a_bounded_number_of_events() -> None:
    state = ContactState("x")
    events = [{**SCHEMA_DEFAULTS, **ev("x", "HELD", i), "event_id": f"e{i}"} for i in range(5)]
    assert all(state.apply(e, max_events=5) for e in events)
    assert isinstance(state.seen, set) and not state.apply(events[0], max_events=5)  # a duplicate
    with pytest.raises(TooLarge, match="FIRSTLINE_MAX_EVENTS_PER_CONTACT"):
        state.apply({**events[0], "event_id": "e5"}, max_events=5)
    assert state.summary()["version"] == 5  # the refused event changed nothing


def test_derived_facts_stay_out_of_the_stored_state() -> None:
    state = ContactState("x")
    state.facts = {"x|OFFERED|0": {"kind": "OFFERED"}}
    assert "facts" not in state.to_json()
    assert tuple(state.to_json()) == STORED_FIELDS  # every other field, spelled out in to_json
    assert ContactState.from_json(state.to_json()).facts is None
    assert ContactState.from_json(state.to_json()) == state  # facts are not part of equality
