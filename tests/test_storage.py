"""The storage back ends' versioned upsert, on real SQLite and PostgreSQL (no broker)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.analytics.queue_window import WindowAgg
from streams.sinks.storage import open_store
from streams.sinks.storage.tables import QUEUE_STATISTICS


def records(count: int, version: int) -> list[tuple[Any, ...]]:
    agg = WindowAgg(version=version)
    agg.apply({"kind": "ANSWERED", "wait_ms": 1_000 * version}, 20_000)
    return [tuple(record[name] for name in QUEUE_STATISTICS.column_names)
            for i in range(count)
            if (record := agg.record(f"queue-{i % 7}", "VOICE", f"region-{i}", "MINUTE", 60_000 * i,
                                     60_000 * (i + 1), 20_000))]


def upsert_and_read(url: str) -> list[tuple[Any, ...]]:
    async def go() -> list[tuple[Any, ...]]:
        store = open_store(url)
        await store.open()
        try:
            # 345 rows: every statement size the SQLite store uses (256, 64, 16, 4, 1) at once
            await store.upsert(QUEUE_STATISTICS, records(345, version=2))
            await store.upsert(QUEUE_STATISTICS, records(300, version=1))  # older: changes nothing
            await store.upsert(QUEUE_STATISTICS, records(10, version=3))  # newer: replaces
            return await store.query('SELECT version, COUNT(*), MIN(wait_p50_ms), MAX(wait_p50_ms) '
                                     'FROM queue_statistics GROUP BY version ORDER BY version')
        finally:
            await store.close()
    return asyncio.run(go())


def check(rows: list[tuple[Any, ...]]) -> None:
    # version counts the applied facts: 2 -> 3, 3 -> 4
    assert [(v, n) for v, n, _, _ in rows] == [(3, 335), (4, 10)]
    assert rows[0][2] == rows[0][3] == pytest.approx(2_000, rel=0.01)
    assert rows[1][2] == pytest.approx(3_000, rel=0.01)


def test_sqlite_upsert_keeps_the_newest_version(tmp_path: Path) -> None:
    check(upsert_and_read(f"sqlite:///{tmp_path / 'store.db'}"))


@pytest.mark.postgres
def test_postgres_upsert_keeps_the_newest_version(postgres_url: str) -> None:
    check(upsert_and_read(postgres_url))


OLD_SUMMARIES = ("CREATE TABLE contact_summaries (contact_id TEXT NOT NULL, version INTEGER NOT NULL, "
                 "status TEXT NOT NULL, channel TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (contact_id))")


def migrate_an_older_database(url: str, make_old: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """A database of a release before migrations (a table short of columns, no record): opened
    twice, by two stores at once the first time."""
    make_old(OLD_SUMMARIES, "INSERT INTO contact_summaries VALUES ('old-1', 3, 'ENDED', 'VOICE', 1000)")

    async def go() -> tuple[list[Any], list[Any], list[Any]]:
        stores = [open_store(url), open_store(url)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            first = await stores[0].query("SELECT version, description FROM firstline_migrations")
            kept = await stores[0].query("SELECT contact_id, version, csat_score, line FROM contact_summaries")
        finally:
            for s in stores:
                await s.close()
        again = open_store(url)
        await again.open()
        try:
            second = await again.query("SELECT version FROM firstline_migrations")
        finally:
            await again.close()
        return first, kept, second

    return asyncio.run(go())


def check_migrated(first: list[Any], kept: list[Any], second: list[Any]) -> None:
    assert [v for v, _ in first] == [1] and "contact summaries" in first[0][1]
    assert kept == [("old-1", 3, None, None)]  # the old row kept; the missing columns added, empty
    assert [tuple(r) for r in second] == [(1,)]  # applied once


def test_sqlite_migrates_an_older_database(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"

    def make_old(*statements: str) -> None:
        with sqlite3.connect(path) as conn:
            for statement in statements:
                conn.execute(statement)

    check_migrated(*migrate_an_older_database(f"sqlite:///{path}", make_old))


@pytest.mark.postgres
def test_postgres_migrates_an_older_database(postgres_url: str) -> None:
    import psycopg

    def make_old(*statements: str) -> None:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    check_migrated(*migrate_an_older_database(postgres_url, make_old))
