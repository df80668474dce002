"""Watermark heartbeats from the contact-summary processor to every queue-statistics partition.

Facts carry their source partition's watermark, but a partition that produces no facts (quiet, or
only surveys) would hold the statistics back forever, and only the reader of a source partition
can tell a quiet partition from a lagging one (see watermarks.py). So, about every second, for
each contact-events partition this worker owns, a WATERMARK fact goes to every queue-facts
partition with the partition's watermark and whether it is idle: fully processed and nothing new
for FIRSTLINE_WATERMARK_IDLE_S.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from streams.app import Pipeline
from streams.processors import watermarks as watermark_logic
from streams.topics import spec


@dataclass
class PartitionProgress:
    """What this worker has processed of one source partition (derived; after a restart the
    watermark starts again from the events that arrive, and never moves back downstream)."""

    watermark: int | None = None
    next_offset: int | None = None
    last_record: float = field(default_factory=time.monotonic)

    def processed(self, offset: int, event_time: int | None) -> None:
        self.next_offset = max(self.next_offset or 0, offset + 1)
        self.last_record = time.monotonic()
        if event_time is not None:
            self.watermark = max(self.watermark or 0, event_time)


def heartbeat(source_partition: int, watermark: int | None, idle: bool) -> dict[str, Any]:
    return {"fact_id": f"watermark|{source_partition}", "sign": 1, "kind": "WATERMARK", "queue": "",
            "channel": "", "region": "", "at": int(time.time() * 1000), "contact_id": None, "wait_ms": None,
            "handle_ms": None, "duration_ms": None, "agent_id": None, "agent_state": None,
            "source_partition": source_partition, "watermark": watermark, "source_idle": idle}


def register(pipeline: Pipeline, progress: dict[int, PartitionProgress]) -> None:
    """Send heartbeats for the partitions in `progress`, which the processor keeps up to date
    (after its outputs for the records are sent, so a heartbeat never overtakes their facts)."""
    app, settings = pipeline.app, pipeline.settings
    events_topic = spec("contact-events").full_name(settings)
    targets = spec("queue-facts").partition_count(settings)

    @app.timer(min(1.0, settings.watermark_idle_s / 2))
    async def send_heartbeats() -> None:
        consumer = app.consumer
        owned = {tp for tp in consumer.assignment() if tp.topic == events_topic}
        for p in [p for p in progress if p not in {tp.partition for tp in owned}]:
            del progress[p]  # moved to another worker, which sends its heartbeats now
        out = pipeline.outbox()
        for tp in sorted(owned):
            state = progress.setdefault(tp.partition, PartitionProgress())
            up_to = state.next_offset
            if up_to is None:
                try:
                    up_to = await consumer.position(tp)
                except Exception:  # not positioned yet (assignment in progress): not idle
                    up_to = None
            idle = watermark_logic.source_idle(time.monotonic(), state.last_record, up_to,
                                               consumer.highwater(tp), settings.watermark_idle_s)
            record = heartbeat(tp.partition, state.watermark, idle)
            for target in range(targets):
                await out.emit("queue-facts", "", record, partition=target)
        await out.delivered()
