"""Watermark heartbeats from the contact-summary processor to every queue-statistics partition.

Facts carry their source partition's watermark, but a partition that produces no facts (quiet, or
only surveys) would hold the statistics back forever, and only the reader of a source partition
can tell a quiet partition from a lagging one (see watermarks.py). So, about every second, for
each contact-events partition this worker owns, a WATERMARK fact goes to every queue-facts
partition with the partition's watermark and whether it is idle: fully processed and nothing new
for FIRSTLINE_WATERMARK_IDLE_S. The processor also sends one right behind each checkpoint's
facts, for the partitions it processed (see `after_batch`).

No partition is idle while another partition of the same worker has a backlog, and when the
worker gets records again every partition it had declared idle is announced active at the end of
that batch, not a second later: on a backlog the other partitions' watermarks move hours of event
time in a second, and the statistics would close windows ahead of a woken partition whose records
were not fetched yet (seen once: 410 late facts). The batch's own facts carry the watermarks from
before it, so the announcement comes ahead of any watermark that moved past them. Left open: with
several workers, one worker's backlog can still overtake another worker's idle partitions.

The heartbeat timer is one of the contact-summary processor's callbacks, which the engine never
runs at the same time as its checkpoint: a heartbeat cannot overtake facts still in flight (the
producer queues a partition's record batches one behind the other, and a heartbeat sent between
a checkpoint's facts and their acknowledgement closed their minutes early: seen as 15,761 late
facts).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.engine.outbox import Outbox
from streams.engine.processor import Context
from streams.identifiers import join_id
from streams.processors import watermarks as watermark_logic
from streams.topics import spec


@dataclass
class PartitionProgress:
    """What this worker has processed of one source partition (derived; after a restart the
    watermark starts again from the events that arrive, and never moves back downstream)."""

    watermark: int | None = None
    next_offset: int | None = None
    last_record: float = field(default_factory=time.monotonic)
    declared_idle: bool = False  # what the last heartbeat said

    def processed(self, offset: int, event_time: int | None) -> None:
        self.next_offset = max(self.next_offset or 0, offset + 1)
        self.last_record = time.monotonic()
        if event_time is not None:  # never past the wall clock (events may be a little ahead)
            self.watermark = max(self.watermark or 0, min(event_time, int(time.time() * 1000)))


def heartbeat(source_partition: int, watermark: int | None, idle: bool) -> dict[str, Any]:
    return {"fact_id": join_id("watermark", source_partition), "sign": 1, "kind": "WATERMARK", "queue": "",
            "channel": "", "region": "", "at": int(time.time() * 1000), "contact_id": None, "wait_ms": None,
            "handle_ms": None, "duration_ms": None, "agent_id": None, "agent_state": None,
            "source_partition": source_partition, "watermark": watermark, "source_idle": idle}


class Heartbeats:
    """Heartbeats for the partitions in `progress`, which the processor keeps up to date (after
    its outputs for the records are sent, so a heartbeat never overtakes their facts)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.progress: dict[int, PartitionProgress] = {}
        self.targets = spec("queue-facts").partition_count(ctx.settings)

    async def _position(self, p: int, state: PartitionProgress) -> tuple[int | None, int | None]:
        """(next offset to process, end of the partition), None where not known yet."""
        up_to = state.next_offset
        if up_to is None:
            up_to = await self.ctx.position("contact-events", p)
        return up_to, self.ctx.highwater("contact-events", p)

    def _send(self, out: Outbox, p: int, state: PartitionProgress, idle: bool) -> None:
        state.declared_idle = idle
        record = {"queue": "", "facts": [heartbeat(p, state.watermark, idle)]}
        for target in range(self.targets):
            out.emit("queue-facts", "", record, partition=target)

    async def tick(self) -> None:
        owned = self.ctx.assigned("contact-events")
        for p in [p for p in self.progress if p not in owned]:
            del self.progress[p]  # moved to another worker, which sends its heartbeats now
        positions = {p: await self._position(p, self.progress.setdefault(p, PartitionProgress()))
                     for p in owned}
        # While any partition of this worker has a backlog, none is idle: on a backlog event time
        # runs far ahead of the wall clock, and a partition whose records are on their way but
        # not fetched yet must not let the others' watermarks pass it.
        backlog = any(up_to is not None and end is not None and up_to < end for up_to, end in positions.values())
        now = time.monotonic()
        status = []
        for p, (up_to, end) in positions.items():
            state = self.progress[p]
            idle = not backlog and watermark_logic.source_idle(now, state.last_record, up_to, end,
                                                               self.ctx.settings.watermark_idle_s)
            status.append((idle, p, state))
        out = self.ctx.outbox()
        for idle, p, state in sorted(status, key=lambda s: s[0]):  # active ones first
            self._send(out, p, state, idle)
        await out.delivered()

    def after_batch(self, out: Outbox, processed: Iterable[int] = ()) -> None:
        """Call with the outbox holding a batch's facts, after `progress` took in the batch.

        The watermark of every partition the batch processed follows its facts at once (the
        outbox keeps a partition's records in order), so the statistics can close the minutes
        those facts belong to in the same step instead of at the next timer heartbeat: a counted
        fact whose minute closes before the statistics' next checkpoint never reaches their
        changelog. And the worker has records again: every partition declared idle is announced
        active, and stays so for the idle time (its own records may not have been fetched yet)."""
        processed = set(processed)
        for p, state in list(self.progress.items()):
            if state.declared_idle:
                state.last_record = time.monotonic()
                self._send(out, p, state, False)
            elif p in processed:
                self._send(out, p, state, False)
