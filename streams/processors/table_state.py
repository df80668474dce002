"""Writing faust table keys from batch processing.

`table[key] = value` sends the changelog record to the partition of faust's "current event", which
in a batch is whatever event the stream yielded last, not necessarily the one whose key is being
written. These write the store and the changelog with the partition named explicitly.
"""

from __future__ import annotations

from typing import Any

import faust


def put(table: faust.Table, key: Any, value: Any, partition: int) -> None:
    table.send_changelog(partition, key, value)
    table.data[key] = value  # the memory store is a dict; the changelog above is its durability


def delete(table: faust.Table, key: Any, partition: int) -> None:
    """Remove a key, with a tombstone in its changelog partition."""
    table.send_changelog(partition, key, None, value_serializer="raw")
    table.data.pop(key, None)


class TableStore:
    """A faust table seen through the small store interface that pure logic uses (queue_windows)."""

    def __init__(self, table: faust.Table) -> None:
        self.table = table

    def get(self, key: str) -> Any:
        return self.table.data.get(key)

    def put(self, key: str, value: Any, partition: int) -> None:
        put(self.table, key, value, partition)

    def delete(self, key: str, partition: int) -> None:
        delete(self.table, key, partition)

    def items(self) -> Any:
        return self.table.data.items()
