"""Changelog-backed tables written once per key per checkpoint.

A processor changes its table's store (a dict in memory) at once and the changelog, its
durability, when the batch is flushed: one record per changed key with the key's latest value,
however often the batch changed it. A minute window that counts a thousand facts in one batch is
one changelog record, not a thousand, each carrying the whole window.

Flushing waits until every changelog record sent so far is acknowledged, including those another
flusher of the same table (the timer next to the agent) sent: a batch's input is acked only after
this, so a crash can never leave a committed input whose state change is not in the changelog.

The changelog records are sent with the partition named (faust's `table[key] = value` would use
the partition of its "current event", which in a batch is whatever the stream yielded last), in
record batches like the processors' outputs (producer.py). The store is faust's memory store in a
worker (its dict, restored from the changelog by consumer.py) and a plain dict in the broker-less
test context (testing.py): the table itself knows neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from streams.engine.outbox import Sender

# (the store's dict, its key -> partition dict or None), made when the table is first used
StoreOpener = Callable[[], tuple[MutableMapping[Any, Any], "dict[Any, int] | None"]]


class BufferedTable:
    def __init__(self, name: str, changelog: str, open_store: StoreOpener, sender: Callable[[], Sender],
                 encode: Callable[[Any], Any] | None = None) -> None:
        self.name = name
        self.changelog = changelog  # the changelog topic's full name
        self._open_store = open_store
        self._new_sender = sender
        # For stores that keep objects in memory: their JSON form, for the changelog.
        self._encode = encode or (lambda value: value)
        self._dirty: dict[Any, int] = {}  # key -> changelog partition
        # Keys made since the last submit: removed again before it, the changelog never hears of
        # them (the statistics' counted facts mostly live less than a batch in a backlog, and
        # their tombstones would be most of the changelog's records).
        self._fresh: set[Any] = set()
        self._data: MutableMapping[Any, Any] | None = None
        # faust's memory store: the partition of each key, so that after a rebalance it drops the
        # keys of partitions this worker no longer holds (it notes only those it restored itself).
        self._where: dict[Any, int] = {}
        self._inflight: list[Awaitable[Any]] = []
        self._sending = asyncio.Lock()  # a second flusher must see the first one's sends

    @staticmethod
    def _dumps(value: Any) -> bytes:
        # The bytes faust's json serializer makes (it calls orjson with these options), without
        # its serializer registry around every call, on the hottest path.
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)

    @property
    def data(self) -> MutableMapping[Any, Any]:
        """The table's store: for faust's memory store the dict inside it, which it keeps for its
        life and changes in place on recovery (the store's own Mapping.get is a try/except per
        call, on the hottest path)."""
        if self._data is None:
            self._data, where = self._open_store()
            if where is not None:
                self._where = where
            self.get = self._data.get  # type: ignore[method-assign]  # the store's own, from now on
        return self._data

    def get(self, key: Any) -> Any:
        return self.data.get(key)

    def put(self, key: Any, value: Any, partition: int) -> None:
        data = self._data if self._data is not None else self.data
        if key not in data and key not in self._dirty:
            self._fresh.add(key)
        data[key] = value
        self._dirty[key] = partition
        self._where[key] = partition

    def delete(self, key: Any, partition: int) -> None:
        """Remove a key; its changelog gets a tombstone, unless it never had the key."""
        self.data.pop(key, None)
        self._where.pop(key, None)
        if key in self._fresh:
            self._fresh.discard(key)
            del self._dirty[key]
        else:
            self._dirty[key] = partition

    def items(self) -> Iterable[tuple[Any, Any]]:
        return self.data.items()

    async def submit(self) -> None:
        """Hand the changelog records of the keys changed since the last submit to the producer."""
        async with self._sending:
            changes = self.changes()
            if not changes:
                return
            records = self._new_sender()
            for key, value, partition in changes:
                records.add(self.changelog, key, value, partition)
            self._inflight.extend(await records.send())

    def changes(self) -> list[tuple[bytes, bytes | None, int]]:
        """The changelog records owed since the last call: (key, value or None for a tombstone,
        partition), one per key changed."""
        dirty, self._dirty = self._dirty, {}
        self._fresh = set()
        data, encode, dumps = self.data, self._encode, self._dumps
        out = []
        for key, partition in dirty.items():
            value = data.get(key)
            out.append((dumps(key), None if value is None else dumps(encode(value)), partition))
        return out

    async def delivered(self) -> None:
        """Wait until every changelog record submitted so far, by any flusher, is acknowledged."""
        waiting = list(self._inflight)
        if waiting:
            try:
                await asyncio.gather(*waiting)
            finally:
                self._inflight = [f for f in self._inflight if not f.done()]

    async def flush(self) -> None:
        await self.submit()
        await self.delivered()


async def flush_all(*tables: BufferedTable) -> None:
    """Flush several tables with their records in flight together."""
    for table in tables:
        await table.submit()
    for table in tables:
        await table.delivered()
