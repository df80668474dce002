"""Pure logic: the countable outcomes (facts) of a contact, per queue it went through.

A contact's queue legs are its QUEUED events in time order; leg i lasts until leg i+1 starts.
Per leg: OFFERED when it starts; ANSWERED with the wait if an answer falls in it; ABANDONED on the
last leg if the customer left unanswered; WAITING while the last leg is still open. ENDED goes to the queue of the leg answered last, with
the handle time in that queue (its answer to the end, plus after-contact work) and the duration; TRANSFER to the leg a transfer
happened in; ESCALATION to the queue a contact left for line 2.

Facts are derived from the whole state each time, so the processor can send the difference
between two states: retractions of facts that changed or vanished, then the new ones.
"""

from __future__ import annotations

from typing import Any

from streams.processors.contact_lifecycle import ContactState

Fact = dict[str, Any]


def facts_of(state: ContactState, summary: dict[str, Any] | None = None) -> dict[str, Fact]:
    """`summary`: the state's summary() if the caller has it already."""
    legs = state.legs
    if not legs:
        return {}
    cid = state.contact_id
    channel, region = state.channel, state.region or "unknown"
    if summary is None:
        summary = state.summary()
    facts: dict[str, Fact] = {}

    def add(kind: str, leg: int, queue: str, at: int, wait_ms: int | None = None, handle_ms: int | None = None,
            duration_ms: int | None = None) -> None:
        # A literal, not a base dict merged with the values: once per fact of every changed contact.
        fact_id = f"{cid}|{kind}|{leg}"
        facts[fact_id] = {"channel": channel, "region": region, "contact_id": cid, "wait_ms": wait_ms,
                          "handle_ms": handle_ms, "duration_ms": duration_ms, "agent_id": None,
                          "agent_state": None, "fact_id": fact_id, "kind": kind, "queue": queue, "at": at}

    answered_leg, answered_at = None, 0
    for i, (start, queue, line) in enumerate(legs):
        following = legs[i + 1][0] if i + 1 < len(legs) else None
        add("OFFERED", i, queue, start)
        if line >= 2 and (i == 0 or legs[i - 1][2] < 2):
            add("ESCALATION", i, legs[i - 1][1] if i else queue, start)
        # An answer stamped a little before the first QUEUED (two systems' clocks) still counts.
        if following is None and i == 0:  # one leg, most contacts: its answer is the first
            answer = state.answers[0] if state.answers else None
        else:
            answer = next((a for a in state.answers
                           if (i == 0 or a[0] >= start) and (following is None or a[0] < following)), None)
        if answer is not None:
            add("ANSWERED", i, queue, answer[0], wait_ms=max(0, answer[0] - start))
            answered_leg, answered_at = i, answer[0]
        elif following is None and summary["abandoned_at"] is not None:
            add("ABANDONED", i, queue, summary["abandoned_at"], wait_ms=max(0, summary["abandoned_at"] - start))
        elif following is None and summary["ended_at"] is None:
            add("WAITING", i, queue, start)
    if answered_leg is not None and summary["ended_at"] is not None:
        # Handle time in this queue: from its answer to the end, plus after-contact work.
        add("ENDED", answered_leg, legs[answered_leg][1], summary["ended_at"],
            handle_ms=max(0, summary["ended_at"] - answered_at) + state.acw_ms,
            duration_ms=summary["duration_ms"])
    for n, at in enumerate(state.transfers):
        leg = max((i for i, l in enumerate(legs) if l[0] <= at), default=0)
        add("TRANSFER", n, legs[leg][1], at)
    return facts


def fact_changes(before: dict[str, Fact], after: dict[str, Fact]) -> list[Fact]:
    """Retractions (sign -1) of facts gone or changed, then additions (sign +1) of new ones."""
    out = [{**fact, "sign": -1} for fid, fact in before.items() if after.get(fid) != fact]
    out += [{**fact, "sign": 1} for fid, fact in after.items() if before.get(fid) != fact]
    return out


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
