"""Subscriptions whose records reach the processor in batches, past faust's per-record path.

faust hands every fetched record through its conductor to a channel queue as an Event, and a
Stream takes them off one by one; the consumer awaits each delivery with `wait_first`, which
starts four tasks per record. On a backlog that machinery cost more than the processors' own
work (py-spy: a quarter of the worker's time, before the stream's and the batcher's share).

A BatchChannel is a faust Topic the conductor subscribes to like any other (so assignment,
co-partitioned tables, commits and rebalances work as before), but the consumer
(streams/transport.py) appends each fetched partition's records to the channel's buffer in one
step, as aiokafka made them (ConsumerRecord: topic, partition, offset, timestamp in ms, key,
value), and `batches()` hands them out as lists. The rules are faust's own:

- a record is acknowledged only after the caller's loop body has returned, i.e. after its
  outputs were delivered and its writes made durable; offsets are committed up to acknowledged
  records only; a rebalance waits until the batch in hand is done (`idle`);
- records fetched under an older consumer generation, or taken while flow control is off (a
  rebalance is under way), are dropped, neither processed nor acknowledged: the consumer's
  watchdog reads them again (see transport.py), as for records a faust Stream skips;
- the buffer is bounded: the consumer stops fetching while it holds more than `capacity` records.

A batch is what the buffer holds once `linger_s` has passed since the first record arrived, up
to `max_size` records. Without the linger, a processor that keeps up handles batches of one to
three events, and every batch costs changelog writes and a round trip to the broker for its
outputs; a few milliseconds of linger make batches large under load.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP


class BatchChannel(faust.Topic):
    def __init__(self, *args: Any, capacity: int = 4000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        self._chunks: deque[tuple[int, TP, list[ConsumerRecord]]] = deque()  # (generation, tp, records)
        self._held = 0  # records in the chunks
        self._batch_max = capacity
        self._arrived = asyncio.Event()  # the buffer is not empty
        self._enough = asyncio.Event()  # the buffer holds a full batch
        self._room = asyncio.Event()  # the buffer is below capacity
        self._room.set()
        self._idle = asyncio.Event()  # no batch handed out and not yet acknowledged
        self._idle.set()

    # -- the consumer's side --------------------------------------------------------------------

    def put(self, generation: int, tp: TP, records: list[ConsumerRecord]) -> None:
        self._chunks.append((generation, tp, records))
        self._held += len(records)

    def wake(self) -> None:
        """Call after a fetch's records were put: wakes the batcher, clears room when full."""
        if self._held:
            self._arrived.set()
            if self._held >= self._batch_max:
                self._enough.set()
            if self._held >= self.capacity:
                self._room.clear()

    def full(self) -> bool:
        return not self._room.is_set()

    async def wait_room(self) -> None:
        await self._room.wait()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def clear(self) -> None:
        """Drop what is buffered (partitions were revoked; see the module's docstring)."""
        self._chunks.clear()
        self._settle()

    # -- the processor's side -------------------------------------------------------------------

    async def batches(self, max_size: int, linger_s: float = 0.0) -> AsyncIterator[list[ConsumerRecord]]:
        """Lists of at most `max_size` records, in offset order per partition. Each list is
        acknowledged when the caller asks for the next one."""
        app = self.app
        consumer = app.consumer  # streams.transport.Consumer
        self._batch_max = max_size
        while True:
            await self._arrived.wait()
            if self._held < max_size and linger_s > 0:
                try:
                    await asyncio.wait_for(self._enough.wait(), linger_s)
                except asyncio.TimeoutError:
                    pass
            batch, taken = self._take(max_size, app.consumer_generation_id)
            if not batch or not app.flow_control.is_active():
                continue  # a rebalance is under way: see the module's docstring
            self._idle.clear()
            try:
                yield batch
                # The caller's loop body has run: its outputs are delivered, its writes durable.
                for tp, offsets in taken.items():
                    consumer.ack_offsets(tp, offsets)
            finally:
                self._idle.set()

    def _take(self, max_size: int, generation: int) -> tuple[list[ConsumerRecord], dict[TP, list[int]]]:
        batch: list[ConsumerRecord] = []
        taken: dict[TP, list[int]] = {}
        while self._chunks and len(batch) < max_size:
            fetched_in, tp, records = self._chunks[0]
            room = max_size - len(batch)
            if len(records) > room:
                part, self._chunks[0] = records[:room], (fetched_in, tp, records[room:])
            else:
                part = records
                self._chunks.popleft()
            self._held -= len(part)
            if fetched_in == generation:
                batch.extend(part)
                taken.setdefault(tp, []).extend(r.offset for r in part)
        self._settle()
        return batch, taken

    def _settle(self) -> None:
        if not self._chunks:
            self._held = 0
            self._arrived.clear()
        if self._held < self._batch_max:
            self._enough.clear()
        if self._held < self.capacity:
            self._room.set()
