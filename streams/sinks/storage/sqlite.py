"""SQLite storage: the embedded default. One connection on one thread, so the event loop never
blocks on disk and sqlite3's thread rules hold.

The sinks of one worker share one store (open/close count their users): SQLite has one writer at
a time, and two connections writing in turn wait in SQLite's busy handler, which sleeps in steps
of up to 100 ms. With one connection per sink, the statistics sink spent half the wall clock of a
backlog there.

A batch is written as a few statements of many rows each (256, 64, 16, 4 and 1): the driver lets
go of the GIL for every statement it steps, and a thread that wants it back waits for the event
loop's thread to yield it (up to 5 ms). Row by row (`executemany`), a batch waits for the GIL
once per row, many times what SQLite itself needs.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from streams.sinks.storage.migrations import CREATE as MIGRATIONS_TABLE_SQL, TABLE as MIGRATIONS_TABLE, pending
from streams.sinks.storage.tables import Table

CHUNKS = (256, 64, 16, 4, 1)  # rows per statement; 256 x 30 columns is far below SQLite's 32,766 parameters


@functools.lru_cache(maxsize=32)
def _upsert_sql(table: Table, rows: int) -> str:
    return table.upsert_sql("?", rows)


class SqliteStore:
    def __init__(self, url: str) -> None:
        # SQLAlchemy's spelling: sqlite:///relative/path, sqlite:////absolute/path.
        if not url.startswith("sqlite:///"):
            raise ValueError(f"SQLite URL must look like sqlite:///path/to/file.db, got {url!r}")
        self.path = Path(url[len("sqlite:///"):])
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._users = 0

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            self._prepare(conn)
        except sqlite3.Error:
            conn.close()
            raise
        self._conn = conn

    @staticmethod
    def _prepare(conn: sqlite3.Connection) -> None:
        # Switching a database to WAL takes it exclusively, and SQLite answers "locked" at once,
        # without its busy timeout, while another connection (a second worker opening the same
        # file) holds it: tried again for as long as that timeout.
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # FULL: a committed batch survives a power cut, not only a killed process; offsets are
        # committed after this returns.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(MIGRATIONS_TABLE_SQL)
        conn.commit()
        applied = {row[0] for row in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}
        for migration in pending(applied):
            with conn:  # one transaction per migration, recorded with it
                conn.execute("BEGIN IMMEDIATE")  # the write lock first: another worker may migrate too
                if conn.execute(f"SELECT 1 FROM {MIGRATIONS_TABLE} WHERE version = ?",
                                (migration.version,)).fetchone():
                    continue
                present = {name: {row[1] for row in conn.execute(f"PRAGMA table_info({name})")}
                           for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                for statement in migration.statements(present):
                    conn.execute(statement)
                conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?, ?)",
                             (migration.version, migration.description, int(time.time() * 1000)))

    async def open(self) -> None:
        await self._run(self._open)
        self._users += 1

    def _upsert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        assert self._conn is not None
        with self._conn:  # one transaction per batch
            start = 0
            for size in CHUNKS:
                while len(rows) - start >= size:
                    chunk = rows[start:start + size]
                    self._conn.execute(_upsert_sql(table, size), [v for row in chunk for v in row])
                    start += size

    async def reconnect(self) -> None:
        return None  # a file: nothing to reconnect; a lock is waited out by retrying

    def is_transient(self, exc: BaseException) -> bool:
        # "database is locked", "disk I/O error", a full disk: the file's state, not the rows'.
        return isinstance(exc, sqlite3.OperationalError)

    async def upsert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await self._run(self._upsert, table, rows)

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        return self._conn.execute(sql.replace("%s", "?"), params).fetchall()

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await self._run(self._query, sql, params)

    async def close(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users:
            return
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)
