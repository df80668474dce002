"""Micro-batches of events from a faust stream, acked only after the caller has handled them.

faust's own Stream.take_events() pairs buffered values with `stream.current_event` read after an
await, and under load it was seen to hand out one event twice and skip others (an end-to-end test
lost a contact's last event). Here one task iterates the stream itself and passes each event it
yields to the batcher through a bounded queue. A batch is what arrives within `linger_s` of its
first event, up to `max_size` events. Without the linger, a processor that keeps up handles
batches of one to three events, and every batch costs changelog writes and a round trip to the
broker for its outputs: 24 simulated hours (87,000 events) gave 55,000 contact-state changelog
records and 35,000 statistics batches. A few milliseconds of linger make batches large under load
and cost that much latency when quiet.

The batcher never waits longer than the linger while holding a partial batch. (An earlier version
iterated the stream until its channel looked empty: during a rebalance faust skips the queued
events of the old generation without yielding, so the partial batch was never handled, never
acked, and faust's revocation waited for those acks forever.)

Events are marked processed on the consumer before they are acknowledged; the consumer
(streams/transport.py) refuses acknowledgements of anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from faust.types import EventT, StreamT


async def micro_batches(stream: StreamT, max_size: int, linger_s: float = 0.0) -> AsyncIterator[list[EventT]]:
    manual = stream.noack()
    consumer = stream.app.consumer  # streams.transport.Consumer: acks only what is marked here
    arrived: asyncio.Queue[EventT] = asyncio.Queue(maxsize=max_size)

    async def pump() -> None:
        async for event in manual.events():
            await arrived.put(event)

    pumping = asyncio.ensure_future(pump())
    loop = asyncio.get_running_loop()
    try:
        while True:
            getting = asyncio.ensure_future(arrived.get())
            await asyncio.wait({getting, pumping}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                pumping.result()  # the stream ended: re-raise what ended it
                return
            batch = [getting.result()]
            deadline = loop.time() + linger_s
            while len(batch) < max_size:
                if not arrived.empty():
                    batch.append(arrived.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0 or pumping.done():
                    break
                try:
                    batch.append(await asyncio.wait_for(arrived.get(), remaining))
                except asyncio.TimeoutError:
                    break
            yield batch
            # The caller's loop body has run: its outputs are delivered and its writes durable.
            for done in batch:
                consumer.mark_processed(done.message)
                await manual.ack(done)
    finally:
        pumping.cancel()
