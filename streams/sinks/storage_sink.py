"""Output topics -> storage: contact-summaries and queue-statistics, upserted by id and version.

A batch is acknowledged only after this loop body returns (streams/batch_channel.py), and faust
commits acknowledged offsets only, so an offset is committed after its row is durable. A crash in
between replays the batch, and the versioned upsert makes the replay a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from streams.app import Pipeline
from streams.sinks.storage import Store, open_store
from streams.sinks.storage.tables import CONTACT_SUMMARIES, QUEUE_STATISTICS, Table
from streams.topics import spec

log = logging.getLogger(__name__)

ROUTES = (("contact-summaries", CONTACT_SUMMARIES), ("queue-statistics", QUEUE_STATISTICS))


def register(pipeline: Pipeline) -> None:
    url = pipeline.settings.database_url
    # SQLite: one store (one connection) for every route, see storage/sqlite.py. PostgreSQL takes
    # concurrent writers well: a connection per route.
    shared = open_store(url) if url.startswith("sqlite:") else None
    for topic, table in ROUTES:
        _register_route(pipeline, topic, table, shared or open_store(url))


def _register_route(pipeline: Pipeline, topic: str, table: Table, store: Store) -> None:
    app, codec = pipeline.app, pipeline.codec
    source = pipeline.source(topic)
    schema = spec(topic).value_schema
    name = f"{topic}-sink"
    # Records are decoded straight into rows (tuples in the table's column order).
    columns = tuple(table.column_names)
    key_at = columns.index(table.key)
    version_at = columns.index(table.version) if table.version is not None else None

    @app.task
    async def store_rows() -> None:
        await retrying(store.open, f"opening storage for {name}")
        try:
            async for messages in pipeline.batches(source):
                out = pipeline.outbox()
                newest: dict[str, tuple[Any, ...]] = {}
                for message in messages:
                    try:
                        row = codec.decode_row(message.value, schema, columns)
                    except Exception as exc:
                        out.reject(message, exc, name)
                        continue
                    held = newest.get(row[key_at])
                    if held is None or version_at is None or row[version_at] >= held[version_at]:
                        newest[row[key_at]] = row
                rows = list(newest.values())
                await retrying(lambda: store.upsert(table, rows), f"writing {len(rows)} rows to {table.name}")
                await out.delivered()
        finally:
            await store.close()


async def retrying(action: Callable[[], Awaitable[None]], what: str) -> None:
    """Retry until it succeeds: a database outage (or SQLite's lock, held by the other sink while
    it creates tables) pauses the stream, nothing is acked and nothing committed, instead of
    losing the batch or crashing the worker."""
    delay = 0.2
    while True:
        try:
            await action()
            return
        except Exception as exc:  # the driver's errors differ per back end
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
