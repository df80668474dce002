"""Pure logic: which contacts' states to forget, by event time.

A contact's state is kept until its newest event is `retention_ms` older than "now" for its
partition: the newest event time processed there, but never later than the wall clock (a record
stamped far in the future must not expire every contact). Without this the state table, in memory
and in its changelog, grew with every contact ever seen.

An event for a contact not known any more that is itself older than the retention is refused by
the processor (dead-lettered as too late), rather than starting a new state whose summary would
replace the full one downstream.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class Expiry:
    def __init__(self, retention_ms: int) -> None:
        self.retention_ms = retention_ms
        self._heaps: dict[int, list[tuple[int, str]]] = {}  # partition -> (newest event time, key)

    def indexed(self, partition: int) -> bool:
        return partition in self._heaps

    def index(self, partition: int, entries: Iterable[tuple[str, int]]) -> None:
        """Start tracking a partition from its stored states: (key, newest event time)."""
        heap = [(seen, key) for key, seen in entries]
        heapq.heapify(heap)
        self._heaps[partition] = heap

    def forget(self) -> None:
        """Partitions moved between workers: index again from the store when next used."""
        self._heaps.clear()

    def touch(self, partition: int, key: str, seen: int) -> None:
        """A state was written. Before the partition is indexed nothing is noted: the index is
        built from the store, which holds this state too."""
        heap = self._heaps.get(partition)
        if heap is not None:
            heapq.heappush(heap, (seen, key))

    def too_old(self, seen: int, now_ms: int) -> bool:
        return seen + self.retention_ms <= now_ms

    def due(self, partition: int, now_ms: int) -> list[str]:
        """Keys whose newest event time, when last touched, is past the retention. The caller
        checks the stored state again: a key touched since has a newer entry as well."""
        heap = self._heaps.get(partition, [])
        out = []
        while heap and self.too_old(heap[0][0], now_ms):
            out.append(heapq.heappop(heap)[1])
        return out
