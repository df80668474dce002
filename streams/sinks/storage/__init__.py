"""Storage back ends for the sinks: SQLite (embedded default) and PostgreSQL.

Both upsert by a deterministic id and keep the newest version, so a batch written twice (a sink
restarted before its offsets were committed) leaves the same rows.
"""

from __future__ import annotations

from streams.sinks.storage.base import Store


def open_store(url: str) -> Store:
    """A store for `sqlite:///path` or `postgresql://...` (the schema is created if missing)."""
    if url.startswith("sqlite:"):
        from streams.sinks.storage.sqlite import SqliteStore

        return SqliteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        from streams.sinks.storage.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported FIRSTLINE_DATABASE_URL {url!r}: use sqlite:///PATH or postgresql://...")


__all__ = ["Store", "open_store"]
