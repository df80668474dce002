"""Pure logic of one contact's lifecycle: fold events into a state, derive the summary.

Every fold is order-independent (minimum, maximum, set union), so events of one contact that
arrive out of order give the same summary as in order, and a repeated event id changes nothing.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any

from streams.engine.errors import InvalidRecord, TooLarge

# Plausible event times: from 2000-01-01 UTC to the wall clock plus FIRSTLINE_MAX_FUTURE_SKEW_S.
# Outside that a producer sent seconds, microseconds, a wrong clock or garbage: a wait computed
# from it would be nonsense, and one event dated 2099 would close every window for good.
MIN_TIME_MS = 946_684_800_000
MAX_EVENTS_PER_CONTACT = 1000
MAX_ACW_MS = 24 * 3600 * 1000
KNOWN_TYPES = frozenset({"CREATED", "QUEUED", "OFFERED", "ANSWERED", "HELD", "RESUMED",
                         "TRANSFERRED", "ENDED", "ABANDONED", "WRAPUP_ENDED"})


class InvalidEvent(InvalidRecord):
    """A decoded event whose values are impossible."""


def check_time(name: str, t: int, max_time_ms: int) -> None:
    """`t` must be UTC epoch milliseconds from 2000 up to `max_time_ms` (the wall clock plus the
    allowed skew)."""
    if t < MIN_TIME_MS:
        raise InvalidEvent(f"{name} {t} is before 2000: not UTC epoch milliseconds")
    if t > max_time_ms:
        raise InvalidEvent(f"{name} {t} is {(t - max_time_ms) // 1000} s past the wall clock plus "
                           f"FIRSTLINE_MAX_FUTURE_SKEW_S")


def validate_event(ev: dict[str, Any], max_time_ms: int) -> None:
    if not ev["event_id"]:
        raise InvalidEvent("event_id is empty")
    if not ev["contact_id"]:
        raise InvalidEvent("contact_id is empty")
    if ev["type"] not in KNOWN_TYPES:
        raise InvalidEvent(f"unknown event type {ev['type']!r}")
    t = ev["occurred_at"]
    if not MIN_TIME_MS <= t <= max_time_ms:
        check_time("occurred_at", t, max_time_ms)
    if not 1 <= ev["line"] <= 9:
        raise InvalidEvent(f"line {ev['line']} is outside 1..9")
    acw = ev.get("after_contact_work_ms")
    if acw is not None and not 0 <= acw <= MAX_ACW_MS:
        raise InvalidEvent(f"after_contact_work_ms {acw} is outside 0..{MAX_ACW_MS}")
    if ev["type"] in ("QUEUED", "TRANSFERRED") and not ev.get("queue"):
        raise InvalidEvent(f"{ev['type']} event without a queue")


def validate_survey(response: dict[str, Any], max_time_ms: int) -> None:
    if not response["response_id"] or not response["contact_id"]:
        raise InvalidEvent("response_id and contact_id must not be empty")
    if not 1 <= response["score"] <= 5:
        raise InvalidEvent(f"score {response['score']} is outside 1..5")
    check_time("occurred_at", response["occurred_at"], max_time_ms)


def _latest(pair_a: list | None, pair_b: list) -> list:
    # Pairs are [time, tie-breaker]: comparing lists makes the choice deterministic on equal times.
    return pair_b if pair_a is None or pair_b > pair_a else pair_a


@dataclass(slots=True)
class ContactState:
    contact_id: str
    seen: set[str] = field(default_factory=set)  # event ids folded in (a list in JSON)
    channel: str = "UNKNOWN"
    subscriber_id: str | None = None
    region: str | None = None
    reason: str | None = None
    first_seen: int | None = None
    last_seen: int | None = None
    created_at: int | None = None
    legs: list[list] = field(default_factory=list)  # [time, queue, line] per QUEUED, sorted
    answers: list[list] = field(default_factory=list)  # [time, agent] per ANSWERED, sorted
    transfers: list[int] = field(default_factory=list)  # times of TRANSFERRED
    ended: list | None = None  # [time, disposition] of the latest end
    abandoned_at: int | None = None
    acw_ms: int = 0
    line: int = 1
    survey: list | None = None  # [time, score] of the newest survey response
    # The outcomes (queue_facts.outcomes_of) of this state as last derived, in memory only: the
    # next change is sent as the difference from them without deriving them again.
    facts: dict[Any, Any] | None = field(default=None, compare=False, repr=False)

    def apply(self, ev: dict[str, Any], max_events: int = MAX_EVENTS_PER_CONTACT) -> bool:
        """Fold one validated event in; False when it was a duplicate. A contact holds at most
        `max_events` distinct events and survey answers: its state must stay small enough to
        write, and no real contact has that many."""
        event_id = ev["event_id"]
        seen = self.seen
        if event_id in seen:
            return False
        if len(seen) >= max_events:
            raise TooLarge(f"contact {self.contact_id[:100]!r} has {len(seen)} events already, the most "
                           f"FIRSTLINE_MAX_EVENTS_PER_CONTACT allows")
        seen.add(event_id)
        t = ev["occurred_at"]
        kind = ev["type"]
        self.first_seen = t if self.first_seen is None else min(self.first_seen, t)
        self.last_seen = t if self.last_seen is None else max(self.last_seen, t)
        if ev["channel"] != "UNKNOWN":
            self.channel = ev["channel"]
        # The first value given sticks (spelled out: getattr and setattr in a loop cost a third of this
        # method, once per event).
        if self.subscriber_id is None:
            self.subscriber_id = ev.get("subscriber_id")
        if self.region is None:
            self.region = ev.get("region")
        if self.reason is None:
            self.reason = ev.get("reason")
        self.line = max(self.line, ev["line"])
        if ev.get("after_contact_work_ms"):
            # ENDED and WRAPUP_ENDED may both report it; the larger figure is the complete one.
            self.acw_ms = max(self.acw_ms, ev["after_contact_work_ms"])
        if kind == "CREATED":
            self.created_at = t if self.created_at is None else min(self.created_at, t)
        elif kind == "QUEUED":
            insort(self.legs, [t, ev["queue"], ev["line"]])
        elif kind == "TRANSFERRED":
            insort(self.transfers, t)
        elif kind == "ANSWERED":
            insort(self.answers, [t, ev.get("agent_id") or ""])
        elif kind == "ENDED":
            self.ended = _latest(self.ended, [t, ev.get("disposition") or ""])
        elif kind == "ABANDONED":
            self.abandoned_at = t if self.abandoned_at is None else min(self.abandoned_at, t)
        return True

    def apply_survey(self, response: dict[str, Any], max_events: int = MAX_EVENTS_PER_CONTACT) -> bool:
        """Join a survey response (it may come before the contact's events); False if a duplicate."""
        response_id = "survey:" + response["response_id"]
        if response_id in self.seen:
            return False
        if len(self.seen) >= max_events:
            raise TooLarge(f"contact {self.contact_id[:100]!r} has {len(self.seen)} events already, the most "
                           f"FIRSTLINE_MAX_EVENTS_PER_CONTACT allows")
        self.seen.add(response_id)
        self.survey = _latest(self.survey, [response["occurred_at"], response["score"]])
        if self.subscriber_id is None:
            self.subscriber_id = response.get("subscriber_id")
        return True

    @property
    def has_events(self) -> bool:
        return self.first_seen is not None

    def summary(self) -> dict[str, Any]:
        """The ContactSummary record (schemas/contact_summary.avsc) of this state."""
        queued_at = self.legs[0][0] if self.legs else None
        answered_at = self.answers[0][0] if self.answers else None
        ended_at = self.ended[0] if self.ended else None
        # A contact that was answered was not abandoned, whatever a confused channel system said.
        abandoned_at = self.abandoned_at if answered_at is None else None
        created_at = self.created_at if self.created_at is not None else self.first_seen
        if abandoned_at is not None:
            status = "ABANDONED"
        elif answered_at is not None:
            status = "ENDED" if ended_at is not None else "IN_PROGRESS"
        elif queued_at is not None:
            status = "QUEUED"
        else:
            status = "OPEN"
        wait_ms = None
        if queued_at is not None:
            stop = answered_at if answered_at is not None else abandoned_at
            if stop is not None:
                wait_ms = max(0, stop - queued_at)  # clocks of two systems may disagree slightly
        handle_ms = None
        if answered_at is not None and ended_at is not None:
            handle_ms = max(0, ended_at - answered_at) + self.acw_ms
        finished_at = ended_at if ended_at is not None else abandoned_at
        duration_ms = max(0, finished_at - created_at) if finished_at is not None else None
        return {
            "contact_id": self.contact_id,
            "version": len(self.seen),
            "status": status,
            "channel": self.channel,
            "first_queue": self.legs[0][1] if self.legs else None,
            "last_queue": self.legs[-1][1] if self.legs else None,
            "agent_id": (self.answers[-1][1] or None) if self.answers else None,
            "subscriber_id": self.subscriber_id,
            "region": self.region,
            "reason": self.reason,
            "created_at": created_at,
            "queued_at": queued_at,
            "answered_at": answered_at,
            "ended_at": ended_at,
            "abandoned_at": abandoned_at,
            "wait_ms": wait_ms,
            "handle_time_ms": handle_ms,
            "duration_ms": duration_ms,
            "transfers": len(self.transfers),
            "line": self.line,
            "disposition": (self.ended[1] or None) if self.ended else None,
            "updated_at": self.last_seen,
            "csat_score": self.survey[1] if self.survey else None,
        }

    def to_json(self) -> dict[str, Any]:
        # Spelled out (a test keeps it to the fields): once per changed contact per checkpoint.
        return {"contact_id": self.contact_id, "seen": list(self.seen), "channel": self.channel,
                "subscriber_id": self.subscriber_id, "region": self.region, "reason": self.reason,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "created_at": self.created_at,
                "legs": self.legs, "answers": self.answers, "transfers": self.transfers, "ended": self.ended,
                "abandoned_at": self.abandoned_at, "acw_ms": self.acw_ms, "line": self.line,
                "survey": self.survey}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ContactState":
        state = cls(**data)
        state.seen = set(state.seen)
        return state


STORED_FIELDS = tuple(name for name in ContactState.__slots__ if name != "facts")  # type: ignore[attr-defined]
