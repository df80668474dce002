"""Pure logic of the queue-statistics processor: facts into event-time windows, idempotently.

Everything is built from one-minute windows, one store key per queue/channel/region/minute. A
minute's key holds both its figures and the facts it counted (by fact id), in one value, so a fact
delivered twice (at-least-once) changes nothing, a retraction removes exactly what was counted, and
a crash can never leave the figures and the fact list disagreeing (one key, one changelog record).

- MINUTE windows close when the watermark (newest event time seen in the partition) passes their
  end plus the allowed lateness. A closed minute keeps its figures, drops its fact list, and counts
  any later fact in `late` instead of in the figures.
- ROLLING_15_MIN is the merge of the 15 minutes ending with the minute that closed (final), or with
  the newest minute (update).
- DAY (UTC) is the merge of the day's minutes. The merge is kept in a cache derived from the
  store (rebuilt from it on start or rebalance), updated with the same facts as the minutes.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from streams.analytics.queue_window import DAY_MS, MINUTE_MS, ROLLING_MINUTES, WindowAgg

ALL_REGIONS = "*"
COUNTED = frozenset({"OFFERED", "ANSWERED", "ABANDONED", "ENDED", "TRANSFER", "ESCALATION"})


class Store(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...
    def put(self, key: str, value: dict[str, Any], partition: int) -> None: ...
    def delete(self, key: str, partition: int) -> None: ...
    def items(self) -> Iterable[tuple[str, dict[str, Any]]]: ...


def minute_key(queue: str, channel: str, region: str, start: int) -> str:
    return f"{queue}|{channel}|{region}|{start}"


def stored_minute(entry: dict[str, Any]) -> dict[str, Any]:
    """A minute's store value as JSON (for its changelog): its aggregate is kept as an object."""
    agg = entry["agg"]
    return entry if isinstance(agg, dict) else {**entry, "agg": agg.to_json()}


def _agg(entry: dict[str, Any]) -> WindowAgg:
    """The minute's aggregate as an object. The store holds JSON after a recovery; the object
    replaces it in place, so a fact costs no conversion to and from JSON."""
    agg = entry["agg"]
    if isinstance(agg, dict):
        agg = entry["agg"] = WindowAgg.from_json(agg)
    return agg


def _content(fact: dict[str, Any]) -> list[Any]:
    return [fact["kind"], fact["at"], fact["wait_ms"], fact["handle_ms"], fact["duration_ms"]]


def _as_fact(content: list[Any]) -> dict[str, Any]:
    kind, at, wait, handle, duration = content
    return {"kind": kind, "at": at, "wait_ms": wait, "handle_ms": handle, "duration_ms": duration}


