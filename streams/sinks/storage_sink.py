"""Output topics -> storage: contact summaries and queue statistics (upserted by id and version),
complaint and subscription outcomes (decided once: upserted by id).

A batch is acknowledged only after it is written (sinks/base.py), and offsets are committed for
acknowledged records only: an offset is committed after its row is durable. A crash in between
replays the batch, and the versioned upsert makes the replay a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from streams.engine.processor import Context
from streams.sinks.base import BatchingSink
from streams.sinks.storage import Store, open_store
from streams.sinks.storage.tables import (COMPLAINT_OUTCOMES, CONTACT_SUMMARIES, QUEUE_STATISTICS,
                                          SUBSCRIPTION_OUTCOMES, Table)
from streams.topics import spec


class StorageSink(BatchingSink):
    table: ClassVar[Table]

    def __init__(self, ctx: Context, store: Store) -> None:
        super().__init__(ctx)
        self.store = store
        self.schema = spec(self.inputs[0]).value_schema
        # Records are decoded straight into rows (tuples in the table's column order).
        self.columns = tuple(self.table.column_names)
        self.key_at = self.columns.index(self.table.key)
        self.version_at = self.columns.index(self.table.version) if self.table.version is not None else None

    def decode(self, message: Any) -> tuple[Any, Any, Any]:
        row = self.ctx.codec.decode_row(message.value, self.schema, self.columns)
        return row[self.key_at], (row[self.version_at] if self.version_at is not None else None), row

    async def open(self) -> None:
        await self.store.open()

    async def reconnect(self) -> None:
        await self.store.reconnect()

    async def write(self, rows: Sequence[Any]) -> None:
        await self.store.upsert(self.table, list(rows))

    def is_transient(self, exc: BaseException) -> bool:
        return self.store.is_transient(exc)


class ContactSummarySink(StorageSink):
    name = "contact-summaries-sink"
    inputs = ("contact-summaries",)
    table = CONTACT_SUMMARIES


class QueueStatisticsSink(StorageSink):
    name = "queue-statistics-sink"
    inputs = ("queue-statistics",)
    table = QUEUE_STATISTICS


class ComplaintOutcomeSink(StorageSink):
    name = "complaint-outcomes-sink"
    inputs = ("complaint-outcomes",)
    table = COMPLAINT_OUTCOMES


class SubscriptionOutcomeSink(StorageSink):
    name = "subscription-outcomes-sink"
    inputs = ("subscription-outcomes",)
    table = SUBSCRIPTION_OUTCOMES

    def decode(self, message: Any) -> tuple[Any, Any, Any]:
        row = self.ctx.codec.decode_row(message.value, self.schema, self.columns[1:])
        provider, request_id = row[4], row[0]
        key = f"{len(provider)}:{provider}:{request_id}"
        return key, None, (key, *row)


SINKS = (ContactSummarySink, QueueStatisticsSink, ComplaintOutcomeSink, SubscriptionOutcomeSink)


def stores_for(url: str) -> list[Store]:
    """One store per sink; SQLite's sinks share one (one writer at a time, see storage/sqlite.py)."""
    if url.startswith("sqlite:"):
        shared = open_store(url)
        return [shared] * len(SINKS)
    return [open_store(url) for _ in SINKS]


__all__ = ["SINKS", "ComplaintOutcomeSink", "ContactSummarySink", "QueueStatisticsSink", "StorageSink",
           "SubscriptionOutcomeSink", "stores_for"]
