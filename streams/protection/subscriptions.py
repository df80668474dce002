"""Paid-subscription requests: allowed only when confirmed in time and no content ban forbids it.

A content provider's request for a subscriber arrives unconfirmed (the subscriber is asked, by
SMS code or in the app) and again, same request_id, once confirmed; a request may also arrive
confirmed at once. The outcome is decided once per request:

- BLOCKED / CONTENT_BAN: the subscriber had a content ban in force at the request's time (all paid
  content, or this provider), confirmed or not;
- ALLOWED / CONFIRMED: confirmed at most `confirm_ms` after the request;
- BLOCKED / NOT_CONFIRMED: no confirmation within `confirm_ms` (a later one is too late).

A provider whose requests are refused `abuse_limit` times within `abuse_window_ms` is abusing the
service (ProviderRefusals).
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any

from streams.protection.block_lists import CONTENT_PREFIX

# Content bans are entries of the subscriber's block list with these sender names, so that they
# travel with the Antispam-SMS changes (block-list-changes) and answer by event time the same way.
CONTENT_ALL = CONTENT_PREFIX + "*"


def content_ban_names(provider: str) -> tuple[str, str]:
    return CONTENT_ALL, CONTENT_PREFIX + provider.strip().casefold()


@dataclass(frozen=True)
class SubscriptionRule:
    confirm_ms: int  # the time a subscriber has to confirm
    abuse_limit: int  # refused requests of one provider ...
    abuse_window_ms: int  # ... within this long raise an alert


@dataclass
class Pending:
    """A request waiting for its confirmation (kept in the table until decided)."""

    at: int
    partition: int  # of the request's input, where its table entry lives
    request_id: str  # the provider's
    subscriber: str  # pseudonym
    provider: str
    service: str
    price_minor: int
    currency: str
    outcome: str | None = None  # set once decided; kept a while to answer repeats

    def encode(self) -> list[Any]:
        return [self.at, self.partition, self.request_id, self.subscriber, self.provider, self.service, self.price_minor, self.currency, self.outcome]

    @classmethod
    def decode(cls, v: list[Any]) -> Pending:
        return cls(*v)


def decide_arrival(rule: SubscriptionRule, held: Pending | None, at: int, confirmed: bool,
                   banned: bool) -> str | None:
    """The outcome ('ALLOWED/CONFIRMED', 'BLOCKED/CONTENT_BAN', 'BLOCKED/NOT_CONFIRMED') that a
    request's record decides, or None when it only waits (or was decided already)."""
    if held is not None and held.outcome is not None:
        return None  # decided once: repeats and late confirmations change nothing
    first_at = held.at if held is not None else at
    if banned:
        return "BLOCKED/CONTENT_BAN"
    if confirmed:
        return "ALLOWED/CONFIRMED" if at - first_at <= rule.confirm_ms else "BLOCKED/NOT_CONFIRMED"
    if at - first_at > rule.confirm_ms:
        return "BLOCKED/NOT_CONFIRMED"
    return None


def expired(rule: SubscriptionRule, held: Pending, now: int) -> bool:
    """A waiting request whose time to confirm has passed by `now` (event time)."""
    return held.outcome is None and now - held.at > rule.confirm_ms


@dataclass
class ProviderRefusals:
    """One provider's refused requests within the abuse window, and its last alert.

    Each refusal is remembered with its request id, so that one read again (a worker replaying
    what it had not committed, or the refusal published twice) is counted once."""

    refused: list[tuple[int, str]] = field(default_factory=list)  # (time, request id), ascending
    alerted_at: int | None = None

    def count(self, rule: SubscriptionRule, at: int, request_id: str = "") -> int:
        """Count a refusal at `at`; returns the distinct refusals within the window up to it."""
        entry = (at, request_id)
        if not request_id or entry not in self.refused:
            insort(self.refused, entry)
        oldest = at - rule.abuse_window_ms
        within = sum(1 for t, _ in self.refused if oldest <= t <= at)
        # bounded: the newest refusals are all a later count can need
        self.refused = [e for e in self.refused if e[0] >= oldest][-2 * rule.abuse_limit:]
        return within

    def encode(self) -> list[Any]:
        return [[list(e) for e in self.refused], self.alerted_at]

    @classmethod
    def decode(cls, v: list[Any]) -> ProviderRefusals:
        # state written before request ids were kept holds bare times
        return cls([(e, "") if isinstance(e, int) else (int(e[0]), str(e[1])) for e in v[0]], v[1])
