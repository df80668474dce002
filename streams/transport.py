"""The faust app and Kafka consumer firstline runs on: faust's, with two rules added.

1. Only the code that processed a record may acknowledge it. While faust recovers tables, seeks
   or rebalances, a stream skips records of an older consumer generation (or fetched while flow
   control was off) and acknowledges them so that the lag does not grow; once committed, they are
   never delivered again, and an end-to-end test that started a worker while contacts were being
   published lost events. Here a skipped record stays unacknowledged, so the commit stops before
   it. faust's own check lets exactly one missing record at the head through (it compares the
   first acknowledged offset with the committed one off by one); `_new_offset` closes that.

2. Records of a BatchChannel (streams/batch_channel.py) go from the fetch straight into the
   channel's buffer, without faust's per-record delivery; other topics take faust's path.

3. A commit stalled behind a skipped record is healed without a restart: a watchdog notices a
   partition whose committed offset (the next record to process) is unacknowledged while later
   records are acknowledged (records of a partition are processed and acknowledged in order, so
   the earlier one was skipped, not slow), and after `STALL_S` seeks the partition back to it.
   The records after it come again; processors are idempotent, so that costs only time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode import Service

from streams.batch_channel import BatchChannel

STALL_S = 10.0


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._processed: set[tuple[TP, int]] = set()
        self._stalled: dict[TP, tuple[int, float]] = {}  # tp -> (committed offset, since)
        self.rereads = 0  # seeks back by the watchdog, for tests and monitoring

    def mark_processed(self, message: Message) -> None:
        self._processed.add((message.tp, message.offset))

    def ack_processed(self, message: Message) -> bool:
        """Acknowledge a record its processor has handled (see streams/batch_channel.py)."""
        return super().ack(message)

    def ack(self, message: Message) -> bool:
        if not self.app.topics.acks_enabled_for(message.topic):
            return super().ack(message)
        key = (message.tp, message.offset)
        if key not in self._processed:
            return False  # skipped by the stream, not processed: leave it to be delivered again
        self._processed.discard(key)
        return super().ack(message)

    def _head_missing(self, tp: TP) -> int | None:
        """The committed offset when it is unacknowledged while later offsets are acknowledged."""
        acked = self._acked.get(tp)
        committed = self._committed_offset.get(tp)
        if not acked or committed is None or min(acked) <= committed:
            return None
        if self._gap[tp].overlaps(committed):
            return None  # compacted away or a transaction marker: faust commits over it
        return committed

    def _new_offset(self, tp: TP) -> int | None:
        if self._head_missing(tp) is not None:
            return None
        return super()._new_offset(tp)

    @Service.timer(STALL_S / 4)
    async def _reread_skipped(self) -> None:
        now = time.monotonic()
        assigned = self.assignment()
        for tp in list(self._acked):
            missing = self._head_missing(tp) if tp in assigned else None
            if missing is None:
                self._stalled.pop(tp, None)
                continue
            held = self._stalled.get(tp)
            if held is None or held[0] != missing:
                self._stalled[tp] = (missing, now)
            elif now - held[1] >= STALL_S:
                self.log.warning("Record %s of %s was skipped, not processed; reading again from there",
                                 missing, tp)
                self._stalled.pop(tp, None)
                self.rereads += 1
                await self.seek_wait({tp: missing})


    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - the fetch loop
        """faust's fetch loop, with one change: a BatchChannel's records are put into its buffer
        (and the channel woken once per fetch) instead of being delivered one by one."""
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        batch_channels: dict[str, BatchChannel] = cast(App, self.app).batch_channels
        filled: set[BatchChannel] = set()
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if self.should_stop:
                    continue
                async for tp, message in ait:
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is not None and offset < r_offset:
                        continue  # read before (faust drops these too)
                    if r_offset and offset - r_offset > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, r_offset + 1, offset)
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    channel = batch_channels.get(tp.topic)
                    if channel is not None:
                        channel.put(message)
                        filled.add(channel)
                    else:
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                    set_read_offset(tp, offset)
                self.diag.unset_flag(CONSUMER_FETCHING)
                for channel in filled:
                    channel.wake()
                for channel in filled:
                    if channel.full():
                        await self.wait_first(channel.wait_room(), self.suspend_flow.wait())
                filled.clear()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_channels: dict[str, BatchChannel] = {}  # topic name -> its channel

    def batch_channel(self, *topics: str, capacity: int, partitions: int | None = None) -> BatchChannel:
        """A subscription to `topics` (raw bytes) read in batches; see streams/batch_channel.py."""
        channel = BatchChannel(self, topics=list(topics), key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw", partitions=partitions,
                               capacity=capacity)
        for topic in topics:
            if topic in self.batch_channels:
                raise ValueError(f"{topic} has a batch channel already")
            self.batch_channels[topic] = channel
        self.topics.add(channel)
        return channel

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)
