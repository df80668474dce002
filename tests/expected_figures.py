"""The figures a run must store, worked out from the events it published by the README's metric
definitions, written out again here: nothing from `streams.processors`, `streams.analytics` or
`streams.reports`, so a bug in the pipeline's folds cannot be on both sides of a comparison.

`Contact.summary` gives each contact's summary; `window_figures` each queue's figures of one UTC
day (region "*"); `fcr` and `csat` the day's outcomes. Events are (topic, record) pairs in the order
they were published (the simulator's order: event time).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DAY_MS = 86_400_000

# The README's default service-level thresholds T per channel.
SL_THRESHOLD_MS = {"VOICE": 20_000, "CHAT": 60_000, "MESSENGER": 60_000, "APP": 60_000,
                   "SOCIAL": 3_600_000, "EMAIL": 86_400_000}


@dataclass
class Contact:
    contact_id: str
    channel: str
    subscriber: str
    reason: str
    created_at: int | None = None
    legs: list[tuple[int, str, int]] = field(default_factory=list)  # (queued at, queue, line)
    answers: list[int] = field(default_factory=list)
    transfers: list[int] = field(default_factory=list)
    ended_at: int | None = None
    acw_ms: int = 0
    abandoned_at: int | None = None
    scores: list[tuple[int, int]] = field(default_factory=list)  # (survey time, score)

    @property
    def status(self) -> str:
        if self.answers:
            return "ENDED" if self.ended_at is not None else "IN_PROGRESS"
        if self.abandoned_at is not None:
            return "ABANDONED"
        return "QUEUED" if self.legs else "OPEN"

    @property
    def line(self) -> int:
        return max((leg[2] for leg in self.legs), default=1)

    def summary(self) -> dict[str, Any]:
        """The stored contact summary's figures: wait from the first queue entry to the first
        answer (or to the abandon); handle from the first answer to the end plus after-contact
        work; duration from creation to the end or the abandon; the newest survey's score."""
        queued = self.legs[0][0] if self.legs else None
        answered = self.answers[0] if self.answers else None
        abandoned = self.abandoned_at if answered is None else None
        stop = answered if answered is not None else abandoned
        finished = self.ended_at if self.ended_at is not None else abandoned
        return {
            "status": self.status,
            "first_queue": self.legs[0][1] if self.legs else None,
            "last_queue": self.legs[-1][1] if self.legs else None,
            "wait_ms": stop - queued if stop is not None and queued is not None else None,
            "handle_time_ms": (self.ended_at - answered + self.acw_ms
                               if answered is not None and self.ended_at is not None else None),
            "duration_ms": finished - self.created_at if finished is not None and self.created_at is not None else None,
            "transfers": len(self.transfers),
            "line": self.line,
            "csat_score": max(self.scores)[1] if self.scores else None,
        }


def contacts_of(events: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Contact]:
    contacts: dict[str, Contact] = {}
    for topic, r in events:
        if topic == "survey-responses":
            contacts[r["contact_id"]].scores.append((r["occurred_at"], r["score"]))
            continue
        if topic != "contact-events":
            continue
        c = contacts.setdefault(r["contact_id"], Contact(r["contact_id"], r["channel"], r["subscriber_id"],
                                                         r["reason"]))
        at, kind = r["occurred_at"], r["type"]
        if kind == "CREATED":
            c.created_at = at
        elif kind == "QUEUED":
            c.legs.append((at, r["queue"], r["line"]))
        elif kind == "ANSWERED":
            c.answers.append(at)
        elif kind == "TRANSFERRED":
            c.transfers.append(at)
        elif kind == "ENDED":
            c.ended_at, c.acw_ms = at, r.get("after_contact_work_ms") or 0
        elif kind == "ABANDONED":
            c.abandoned_at = at
    return contacts


@dataclass
class QueueDay:
    """One queue's outcomes in one window, as lists, so that every figure is a plain count or mean."""
    channel: str
    threshold_ms: int
    offered: int = 0
    waits: list[int] = field(default_factory=list)  # of the answered legs
    abandon_waits: list[int] = field(default_factory=list)
    handles: list[int] = field(default_factory=list)  # of the contacts that ended from this queue
    durations: list[int] = field(default_factory=list)
    transfers: int = 0
    escalations: int = 0

    def percentile_bounds(self, q: float) -> tuple[int, int] | None:
        """The exact waits either side of rank q·(n−1), between which the stored percentile
        must lie (give or take the sketch's 1 % relative error)."""
        if not self.waits:
            return None
        ordered = sorted(self.waits)
        rank = q * (len(ordered) - 1)
        return ordered[int(rank)], ordered[min(len(ordered) - 1, int(rank) + 1)]

    def figures(self) -> dict[str, Any]:
        t = self.threshold_ms
        answered, abandoned = len(self.waits), len(self.abandon_waits)
        short = sum(1 for w in self.abandon_waits if w <= t)
        within = sum(1 for w in self.waits if w <= t)
        sl_base = answered + abandoned - short
        return {
            "offered": self.offered, "answered": answered, "abandoned": abandoned, "short_abandoned": short,
            "answered_within_threshold": within, "sl_threshold_ms": t,
            "asa_ms": sum(self.waits) / answered if answered else None,
            "wait_max_ms": max(self.waits) if self.waits else None,
            "service_level": within / sl_base if sl_base else None,
            "abandonment_rate": abandoned / self.offered if self.offered else None,
            "aht_ms": sum(self.handles) / len(self.handles) if self.handles else None,
            "avg_duration_ms": sum(self.durations) / len(self.durations) if self.durations else None,
            "transfers": self.transfers, "escalations": self.escalations,
        }


