"""Pure logic: the live state of a queue, from WAITING and AGENT facts.

  waiting      contacts in the queue now; oldest waiting age = watermark - earliest entry
  agents       agents serving the queue by state (an OFFLINE agent is removed)
  EWT          estimated wait for a contact joining now = (waiting + 1 - available) x AHT / staffed,
               never below 0; staffed = available + busy + wrap-up agents. The position-in-queue
               estimate that ACD systems show; AHT is the queue's day-to-date figure, or 180 s.
"""

from __future__ import annotations

from typing import Any

DEFAULT_AHT_MS = 180_000
STAFFED = ("AVAILABLE", "BUSY", "WRAP_UP")


def empty(partition: int) -> dict[str, Any]:
    return {"waiting": {}, "agents": {}, "p": partition}


def apply(live: dict[str, Any], fact: dict[str, Any]) -> bool:
    """Fold a WAITING or AGENT fact in (idempotent); False when nothing changed."""
    if fact["kind"] == "WAITING":
        waiting = live["waiting"]
        if fact["sign"] > 0:
            if waiting.get(fact["contact_id"]) == fact["at"]:
                return False
            waiting[fact["contact_id"]] = fact["at"]
            return True
        return waiting.pop(fact["contact_id"], None) is not None
    if fact["kind"] == "AGENT":
        agents = live["agents"]
        state = fact["agent_state"]
        if state == "OFFLINE":
            return agents.pop(fact["agent_id"], None) is not None
        if agents.get(fact["agent_id"]) == state:
            return False
        agents[fact["agent_id"]] = state
        return True
    return False


def view(queue: str, live: dict[str, Any], watermark: int, aht_ms: float | None) -> dict[str, Any]:
    waiting = live["waiting"]
    counts = {state: 0 for state in ("AVAILABLE", "BUSY", "WRAP_UP", "AWAY")}
    for state in live["agents"].values():
        counts[state] = counts.get(state, 0) + 1
    staffed = sum(counts[s] for s in STAFFED)
    aht = aht_ms or DEFAULT_AHT_MS
    ahead = len(waiting) + 1 - counts["AVAILABLE"]
    if ahead <= 0:
        ewt = 0.0
    elif staffed == 0:
        ewt = None  # nobody to answer: no estimate
    else:
        ewt = ahead * aht / staffed
    return {
        "queue": queue,
        "waiting": len(waiting),
        "oldest_wait_ms": max(0, watermark - min(waiting.values())) if waiting else 0,
        "agents_logged_in": len(live["agents"]),
        "agents_available": counts["AVAILABLE"],
        "agents_busy": counts["BUSY"],
        "agents_wrap_up": counts["WRAP_UP"],
        "agents_away": counts["AWAY"],
        "ewt_ms": ewt,
        "aht_ms": aht,
        "as_of": watermark,
    }
