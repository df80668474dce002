"""Sending records to Kafka: grouped per topic partition into record batches, placed by Kafka's
default partitioner.

The producer's `send()` costs a future, a partitioner call and an accumulator append per record,
and a gather over those futures at the end; on the whole path that was a fifth of the worker's
time. Here a processor's outputs are collected while it handles a batch and handed to aiokafka as
one record batch per partition (`send_batch`), with one future each.

Records with a key and no partition go where Kafka's default partitioner puts them
(murmur2 of the key), so consumers that join by key see the same partitioning as from any other
client.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable
from typing import Any

import faust

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


_NO_HEADERS: list[Any] = []  # never changed: the record batch builder only reads it

HEAD_WORDS = 8  # a key's first 32 bytes: "queue|channel|region|WINDOW|" of a statistics id, mostly


def murmur2(data: bytes, mixed: dict[int, int] | None = None,
            heads: dict[tuple[bytes, int], int] | None = None) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), unsigned. aiokafka's is a
    byte-at-a-time port, on the path of every output; this reads the words in one call.
    `mixed` remembers each 4-byte word's mixed value, and `heads` the hash state after the first
    32 bytes of a key of a given length: the statistics' keys share both (queue, channel, region,
    window kind) and differ in their last few words."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    if mixed is None:
        mixed = {}
    first = 0
    if heads is not None and words > HEAD_WORDS:
        head = (data[:HEAD_WORDS * 4], length)
        state = heads.get(head)
        if state is None:
            state = heads[head] = _mix_words(h, struct.unpack_from(f"<{HEAD_WORDS}I", data), mixed)
        h, first = state, HEAD_WORDS
    h = _mix_words(h, struct.unpack_from(f"<{words - first}I", data, first * 4), mixed)
    rest = length & 3
    if rest:
        tail = data[words * 4:]
        if rest >= 3:
            h ^= tail[2] << 16
        if rest >= 2:
            h ^= tail[1] << 8
        h = ((h ^ tail[0]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def _mix_words(h: int, words: tuple[int, ...], mixed: dict[int, int]) -> int:
    for k in words:
        km = mixed.get(k)
        if km is None:
            km = (k * _M) & _MASK
            km ^= km >> 24
            km = mixed[k] = (km * _M) & _MASK
        h = ((h * _M) & _MASK) ^ km
    return h


try:
    from streams.engine._partition import murmur2 as native_murmur2
except ImportError:  # no C compiler where firstline was installed: the Python port, remembered
    native_murmur2 = None


class KeyHashes:
    """Kafka's hash of keys: in C where it was built (cheaper than remembering it), else the
    Python port above, remembering recently sent keys (a contact's summary and a window's
    statistics go out several times, and each would be hashed again); forgets all when full."""

    def __init__(self, size: int = 100_000) -> None:
        self._known: dict[bytes, int] = {}
        self._mixed: dict[int, int] = {}  # murmur2's caches
        self._heads: dict[tuple[bytes, int], int] = {}
        self._size = size

    def partition(self, key: bytes, count: int) -> int:
        """The partition Kafka's default partitioner gives a keyed record."""
        if native_murmur2 is not None:
            return (native_murmur2(key) & 0x7FFFFFFF) % count
        hashed = self._known.get(key)
        if hashed is None:
            if len(self._known) >= self._size:
                self._known.clear()
            if len(self._mixed) >= self._size:
                self._mixed.clear()
            if len(self._heads) >= self._size:
                self._heads.clear()
            hashed = self._known[key] = murmur2(key, self._mixed, self._heads) & 0x7FFFFFFF
        return hashed % count


class RecordBatches:
    """Records bound for the broker, per (topic, partition), until `send()`."""

    def __init__(self, app: faust.App, hashes: KeyHashes | None = None) -> None:
        self.app = app
        self._hashes = hashes or KeyHashes()
        self._records: dict[str, list[tuple[bytes | None, bytes | None, int | None]]] = {}

    def __bool__(self) -> bool:
        return bool(self._records)

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        self._records.setdefault(topic, []).append((key, value, partition))

    async def send(self) -> list[Awaitable[Any]]:
        """Hand every record to the producer; returns the delivery futures (one per batch)."""
        records, self._records = self._records, {}
        producer = self.app.producer._ensure_producer()  # the aiokafka producer under faust's
        futures: list[Awaitable[Any]] = []
        for topic, items in records.items():
            await producer.client._wait_on_metadata(topic)
            count = len(producer.client.cluster.partitions_for_topic(topic))
            by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
            place = self._hashes.partition
            for key, value, partition in items:
                if partition is None:
                    if key is None:
                        raise ValueError(f"a record for {topic} has neither key nor partition")
                    partition = place(key, count)
                by_partition.setdefault(partition, []).append((key, value))
            for partition, pairs in by_partition.items():
                batch, n = producer.create_batch(), 0
                # The batch's own builder, as aiokafka's BatchBuilder.append calls it, without that
                # method's keyword parsing and serializer hooks (none are set), once per record.
                # The record count is the builder's offset, set before sending.
                append = batch._builder.append
                for key, value in pairs:
                    if append(n, None, key=key, value=value, headers=_NO_HEADERS) is None:
                        batch._relative_offset = n
                        batch.close()
                        futures.append(await producer.send_batch(batch, topic, partition=partition))
                        batch, n = producer.create_batch(), 0
                        append = batch._builder.append
                        if append(n, None, key=key, value=value, headers=_NO_HEADERS) is None:
                            raise ValueError(f"a record for {topic} is larger than a producer batch")
                    n += 1
                batch._relative_offset = n
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures
