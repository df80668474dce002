"""Complaints about a sender: K distinct subscribers within W block it.

Per sender, the complainers (keyed pseudonyms) and when each complained; one subscriber
complaining twice counts once. Every complaint gets an outcome (schemas/complaint_outcome.avsc),
so each one is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ABOUT_SENDERS = frozenset({"SMS_SPAM", "FRAUD_SMS", "FRAUD_CALL"})


@dataclass(frozen=True)
class ComplaintRule:
    threshold: int  # K
    window_ms: int  # W


@dataclass
class SenderComplaints:
    complainers: dict[str, int] = field(default_factory=dict)  # pseudonym -> newest complaint time
    blocked_at: int | None = None

    def encode(self) -> dict[str, Any]:
        return {"c": self.complainers, "b": self.blocked_at}

    @classmethod
    def decode(cls, v: dict[str, Any]) -> SenderComplaints:
        return cls(dict(v["c"]), v["b"])


def judge(rule: ComplaintRule, held: SenderComplaints, subscriber: str, at: int,
          already_blocked: bool) -> tuple[str, int]:
    """Count one complaint; returns (outcome, distinct complainers within the window)."""
    oldest = at - rule.window_ms
    held.complainers = {s: t for s, t in held.complainers.items() if t >= oldest}
    repeated = subscriber in held.complainers
    held.complainers[subscriber] = max(at, held.complainers.get(subscriber, at))
    count = len(held.complainers)
    if already_blocked or held.blocked_at is not None:
        return "ALREADY_BLOCKED", count
    if repeated:
        return "REPEATED", count
    if count >= rule.threshold:
        held.blocked_at = at
        return "SENDER_BLOCKED", count
    return "COUNTED", count
