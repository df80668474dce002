"""PostgreSQL storage through psycopg 3's async connection (pipelined executemany)."""

from __future__ import annotations

from typing import Any

import psycopg

from streams.sinks.storage.tables import ALL_TABLES, Table


class PostgresStore:
    def __init__(self, url: str) -> None:
        self.url = url.replace("postgres://", "postgresql://", 1)
        self._conn: psycopg.AsyncConnection | None = None

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        async with self._conn.transaction():
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
