"""Pure logic: the figures of one queue/channel/region over one event-time window.

Counts are kept as sums so that facts can be added and retracted in any order; the wait
distribution is a DDSketch (1 % relative error) so windows merge into the rolling view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.analytics.sketch import Sketch
from streams.identifiers import id_prefix

MINUTE_MS = 60_000
DAY_MS = 86_400_000
ROLLING_MINUTES = 15
WINDOW_MS = {"MINUTE": MINUTE_MS, "DAY": DAY_MS}


def window_start(kind: str, at: int) -> int:
    size = WINDOW_MS[kind]
    return at - at % size


_SUMMED = ("version", "offered", "answered", "answered_within", "abandoned", "short_abandoned",
         "wait_sum", "ended", "handle_sum", "duration_sum", "transfers", "escalations", "late")


@dataclass(slots=True)
class WindowAgg:
    partition: int = 0
    final: bool = False
    version: int = 0
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    wait_sum: int = 0
    wait_max: int = 0
    waits: Sketch = field(default_factory=Sketch)
    ended: int = 0
    handle_sum: int = 0
    duration_sum: int = 0
    transfers: int = 0
    escalations: int = 0
    late: int = 0

    def apply(self, fact: dict[str, Any], threshold_ms: int, w: int = 1) -> None:
        """Add (w=1) or remove (w=-1) one fact. The maximum wait is not lowered by a removal."""
        self.add(fact["kind"], fact.get("wait_ms"), fact.get("handle_ms"), fact.get("duration_ms"), threshold_ms, w)

    def add(self, kind: str, wait: int | None, handle: int | None, duration: int | None, threshold_ms: int,
            w: int = 1) -> None:
        """apply() of a fact given by its fields."""
        self.version += 1
        if kind == "OFFERED":
            self.offered += w
        elif kind == "ANSWERED":
            self.answered += w
            self.wait_sum += w * wait
            self.waits.add(wait, w)
            if wait <= threshold_ms:
                self.answered_within += w
            if w > 0:
                self.wait_max = max(self.wait_max, wait)
        elif kind == "ABANDONED":
            self.abandoned += w
            if wait <= threshold_ms:
                self.short_abandoned += w
        elif kind == "ENDED":
            self.ended += w
            self.handle_sum += w * handle
            self.duration_sum += w * duration
        elif kind == "TRANSFER":
            self.transfers += w
        elif kind == "ESCALATION":
            self.escalations += w

    def merge(self, other: "WindowAgg") -> None:
        # Spelled out (not a loop over _SUMMED with getattr/setattr): the rolling view merges 15
        # minutes for every minute that closes.
        self.version += other.version
        self.offered += other.offered
        self.answered += other.answered
        self.answered_within += other.answered_within
        self.abandoned += other.abandoned
        self.short_abandoned += other.short_abandoned
        self.wait_sum += other.wait_sum
        self.ended += other.ended
        self.handle_sum += other.handle_sum
        self.duration_sum += other.duration_sum
        self.transfers += other.transfers
        self.escalations += other.escalations
        self.late += other.late
        if other.wait_max > self.wait_max:
            self.wait_max = other.wait_max
        if other.waits.buckets or other.waits.zeros:
            self.waits.merge(other.waits)

    def subtract(self, other: "WindowAgg") -> None:
        """Take out a window merged in before. The maximum wait cannot be taken out: whoever
        subtracts works it out again from the windows that remain."""
        self.version -= other.version
        self.offered -= other.offered
        self.answered -= other.answered
        self.answered_within -= other.answered_within
        self.abandoned -= other.abandoned
        self.short_abandoned -= other.short_abandoned
        self.wait_sum -= other.wait_sum
        self.ended -= other.ended
        self.handle_sum -= other.handle_sum
        self.duration_sum -= other.duration_sum
        self.transfers -= other.transfers
        self.escalations -= other.escalations
        self.late -= other.late
        if other.waits.buckets or other.waits.zeros:
            self.waits.remove(other.waits)

    def record(self, queue: str, channel: str, region: str, kind: str, start: int, end: int,
               threshold_ms: int) -> dict[str, Any]:
        """The QueueStatistics record (schemas/queue_statistics.avsc)."""
        answered = self.answered
        sl_base = answered + (self.abandoned - self.short_abandoned)
        p50, p90, p95 = self.waits.quantiles(0.5, 0.9, 0.95) if answered else (None, None, None)
        return {
            "stat_id": f"{id_prefix(queue, channel, region, kind)}{start}",
            "queue": queue, "channel": channel, "region": region, "window": kind,
            "window_start": start, "window_end": end, "final": self.final,
            "offered": self.offered, "answered": answered, "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "asa_ms": self.wait_sum / answered if answered else None,
            "wait_p50_ms": p50, "wait_p90_ms": p90, "wait_p95_ms": p95,
            "wait_max_ms": self.wait_max if answered else None,
            "sl_threshold_ms": threshold_ms,
            "service_level": self.answered_within / sl_base if sl_base else None,
            "abandonment_rate": self.abandoned / self.offered if self.offered else None,
            "aht_ms": self.handle_sum / self.ended if self.ended else None,
            "avg_duration_ms": self.duration_sum / self.ended if self.ended else None,
            "transfers": self.transfers, "escalations": self.escalations,
            "version": self.version, "late_events": self.late, "answered_within_threshold": self.answered_within,
        }

    def to_json(self) -> dict[str, Any]:
        # Spelled out: every changed minute is written to its changelog once per batch.
        return {"partition": self.partition, "final": self.final, "version": self.version,
                "offered": self.offered, "answered": self.answered, "answered_within": self.answered_within,
                "abandoned": self.abandoned, "short_abandoned": self.short_abandoned, "wait_sum": self.wait_sum,
                "wait_max": self.wait_max, "waits": self.waits.to_json(), "ended": self.ended,
                "handle_sum": self.handle_sum, "duration_sum": self.duration_sum, "transfers": self.transfers,
                "escalations": self.escalations, "late": self.late}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WindowAgg":
        return cls(**{**data, "waits": Sketch.from_json(data["waits"])})
