"""Versioned migrations of the storage schema, for SQLite and PostgreSQL alike.

`firstline_migrations` records each version applied (version, what, when). A store applies the
versions it has not recorded, in order, each in its own transaction, under a lock (PostgreSQL: an
advisory lock; SQLite: its one writer), so workers starting together apply each once. A release
that changes a table appends a migration here and never edits an applied one.

Version 1 brings a database of any earlier release to this one: the tables as `tables.py` has
them, and the columns an older release's tables lack (earlier releases created tables and added
columns on start, without a record).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streams.sinks.storage.tables import ALL_TABLES

TABLE = "firstline_migrations"
CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (version INTEGER NOT NULL PRIMARY KEY, "
          "description TEXT NOT NULL, applied_at BIGINT NOT NULL)")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    # statements, given the columns each table has now (table -> column names)
    statements: Callable[[dict[str, set[str]]], list[str]]


def _baseline(present: dict[str, set[str]]) -> list[str]:
    out = []
    for table in ALL_TABLES:
        have = present.get(table.name)
        if have is None:
            out.append(table.create_sql())
        else:
            out += [table.add_column_sql(name) for name in table.column_names if name not in have]
    return out


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "contact summaries, queue statistics, complaint and subscription outcomes", _baseline),
)


def pending(applied: set[int]) -> list[Migration]:
    return [m for m in MIGRATIONS if m.version not in applied]
