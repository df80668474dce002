"""Scripted contacts with their summaries worked out by hand (times in ms from T0).

Used by the unit tests of the lifecycle logic and by the end-to-end tests on the real broker.
"""

from __future__ import annotations

import itertools
from typing import Any

T0 = 1_764_000_000_000  # 2025-11-24 16:00:00 UTC
_ids = itertools.count()


def ev(contact: str, kind: str, at_s: float, channel: str = "VOICE", **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{contact}-{kind}-{next(_ids)}", "contact_id": contact, "type": kind,
            "occurred_at": T0 + int(at_s * 1000), "channel": channel, "source": "test",
            "subscriber_id": f"sub-{contact}", "region": "chelyabinsk", "reason": "billing", **fields}


# A: voice, answered after 90 s, 2:41 of talk and 10 s of after-contact work; 4:16 in all
A = [ev("A", "CREATED", 0), ev("A", "QUEUED", 5, queue="voice-general"),
     ev("A", "ANSWERED", 95, queue="voice-general", agent_id="agent-1"),
     ev("A", "ENDED", 256, queue="voice-general", agent_id="agent-1", disposition="RESOLVED",
        after_contact_work_ms=10_000)]
# B: chat, abandoned 30 s after queueing
B = [ev("B", "CREATED", 10, "CHAT"), ev("B", "QUEUED", 12, "CHAT", queue="chat-general"),
     ev("B", "ABANDONED", 42, "CHAT", queue="chat-general")]
# C: voice, answered on line 1 after 20 s, transferred to line 2, answered again, ended
C = [ev("C", "CREATED", 100), ev("C", "QUEUED", 102, queue="voice-general"),
     ev("C", "ANSWERED", 122, queue="voice-general", agent_id="agent-2"),
     ev("C", "TRANSFERRED", 160, queue="voice-line2", agent_id="agent-2"),
     ev("C", "QUEUED", 161, queue="voice-line2", line=2),
     ev("C", "ANSWERED", 180, queue="voice-line2", agent_id="agent-9", line=2),
     ev("C", "ENDED", 300, queue="voice-line2", agent_id="agent-9", line=2, disposition="RESOLVED")]
# D: e-mail, queued and still waiting; its CREATED never arrived
D = [ev("D", "QUEUED", 200, "EMAIL", queue="email-general")]

SCRIPTED = {"A": A, "B": B, "C": C, "D": D}

EXPECTED: dict[str, dict[str, Any]] = {
    "A": {"status": "ENDED", "channel": "VOICE", "first_queue": "voice-general", "last_queue": "voice-general",
          "agent_id": "agent-1", "created_at": T0, "queued_at": T0 + 5_000, "answered_at": T0 + 95_000,
          "ended_at": T0 + 256_000, "abandoned_at": None, "wait_ms": 90_000,
          "handle_time_ms": 161_000 + 10_000, "duration_ms": 256_000, "transfers": 0, "line": 1,
          "disposition": "RESOLVED", "version": 4, "updated_at": T0 + 256_000},
    "B": {"status": "ABANDONED", "channel": "CHAT", "first_queue": "chat-general", "last_queue": "chat-general",
          "agent_id": None, "created_at": T0 + 10_000, "queued_at": T0 + 12_000, "answered_at": None,
          "ended_at": None, "abandoned_at": T0 + 42_000, "wait_ms": 30_000, "handle_time_ms": None,
          "duration_ms": 32_000, "transfers": 0, "line": 1, "disposition": None, "version": 3,
          "updated_at": T0 + 42_000},
    "C": {"status": "ENDED", "channel": "VOICE", "first_queue": "voice-general", "last_queue": "voice-line2",
          "agent_id": "agent-9", "created_at": T0 + 100_000, "queued_at": T0 + 102_000,
          "answered_at": T0 + 122_000, "ended_at": T0 + 300_000, "abandoned_at": None, "wait_ms": 20_000,
          "handle_time_ms": 178_000, "duration_ms": 200_000, "transfers": 1, "line": 2,
          "disposition": "RESOLVED", "version": 7, "updated_at": T0 + 300_000},
    "D": {"status": "QUEUED", "channel": "EMAIL", "first_queue": "email-general", "last_queue": "email-general",
          "agent_id": None, "created_at": T0 + 200_000, "queued_at": T0 + 200_000, "answered_at": None,
          "ended_at": None, "abandoned_at": None, "wait_ms": None, "handle_time_ms": None,
          "duration_ms": None, "transfers": 0, "line": 1, "disposition": None, "version": 1,
          "updated_at": T0 + 200_000},
}


def delivery_order() -> list[dict[str, Any]]:
    """The scripted events as the broker gets them: shuffled within each contact, A's ANSWERED and
    C's TRANSFERRED sent twice."""
    a = [A[3], A[1], A[2], A[2], A[0]]  # ENDED first, a duplicate ANSWERED, CREATED last
    b = [B[2], B[0], B[1]]
    c = [C[6], C[4], C[3], C[0], C[5], C[1], C[3], C[2]]
    return [*a, *b, *c, *D]
