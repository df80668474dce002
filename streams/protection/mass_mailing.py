"""Mass mailing: a sender reaching more than N distinct recipients within W minutes.

Distinct recipients are counted per sender in four buckets of W/4 (a sliding window of between
3/4 W and W), by event time: exactly, as recipient pseudonyms with the time each was first seen
(so a message replayed after a restart is judged on the recipients before it, as the first time),
while a bucket holds at most
EXACT_MAX of them, then in a HyperLogLog (datasketch, 2**12 registers: 4 KB, standard error
1.04/sqrt(4096) = 1.6 %, and below 1 % up to about 10,000 recipients, where datasketch counts
linearly). A person's sender stays in the exact mode and costs a few bytes; only a mass sender
pays for the sketch. Registered A2P senders (banks, shops, the operator) are never flagged.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasketch import HyperLogLog

EXACT_MAX = 256
HLL_P = 12
BUCKETS = 4


def _identity(v: int) -> int:
    return v


def _sketch(reg: np.ndarray | None = None) -> HyperLogLog:
    return HyperLogLog(p=HLL_P, reg=reg, hashfunc=_identity)


@dataclass(slots=True)
class Distinct:
    """Distinct 64-bit pseudonyms, each with the first time it was seen, while small (so that a
    count "as of time t" is exact, and a replay after a restart decides as the first run did); a
    HyperLogLog beyond EXACT_MAX."""

    exact: dict[int, int] | None
    sketch: HyperLogLog | None = None

    @classmethod
    def empty(cls) -> Distinct:
        return cls({})

    def add(self, h: int, at: int) -> None:
        if self.exact is not None:
            first = self.exact.get(h)
            if first is None or at < first:
                self.exact[h] = at
            if len(self.exact) > EXACT_MAX:
                self.sketch = _sketch()
                for x in self.exact:
                    self.sketch.update(x & 0xFFFFFFFF)
                self.exact = None
        else:
            assert self.sketch is not None
            self.sketch.update(h & 0xFFFFFFFF)

    def count(self) -> float:
        return float(len(self.exact)) if self.exact is not None else float(self.sketch.count())  # type: ignore[union-attr]

    def encode(self) -> Any:
        if self.exact is not None:  # flat: pseudonym, first seen, pseudonym, first seen, ...
            return [x for pair in self.exact.items() for x in pair]
        return base64.b64encode(self.sketch.reg.tobytes()).decode()  # type: ignore[union-attr]

    @classmethod
    def decode(cls, value: Any) -> Distinct:
        if isinstance(value, list):
            if value and isinstance(value[0], list):  # [[pseudonym, time], ...] of an earlier release
                return cls({h: t for h, t in value})
            return cls(dict(zip(value[::2], value[1::2])))
        reg = np.frombuffer(base64.b64decode(value), dtype=np.int8).copy()
        return cls(None, _sketch(reg))


def union_count(parts: list[Distinct], at: int) -> float:
    """Distinct pseudonyms of all parts seen at or before `at` (all of a sketch's)."""
    if all(p.exact is not None for p in parts):
        seen: set[int] = set()
        for p in parts:
            seen.update(h for h, t in p.exact.items() if t <= at)  # type: ignore[union-attr]
        return float(len(seen))
    merged = _sketch()
    for p in parts:
        if p.exact is not None:
            for x, t in p.exact.items():
                if t <= at:
                    merged.update(x & 0xFFFFFFFF)
        else:
            merged.merge(p.sketch)  # type: ignore[arg-type]
    return float(merged.count())


@dataclass(slots=True)
class SenderWindow:
    buckets: dict[int, Distinct]  # bucket start (ms) -> recipients
    flagged_at: int | None = None
    reached: float = 0.0  # distinct recipients when flagged
    alerted_at: int | None = None  # when an alert about this sender was last raised
    # not kept: the buckets' sum when the union was last counted, so that a sender who writes to
    # the same people again and again is not recounted on every message
    counted_at_sum: float = 0.0

    def encode(self) -> list[Any]:
        """[flagged_at, reached, alerted_at, bucket start, recipients, bucket start, ...]: flat
        lists, the cheapest JSON for the changelog record every sender's message changes."""
        out: list[Any] = [self.flagged_at, self.reached, self.alerted_at]
        for start, bucket in self.buckets.items():
            out.append(start)
            out.append(bucket.encode())
        return out

    @classmethod
    def decode(cls, value: Any) -> SenderWindow:
        if isinstance(value, dict):  # an earlier release's changelog record
            return cls({int(k): Distinct.decode(v) for k, v in value["b"].items()}, value.get("f"),
                       value.get("r", 0.0), value.get("a"))
        return cls({value[i]: Distinct.decode(value[i + 1]) for i in range(3, len(value), 2)},
                   value[0], value[1], value[2])


@dataclass(frozen=True)
class MassMailingRule:
    limit: int  # N: more than this many distinct recipients ...
    window_ms: int  # ... within W
    a2p: frozenset[str]  # registered bulk senders (canonical), never flagged

    @property
    def bucket_ms(self) -> int:
        return max(self.window_ms // BUCKETS, 1)


def observe(rule: MassMailingRule, held: SenderWindow | None, sender: str, recipient: int,
            at: int, limit: int | None = None) -> tuple[SenderWindow, float | None]:
    """Count `recipient` for `sender` at `at`; returns the window and, when the sender has just
    passed the limit (or had passed it in this window), the distinct recipients counted."""
    if sender in rule.a2p:
        return held or SenderWindow({}), None
    limit = rule.limit if limit is None else limit
    w = held or SenderWindow({})
    start = at - at % rule.bucket_ms
    oldest = start - (BUCKETS - 1) * rule.bucket_ms
    if any(k < oldest for k in w.buckets):
        w.buckets = {k: v for k, v in w.buckets.items() if k >= oldest}
        if w.flagged_at is not None and w.flagged_at < oldest:
            w.flagged_at, w.reached = None, 0.0
        w.counted_at_sum = 0.0
    bucket = w.buckets.get(start)
    if bucket is None:
        bucket = w.buckets[start] = Distinct.empty()
    bucket.add(recipient, at)
    if w.flagged_at is not None and w.flagged_at <= at:  # flagged in this window: it stays so
        return w, w.reached
    parts = list(w.buckets.values())
    # The sum of the buckets' counts bounds their union, so the union is counted only past the
    # limit; with a sketch, again only when the sum has grown by a hundredth of the limit since.
    total = sum(p.count() for p in parts)
    if total <= limit:
        return w, None
    exact = all(p.exact is not None for p in parts)
    if not exact and total - w.counted_at_sum < max(1.0, limit / 100):
        return w, None
    w.counted_at_sum = total
    reached = union_count(parts, at)
    if reached > limit:
        if w.flagged_at is None or at < w.flagged_at:
            w.flagged_at, w.reached = at, reached
        return w, reached
    return w, None
