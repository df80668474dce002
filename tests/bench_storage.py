"""The storage path of `make bench` (tests/bench.py --only storage): contact-summary rows into
PostgreSQL (FIRSTLINE_BENCH_POSTGRES_URL, else FIRSTLINE_TEST_POSTGRES_URL), in batches of the
sink's size (FIRSTLINE_BATCH_MAX), each batch one transaction as the sink writes it.

  store     the PostgreSQL store's upsert (COPY into a staging table, one INSERT ... SELECT ...
            ON CONFLICT), first into an empty table, then the same rows again (a replay: the
            version guard keeps them); rows/s and the client's CPU per row
  yardstick the same rows by psycopg's pipelined executemany of the one-row upsert (the store's
            way before), alternated with the store run by run
  sink      the worker's contact-summaries sink alone (FIRSTLINE_ROLE=sinks) on a backlog of
            summaries on the topic: rows/s from the worker's ready to the last row in storage
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.settings import Settings
from streams.sinks.storage.postgres import PostgresStore
from streams.sinks.storage.tables import CONTACT_SUMMARIES
from tests.support import Worker, isolated_settings, query, wait_until


def postgres_url() -> str | None:
    return os.environ.get("FIRSTLINE_BENCH_POSTGRES_URL") or os.environ.get("FIRSTLINE_TEST_POSTGRES_URL")


def summary(n: int, version: int = 3) -> dict[str, Any]:
    at = 1_764_000_000_000 + n * 1000
    return {"contact_id": f"b{n:09d}", "version": version, "status": "ENDED", "channel": "VOICE",
            "first_queue": "voice-general", "last_queue": "voice-general", "agent_id": f"agent-{n % 500}",
            "subscriber_id": f"p:{n:020x}", "region": "chelyabinsk", "reason": "billing", "created_at": at,
            "queued_at": at + 16_000, "answered_at": at + 106_000, "ended_at": at + 256_000, "abandoned_at": None,
            "wait_ms": 90_000, "handle_time_ms": 150_000, "duration_ms": 256_000, "transfers": 0, "line": 1,
            "disposition": "RESOLVED", "updated_at": at + 256_000, "csat_score": 5 if n % 3 == 0 else None}


def rows(count: int) -> list[tuple[Any, ...]]:
    names = CONTACT_SUMMARIES.column_names
    return [tuple(summary(n)[c] for c in names) for n in range(count)]


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


async def _write(url: str, data: list[tuple[Any, ...]], batch: int, how: str) -> tuple[float, float, float]:
    """(seconds, client CPU seconds) of the first write and of the replay, into a fresh schema."""
    import psycopg

    schema = f"bench{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    store = PostgresStore(with_schema(url, schema))
    await store.open()
    try:
        timings = []
        for _ in range(2):  # the first write, then the replay
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(data), batch):
                chunk = data[i:i + batch]
                if how == "store":
                    await store.upsert(CONTACT_SUMMARIES, chunk)
                else:
                    conn = store._conn
                    assert conn is not None
                    async with conn.transaction(), conn.cursor() as cur:
                        await cur.executemany(CONTACT_SUMMARIES.upsert_sql("%s"), chunk)  # type: ignore[arg-type]
            timings.append((time.perf_counter() - wall, time.process_time() - cpu))
        count = (await store.query("SELECT COUNT(*) FROM contact_summaries"))[0][0]
        assert count == len(data), count
    finally:
        await store.close()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]
    return timings[0][0], timings[0][1], timings[1][0]


def bench_store(url: str, count: int, batch: int, runs: int = 3) -> dict[str, Any]:
    data = rows(count)
    series: dict[str, list[tuple[float, float, float]]] = {"store": [], "executemany": []}
    for _ in range(runs):  # alternated: the machine is shared and noisy
        for how in ("store", "executemany"):
            series[how].append(asyncio.run(_write(url, data, batch, how)))
    out: dict[str, Any] = {}
    for how, runs_of in series.items():
        out[f"{how}_rows_per_s"] = [count / s for s, _, _ in runs_of]
        out[f"{how}_cpu_us_per_row"] = [cpu / count * 1e6 for _, cpu, _ in runs_of]
        out[f"{how}_replay_rows_per_s"] = [count / r for _, _, r in runs_of]
    return out


def bench_sink(url: str, count: int, tmp: Path) -> dict[str, float]:
    import psycopg

    schema = f"bench{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    try:
        settings = isolated_settings(tmp / schema, database_url=with_schema(url, schema), role="sinks",
                                     partitions=6)
        create_topics(settings)
        with ChannelProducer(settings) as producer:
            for n in range(count):
                producer.send("contact-summaries", summary(n))
        from tests.bench import cpu_seconds

        with Worker(settings) as worker:
            assert worker.proc is not None
            ready, cpu_at_ready = worker.ready_ms() / 1000, cpu_seconds(worker.proc.pid)
            wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0] >= count,
                       timeout=600, interval=0.2, what="every summary in PostgreSQL", worker=worker)
            done, cpu = time.time(), cpu_seconds(worker.proc.pid) - cpu_at_ready
        return {"sink_rows_per_s": count / max(done - ready, 1e-9), "sink_cpu_us_per_row": cpu / count * 1e6}
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


def report_storage(count: int, tmp: Path) -> dict[str, Any]:
    url = postgres_url()
    if not url:
        print("storage: set FIRSTLINE_BENCH_POSTGRES_URL (or FIRSTLINE_TEST_POSTGRES_URL) to a PostgreSQL database")
        return {}
    batch = Settings.from_env().batch_max
    figures = bench_store(url, count, batch)
    for how in ("store", "executemany"):
        rates = figures[f"{how}_rows_per_s"]
        print(f"storage {how:<11} {statistics.median(rates):>9,.0f} rows/s (runs: "
              f"{', '.join(f'{r:,.0f}' for r in rates)}), client CPU "
              f"{statistics.median(figures[f'{how}_cpu_us_per_row']):.1f} µs/row, replay "
              f"{statistics.median(figures[f'{how}_replay_rows_per_s']):,.0f} rows/s  ({count:,} rows, batches of {batch})")
    figures.update(bench_sink(url, count, tmp))
    print(f"storage sink        {figures['sink_rows_per_s']:>9,.0f} rows/s, worker CPU "
          f"{figures['sink_cpu_us_per_row']:.1f} µs/row (a worker's contact-summaries sink on a backlog of "
          f"{count:,} summaries)")
    return figures