class QueueWindows:
    def __init__(self, minutes: Store, days: Store, lateness_ms: int,
                 threshold_ms: Callable[[str, str], int]) -> None:
        self.minutes = minutes
        self.days = days  # day key -> {"q","c","r","s","p","final"}: which days exist, which closed
        self.lateness_ms = lateness_ms
        self.threshold_ms = threshold_ms
        self._day_cache: dict[str, WindowAgg] = {}
        # Derived indexes of the store, per partition: (minute end, key) of open minutes and of
        # closed ones awaiting deletion, so that closing costs what closes, not what exists.
        self._open: dict[int, list[tuple[int, str]]] = {}
        self._closed: dict[int, list[tuple[int, str]]] = {}
        self._closed_up_to: dict[int, int] = {}

    def forget_cache(self) -> None:
        """Call when partitions move between workers: caches and indexes are rebuilt from the store."""
        self._day_cache.clear()
        self._open.clear()
        self._closed.clear()
        self._closed_up_to.clear()

    def _index(self, partition: int) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        if partition not in self._open:
            opened, closed = [], []
            for key, entry in self.minutes.items():
                if entry["p"] == partition:
                    (opened if entry["facts"] is not None else closed).append((entry["s"] + MINUTE_MS, key))
            heapq.heapify(opened)
            heapq.heapify(closed)
            self._open[partition], self._closed[partition] = opened, closed
        return self._open[partition], self._closed[partition]

    # -- applying facts ---------------------------------------------------------------------

    def apply(self, fact: dict[str, Any], partition: int, watermark: int) -> list[str]:
        """Apply one fact (sign +1 or -1) to its minute, for its region and for all regions.
        Returns the minute keys that changed."""
        if fact["kind"] not in COUNTED:
            return []
        changed = []
        content = _content(fact)
        threshold = self.threshold_ms(fact["queue"], fact["channel"])
        for region in (fact["region"], ALL_REGIONS):
            key = self._apply_one(fact, content, threshold, region, partition, watermark)
            if key:
                changed.append(key)
        return changed

    def _apply_one(self, fact: dict[str, Any], content: list[Any], threshold: int, region: str,
                   partition: int, watermark: int) -> str | None:
        queue, channel, at = fact["queue"], fact["channel"], fact["at"]
        start = at - at % MINUTE_MS
        key = minute_key(queue, channel, region, start)
        entry = self.minutes.get(key)
        if entry is None:
            entry = {"q": queue, "c": channel, "r": region, "s": start, "p": partition,
                     "agg": WindowAgg(partition=partition), "facts": {}}
            self._ensure_day(queue, channel, region, start, partition)
            opened, closed_heap = self._index(partition)
            if start + MINUTE_MS + self.lateness_ms <= watermark:  # closed already: only counts as late
                entry["agg"].final = True
                entry["facts"] = None
                heapq.heappush(closed_heap, (start + MINUTE_MS, key))
            else:
                heapq.heappush(opened, (start + MINUTE_MS, key))
        day = self._day(queue, channel, region, start)
        agg = _agg(entry)
        facts = entry["facts"]
        if facts is None:  # a closed minute: count, do not change the figures
            agg.late += 1
            agg.version += 1
            day.late += 1
            day.version += 1
        else:
            fact_id = fact["fact_id"]
            held = facts.get(fact_id)
            if fact["sign"] > 0:
                if held == content:
                    return None  # delivered before
                if held is not None:
                    agg.apply(_as_fact(held), threshold, -1)
                    day.apply(_as_fact(held), threshold, -1)
                agg.apply(fact, threshold, 1)
                day.apply(fact, threshold, 1)
                facts[fact_id] = content
            else:
                if held is None:
                    return None  # retracted before, or never counted here
                agg.apply(_as_fact(held), threshold, -1)
                day.apply(_as_fact(held), threshold, -1)
                del facts[fact_id]
        self.minutes.put(key, entry, partition)
        return key

    # -- days ---------------------------------------------------------------------------------

    def _day_key(self, queue: str, channel: str, region: str, at: int) -> str:
        return f"{queue}|{channel}|{region}|{at - at % DAY_MS}"

    def _ensure_day(self, queue: str, channel: str, region: str, at: int, partition: int) -> None:
        key = self._day_key(queue, channel, region, at)
        if self.days.get(key) is None:
            self.days.put(key, {"q": queue, "c": channel, "r": region, "s": at - at % DAY_MS,
                                "p": partition, "final": False}, partition)

    def _day(self, queue: str, channel: str, region: str, at: int) -> WindowAgg:
        key = self._day_key(queue, channel, region, at)
        day = self._day_cache.get(key)
        if day is None:
            day = self._day_cache[key] = self._merge_minutes(queue, channel, region, at - at % DAY_MS, DAY_MS)
        return day

    def _merge_minutes(self, queue: str, channel: str, region: str, start: int, length: int) -> WindowAgg:
        merged = WindowAgg()
        for minute in range(start, start + length, MINUTE_MS):
            entry = self.minutes.get(minute_key(queue, channel, region, minute))
            if entry is not None:
                merged.merge(_agg(entry))
        return merged

    # -- output --------------------------------------------------------------------------------

    def minute_record(self, key: str) -> dict[str, Any] | None:
        entry = self.minutes.get(key)
        if entry is None:
            return None
        return _agg(entry).record(entry["q"], entry["c"], entry["r"], "MINUTE", entry["s"], entry["s"] + MINUTE_MS,
                          self.threshold_ms(entry["q"], entry["c"]))

    def rolling_record(self, queue: str, channel: str, region: str, end: int, final: bool) -> dict[str, Any]:
        start = end - ROLLING_MINUTES * MINUTE_MS
        agg = self._merge_minutes(queue, channel, region, start, ROLLING_MINUTES * MINUTE_MS)
        agg.final = final
        return agg.record(queue, channel, region, "ROLLING_15_MIN", start, end, self.threshold_ms(queue, channel))

    def day_record(self, queue: str, channel: str, region: str, at: int) -> dict[str, Any]:
        day_start = at - at % DAY_MS
        info = self.days.get(self._day_key(queue, channel, region, at)) or {}
        agg = self._day(queue, channel, region, at)
        agg.final = bool(info.get("final"))
        return agg.record(queue, channel, region, "DAY", day_start, day_start + DAY_MS,
                          self.threshold_ms(queue, channel))

    def updates(self, minute_keys: Iterable[str], sent: Collection[str] = ()) -> list[dict[str, Any]]:
        """Current records of the given minutes and of the day and rolling views they belong to.
        Minutes in `sent` were sent as they are now (closed since they changed): only their views."""
        out: list[dict[str, Any]] = []
        views: set[tuple[str, str, str, int]] = set()
        for key in minute_keys:
            record = self.minute_record(key)
            if record is None:
                continue
            if key not in sent:
                out.append(record)
            views.add((record["queue"], record["channel"], record["region"], record["window_start"]))
        newest: dict[tuple[str, str, str], int] = {}
        days: set[tuple[str, str, str, int]] = set()  # one record per day, not per changed minute
        for queue, channel, region, start in views:
            days.add((queue, channel, region, start - start % DAY_MS))
            newest[(queue, channel, region)] = max(newest.get((queue, channel, region), 0), start)
        for queue, channel, region, day_start in sorted(days):
            out.append(self.day_record(queue, channel, region, day_start))
        for (queue, channel, region), start in newest.items():
            out.append(self.rolling_record(queue, channel, region, start + MINUTE_MS, final=False))
        return out

    # -- closing -------------------------------------------------------------------------------

    def close(self, partition: int, watermark: int, retention_ms: int = DAY_MS + 3_600_000) -> list[dict[str, Any]]:
        """Close what the watermark has passed in one partition; returns the final records.
        Also forgets closed minutes and days older than the retention."""
        out: list[dict[str, Any]] = []
        if watermark <= self._closed_up_to.get(partition, 0):
            return out
        self._closed_up_to[partition] = watermark
        opened, closed = self._index(partition)
        while opened and opened[0][0] + self.lateness_ms <= watermark:
            end, key = heapq.heappop(opened)
            entry = self.minutes.get(key)
            if entry is None or entry["facts"] is None:
                continue
            entry["facts"] = None
            agg = _agg(entry)
            agg.final = True
            agg.version += 1
            self.minutes.put(key, entry, partition)
            heapq.heappush(closed, (end, key))
            out.append(self.minute_record(key))  # type: ignore[arg-type]
            out.append(self.rolling_record(entry["q"], entry["c"], entry["r"], end, final=True))
        while closed and closed[0][0] + retention_ms <= watermark:
            _, key = heapq.heappop(closed)
            self.minutes.delete(key, partition)
        for key, info in list(self.days.items()):
            if info["p"] != partition:
                continue
            end = info["s"] + DAY_MS
            if not info["final"] and end + self.lateness_ms <= watermark:
                info = {**info, "final": True}
                self.days.put(key, info, partition)
                out.append(self.day_record(info["q"], info["c"], info["r"], info["s"]))
            elif info["final"] and end + retention_ms <= watermark:
                self.days.delete(key, partition)
                self._day_cache.pop(key, None)
        return out