def window_figures(contacts: Iterable[Contact], start: int, length_ms: int = DAY_MS,
                   thresholds: dict[str, int] | None = None) -> dict[str, QueueDay]:
    """Each queue's figures of the window [start, start + length_ms) (a UTC day by default; a
    window wider than the run gives the run's totals), with the channel's default threshold T
    unless `thresholds` gives the queue its own. A contact passes through one leg per
    queue entry, a leg lasting until the next one starts; each outcome counts in the window of
    its own time: offered at the leg's start, an answer with its wait in the leg it fell in, an
    abandon on the last leg, the end in the queue of the leg answered last (handle from that
    answer), a transfer in the leg it happened in, an escalation (a leg at line 2 after one at
    line 1) in the queue left."""
    days: dict[str, QueueDay] = {}

    def in_day(at: int) -> bool:
        return start <= at < start + length_ms

    def q(queue: str, channel: str) -> QueueDay:
        if queue not in days:
            days[queue] = QueueDay(channel, (thresholds or {}).get(queue, SL_THRESHOLD_MS[channel]))
        return days[queue]

    for c in contacts:
        last_answered: tuple[str, int] | None = None
        for i, (entered, queue, line) in enumerate(c.legs):
            end = c.legs[i + 1][0] if i + 1 < len(c.legs) else None
            if in_day(entered):
                q(queue, c.channel).offered += 1
            if i and line >= 2 and c.legs[i - 1][2] < 2 and in_day(entered):
                q(c.legs[i - 1][1], c.channel).escalations += 1
            answer = next((a for a in c.answers if a >= entered and (end is None or a < end)), None)
            if answer is not None:
                last_answered = (queue, answer)
                if in_day(answer):
                    q(queue, c.channel).waits.append(answer - entered)
            elif end is None and c.abandoned_at is not None and not c.answers and in_day(c.abandoned_at):
                q(queue, c.channel).abandon_waits.append(c.abandoned_at - entered)
            for t in c.transfers:
                if t >= entered and (end is None or t < end) and in_day(t):
                    q(queue, c.channel).transfers += 1
        if last_answered is not None and c.ended_at is not None and in_day(c.ended_at):
            queue, answer = last_answered
            q(queue, c.channel).handles.append(c.ended_at - answer + c.acw_ms)
            q(queue, c.channel).durations.append(c.ended_at - c.created_at)  # type: ignore[operator]
    return days


def fcr(contacts: Iterable[Contact], window_ms: int = 7 * DAY_MS) -> tuple[int, int, int]:
    """(first contacts, resolved, repeated) over answered contacts: a contact is a repeat when an
    earlier answered one of the same subscriber on the same reason was created within the window
    before it (ties in time ordered by id); the others count once they have ended, and are
    resolved when they ended at line 1 and no repeat followed within the window. `repeated`: the
    first contacts a repeat followed (settled as unresolved before their window ends)."""
    groups: dict[tuple[str, str], list[tuple[int, str, Contact]]] = defaultdict(list)
    for c in contacts:
        if c.answers and c.created_at is not None:
            groups[(c.subscriber, c.reason)].append((c.created_at, c.contact_id, c))
    first = resolved = repeats = 0
    for group in groups.values():
        for at, cid, c in group:
            if any((t, i) < (at, cid) and t >= at - window_ms for t, i, _ in group):
                continue
            if c.status != "ENDED":
                continue
            first += 1
            repeated = any((t, i) > (at, cid) and t <= at + window_ms for t, i, _ in group)
            resolved += c.line == 1 and not repeated
            repeats += repeated
    return first, resolved, repeats


def csat(contacts: Iterable[Contact]) -> tuple[int, int, int, int]:
    """(responses, fives, fours and fives, sum of scores) over the contacts' newest scores."""
    scores = [c.summary()["csat_score"] for c in contacts]
    scores = [s for s in scores if s is not None]
    return len(scores), sum(1 for s in scores if s == 5), sum(1 for s in scores if s >= 4), sum(scores)


def differences(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]], rel: float = 1e-9) -> list[str]:
    """Where two {window or queue: {figure: value}} mappings differ: numbers beyond a relative
    `rel` (a mean's last bits differ with the order of its sums), anything else exactly."""
    out = [f"{k}: stored only" for k in got.keys() - want.keys()] + [f"{k}: missing" for k in want.keys() - got.keys()]
    for k in want.keys() & got.keys():
        for name, value in want[k].items():
            stored = got[k].get(name)
            same = (math.isclose(stored, value, rel_tol=rel)
                    if isinstance(value, (int, float)) and isinstance(stored, (int, float)) else stored == value)
            if not same:
                out.append(f"{k} {name}: stored {stored!r}, by hand {value!r}")
    return sorted(out)
