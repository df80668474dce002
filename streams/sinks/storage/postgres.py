"""PostgreSQL storage through psycopg 3's async connection.

A batch is one transaction: up to COPY_FROM rows as one multi-row upsert; more are COPYed into a
temporary table and upserted from it in one INSERT ... SELECT ... ON CONFLICT, the bulk path of
PostgreSQL (the rows of a batch have distinct keys: the sink keeps the newest per key). Either
way the version guard keeps the newest row when a replay brings an older one.
"""

from __future__ import annotations

from typing import Any

import psycopg

import functools
import time

from streams.sinks.storage.migrations import CREATE as MIGRATIONS_TABLE_SQL, TABLE as MIGRATIONS_TABLE, pending
from streams.sinks.storage.tables import Table

COPY_FROM = 64  # rows in a batch from which COPY is used (below it, one multi-row statement)


@functools.lru_cache(maxsize=64)
def _statements(table: Table, rows: int) -> str:
    return table.upsert_sql("%s", rows)


@functools.lru_cache(maxsize=16)
def _copy_sql(table: Table) -> tuple[str, str, str]:
    staging = f"firstline_staging_{table.name}"
    cols = ", ".join(f'"{n}"' for n in table.column_names)
    create = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "
              f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    copy = f"COPY {staging} ({cols}) FROM STDIN"
    return create, copy, table.upsert_from_sql(staging)


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
            # Every sink of every worker migrates when it starts: they take turns (a lock
            # released with the transaction), and each finds what the others recorded.
            await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.firstline'))")
            await self._conn.execute(MIGRATIONS_TABLE_SQL)  # type: ignore[arg-type]
            cur = await self._conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")  # type: ignore[arg-type]
            applied = {row[0] for row in await cur.fetchall()}
            for migration in pending(applied):
                cur = await self._conn.execute(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema()")
                present: dict[str, set[str]] = {}
                for table_name, column in await cur.fetchall():
                    present.setdefault(table_name, set()).add(column)
                for statement in migration.statements(present):
                    await self._conn.execute(statement)  # type: ignore[arg-type]
                await self._conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s, %s)",  # type: ignore[arg-type]
                                         (migration.version, migration.description, int(time.time() * 1000)))

    async def upsert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        assert self._conn is not None
        async with self._conn.transaction(), self._conn.cursor() as cur:
            if len(rows) < COPY_FROM:
                await cur.execute(_statements(table, len(rows)), [v for row in rows for v in row])  # type: ignore[arg-type]
                return
            create, copy_sql, upsert = _copy_sql(table)
            await cur.execute(create)  # type: ignore[arg-type]
            async with cur.copy(copy_sql) as copy:  # type: ignore[arg-type]
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(upsert)  # type: ignore[arg-type]

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(sql, params)  # type: ignore[arg-type]
            return await cur.fetchall()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
