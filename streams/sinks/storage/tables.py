"""The relational tables the sinks write, shared by every back end.

Columns mirror the Avro records in schemas/; times are UTC epoch milliseconds (BIGINT).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    key: str  # upsert key
    version: str | None  # column that decides which row is newer; None: last write wins
    columns: tuple[tuple[str, str], ...]  # (name, portable SQL type)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def create_sql(self) -> str:
        cols = ",\n  ".join(f"{name} {sqltype}" for name, sqltype in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {cols},\n  PRIMARY KEY ({self.key})\n)"

    def upsert_sql(self, placeholder: str) -> str:
        names = self.column_names
        values = ", ".join([placeholder] * len(names))
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != self.key)
        guard = f" WHERE {self.name}.{self.version} <= excluded.{self.version}" if self.version else ""
        return (f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({values}) "
                f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}{guard}")


CONTACT_SUMMARIES = Table(
    name="contact_summaries",
    key="contact_id",
    version="version",
    columns=(
        ("contact_id", "TEXT NOT NULL"),
        ("version", "INTEGER NOT NULL"),
        ("status", "TEXT NOT NULL"),
        ("channel", "TEXT NOT NULL"),
        ("first_queue", "TEXT"),
        ("last_queue", "TEXT"),
        ("agent_id", "TEXT"),
        ("subscriber_id", "TEXT"),
        ("region", "TEXT"),
        ("reason", "TEXT"),
        ("created_at", "BIGINT NOT NULL"),
        ("queued_at", "BIGINT"),
        ("answered_at", "BIGINT"),
        ("ended_at", "BIGINT"),
        ("abandoned_at", "BIGINT"),
        ("wait_ms", "BIGINT"),
        ("handle_time_ms", "BIGINT"),
        ("duration_ms", "BIGINT"),
        ("transfers", "INTEGER NOT NULL"),
        ("line", "INTEGER NOT NULL"),
        ("disposition", "TEXT"),
        ("updated_at", "BIGINT NOT NULL"),
    ),
)

ALL_TABLES = (CONTACT_SUMMARIES,)
