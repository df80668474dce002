"""Pure logic of the queue-statistics processor: outcomes into event-time windows, idempotently.

Everything is built from one-minute windows, one store key per queue/channel/region/minute, holding
the minute's figures. Outcomes come as minute deltas (`apply_delta`): a checkpoint's facts of one
contact-events partition summed per minute by the contact-summary processor (minute_deltas.py).
A minute remembers, per source partition, the identifier of the newest delta it merged, so a
delta sent again after a crash changes nothing.

Facts one by one (`apply`) are what older workers sent: what was counted is remembered per fact, in
a store of its own keyed by queue, channel and fact id: the content counted (kind, time, wait,
handle time, duration) and the region. So a fact delivered twice (at-least-once) changes nothing,
a retraction removes exactly what was counted, and a fact whose content changed is moved. A fact
is remembered until the minute it was counted in closes.

- MINUTE windows close when the watermark (newest event time seen in the partition) passes their
  end plus the allowed lateness. A closed minute keeps its figures and counts any later fact in
  `late` instead of in the figures.
- ROLLING_15_MIN is the merge of the 15 minutes ending with the minute that closed (final), or with
  the newest minute (update).
- DAY (UTC) is the merge of the day's minutes. The merge is kept in a cache derived from the
  store (rebuilt from it on start or rebalance), updated with the same facts as the minutes.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any, Protocol

from streams.analytics.queue_window import DAY_MS, MINUTE_MS, ROLLING_MINUTES, WindowAgg
from streams.identifiers import id_prefix

ALL_REGIONS = "*"
COUNTED = frozenset({"OFFERED", "ANSWERED", "ABANDONED", "ENDED", "TRANSFER", "ESCALATION"})
_NEVER = [-1, -1]  # the tag of a sender a minute has merged nothing from


class Store(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...
    def put(self, key: str, value: dict[str, Any], partition: int) -> None: ...
    def delete(self, key: str, partition: int) -> None: ...
    def items(self) -> Iterable[tuple[str, dict[str, Any]]]: ...


def minute_key(queue: str, channel: str, region: str, start: int) -> str:
    return f"{id_prefix(queue, channel, region)}{start}"


def counted_key(queue: str, channel: str, fact_id: str) -> str:
    """A counted fact's key. The fact id is an identifier already (identifiers.py): it follows
    the escaped queue and channel as it is, so the keys of earlier releases stay the same."""
    return f"{id_prefix(queue, channel)}{fact_id}"


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


def _counted(fact: dict[str, Any]) -> list[Any]:
    """What is remembered of a counted fact: its content and region (the partition is appended)."""
    return [fact["kind"], fact["at"], fact["wait_ms"], fact["handle_ms"], fact["duration_ms"], fact["region"]]


def _as_fact(counted: list[Any]) -> dict[str, Any]:
    kind, at, wait, handle, duration = counted[:5]
    return {"kind": kind, "at": at, "wait_ms": wait, "handle_ms": handle, "duration_ms": duration}


def _prefix(key: str) -> str:
    """A minute key without its minute: "queue|channel|region|"."""
    return key[:key.rindex("|") + 1]


def _minute_end(at: int) -> int:
    return at - at % MINUTE_MS + MINUTE_MS


class _Due:
    """Keys that fall due at minute-aligned times: a heap of the distinct times and the keys of
    each. (A heap of (time, key) pairs compared the keys, strings, of every pair due at one time.)"""

    __slots__ = ("_times", "_keys")

    def __init__(self) -> None:
        self._times: list[int] = []
        self._keys: dict[int, list[str]] = {}

    def add(self, at: int, key: str) -> None:
        keys = self._keys.get(at)
        if keys is None:
            self._keys[at] = [key]
            heapq.heappush(self._times, at)
        else:
            keys.append(key)

    def pending(self) -> Iterator[tuple[int, str]]:
        """(time, key) of every key held, in no particular order."""
        for at, keys in self._keys.items():
            for key in keys:
                yield at, key

    def pop_until(self, limit: int) -> Iterator[tuple[int, str]]:
        """(time, key) of every key due at or before `limit`, in time order, forgotten here."""
        while self._times and self._times[0] <= limit:
            at = heapq.heappop(self._times)
            for key in self._keys.pop(at):
                yield at, key


class _Rolling:
    """One key prefix's rolling view while close() works through a backlog: the minutes in it and
    their merge, moved on a minute at a time instead of merging 15 minutes for every minute that
    closes. Only within one close(): no fact changes a minute meanwhile."""

    __slots__ = ("end", "agg", "members")

    def __init__(self, end: int) -> None:
        self.end = end
        self.agg = WindowAgg()
        self.members: deque[tuple[int, WindowAgg]] = deque()


class QueueWindows:
    def __init__(self, minutes: Store, days: Store, counted: Store, lateness_ms: int,
                 threshold_ms: Callable[[str, str], int]) -> None:
        self.minutes = minutes
        self.days = days  # day key -> {"q","c","r","s","p","final"}: which days exist, which closed
        self.counted = counted  # "queue|channel|fact id" -> _counted(fact) + [partition]
        self.lateness_ms = lateness_ms
        self.threshold_ms = threshold_ms
        self._day_cache: dict[str, WindowAgg] = {}
        # Derived index of the store: the minute starts that exist per queue/channel/region key
        # prefix, sorted, so that a rolling or day view merges what exists instead of looking up
        # every minute of its span. None until first used after a start or rebalance.
        self._starts: dict[str, list[int]] | None = None
        # Derived indexes of the store, per partition: (minute end, key) of open minutes and of
        # closed ones awaiting deletion, so that closing costs what closes, not what exists.
        self._open: dict[int, _Due] = {}
        self._closed: dict[int, _Due] = {}
        # remembered facts by the end of the minute they were counted in, to forget them
        self._expiring: dict[int, _Due] = {}
        # open days, and final ones awaiting deletion, by their end
        self._days_open: dict[int, _Due] = {}
        self._days_final: dict[int, _Due] = {}
        self._closed_up_to: dict[int, int] = {}
        self._recovered: set[str] = set()

    def take_recovered(self) -> set[str]:
        """Keys of the open minutes found in the store since the last call (see _index)."""
        recovered, self._recovered = self._recovered, set()
        return recovered

    def forget_cache(self) -> None:
        """Call when partitions move between workers: caches and indexes are rebuilt from the store."""
        self._day_cache.clear()
        self._starts = None
        self._open.clear()
        self._closed.clear()
        self._expiring.clear()
        self._days_open.clear()
        self._days_final.clear()
        self._closed_up_to.clear()

    def _index(self, partition: int) -> tuple[_Due, _Due]:
        if partition not in self._open:
            opened, closed, expiring, days_open, days_final = _Due(), _Due(), _Due(), _Due(), _Due()
            for key, entry in list(self.minutes.items()):
                if entry["p"] != partition:
                    continue
                if "facts" in entry:
                    self._upgrade(key, entry)
                (opened if entry["open"] else closed).add(entry["s"] + MINUTE_MS, key)
            for key, held in self.counted.items():
                if held[6] == partition:
                    expiring.add(_minute_end(held[1]), key)
            for key, info in self.days.items():
                if info["p"] == partition:
                    (days_final if info["final"] else days_open).add(info["s"] + DAY_MS, key)
            self._open[partition], self._closed[partition] = opened, closed
            # Open minutes as the store has them after a start or a rebalance: the updates last
            # sent may be older (a crash between the changelog write and the next update), and a
            # record read again changes nothing, so nothing else would send them again.
            self._recovered.update(key for _, key in opened.pending())
            self._expiring[partition] = expiring
            self._days_open[partition], self._days_final[partition] = days_open, days_final
        return self._open[partition], self._closed[partition]

    def _upgrade(self, key: str, entry: dict[str, Any]) -> None:
        """A minute stored by an older worker, with its fact ids inside: remember them per fact."""
        facts = entry.pop("facts")
        entry["open"] = facts is not None
        if facts and entry["r"] != ALL_REGIONS:
            for fact_id, content in facts.items():
                self.counted.put(counted_key(entry["q"], entry["c"], fact_id), [*content, entry["r"], entry["p"]],
                                 entry["p"])
        self.minutes.put(key, entry, entry["p"])

    # -- applying facts ---------------------------------------------------------------------

    def apply(self, fact: dict[str, Any], partition: int, watermark: int, offset: int | None = None) -> list[str]:
        """Apply one fact (sign +1 or -1) to its minute, for its region and for all regions.
        Returns the minute keys that changed. `offset`: of the fact's record in its partition;
        a record at or before the one a minute last took in (`mark_applied`) was applied to it
        before a restart, and is not applied again."""
        if fact["kind"] not in COUNTED:
            return []
        self._index(partition)  # also brings minutes stored by an older worker up to date
        queue, channel = fact["queue"], fact["channel"]
        counted = _counted(fact)
        at = counted[1]
        entry = self.minutes.get(minute_key(queue, channel, counted[5], at - at % MINUTE_MS))
        if offset is not None and entry is not None and entry.get("o", -1) >= offset:
            return []
        threshold = self.threshold_ms(queue, channel)
        # Whether the fact's minute has closed: close() says so for a minute that exists.
        closed = (not entry["open"]) if entry is not None else _minute_end(at) + self.lateness_ms <= watermark
        if closed:
            return self._count(queue, channel, counted, threshold, 0, partition, watermark)  # late
        key = counted_key(queue, channel, fact["fact_id"])
        held = self.counted.get(key)
        if fact["sign"] > 0:
            if held is not None and held[:6] == counted:
                return []  # delivered before
            changed = []
            if held is not None:  # counted with other content: take that back first
                changed += self._count(queue, channel, held, threshold, -1, partition, watermark)
            changed += self._count(queue, channel, counted, threshold, 1, partition, watermark)
            counted.append(partition)
            self.counted.put(key, counted, partition)
            self._expiring[partition].add(_minute_end(counted[1]), key)
            return changed
        if held is None:
            return []  # retracted before, or never counted
        self.counted.delete(key, partition)
        return self._count(queue, channel, held, threshold, -1, partition, watermark)

    def apply_delta(self, queue: str, delta: WindowAgg, channel: str, region: str, start: int, partition: int,
                    watermark: int, sender: str, tag: list[int], offset: int | None = None) -> list[str]:
        """Merge a minute delta (minute_deltas.py) into its minute, for its region and for all
        regions; in a closed minute its facts count as late. `sender`, `tag`: the delta's source
        partition and (through offset, part); a minute that merged that tag or a later one from
        the sender (`mark_merged`) skips it, as one that took in the record at `offset` does.
        Returns the minute keys that changed."""
        self._index(partition)

        def merged_before(entry: dict[str, Any]) -> bool:
            held = entry.get("h")
            return ((offset is not None and entry.get("o", -1) >= offset)
                    or (held is not None and held.get(sender, _NEVER) >= tag))

        return self._merge(queue, channel, region, start, delta, False, partition, watermark, merged_before)

    def mark_merged(self, keys: Iterable[str], sender: str, tag: list[int]) -> None:
        """The minutes `keys` have merged the deltas `tag` of `sender` (see apply_delta); written to
        the changelog with the change that made the key dirty."""
        get = self.minutes.get
        for key in keys:
            entry = get(key)
            if entry is not None:
                merged = entry.get("h")
                if merged is None:
                    merged = entry["h"] = {}
                merged[sender] = tag

    def mark_applied(self, keys: Iterable[str], offset: int) -> None:
        """The minutes `keys` have taken in every fact of the record at `offset` (of their
        partition, where records come in offset order). A closed minute has forgotten which facts
        it counted, so without this a record read again after a restart (its offset was not
        committed yet) would count its facts once more, as late ones."""
        get = self.minutes.get
        for key in keys:
            entry = get(key)
            if entry is not None:
                entry["o"] = offset  # written to the changelog with the change that made the key dirty

    def _count(self, queue: str, channel: str, counted: list[Any], threshold: int, w: int,
               partition: int, watermark: int) -> list[str]:
        """Add (w=1) or remove (w=-1) a fact in its minute, for its region and all regions; in a
        closed minute (or with w=0) it counts as late instead. Returns the minute keys changed."""
        at, region = counted[1], counted[5]
        one = WindowAgg(version=0 if w else 1)  # w=0: one late fact
        if w:
            one.apply(_as_fact(counted), threshold, w)
        return self._merge(queue, channel, region, at - at % MINUTE_MS, one, w == 0, partition, watermark)

    def _merge(self, queue: str, channel: str, region: str, start: int, delta: WindowAgg, late: bool,
               partition: int, watermark: int, skip: Callable[[dict[str, Any]], bool] | None = None) -> list[str]:
        """Merge `delta` into a minute and its day, for the region and for all regions; in a
        closed minute (or if `late`) its facts count as late instead. A minute that exists and
        `skip` says has it already is left alone. Returns the minute keys changed."""
        changed = []
        for r in (region, ALL_REGIONS):
            key = minute_key(queue, channel, r, start)
            entry = self.minutes.get(key)
            if entry is None:
                entry = self._new_minute(key, queue, channel, r, start, partition, watermark)
            elif skip is not None and skip(entry):
                continue
            day = self._day(queue, channel, r, start)
            agg = _agg(entry)
            if late or not entry["open"]:
                agg.late += delta.version
                agg.version += delta.version
                day.late += delta.version
                day.version += delta.version
            else:
                agg.merge(delta)
                day.merge(delta)
            self.minutes.put(key, entry, partition)
            changed.append(key)
        return changed

    def _new_minute(self, key: str, queue: str, channel: str, region: str, start: int, partition: int,
                    watermark: int) -> dict[str, Any]:
        # The index is built from the store (if not yet) before this minute joins it.
        bisect.insort(self._all_starts().setdefault(_prefix(key), []), start)
        is_open = start + MINUTE_MS + self.lateness_ms > watermark
        entry = {"q": queue, "c": channel, "r": region, "s": start, "p": partition,
                 "agg": WindowAgg(partition=partition, final=not is_open), "open": is_open}
        self._ensure_day(queue, channel, region, start, partition)
        opened, closed = self._index(partition)
        (opened if is_open else closed).add(start + MINUTE_MS, key)
        return entry

    # -- days ---------------------------------------------------------------------------------

    def _day_key(self, queue: str, channel: str, region: str, at: int) -> str:
        return f"{id_prefix(queue, channel, region)}{at - at % DAY_MS}"

    def _ensure_day(self, queue: str, channel: str, region: str, at: int, partition: int) -> None:
        key = self._day_key(queue, channel, region, at)
        if self.days.get(key) is None:
            self._index(partition)  # built from the store before the day joins it
            start = at - at % DAY_MS
            self.days.put(key, {"q": queue, "c": channel, "r": region, "s": start,
                                "p": partition, "final": False}, partition)
            self._days_open[partition].add(start + DAY_MS, key)

    def _day(self, queue: str, channel: str, region: str, at: int) -> WindowAgg:
        key = self._day_key(queue, channel, region, at)
        day = self._day_cache.get(key)
        if day is None:
            day = self._day_cache[key] = self._merge_minutes(queue, channel, region, at - at % DAY_MS, DAY_MS)
        return day

    def _merge_minutes(self, queue: str, channel: str, region: str, start: int, length: int) -> WindowAgg:
        merged = WindowAgg()
        prefix = _prefix(minute_key(queue, channel, region, 0))
        starts = self._minute_starts(prefix)
        get = self.minutes.get
        for minute in starts[bisect.bisect_left(starts, start):bisect.bisect_left(starts, start + length)]:
            entry = get(f"{prefix}{minute}")
            if entry is not None:
                merged.merge(_agg(entry))
        return merged

    def _minute_starts(self, prefix: str) -> list[int]:
        return self._all_starts().get(prefix, [])

    def _all_starts(self) -> dict[str, list[int]]:
        if self._starts is None:
            starts: dict[str, list[int]] = {}
            for key, entry in self.minutes.items():
                starts.setdefault(_prefix(key), []).append(entry["s"])
            for listed in starts.values():
                listed.sort()
            self._starts = starts
        return self._starts

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

    def _rolling_final(self, rolling: dict[str, _Rolling], key: str, entry: dict[str, Any], end: int) -> dict[str, Any]:
        """rolling_record(..., final=True) of a minute that close() just closed, with the views of
        this close() so far."""
        prefix = _prefix(key)
        start = end - ROLLING_MINUTES * MINUTE_MS
        view = rolling.get(prefix)
        if view is None:
            view = rolling[prefix] = _Rolling(start)
        starts, get = self._minute_starts(prefix), self.minutes.get
        for minute in starts[bisect.bisect_left(starts, max(view.end, start)):bisect.bisect_left(starts, end)]:
            joined = get(f"{prefix}{minute}")
            if joined is not None:
                agg = _agg(joined)
                view.members.append((minute, agg))
                view.agg.merge(agg)
        while view.members and view.members[0][0] < start:
            view.agg.subtract(view.members.popleft()[1])
        view.end = end
        merged = view.agg
        merged.wait_max = max((agg.wait_max for _, agg in view.members), default=0)
        merged.final = True
        return merged.record(entry["q"], entry["c"], entry["r"], "ROLLING_15_MIN", start, end,
                             self.threshold_ms(entry["q"], entry["c"]))

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
        rolling: dict[str, _Rolling] = {}
        for end, key in opened.pop_until(watermark - self.lateness_ms):
            entry = self.minutes.get(key)
            if entry is None or not entry["open"]:
                continue
            entry["open"] = False
            agg = _agg(entry)
            agg.final = True
            agg.version += 1
            self.minutes.put(key, entry, partition)
            closed.add(end, key)
            out.append(self.minute_record(key))  # type: ignore[arg-type]
            out.append(self._rolling_final(rolling, key, entry, end))
        for _, key in closed.pop_until(watermark - retention_ms):
            entry = self.minutes.get(key)
            self.minutes.delete(key, partition)
            if entry is not None and self._starts is not None:
                starts = self._starts.get(_prefix(key), [])
                at = bisect.bisect_left(starts, entry["s"])
                if at < len(starts) and starts[at] == entry["s"]:
                    del starts[at]
        for end, key in self._expiring[partition].pop_until(watermark - self.lateness_ms):
            held = self.counted.get(key)
            if held is not None and _minute_end(held[1]) == end:  # not moved to a later minute since
                self.counted.delete(key, partition)
        days_final = self._days_final[partition]
        for end, key in self._days_open[partition].pop_until(watermark - self.lateness_ms):
            info = self.days.get(key)
            if info is None or info["final"]:
                continue
            info = {**info, "final": True}
            self.days.put(key, info, partition)
            days_final.add(end, key)
            out.append(self.day_record(info["q"], info["c"], info["r"], info["s"]))
        for _, key in days_final.pop_until(watermark - retention_ms):
            self.days.delete(key, partition)
            self._day_cache.pop(key, None)
        return out
