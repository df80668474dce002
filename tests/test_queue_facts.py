"""Facts per queue leg (pure logic), from the scripted contacts."""

from __future__ import annotations

from streams.processors.contact_lifecycle import ContactState
from streams.processors.queue_facts import (MAX_FACTS_PER_RECORD, fact_records, facts_of, outcome_changes,
                                           outcomes_of)
from tests.scenarios import SCRIPTED, T0, ev
from tests.test_contact_lifecycle import SCHEMA_DEFAULTS


def state_of(events: list[dict]) -> ContactState:
    state = ContactState(events[0]["contact_id"])
    for e in events:
        state.apply({**SCHEMA_DEFAULTS, **e})
    return state


def kinds(state: ContactState) -> dict[str, tuple]:
    return {fid.split("|", 1)[1]: (f["queue"], f["at"] - T0, f["wait_ms"], f["handle_ms"])
            for fid, f in facts_of(state).items()}


def test_answered_contact() -> None:
    assert kinds(state_of(SCRIPTED["A"])) == {
        "OFFERED|0": ("voice-general", 5_000, None, None),
        "ANSWERED|0": ("voice-general", 95_000, 90_000, None),
        "ENDED|0": ("voice-general", 256_000, None, 171_000),
    }


def test_abandoned_contact() -> None:
    assert kinds(state_of(SCRIPTED["B"])) == {
        "OFFERED|0": ("chat-general", 12_000, None, None),
        "ABANDONED|0": ("chat-general", 42_000, 30_000, None),
    }


def test_transferred_contact_counts_in_both_queues() -> None:
    assert kinds(state_of(SCRIPTED["C"])) == {
        "OFFERED|0": ("voice-general", 102_000, None, None),
        "ANSWERED|0": ("voice-general", 122_000, 20_000, None),
        "OFFERED|1": ("voice-line2", 161_000, None, None),
        "ESCALATION|1": ("voice-general", 161_000, None, None),
        "ANSWERED|1": ("voice-line2", 180_000, 19_000, None),
        "ENDED|1": ("voice-line2", 300_000, None, 120_000),
        "TRANSFER|0": ("voice-general", 160_000, None, None),
    }


def test_waiting_contact_and_its_retraction_when_answered() -> None:
    waiting = state_of(SCRIPTED["D"])
    assert set(kinds(waiting)) == {"OFFERED|0", "WAITING|0"}
    before = outcomes_of(waiting)
    waiting.apply({**SCHEMA_DEFAULTS, **ev("D", "ANSWERED", 260, "EMAIL", queue="email-general", agent_id="m")})
    changes = outcome_changes(before, outcomes_of(waiting))
    assert [(key[0], sign) for sign, key, _ in changes] == [("WAITING", -1), ("ANSWERED", 1)]
    assert changes[1][2][2] == 60_000  # the wait


def test_fact_records_one_per_queue_split_when_very_busy() -> None:
    facts = [{"queue": "voice", "fact_id": f"v{i}"} for i in range(MAX_FACTS_PER_RECORD + 5)]
    facts += [{"queue": "chat", "fact_id": "c0"}]
    records = fact_records(facts)
    assert [(key, len(r["facts"])) for key, r in records] == [("voice", MAX_FACTS_PER_RECORD), ("voice", 5), ("chat", 1)]
    assert [f for key, r in records if key == "voice" for f in r["facts"]] == facts[:-1]  # order kept
