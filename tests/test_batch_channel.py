"""The batch channel's checkpoints (streams/engine/channel.py), on its bookkeeping alone: when
records are acknowledged, and that a rebalance gets a checkpoint at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams.engine import channel as channel_module
from streams.engine.channel import Batch
from streams.engine.consumer import App

TP0 = TP("contact-events", 0)


class Acks:
    """The consumer's side: what is acknowledged, and the partition's end as last fetched."""

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.end: int | None = None
        self.dropped: list[tuple[int, int]] = []  # (partition, first offset) as told

    def note_dropped(self, tp: TP, offset: int) -> None:
        self.dropped.append((tp.partition, offset))

    def highwater(self, tp: TP) -> int | None:
        return self.end

    def ack_offsets(self, tp: TP, offsets: list[int]) -> None:
        self.offsets += offsets


def channel_with(acks: Acks) -> Any:
    app = App("batch-channel-test", broker="kafka://127.0.0.1:1")
    channel = app.batch_channel("contact-events", capacity=100)
    channel.app = SimpleNamespace(consumer=acks, consumer_generation_id=1,
                                  flow_control=SimpleNamespace(is_active=lambda: True))
    return channel


def put(channel: Any, *offsets: int, generation: int = 1, partition: int = 0) -> None:
    channel.put(generation, TP("contact-events", partition),
                [ConsumerRecord("contact-events", partition, o, 0, 0, b"k", b"v", None, 1, 1, ())
                 for o in offsets])
    channel.wake()


async def take(batches: Any) -> Batch:
    return await asyncio.wait_for(batches.__anext__(), 5)


def test_records_are_acknowledged_at_the_checkpoint_only() -> None:
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(2, checkpoint_s=60)
        put(channel, *range(7))
        acks.end = 7
        first = await take(batches)
        assert [r.offset for r in first] == [0, 1] and not first.checkpoint  # 5 more: a backlog
        second = await take(batches)
        assert [r.offset for r in second] == [2, 3] and not second.checkpoint  # 3 more
        assert acks.offsets == []  # handed out, not yet made durable by the processor
        # What is left fits in the next batch: the processor keeps up, no reason to wait.
        third = await take(batches)
        assert [r.offset for r in third] == [4, 5] and third.checkpoint
        assert acks.offsets == []  # not before the processor's checkpoint has run
        put(channel, 7)
        await take(batches)
        assert acks.offsets == [0, 1, 2, 3, 4, 5]
        await batches.aclose()

    asyncio.run(run())


def test_a_steady_stream_gets_a_checkpoint_per_batch_though_more_keeps_coming() -> None:
    """Records arrive as fast as they are taken: the partition always has a little more, and
    waiting for the interval would hold every output back by up to it."""
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(10, checkpoint_s=60)
        for start in range(0, 40, 4):
            put(channel, *range(start, start + 4))
            acks.end = start + 8  # the next four are already on the broker
            assert (await take(batches)).checkpoint
        await batches.aclose()

    asyncio.run(run())


def test_an_empty_buffer_is_not_caught_up_while_the_partition_has_more() -> None:
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(10, checkpoint_s=60)
        acks.end = 1000  # a backlog: the fetcher has not put the rest into the buffer yet
        put(channel, 0, 1)
        assert not (await take(batches)).checkpoint
        put(channel, 2)
        acks.end = 3
        assert (await take(batches)).checkpoint
        await batches.aclose()

    asyncio.run(run())


class Clock:
    """The channel's monotonic clock, moved by the test (no sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(channel_module, "time", fake)
    return fake


def test_a_backlog_gets_a_checkpoint_per_interval(clock: Clock) -> None:
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(1, checkpoint_s=0.25)
        put(channel, *range(10))
        assert not (await take(batches)).checkpoint
        assert not (await take(batches)).checkpoint
        clock.now += 0.25  # the interval is up (binary fractions: no rounding at the edge)
        assert (await take(batches)).checkpoint
        assert not (await take(batches)).checkpoint  # a new interval
        assert acks.offsets == [0, 1, 2]
        await batches.aclose()

    asyncio.run(run())


