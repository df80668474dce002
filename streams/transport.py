"""The faust app and Kafka consumer firstline runs on: faust's, with three changes.

1. Records of a BatchChannel (streams/batch_channel.py) go from each fetch straight into the
   channel's buffer, a partition's records in one step, without faust's per-record delivery
   (other topics, such as changelogs being recovered, take faust's path), and are acknowledged
   per batch. Every processor and sink reads through a BatchChannel: faust's Streams acknowledge
   records they skip during a rebalance, so those were lost (an end-to-end test lost events of a
   worker started while contacts were being published); a BatchChannel never acknowledges a
   record it did not hand to its processor.

2. faust's commit check lets exactly one missing record at the head through (it compares the
   first acknowledged offset with the committed one off by one); `_new_offset` closes that.

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
from faust.types import TP
from faust.types.tuples import ack_lock
from mode import Service
from mode.utils.futures import notify

from streams.batch_channel import BatchChannel

STALL_S = 10.0


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stalled: dict[TP, tuple[int, float]] = {}  # tp -> (committed offset, since)
        self.rereads = 0  # seeks back by the watchdog, for tests and monitoring

    def ack_offsets(self, tp: TP, offsets: list[int]) -> None:
        """Acknowledge records of one partition its processor has handled: faust's ack() for
        each, without a Message object, its lock and its weak set per record."""
        with ack_lock:
            committed = self._committed_offset[tp]
            acked_index = self._acked_index[tp]
            acked = self._acked[tp]
            n = 0
            for offset in offsets:
                if (committed is None or offset >= committed) and offset not in acked_index:
                    acked_index.add(offset)
                    acked.append(offset)
                    n += 1
            self._n_acked += n
        notify(self._waiting_for_ack)

    async def wait_empty(self) -> None:
        """A rebalance or a stop waits for the batches in hand, drops what is buffered, then
        commits as faust does."""
        channels = set(cast(App, self.app).batch_channels.values())
        for channel in channels:
            await channel.wait_idle()
            channel.clear()
        await super().wait_empty()

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
        """faust's fetch loop (Consumer._drain_messages and getmany), except that a BatchChannel
        gets each fetched partition's records in one step."""
        callback = self.callback
        to_message = self._to_message
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        batch_channels: dict[str, BatchChannel] = cast(App, self.app).batch_channels
        filled: set[BatchChannel] = set()
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, active = await self._wait_next_records(1.0)
                await self.sleep(0)
                if records is None or self.should_stop:
                    continue
                if not self.flow_active:
                    try:  # as faust's getmany: fetched while a rebalance started
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning("exception performing seek when flow not active %r", exc)
                    continue
                generation = self.app.consumer_generation_id
                for tp, fetched in records.items():
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        break
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    previous = read_offset[tp]
                    if previous is not None:
                        fetched = [r for r in fetched if r.offset >= previous]
                    if not fetched:
                        continue
                    channel = batch_channels.get(tp.topic)
                    if acks_enabled_for(tp.topic):
                        for record in fetched:  # gaps: compacted away or transaction markers
                            if previous and record.offset - previous > 1:
                                await self._add_gap(tp, previous + 1, record.offset)
                            previous = record.offset
                    if channel is not None:
                        channel.put(generation, tp, fetched)
                        filled.add(channel)
                        read_offset[tp] = fetched[-1].offset
                        continue
                    for record in fetched:
                        await self.wait_first(callback(to_message(tp, record)), self.suspend_flow.wait())
                        read_offset[tp] = record.offset
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
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
