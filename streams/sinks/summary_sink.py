"""contact-summaries -> storage: upsert each batch in one transaction, then let faust commit.

take_events acks a batch only after this loop body returns, and faust commits acked offsets only,
so an offset is committed after its row is durable. A crash in between replays the batch, and the
versioned upsert makes the replay a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streams.app import Pipeline
from streams.sinks.storage import Store, open_store
from streams.sinks.storage.tables import CONTACT_SUMMARIES, Table
from streams.topics import spec

SINK = "summary-sink"
log = logging.getLogger(__name__)


def register(pipeline: Pipeline) -> None:
    app, settings, codec = pipeline.app, pipeline.settings, pipeline.codec
    source = pipeline.raw_topic("contact-summaries")
    schema = spec("contact-summaries").value_schema
    store = open_store(settings.database_url)

    @app.agent(source, name=SINK)
    async def store_summaries(stream):  # type: ignore[no-untyped-def]
        await store.open()
        try:
            async for events in stream.take_events(settings.batch_max, within=settings.batch_within_s):
                newest: dict[str, dict[str, Any]] = {}
                for event in events:
                    try:
                        row = codec.decode(event.message.value, schema)
                    except Exception as exc:
                        await pipeline.reject(event, exc, SINK)
                        continue
                    held = newest.get(row["contact_id"])
                    if held is None or row["version"] >= held["version"]:
                        newest[row["contact_id"]] = row
                await write_with_retry(store, CONTACT_SUMMARIES, list(newest.values()))
        finally:
            await store.close()


async def write_with_retry(store: Store, table: Table, rows: list[dict[str, Any]]) -> None:
    """Retry until the write lands: a database outage pauses the stream (nothing is acked, nothing
    is committed) instead of losing the batch or crashing the worker."""
    delay = 0.2
    while True:
        try:
            await store.upsert(table, rows)
            return
        except Exception as exc:  # the driver's errors differ per back end
            log.warning("storage write of %d rows to %s failed (%s); retrying in %.1fs",
                        len(rows), table.name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
