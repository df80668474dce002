"""Subscriptions whose records reach the processor in batches, past faust's per-record path.

faust hands every fetched record through its conductor to a channel queue as an Event, and a
Stream takes them off one by one; the consumer awaits each delivery with `wait_first`, which
starts four tasks per record. On a backlog that machinery cost more than the processors' own
work (py-spy: a quarter of the worker's time, before the stream's and the batcher's share).

A BatchChannel is a faust Topic the conductor subscribes to like any other (so assignment,
co-partitioned tables, commits and rebalances work as before), but the consumer
(streams/transport.py) appends its fetched records to the channel's buffer in one step per fetch,
and `batches()` hands them out as lists of raw faust Messages. The rules are faust's own:

- a record is tracked (rebalances wait for it) from the moment its batch is handed out, and is
  acknowledged only after the caller's loop body has returned, i.e. after its outputs were
  delivered and its writes made durable; offsets are committed up to acknowledged records only;
- a record fetched under an older consumer generation, or while flow control is off (a rebalance
  is under way), is dropped, not processed and not acknowledged: the consumer's watchdog reads it
  again (see transport.py), as for records a faust Stream skips;
- the buffer is bounded: the consumer stops fetching while it holds more than `capacity` records.

A batch is what the buffer holds once `linger_s` has passed since the first record arrived, up
to `max_size` records. Without the linger, a processor that keeps up handles batches of one to
three events, and every batch costs changelog writes and a round trip to the broker for its
outputs; a few milliseconds of linger make batches large under load.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
from faust.types import Message


class BatchChannel(faust.Topic):
    def __init__(self, *args: Any, capacity: int = 4000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        self._buffer: list[Message] = []
        self._arrived = asyncio.Event()  # the buffer is not empty
        self._enough = asyncio.Event()  # the buffer holds a full batch
        self._room = asyncio.Event()  # the buffer is below capacity
        self._room.set()
        self._batch_max = capacity

    # -- the consumer's side --------------------------------------------------------------------

    def put(self, message: Message) -> None:
        self._buffer.append(message)

    def wake(self) -> None:
        """Call after a fetch's records were put: wakes the batcher, clears room when full."""
        if self._buffer:
            self._arrived.set()
            if len(self._buffer) >= self._batch_max:
                self._enough.set()
            if len(self._buffer) >= self.capacity:
                self._room.clear()

    async def wait_room(self) -> None:
        await self._room.wait()

    def full(self) -> bool:
        return not self._room.is_set()

    # -- the processor's side -------------------------------------------------------------------

    async def batches(self, max_size: int, linger_s: float = 0.0) -> AsyncIterator[list[Message]]:
        """Lists of at most `max_size` records, in fetch order (so in offset order per partition).
        Each list is acknowledged when the caller asks for the next one."""
        app = self.app
        consumer = app.consumer
        unacked = consumer._unacked_messages  # what a rebalance waits for (faust's own set)
        self._batch_max = max_size
        while True:
            await self._arrived.wait()
            if len(self._buffer) < max_size and linger_s > 0:
                try:
                    await asyncio.wait_for(self._enough.wait(), linger_s)
                except asyncio.TimeoutError:
                    pass
            taken, self._buffer = self._buffer[:max_size], self._buffer[max_size:]
            self._settle()
            generation = app.consumer_generation_id
            if not app.flow_control.is_active():
                continue  # a rebalance is under way: see the module's docstring
            batch = [m for m in taken if m.generation_id == generation]
            if not batch:
                continue
            for message in batch:
                message.tracked = True
                unacked.add(message)
            yield batch
            # The caller's loop body has run: its outputs are delivered and its writes durable.
            for message in batch:
                consumer.ack_processed(message)

    def _settle(self) -> None:
        if not self._buffer:
            self._arrived.clear()
        if len(self._buffer) < self._batch_max:
            self._enough.clear()
        if len(self._buffer) < self.capacity:
            self._room.set()
