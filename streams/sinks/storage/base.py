"""The interface every storage back end offers the sinks."""

from __future__ import annotations

from typing import Any, Protocol

from streams.sinks.storage.tables import Table


class Store(Protocol):
    async def open(self) -> None:
        """Connect and create missing tables."""

    async def upsert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        """Write rows (values in `table.column_names` order) in one durable transaction; keeps
        the newest version per key."""

    async def reconnect(self) -> None:
        """Drop the connection (it may be dead: the server restarted) and make a new one."""

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a failure is the connection's or the server's (retry), not the rows' (refuse)."""

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read rows (for the CLI report, the web views and tests)."""

    async def close(self) -> None: ...
