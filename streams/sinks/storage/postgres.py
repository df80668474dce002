"""PostgreSQL storage through psycopg 3's async connection (pipelined executemany)."""

from __future__ import annotations

from typing import Any

import psycopg

from streams.sinks.storage.tables import ALL_TABLES, Table


class PostgresStore:
    def __init__(self, url: str) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1)
        self._conn: psycopg.AsyncConnection | None = None

    async def _connect(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=10)

    async def reconnect(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            except Exception:  # already broken: nothing to close cleanly
                pass
            self._conn = None
        await self._connect()

    def is_transient(self, exc: BaseException) -> bool:
        # OperationalError: the connection or the server (AdminShutdown, CannotConnectNow, a
        # dropped socket); InterfaceError: a closed connection was used. A row the server
        # refuses raises DataError, IntegrityError and the like.
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, OSError))

    async def open(self) -> None:
        await self._connect()
        assert self._conn is not None
        async with self._conn.transaction():
            # Every sink of every worker creates the tables when it starts: concurrent CREATE TABLE
            # IF NOT EXISTS of one name can still fail on PostgreSQL's catalogue, so the schema's
            # creators take turns (a lock released with the transaction).
            await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.firstline'))")
            for table in ALL_TABLES:
                await self._conn.execute(table.create_sql())  # type: ignore[arg-type]
                cur = await self._conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = %s AND table_schema = current_schema()", (table.name,))
                present = {row[0] for row in await cur.fetchall()}
                for name in table.column_names:
                    if name not in present:
                        await self._conn.execute(table.add_column_sql(name))  # type: ignore[arg-type]

    async def upsert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        assert self._conn is not None
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.executemany(table.upsert_sql("%s"), rows)  # type: ignore[arg-type]

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(sql, params)  # type: ignore[arg-type]
            return await cur.fetchall()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
