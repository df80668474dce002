"""Pure logic: a checkpoint's contact facts pre-aggregated into minute deltas, per queue and source
partition (a combiner, as Flink's local-global aggregation).

The statistics are keyed by queue, and a centre's busiest queue carries over half of its contacts:
sent one fact at a time, every outcome of that queue went through one worker, which also had to
remember each fact it counted to stay idempotent (0.6 changelog records per contact event). The
contact-summary processor, keyed by contact and so spread evenly over workers, now sums the facts
of a checkpoint per queue/channel/region/minute and sends each sum once: the statistics merge a
few hundred deltas per checkpoint instead of one fact per outcome.

A delta is not idempotent by content, so each carries who sent it: (source partition, through
offset, part). The statistics remember per minute and source partition the newest (through
offset, part) they merged and skip any that is not newer. The contact-summary processor makes a
replay after a crash send the same deltas under the same identifiers, or a subset of them (see
contact_summary.py); records hold deltas in key order, so that a delta's part in a replay is never
later than it was first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.analytics.queue_window import MINUTE_MS, WindowAgg
from streams.analytics.sketch import Sketch
from streams.processors.contact_lifecycle import ContactState, InvalidEvent, check_time
from streams.processors.queue_facts import Fact, Outcome, OutcomeKey, as_fact
from streams.processors.queue_windows import COUNTED

# A delta with a day's spread of waits is about 1 KB: a record stays far below Kafka's 1 MB.
MAX_MINUTES_PER_RECORD = 400
_MAX_BUCKET = 10_000  # a sketch index beyond this is a wait of more than 10^86 ms


class CheckpointDeltas:
    """One checkpoint's outcome changes (queue_facts.outcome_changes), summed per source
    partition, queue and minute; WAITING outcomes kept as facts, for the live state."""

    def __init__(self, threshold_ms: Callable[[str, str], int]) -> None:
        self._threshold_ms = threshold_ms
        self._thresholds: dict[tuple[str, str], int] = {}
        self._sums: dict[int, dict[str, dict[tuple[str, str, int], WindowAgg]]] = {}
        self._live: dict[int, dict[str, list[Fact]]] = {}

    def add(self, source: int, contact: ContactState, changes: list[tuple[int, OutcomeKey, Outcome]],
            watermark: int | None) -> None:
        """A contact's changes; `source`: its contact-events partition, `watermark`: that
        partition's before the checkpoint (for the live facts)."""
        channel, region = contact.channel, contact.region or "unknown"
        sums = self._sums.get(source)
        if sums is None:
            sums = self._sums[source] = {}
        for sign, key, outcome in changes:
            kind = key[0]
            queue, at = outcome[0], outcome[1]
            if kind not in COUNTED:
                fact = as_fact(contact, key, outcome)
                fact["sign"], fact["source_partition"], fact["watermark"] = sign, source, watermark
                self._live.setdefault(source, {}).setdefault(queue, []).append(fact)
                continue
            minutes = sums.get(queue)
            if minutes is None:
                minutes = sums[queue] = {}
            minute = (channel, region, at - at % MINUTE_MS)
            agg = minutes.get(minute)
            if agg is None:
                agg = minutes[minute] = WindowAgg()
            threshold = self._thresholds.get((queue, channel))
            if threshold is None:
                threshold = self._thresholds[(queue, channel)] = self._threshold_ms(queue, channel)
            agg.add(kind, outcome[2], outcome[3], outcome[4], threshold, sign)

    def sources(self) -> set[int]:
        return self._sums.keys() | self._live.keys()

    def records(self, source: int, watermark: int | None, through: int) -> list[tuple[str, dict[str, Any]]]:
        """(queue, QueueFactBatch record) pairs of one source partition, whose last record the
        checkpoint took was at `through`."""
        sums, live = self._sums.get(source, {}), self._live.get(source, {})
        out = []
        for queue in sorted(sums.keys() | live.keys()):
            deltas = [to_delta(channel, region, start, agg)
                      for (channel, region, start), agg in sorted(sums.get(queue, {}).items())]
            for part, first in enumerate(range(0, max(len(deltas), 1), MAX_MINUTES_PER_RECORD)):
                out.append((queue, {"queue": queue, "facts": live.get(queue, []) if part == 0 else [],
                                    "source_partition": source, "watermark": watermark, "through_offset": through,
                                    "part": part, "minutes": deltas[first:first + MAX_MINUTES_PER_RECORD]}))
        return out


def to_delta(channel: str, region: str, start: int, agg: WindowAgg) -> dict[str, Any]:
    """The MinuteDelta record of a sum of facts."""
    buckets = []
    for index, count in sorted(agg.waits.buckets.items()):
        buckets += (index, count)
    return {"channel": channel, "region": region, "start": start, "facts": agg.version,
            "offered": agg.offered, "answered": agg.answered, "answered_within": agg.answered_within,
            "abandoned": agg.abandoned, "short_abandoned": agg.short_abandoned, "wait_sum": agg.wait_sum,
            "wait_max": agg.wait_max, "wait_zeros": agg.waits.zeros, "wait_buckets": buckets,
            "ended": agg.ended, "handle_sum": agg.handle_sum, "duration_sum": agg.duration_sum,
            "transfers": agg.transfers, "escalations": agg.escalations}


def from_delta(delta: dict[str, Any]) -> WindowAgg:
    """The sum a MinuteDelta record carries, to merge into a window."""
    pairs = delta["wait_buckets"]
    return WindowAgg(version=delta["facts"], wait_max=delta["wait_max"],
                     waits=Sketch(delta["wait_zeros"], dict(zip(pairs[::2], pairs[1::2]))),
                     offered=delta["offered"], answered=delta["answered"], answered_within=delta["answered_within"],
                     abandoned=delta["abandoned"], short_abandoned=delta["short_abandoned"],
                     wait_sum=delta["wait_sum"], ended=delta["ended"], handle_sum=delta["handle_sum"],
                     duration_sum=delta["duration_sum"], transfers=delta["transfers"],
                     escalations=delta["escalations"])


def validate_delta(delta: dict[str, Any], max_time_ms: int) -> None:
    """What a MinuteDelta from the wire must satisfy before it changes a window."""
    start = delta["start"]
    if not delta["channel"] or not delta["region"]:
        raise InvalidEvent(f"minute delta without channel or region: {delta['channel']!r}, {delta['region']!r}")
    if start % MINUTE_MS:
        raise InvalidEvent(f"minute delta start {start} is not the start of a minute")
    check_time("minute delta start", start, max_time_ms)
    if delta["facts"] <= 0 or delta["wait_max"] < 0:
        raise InvalidEvent(f"minute delta with {delta['facts']} facts and longest wait {delta['wait_max']}")
    pairs = delta["wait_buckets"]
    if len(pairs) % 2 or (pairs and max(map(abs, pairs[::2])) > _MAX_BUCKET):
        raise InvalidEvent("minute delta wait buckets are not (index, count) pairs of a 1 % sketch")
