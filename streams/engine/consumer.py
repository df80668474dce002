"""The faust app and Kafka consumer firstline runs on: faust's, with these changes.

1. Records of a BatchChannel (streams/engine/channel.py) go from each fetch straight into the
   channel's buffer, a partition's records in one step, without faust's per-record delivery
   (other topics, such as changelogs being recovered, take faust's path), and are acknowledged
   per batch. Every processor and sink reads through a BatchChannel: faust's Streams acknowledge
   records they skip during a rebalance, so those were lost (an end-to-end test lost events of a
   worker started while contacts were being published); a BatchChannel never acknowledges a
   record it did not hand to its processor. A full channel pauses fetching from its own
   partitions only (faust's `on_buffer_full`), so a slow sink does not starve the processors.

2. faust's commit check lets exactly one missing record at the head through (it compares the
   first acknowledged offset with the committed one off by one); `_new_offset` closes that.

3. A commit stalled behind a skipped record is healed without a restart: a watchdog notices a
   partition whose committed offset (the next record to process) is unacknowledged while later
   records are acknowledged (records of a partition are processed and acknowledged in order, so
   the earlier one was skipped, not slow), and after `STALL_S` seeks the partition back to it.
   The records after it come again; processors are idempotent, so that costs only time.

4. Tables are restored from their changelogs a fetched partition's records at a time, into the
   in-memory store, as faust's memory store applies them. faust's recovery takes each record
   through its per-record delivery and then, per record, works out the remaining records of every
   partition, so a worker restarted after a busy day took minutes to be ready. The restore still follows faust's recovery: which
   changelog partitions are restored, from and to which offsets, and when recovery ends, signalled
   as faust signals it. Standby partitions (FIRSTLINE_STANDBY_REPLICAS) keep faust's path.

5. Records fetched and then not handed on are read again. faust drops records in three places
   (fetched for a partition just paused by a rebalance's recovery, fetched while the flow was
   off, dropped from a channel as of an older generation) and relies on the rebalance's seek
   to the committed offsets to bring them back. A partition this group never committed has no
   committed offset, so the seek left it where the fetcher was, past the dropped records, and
   the next commit went over them: a worker that joined while the first records of a new topic
   arrived lost them (test_sms_pipeline, broker restart and two workers), and a worker whose
   recovery ended while the first contacts arrived lost them when the fetch of its resumed
   partitions came before the flow was on (test_wallboard, two workers). Now every drop is
   noted (`note_dropped`, the first offset per partition) and the seek puts such a partition
   back to it; a paused partition's fetched records put its position back at once. Such a
   partition's first offset is also its baseline, what the watchdog of 3 compares with (it
   commits nothing until that is known).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import faust
import orjson
from faust.stores.memory import Store as MemoryStore
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode import Service
from mode.utils.futures import notify

from streams.engine.channel import BatchChannel
from streams.engine.meters import Timings

STALL_S = 10.0


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stalled: dict[TP, tuple[int, float]] = {}  # tp -> (committed offset, since)
        self.rereads = 0  # seeks back by the watchdog, for tests and monitoring
        self.restored = 0  # changelog records restored in bulk, in this process's life
        self._restore_began: tuple[float, int] | None = None  # (when, restored) of the current recovery
        self.recoveries = Timings()  # each recovery's duration, for /metrics
        self._awaiting_baseline: dict[TP, int] = {}  # never committed, first offset asked for in generation
        self._dropped: dict[TP, int] = {}  # first offset fetched and not handed on, since the last seek
        self._sought: set[TP] = set()  # partitions the last seek to the committed offsets moved

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

    def note_dropped(self, tp: TP, offset: int) -> None:
        """Records of `tp` from `offset` on were fetched and will not be handed on (point 5)."""
        tp = TP(tp.topic, tp.partition)
        if offset < self._dropped.get(tp, offset + 1):
            self._dropped[tp] = offset

    async def seek_to_committed(self) -> Any:
        """faust's seek; notes which partitions it moved: aiokafka seeks only to a committed offset
        above 0, and a baseline (point 5) is no committed offset."""
        committed = await super().seek_to_committed()
        self._sought = {TP(tp.topic, tp.partition) for tp, offset in committed.items() if offset and offset > 0}
        return committed

    async def perform_seek(self) -> None:
        """faust's seek to the committed offsets; then every input partition without one that
        dropped records goes back to the first of them, and gets its first offset as its
        baseline (point 5). Asking the broker for that goes through faust's consumer thread,
        queued behind a fetch of up to a second, so it is asked for in the background, and such
        a partition commits nothing until it is known."""
        channels = cast(App, self.app).batch_channels
        for channel in set(channels.values()):
            channel.drop_older(self.app.consumer_generation_id)
        await super().perform_seek()
        while self._dropped:  # until none is left: records may be dropped while this one seeks
            dropped, self._dropped = self._dropped, {}
            assigned = self.assignment()
            back = {tp: offset for tp, offset in dropped.items() if tp.topic in channels
                    and tp in assigned and tp not in self._sought}
            if not back:
                continue
            self.log.info("Records of never-committed partitions fetched and not handed on: "
                          "reading them again from %s", ", ".join(
                              f"{tp.topic}[{tp.partition}]@{o}" for tp, o in sorted(back.items())))
            try:
                await self.seek_wait(back)
            except Exception as exc:  # revoked meanwhile: its next owner reads it from its start
                self.log.warning("Seek back to dropped records failed: %r", exc)
            for tp in back:
                self._read_offset[tp] = None  # faust keeps it for offset 0: the records would be filtered
        fresh = {TP(tp.topic, tp.partition) for tp in self.assignment()
                 if tp.topic in channels and self._committed_offset.get(tp) is None}
        if fresh:
            generation = self.app.consumer_generation_id
            self._awaiting_baseline.update(dict.fromkeys(fresh, generation))
            self.add_future(self._set_baselines(fresh, generation))

    async def _set_baselines(self, tps: set[TP], generation: int) -> None:
        earliest: dict[TP, int] = {}
        while self.app.consumer_generation_id == generation and not self.should_stop:
            try:
                earliest = {TP(tp.topic, tp.partition): offset
                            for tp, offset in (await self.earliest_offsets(*tps)).items()}
                break
            except Exception as exc:  # the broker away: ask again
                self.log.warning("First offsets of %d partition(s) not known yet: %r", len(tps), exc)
                await self.sleep(1.0)
        assigned = self.assignment() if self.app.consumer_generation_id == generation else set()
        for tp in tps:
            if self._awaiting_baseline.get(tp) != generation:
                continue  # a later rebalance's seek asks for it again
            del self._awaiting_baseline[tp]
            if tp in assigned and self._committed_offset.get(tp) is None and earliest.get(tp) is not None:
                self._committed_offset[tp] = earliest[tp]
        if earliest:
            self.log.info("%d input partition(s) never committed by this group: from their first offset",
                          len(earliest))

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
        if tp in self._awaiting_baseline or self._head_missing(tp) is not None:
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
                self._read_offset[tp] = None  # faust keeps it for offset 0: the records would be filtered


    def _restoring(self, tp: TP) -> Any:
        """The table whose active changelog partition `tp` is, if its store is faust's memory
        store (see the module's docstring); otherwise None."""
        recovery = self.app.tables.recovery
        if tp not in recovery.active_tps:
            return None
        table = recovery.tp_to_table.get(tp)
        return table if table is not None and isinstance(table.data, MemoryStore) else None

    def _restore(self, tp: TP, table: Any, records: list[Any]) -> None:
        """Apply changelog records to the table's store as faust's recovery would: records at or
        before the offset recovery has reached are skipped, a tombstone removes its key, and the
        key's partition is noted (faust's memory store drops keys of partitions it lost)."""
        recovery = self.app.tables.recovery
        if self._restore_began is None:
            self._restore_began = (time.monotonic(), self.restored)
        seen = recovery.active_offsets.get(tp)
        store = table.data
        data, where = store.data, store._key_partition
        to_key, to_value, loads, partition = table._to_key, table._to_value, orjson.loads, tp.partition
        raw = getattr(table, "firstline_raw_restore", False)  # values kept as their JSON bytes
        for record in records:
            if seen is not None and record.offset <= seen:
                continue
            try:
                key = to_key(loads(record.key))
                value = None if record.value is None else record.value if raw else to_value(loads(record.value))
            except (orjson.JSONDecodeError, TypeError) as exc:  # faust's recovery logs and goes on
                self.log.warning("Changelog record %s of %s not restored: %r", record.offset, tp, exc)
                continue
            if value is None:
                data.pop(key, None)
                where.pop(key, None)
            else:
                data[key] = value
                where[key] = partition
            self.restored += 1
        if seen is None or records[-1].offset > seen:
            recovery.active_offsets[tp] = records[-1].offset

    def _maybe_end_recovery(self) -> None:
        """faust's end of recovery (Recovery._slurp_changelogs), once every active changelog
        partition is restored to its highwater."""
        recovery = self.app.tables.recovery
        if recovery.in_recovery and not recovery.need_recovery():
            recovery.flush_buffers()  # records faust's own path took meanwhile, if any
            recovery._set_recovery_ended()
            recovery.signal_recovery_end.set()
            if self._restore_began is not None:
                began, before = self._restore_began
                took = time.monotonic() - began
                self.recoveries.observe(took)
                self.log.info("Restored %d changelog records in bulk in %.1f s", self.restored - before, took)
            self._restore_began = None

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
        filled: dict[BatchChannel, set[TP]] = {}  # channels given records this round, and from where
        held_back: dict[BatchChannel, set[TP]] = {}  # full channels, and the partitions paused for them
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                for channel in [c for c in held_back if not c.full()]:
                    self._resume_fetching(held_back.pop(channel))
                if held_back and not self._get_active_partitions():
                    # Every partition waits for a full channel: until one has room (not faust's
                    # second of sleep when nothing is active).
                    await self.wait_first(*(c.wait_room() for c in held_back), self.suspend_flow.wait())
                    continue
                # While some partitions are paused, fetch the others in short rounds, so a paused
                # one resumes soon after its channel has room.
                records, active = await self._wait_next_records(0.05 if held_back else 1.0)
                await self.sleep(0)
                if records is None or self.should_stop:
                    continue
                if not self.flow_active:
                    for tp, fetched in records.items():
                        if fetched:
                            self.note_dropped(tp, fetched[0].offset)
                    try:  # as faust's getmany: fetched while a rebalance started
                        await self.perform_seek()
                    except Exception as exc:
                        self.log.warning("exception performing seek when flow not active %r", exc)
                    continue
                generation = self.app.consumer_generation_id
                restored = False
                rewind: dict[TP, int] = {}
                fetches = list(records.items())
                for at, (tp, fetched) in enumerate(fetches):
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        for tp, fetched in fetches[at:]:  # the rebalance's seek brings them back (point 5)
                            if fetched:
                                self.note_dropped(tp, fetched[0].offset)
                        break
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        # paused since the fetch began (a rebalance's recovery): not handed on, so
                        # its position goes back to them (point 5)
                        if fetched and tp in self.assignment():
                            rewind[TP(tp.topic, tp.partition)] = fetched[0].offset
                        continue
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    previous = read_offset[tp]
                    if previous is not None and fetched and fetched[0].offset < previous:
                        fetched = [r for r in fetched if r.offset >= previous]
                    if not fetched:
                        continue
                    table = self._restoring(tp)
                    if table is not None:
                        self._restore(tp, table, fetched)
                        read_offset[tp] = fetched[-1].offset
                        restored = True
                        continue
                    channel = batch_channels.get(tp.topic)
                    # Gaps: compacted away or transaction markers. Offsets only grow within a
                    # fetch, so if the first follows `previous` and the span is the count there are none.
                    if acks_enabled_for(tp.topic) and not (
                            (not previous or fetched[0].offset - previous <= 1)
                            and fetched[-1].offset - fetched[0].offset == len(fetched) - 1):
                        for record in fetched:
                            if previous and record.offset - previous > 1:
                                await self._add_gap(tp, previous + 1, record.offset)
                            previous = record.offset
                    if channel is not None:
                        channel.put(generation, tp, fetched)
                        filled.setdefault(channel, set()).add(tp)
                        read_offset[tp] = fetched[-1].offset
                        continue
                    for record in fetched:
                        await self.wait_first(callback(to_message(tp, record)), self.suspend_flow.wait())
                        read_offset[tp] = record.offset
                if rewind:
                    self.log.info("Fetched records of %s not handed on (paused by a rebalance): "
                                  "reading them again", ", ".join(f"{tp.topic}[{tp.partition}]@{o}"
                                                                  for tp, o in sorted(rewind.items())))
                    await self.seek_wait(rewind)
                    for tp in rewind:
                        self._read_offset[tp] = None
                if restored:
                    self._maybe_end_recovery()
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
                self.diag.unset_flag(CONSUMER_FETCHING)
                for channel in filled:
                    channel.wake()
                for channel, tps in filled.items():
                    if not channel.full():
                        continue
                    if self.app.in_recovery:  # faust keeps every partition active then: wait here
                        await self.wait_first(channel.wait_room(), self.suspend_flow.wait())
                        continue
                    # Pause only this channel's partitions, as Kafka Streams pauses a partition
                    # whose buffer is full: waiting here for its room held back every other
                    # processor too (a storage sink waiting on its database starved the
                    # contact-summary processor of events).
                    held_back.setdefault(channel, set()).update(tps)
                    for tp in tps:
                        self.on_buffer_full(tp)
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

    def _resume_fetching(self, tps: set[TP]) -> None:
        """Fetch again from partitions paused for a full channel (`on_buffer_full`), those still
        assigned: after a rebalance a paused partition may belong to another worker."""
        assigned = self.assignment()
        active = self._get_active_partitions()
        for tp in tps:
            self._buffered_partitions.discard(tp)
            tp = TP(tp.topic, tp.partition)  # faust's own type: its active set asserts it (a fetch gives aiokafka's)
            if tp in assigned and tp not in self._paused_partitions:
                active.add(tp)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_channels: dict[str, BatchChannel] = {}  # topic name -> its channel

    def batch_channel(self, *topics: str, capacity: int, partitions: int | None = None) -> BatchChannel:
        """A subscription to `topics` (raw bytes) read in batches; see streams/engine/channel.py."""
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
