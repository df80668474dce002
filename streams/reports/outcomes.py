"""FCR, CSAT and channel mix over the stored contact summaries.

These outcomes need a contact's future (a repeat within 7 days) or many months of history, so
they are computed from storage, where every contact's final summary is, rather than held in a
processor's state for a week. Event time throughout: days, weeks and months are of `created_at`
(UTC), and "now" for FCR is the newest contact time in storage, not the wall clock, so that a
replayed or simulated history gives the same figures as a live one.

FCR (first contact resolution), per contact answered with a known subscriber and reason:
- a *repeat* is an answered contact by the same subscriber on the same reason within the window
  (default 7 days) after an earlier one; the others are *first contacts*;
- a first contact counts once it has ended (one still being handled may yet be escalated, so
  its resolution is not known: it is left out until it ends, but it still makes a later contact
  a repeat);
- a first contact is *resolved* when it ended at line 1 (no escalation to line 2) and no repeat
  followed within the window; it is *final* once the window has passed (or a repeat came),
  *provisional* before;
- FCR = resolved first contacts / first contacts. Abandoned contacts are left out: nobody handled
  them, so there is nothing to resolve (a callback after one is a first contact).

CSAT, per contact with a survey score (1..5): count, share of 5/5, share of 4-5, mean.

Channel mix: contacts per channel per day, ISO week or month; online = every channel but VOICE;
growth = this period against the previous one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from streams.sinks.storage import Store

DAY_MS = 86_400_000
OFFLINE_CHANNELS = frozenset({"VOICE"})


@dataclass(frozen=True)
class Contact:
    contact_id: str
    channel: str
    queue: str | None
    subscriber_id: str | None
    reason: str | None
    status: str
    line: int
    created_at: int
    answered: bool
    csat_score: int | None


CONTACTS_SQL = ("SELECT contact_id, channel, first_queue, subscriber_id, reason, status, line, created_at, "
                "answered_at, csat_score FROM contact_summaries")


async def load_contacts(store: Store) -> list[Contact]:
    rows = await store.query(CONTACTS_SQL)
    return [Contact(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6] or 1), int(r[7]), r[8] is not None,
                    None if r[9] is None else int(r[9])) for r in rows if r[7] is not None]


# -- FCR ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FcrOutcome:
    contact: Contact
    first: bool      # ended, and not a repeat of an earlier contact within the window
    resolved: bool   # for first contacts: line 1 and no repeat (so far, if provisional)
    final: bool      # the window has passed, or a repeat settled it


def fcr_outcomes(contacts: Iterable[Contact], window_ms: int = 7 * DAY_MS,
                 as_of: int | None = None) -> list[FcrOutcome]:
    eligible = [c for c in contacts if c.answered and c.subscriber_id and c.reason]
    if as_of is None:
        as_of = max((c.created_at for c in eligible), default=0)
    by_key: dict[tuple[str, str], list[Contact]] = defaultdict(list)
    for c in eligible:
        by_key[(c.subscriber_id, c.reason)].append(c)  # type: ignore[arg-type]
    out = []
    for group in by_key.values():
        group.sort(key=lambda c: (c.created_at, c.contact_id))
        times = [c.created_at for c in group]
        for i, c in enumerate(group):
            earlier = bisect_left(times, c.created_at - window_ms, 0, i) < i
            repeated = bisect_right(times, c.created_at + window_ms) > i + 1
            first = not earlier and c.status == "ENDED"
            resolved = first and c.line <= 1 and not repeated
            final = repeated or as_of >= c.created_at + window_ms
            out.append(FcrOutcome(c, first, resolved, final))
    return out


@dataclass(frozen=True)
class FcrRate:
    group: tuple[str, ...]
    first_contacts: int
    resolved: int
    provisional: int  # first contacts whose window is still open

    @property
    def rate(self) -> float | None:
        return self.resolved / self.first_contacts if self.first_contacts else None


def fcr_rates(outcomes: Iterable[FcrOutcome], by: tuple[str, ...] = ("day",)) -> list[FcrRate]:
    counts: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for o in outcomes:
        if not o.first:
            continue
        n = counts[_group(o.contact, by)]
        n[0] += 1
        n[1] += o.resolved
        n[2] += not o.final
    return [FcrRate(g, *n) for g, n in sorted(counts.items())]


# -- CSAT --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Csat:
    group: tuple[str, ...]
    responses: int
    top_box: float      # share of 5/5
    top_two_box: float  # share of 4-5
    mean: float


def csat(contacts: Iterable[Contact], by: tuple[str, ...] = ("day",)) -> list[Csat]:
    scores: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for c in contacts:
        if c.csat_score is not None:
            scores[_group(c, by)].append(c.csat_score)
    return [Csat(g, len(s), sum(1 for x in s if x == 5) / len(s), sum(1 for x in s if x >= 4) / len(s),
                 sum(s) / len(s)) for g, s in sorted(scores.items())]


# -- channel mix -------------------------------------------------------------------------------

@dataclass(frozen=True)
class MixPeriod:
    period: str
    contacts: int
    by_channel: dict[str, int]
    online: int
    growth: float | None         # contacts against the previous period
    online_growth: float | None  # online contacts against the previous period

    @property
    def online_share(self) -> float:
        return self.online / self.contacts if self.contacts else 0.0


def channel_mix(contacts: Iterable[Contact], period: str = "day") -> list[MixPeriod]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in contacts:
        counts[period_of(c.created_at, period)][c.channel] += 1
    out: list[MixPeriod] = []
    previous: MixPeriod | None = None
    for key in _periods(sorted(counts), period):
        by_channel = dict(sorted(counts.get(key, {}).items()))
        total = sum(by_channel.values())
        online = sum(n for ch, n in by_channel.items() if ch not in OFFLINE_CHANNELS)
        mix = MixPeriod(key, total, by_channel, online,
                        _growth(total, previous.contacts if previous else None),
                        _growth(online, previous.online if previous else None))
        out.append(mix)
        previous = mix
    return out


def _growth(now: int, before: int | None) -> float | None:
    return None if not before else now / before - 1


def period_of(at_ms: int, period: str) -> str:
    day = datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).date()
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"period must be day, week or month, not {period!r}")


def _periods(present: list[str], period: str) -> list[str]:
    """Every period from the first to the last present one: an empty one is a period too."""
    if not present:
        return []
    if period == "day":
        first, last = (datetime.fromisoformat(p).date() for p in (present[0], present[-1]))
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    if period == "week":
        first, last = (datetime.strptime(p + "-1", "%G-W%V-%u").date() for p in (present[0], present[-1]))
        return [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}"
                for d in (first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1))]
    (y0, m0), (y1, m1) = ((int(p[:4]), int(p[5:7])) for p in (present[0], present[-1]))
    return [f"{y}-{m:02d}" for y, m in ((y0 + (m0 - 1 + i) // 12, (m0 - 1 + i) % 12 + 1)
                                        for i in range((y1 - y0) * 12 + m1 - m0 + 1))]


def _group(c: Contact, by: tuple[str, ...]) -> tuple[str, ...]:
    values: dict[str, Any] = {"day": period_of(c.created_at, "day"), "week": period_of(c.created_at, "week"),
                              "month": period_of(c.created_at, "month"), "queue": c.queue or "-",
                              "channel": c.channel}
    return tuple(values[b] for b in by)
