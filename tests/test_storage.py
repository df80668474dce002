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
