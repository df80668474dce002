"""Pure logic: the countable outcomes (facts) of a contact, per queue it went through.

A contact's queue legs are its QUEUED events in time order; leg i lasts until leg i+1 starts.
Per leg: OFFERED when it starts; ANSWERED with the wait if an answer falls in it; ABANDONED on the
last leg if the customer left unanswered; WAITING while the last leg is still open. ENDED goes to the queue of the leg answered last, with
the handle time in that queue (its answer to the end, plus after-contact work) and the duration; TRANSFER to the leg a transfer
happened in; ESCALATION to the queue a contact left for line 2.

Outcomes are derived from the whole state each time, so the processor can send the difference
between two states: retractions of outcomes that changed or vanished, then the new ones.
"""

from __future__ import annotations

from typing import Any

from streams.identifiers import join_id
from streams.processors.contact_lifecycle import ContactState

Fact = dict[str, Any]


# An outcome as the contact-summary processor keeps it: (kind, leg) -> (queue, at, wait_ms,
# handle_ms, duration_ms). Tuples, not fact dicts: a checkpoint derives every changed contact's
# outcomes and compares them with the last ones, and most never leave the process as facts (they
# are summed into minute deltas, see minute_deltas.py).
OutcomeKey = tuple[str, int]
Outcome = tuple[str, int, int | None, int | None, int | None]


def outcomes_of(state: ContactState, summary: dict[str, Any] | None = None) -> dict[OutcomeKey, Outcome]:
    """`summary`: the state's summary() if the caller has it already."""
    legs = state.legs
    if not legs:
        return {}
    if summary is None:
        summary = state.summary()
    out: dict[OutcomeKey, Outcome] = {}
    answered_leg, answered_at = None, 0
    last = len(legs) - 1
    for i, (start, queue, line) in enumerate(legs):
        following = legs[i + 1][0] if i < last else None
        out[("OFFERED", i)] = (queue, start, None, None, None)
        if line >= 2 and (i == 0 or legs[i - 1][2] < 2):
            out[("ESCALATION", i)] = (legs[i - 1][1] if i else queue, start, None, None, None)
        # An answer stamped a little before the first QUEUED (two systems' clocks) still counts.
        if following is None and i == 0:  # one leg, most contacts: its answer is the first
            answer = state.answers[0] if state.answers else None
        else:
            answer = next((a for a in state.answers
                           if (i == 0 or a[0] >= start) and (following is None or a[0] < following)), None)
        if answer is not None:
            out[("ANSWERED", i)] = (queue, answer[0], max(0, answer[0] - start), None, None)
            answered_leg, answered_at = i, answer[0]
        elif following is None and summary["abandoned_at"] is not None:
            abandoned_at = summary["abandoned_at"]
            out[("ABANDONED", i)] = (queue, abandoned_at, max(0, abandoned_at - start), None, None)
        elif following is None and summary["ended_at"] is None:
            out[("WAITING", i)] = (queue, start, None, None, None)
    if answered_leg is not None and summary["ended_at"] is not None:
        # Handle time in this queue: from its answer to the end, plus after-contact work.
        ended_at = summary["ended_at"]
        out[("ENDED", answered_leg)] = (legs[answered_leg][1], ended_at, None,
                                        max(0, ended_at - answered_at) + state.acw_ms, summary["duration_ms"])
    for n, at in enumerate(state.transfers):
        leg = max((i for i, l in enumerate(legs) if l[0] <= at), default=0)
        out[("TRANSFER", n)] = (legs[leg][1], at, None, None, None)
    return out


def outcome_changes(before: dict[OutcomeKey, Outcome],
                    after: dict[OutcomeKey, Outcome]) -> list[tuple[int, OutcomeKey, Outcome]]:
    """(sign, key, outcome): retractions (-1) of outcomes gone or changed, then additions (+1)."""
    out = [(-1, key, o) for key, o in before.items() if after.get(key) != o]
    out += [(1, key, o) for key, o in after.items() if before.get(key) != o]
    return out


def as_fact(state: ContactState, key: OutcomeKey, outcome: Outcome) -> Fact:
    """The QueueFact record of an outcome (schemas/queue_fact.avsc), without sign and source."""
    kind, leg = key
    queue, at, wait_ms, handle_ms, duration_ms = outcome
    cid = state.contact_id
    return {"channel": state.channel, "region": state.region or "unknown", "contact_id": cid, "wait_ms": wait_ms,
            "handle_ms": handle_ms, "duration_ms": duration_ms, "agent_id": None, "agent_state": None,
            "fact_id": join_id(cid, kind, leg), "kind": kind, "queue": queue, "at": at}


def facts_of(state: ContactState, summary: dict[str, Any] | None = None) -> dict[str, Fact]:
    """The outcomes as QueueFact records, by fact id ("contact|kind|leg")."""
    return {(fact := as_fact(state, key, o))["fact_id"]: fact for key, o in outcomes_of(state, summary).items()}


MAX_FACTS_PER_RECORD = 2_000  # about 250 KB: well below a Kafka record's 1 MB, whatever the batch size


def fact_records(facts: list[Fact]) -> list[tuple[str, dict[str, Any]]]:
    """(key, QueueFactBatch record) pairs: a record per queue (more for a very busy one), facts in
    production order."""
    grouped: dict[str, list[Fact]] = {}
    for fact in facts:
        grouped.setdefault(fact["queue"], []).append(fact)
    out = []
    for queue, queue_facts in grouped.items():
        if len(queue_facts) <= MAX_FACTS_PER_RECORD:
            out.append((queue, {"queue": queue, "facts": queue_facts}))
        else:
            out += [(queue, {"queue": queue, "facts": queue_facts[i:i + MAX_FACTS_PER_RECORD]})
                    for i in range(0, len(queue_facts), MAX_FACTS_PER_RECORD)]
    return out
