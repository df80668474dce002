"""The faust app and Kafka consumer firstline runs on: faust's, with two rules added.

1. Only the code that processed a record may acknowledge it. While faust recovers tables, seeks
   or rebalances, a stream skips records of an older consumer generation (or fetched while flow
   control was off) and acknowledges them so that the lag does not grow; once committed, they are
   never delivered again, and an end-to-end test that started a worker while contacts were being
   published lost events. Here a skipped record stays unacknowledged, so the commit stops before
   it. faust's own check lets exactly one missing record at the head through (it compares the
   first acknowledged offset with the committed one off by one); `_new_offset` closes that.

2. A commit stalled behind a skipped record is healed without a restart: a watchdog notices a
   partition whose committed offset (the next record to process) is unacknowledged while later
   records are acknowledged (records of a partition are processed and acknowledged in order, so
   the earlier one was skipped, not slow), and after `STALL_S` seeks the partition back to it.
   The records after it come again; processors are idempotent, so that costs only time.
"""

from __future__ import annotations

import time
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from mode import Service

STALL_S = 10.0


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._processed: set[tuple[TP, int]] = set()
        self._stalled: dict[TP, tuple[int, float]] = {}  # tp -> (committed offset, since)
        self.rereads = 0  # seeks back by the watchdog, for tests and monitoring

    def mark_processed(self, message: Message) -> None:
        self._processed.add((message.tp, message.offset))

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


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


class App(faust.App):
    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)