def test_a_checkpoint_comes_by_the_interval_when_records_stop_short_of_the_end(clock: Clock) -> None:
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(2, checkpoint_s=0.3)
        put(channel, 0, 1)
        acks.end = 50  # offsets 2-49 never come (say, dropped as fetched under an older generation)
        first = await take(batches)
        assert [r.offset for r in first] == [0, 1] and not first.checkpoint
        # Nothing more arrives. The channel waits up to the interval for records (a real wait of
        # 0.3 s); by its clock the interval has not passed, so what it hands out is no checkpoint.
        early = await take(batches)
        assert list(early) == [] and not early.checkpoint
        clock.now += 0.5  # the interval is up: an empty checkpoint batch at once
        second = await take(batches)
        assert list(second) == [] and second.checkpoint
        assert acks.offsets == []  # not before the processor's checkpoint has run
        put(channel, 5)
        await take(batches)
        assert acks.offsets == [0, 1]
        await batches.aclose()

    asyncio.run(run())


def test_a_rebalance_gets_a_checkpoint_at_once() -> None:
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(2, checkpoint_s=60)
        put(channel, 0, 1, 2, 3, 4)
        first = await take(batches)
        assert not first.checkpoint
        waiting = asyncio.ensure_future(channel.wait_idle())
        await asyncio.sleep(0)
        checkpoint = await take(batches)  # without it the processor would wait a minute
        assert checkpoint.checkpoint and [r.offset for r in checkpoint] == [2, 3]
        assert not waiting.done()  # until the processor has made its work durable
        next_batch = asyncio.ensure_future(take(batches))
        await asyncio.wait_for(waiting, 5)
        assert acks.offsets == [0, 1, 2, 3]
        next_batch.cancel()

    asyncio.run(run())


def test_a_rebalance_with_nothing_buffered_gets_an_empty_checkpoint() -> None:
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(2, checkpoint_s=60)
        put(channel, 0, 1, 2)
        assert not (await take(batches)).checkpoint
        channel.clear()  # dropped while a rebalance is under way
        flow = {"active": False}
        channel.app.flow_control.is_active = lambda: flow["active"]
        waiting = asyncio.ensure_future(channel.wait_idle())
        await asyncio.sleep(0)
        checkpoint = await take(batches)
        assert checkpoint.checkpoint and list(checkpoint) == []
        next_batch = asyncio.ensure_future(take(batches))
        await asyncio.wait_for(waiting, 5)
        assert acks.offsets == [0, 1]
        assert acks.dropped == [(0, 2)]  # the consumer reads the cleared record again
        next_batch.cancel()

    asyncio.run(run())


def test_without_an_interval_every_batch_is_a_checkpoint() -> None:
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(1)
        put(channel, 0, 1, 2)
        assert (await take(batches)).checkpoint
        assert (await take(batches)).checkpoint
        assert acks.offsets == [0]
        await batches.aclose()

    asyncio.run(run())


def test_every_record_dropped_is_told_to_the_consumer() -> None:
    """Records fetched under an older generation or taken while the flow is off are not handed
    on; the consumer must know the first of each partition to read them again (a never-committed
    partition has no committed offset the rebalance's seek would go back to)."""
    async def run() -> None:
        acks = Acks()
        channel = channel_with(acks)
        batches = channel.batches(10)
        put(channel, 3, 4, generation=0)
        put(channel, 7, 8, generation=0, partition=1)
        put(channel, 9, 10)
        batch = await take(batches)
        assert [r.offset for r in batch] == [9, 10]
        assert acks.dropped == [(0, 3), (1, 7)]
        # drop_older (the rebalance's seek) drops them at once, keeping the current generation's
        acks.dropped.clear()
        put(channel, 20, 21, generation=0, partition=2)
        put(channel, 11, 12)
        channel.drop_older(1)
        assert acks.dropped == [(2, 20)]
        batch = await take(batches)
        assert [r.offset for r in batch] == [11, 12]
        # taken while the flow is off
        acks.dropped.clear()
        channel.app.flow_control.is_active = lambda: False
        put(channel, 13, 14)
        put(channel, 30, partition=3)
        waiting = asyncio.ensure_future(take(batches))  # nothing comes: no batch is due
        for _ in range(100):
            if acks.dropped:
                break
            await asyncio.sleep(0.01)
        assert sorted(acks.dropped) == [(0, 13), (3, 30)] and not waiting.done()
        waiting.cancel()

    asyncio.run(run())
