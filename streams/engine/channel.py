"""Subscriptions whose records reach the processor in batches, past faust's per-record path.

faust hands every fetched record through its conductor to a channel queue as an Event, and a
Stream takes them off one by one; the consumer awaits each delivery with `wait_first`, which
starts four tasks per record. On a backlog that machinery cost more than the processors' own
work (py-spy: a quarter of the worker's time, before the stream's and the batcher's share).

A BatchChannel is a faust Topic the conductor subscribes to like any other (so assignment,
co-partitioned tables, commits and rebalances work as before), but the consumer
(streams/engine/consumer.py) appends each fetched partition's records to the channel's buffer in one
step, as aiokafka made them (ConsumerRecord: topic, partition, offset, timestamp in ms, key,
value), and `batches()` hands them out as lists. The rules are faust's own:

- a record is acknowledged only after the caller's loop body has returned, i.e. after its
  outputs were delivered and its writes made durable; offsets are committed up to acknowledged
  records only; a rebalance waits until the batch in hand is done (`idle`);
- records fetched under an older consumer generation, or taken while flow control is off (a
  rebalance is under way), are dropped, neither processed nor acknowledged; the consumer is told
  (`note_dropped`) and reads them again at the rebalance's seek (streams/engine/consumer.py,
  point 5);
- the buffer is bounded: the consumer stops fetching while it holds more than `capacity` records.

A batch is what the buffer holds once `linger_s` has passed since the first record arrived, up
to `max_size` records. Without the linger, a processor that keeps up handles batches of one to
three events, and every batch costs changelog writes and a round trip to the broker for its
outputs; a few milliseconds of linger make batches large under load.

Checkpoints (`checkpoint_s` > 0): a processor may keep its outputs and state changes in memory
over several batches and make them durable together, once per checkpoint, as Kafka Streams'
record cache and quix-streams' checkpoints do: a contact whose events come in ten batches then
costs one summary and one changelog record, not ten. Each batch says whether it is a checkpoint
(`Batch.checkpoint`); the records of all batches since the last one are acknowledged only after
the body of a checkpoint batch has returned. A batch is a checkpoint when `checkpoint_s` has
passed since the first batch after the last checkpoint (an empty batch if no records came since),
when the processor has caught up (the buffer is empty and the partitions' ends, as last fetched,
are reached: a processor that keeps up loses no latency), and as soon as a rebalance
or a stop waits for the channel (`wait_idle`; an empty batch if need be): the processor makes its
work durable before its partitions can move. With `checkpoint_s` = 0 every batch is one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP


class Batch(list[ConsumerRecord]):
    """A batch's records; `checkpoint`: the processor must make everything it did since the last
    checkpoint durable before this batch's loop body returns."""

    __slots__ = ("checkpoint",)

    def __init__(self, records: list[ConsumerRecord], checkpoint: bool) -> None:
        super().__init__(records)
        self.checkpoint = checkpoint


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
        self._checkpoint_wanted = False  # a rebalance or a stop waits for the channel

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
        """Wait until every record handed out is acknowledged, asking for a checkpoint now."""
        if not self._idle.is_set():
            self._checkpoint_wanted = True
            self._arrived.set()  # wakes a processor waiting for records (see batches())
        await self._idle.wait()

    @property
    def yield_requested(self) -> bool:
        """A rebalance or a stop waits for the batch in hand."""
        return self._checkpoint_wanted

    def clear(self) -> None:
        """Drop what is buffered (partitions were revoked; see the module's docstring)."""
        for _, tp, records in self._chunks:
            self._dropped(tp, records)
        self._chunks.clear()
        self._settle()

    def drop_older(self, generation: int) -> None:
        """Drop the records fetched under a generation before `generation` now, not when a batch
        is next taken: the rebalance's seek (which calls this) must know every dropped record."""
        if all(fetched_in == generation for fetched_in, _, _ in self._chunks):
            return
        kept: deque[tuple[int, TP, list[ConsumerRecord]]] = deque()
        for chunk in self._chunks:
            if chunk[0] == generation:
                kept.append(chunk)
            else:
                self._dropped(chunk[1], chunk[2])
                self._held -= len(chunk[2])
        self._chunks = kept
        self._settle()

    def _dropped(self, tp: TP, records: list[ConsumerRecord]) -> None:
        if records:
            self.app.consumer.note_dropped(tp, records[0].offset)

    # -- the processor's side -------------------------------------------------------------------

    async def batches(self, max_size: int, linger_s: float = 0.0,
                      checkpoint_s: float = 0.0) -> AsyncIterator[Batch]:
        """Batches of at most `max_size` records, in offset order per partition. The records
        handed out are acknowledged when the caller asks for the batch after a checkpoint one."""
        app = self.app
        consumer = app.consumer  # streams.engine.consumer.Consumer
        self._batch_max = max_size
        pending: dict[TP, list[int]] = {}  # offsets handed out since the last checkpoint
        since = 0.0  # when the first of them was handed out
        while True:
            if pending and not self._arrived.is_set():
                try:  # nothing buffered: wait for records until the checkpoint is due
                    await asyncio.wait_for(self._arrived.wait(), max(0.0, since + checkpoint_s - time.monotonic()))
                except asyncio.TimeoutError:
                    pass
            else:
                await self._arrived.wait()
            if self._held < max_size and linger_s > 0 and not self._checkpoint_wanted:
                try:
                    await asyncio.wait_for(self._enough.wait(), linger_s)
                except asyncio.TimeoutError:
                    pass
            batch, taken = self._take(max_size, app.consumer_generation_id)
            if not app.flow_control.is_active():  # a rebalance is under way: see the module's docstring
                for tp, offsets in taken.items() if batch else ():
                    consumer.note_dropped(tp, offsets[0])
                batch = []
            if not batch and not pending:
                continue
            if batch and not pending:
                since = time.monotonic()
            for tp, offsets in taken.items() if batch else ():
                pending.setdefault(tp, []).extend(offsets)
            checkpoint = (checkpoint_s <= 0 or self._checkpoint_wanted
                          or time.monotonic() - since >= checkpoint_s or self._caught_up(pending))
            self._idle.clear()
            try:
                yield Batch(batch, checkpoint)
            except BaseException:  # the processor failed: nothing it was handed is acknowledged
                self._idle.set()
                raise
            if checkpoint:
                # The caller's loop body has run: its outputs are delivered, its writes durable.
                for tp, offsets in pending.items():
                    consumer.ack_offsets(tp, offsets)
                pending = {}
                self._checkpoint_wanted = False
                self._idle.set()

    def _caught_up(self, pending: dict[TP, list[int]]) -> bool:
        """Keeping up: everything known to be waiting (buffered, and in the partitions handed out
        up to their ends as the last fetch knows them) fits in one batch. Then waiting for the
        checkpoint interval gains nothing, and a steady stream's outputs would wait up to it; on
        a backlog, more than a batch waits and checkpoints keep their interval. (An empty buffer
        alone says little: the fetcher runs only when the processor awaits something, so on a
        backlog the buffer runs dry between fetches.)"""
        consumer = self.app.consumer
        behind = sum(len(records) for _, tp, records in self._chunks if tp not in pending)
        for tp, offsets in pending.items():
            end = consumer.highwater(tp)
            if end is None:
                return False
            behind += max(0, end - (offsets[-1] + 1))
        return behind < self._batch_max

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
                taken.setdefault(tp, []).extend([r.offset for r in part])
            else:
                self._dropped(tp, part)
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
