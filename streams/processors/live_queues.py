"""Pure logic: the live state of a queue, from WAITING and AGENT facts.

  waiting      contacts in the queue now; oldest waiting age = watermark - earliest entry. Kept
               in WAITING_BUCKETS store keys per queue by a hash of the contact id, not in one
               value: an e-mail queue with tens of thousands waiting would otherwise write a
               record past the broker's size limit to the changelog on every batch.
  agents       agents serving the queue by state (an OFFLINE agent is removed)
  EWT          estimated wait for a contact joining now = (waiting + 1 - available) x AHT / staffed,
               never below 0; staffed = available + busy + wrap-up agents. The position-in-queue
               estimate that ACD systems show; AHT is the queue's day-to-date figure, or 180 s.
"""

from __future__ import annotations

import zlib
from typing import Any

from streams.identifiers import escape, join_id

DEFAULT_AHT_MS = 180_000
STAFFED = ("AVAILABLE", "BUSY", "WRAP_UP")


WAITING_BUCKETS = 64


def empty(partition: int) -> dict[str, Any]:
    """A queue's entry: its agents (its waiting contacts are in waiting buckets)."""
    return {"agents": {}, "p": partition}


def empty_bucket(partition: int) -> dict[str, Any]:
    return {"waiting": {}, "p": partition}


def waiting_key(queue: str, contact_id: str) -> str:
    return join_id(queue, "waiting", zlib.crc32(contact_id.encode()) % WAITING_BUCKETS)


def waiting_keys(queue: str) -> list[str]:
    return [join_id(queue, "waiting", n) for n in range(WAITING_BUCKETS)]


def queue_key(queue: str) -> str:
    """A queue's own entry: the name escaped, so that no queue name can be a waiting bucket's key."""
    return escape(queue)


def is_queue_key(key: str) -> bool:
    return "|waiting|" not in key


def entry_of(store: Any, queue: str, entry: dict[str, Any] | None, partition: int) -> dict[str, Any]:
    """A queue's entry in `store` (get/put by key and partition): new, or stored by an older worker
    with its waiting contacts inside, which move to their buckets."""
    if entry is None:
        entry = empty(partition)
    for contact_id, at in entry.pop("waiting", {}).items():
        key = waiting_key(queue, contact_id)
        bucket = store.get(key) or empty_bucket(partition)
        bucket["waiting"][contact_id] = at
        store.put(key, bucket, partition)
    store.put(queue_key(queue), entry, partition)
    return entry


def apply_waiting(bucket: dict[str, Any], fact: dict[str, Any]) -> bool:
    """Fold a WAITING fact into its bucket (idempotent); False when nothing changed."""
    waiting = bucket["waiting"]
    if fact["sign"] > 0:
        if waiting.get(fact["contact_id"]) == fact["at"]:
            return False
        waiting[fact["contact_id"]] = fact["at"]
        return True
    return waiting.pop(fact["contact_id"], None) is not None


def apply_agent(entry: dict[str, Any], fact: dict[str, Any]) -> bool:
    """Fold an AGENT fact into the queue's entry (idempotent); False when nothing changed."""
    agents = entry["agents"]
    state = fact["agent_state"]
    if state == "OFFLINE":
        return agents.pop(fact["agent_id"], None) is not None
    if agents.get(fact["agent_id"]) == state:
        return False
    agents[fact["agent_id"]] = state
    return True


def view(queue: str, live: dict[str, Any], waiting_buckets: list[dict[str, int]], watermark: int,
         aht_ms: float | None) -> dict[str, Any]:
    """`waiting_buckets`: the queue's waiting contacts (contact id -> time queued), in parts."""
    waiting = sum(len(b) for b in waiting_buckets)
    oldest = min((min(b.values()) for b in waiting_buckets if b), default=None)
    counts = {state: 0 for state in ("AVAILABLE", "BUSY", "WRAP_UP", "AWAY")}
    for state in live["agents"].values():
        counts[state] = counts.get(state, 0) + 1
    staffed = sum(counts[s] for s in STAFFED)
    aht = aht_ms or DEFAULT_AHT_MS
    ahead = waiting + 1 - counts["AVAILABLE"]
    if ahead <= 0:
        ewt = 0.0
    elif staffed == 0:
        ewt = None  # nobody to answer: no estimate
    else:
        ewt = ahead * aht / staffed
    return {
        "queue": queue,
        "waiting": waiting,
        "oldest_wait_ms": max(0, watermark - oldest) if oldest is not None else 0,
        "agents_logged_in": len(live["agents"]),
        "agents_available": counts["AVAILABLE"],
        "agents_busy": counts["BUSY"],
        "agents_wrap_up": counts["WRAP_UP"],
        "agents_away": counts["AWAY"],
        "ewt_ms": ewt,
        "aht_ms": aht,
        "as_of": watermark,
    }
