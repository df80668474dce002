"""The block lists every protection processor reads: `block-list-changes` replicated whole
(engine/replicas.py) into streams/protection/block_lists.py, each record decoded and checked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.engine.errors import InvalidRecord
from streams.engine.processor import Context
from streams.processors.contact_lifecycle import check_time
from streams.protection.addresses import canonical
from streams.protection.block_lists import BlockLists
from streams.topics import spec


class BlockListView:
    """The replicated block lists, applied from raw `block-list-changes` records."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.lists = BlockLists()
        self.schema = spec("block-list-changes").value_schema
        self.check = ctx.bounds.checker(ctx.codec.registry.reader(self.schema).definition)
        self.rejected = 0

    def apply(self, records: Sequence[Any]) -> None:
        for message in records:
            try:
                self.ctx.bounds.record_size(message.value)
                ch = self.ctx.codec.decode(message.value, self.schema)
                self.check(ch)
                if not ch["change_id"].strip() or not ch["subscriber_id"].strip() or not ch["sender"].strip():
                    raise InvalidRecord("change_id, subscriber_id and sender must not be empty")
                check_time("occurred_at", ch["occurred_at"], self.ctx.clock.max_event_time())
            except Exception as exc:
                # Each worker reads the whole topic, so each one files the bad record (same origin).
                self.rejected += 1
                self.ctx.out.reject(message, exc)
                continue
            subscriber = ch["subscriber_id"] if ch["subscriber_id"] == "*" else canonical(ch["subscriber_id"])
            self.lists.apply(subscriber, ch["sender"], ch["action"] == "BLOCK", ch["occurred_at"], ch["source"])
