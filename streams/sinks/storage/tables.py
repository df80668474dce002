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

    # Identifiers are quoted: "window" is a reserved word in PostgreSQL.
    def create_sql(self) -> str:
        cols = ",\n  ".join(f'"{name}" {sqltype}' for name, sqltype in self.columns)
        return f'CREATE TABLE IF NOT EXISTS {self.name} (\n  {cols},\n  PRIMARY KEY ("{self.key}")\n)'

    def add_column_sql(self, name: str) -> str:
        """For a table created by an older release: columns are only ever added, nullable."""
        sqltype = dict(self.columns)[name].replace(" NOT NULL", "")
        return f'ALTER TABLE {self.name} ADD COLUMN "{name}" {sqltype}'

    def upsert_sql(self, placeholder: str, rows: int = 1) -> str:
        """An upsert of `rows` rows (their values one after the other) in one statement."""
        values = "), (".join([", ".join([placeholder] * len(self.column_names))] * rows)
        return f"{self._insert()} VALUES ({values}) {self._on_conflict()}"

    def upsert_from_sql(self, source: str) -> str:
        """An upsert of every row of table `source` (same columns; distinct keys)."""
        return f"{self._insert()} SELECT {self._columns()} FROM {source} {self._on_conflict()}"

    def _columns(self) -> str:
        return ", ".join(f'"{n}"' for n in self.column_names)

    def _insert(self) -> str:
        return f"INSERT INTO {self.name} ({self._columns()})"

    def _on_conflict(self) -> str:
        updates = ", ".join(f'"{n}" = excluded."{n}"' for n in self.column_names if n != self.key)
        guard = f' WHERE {self.name}."{self.version}" <= excluded."{self.version}"' if self.version else ""
        return f'ON CONFLICT ("{self.key}") DO UPDATE SET {updates}{guard}'


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
        ("csat_score", "INTEGER"),
    ),
)

QUEUE_STATISTICS = Table(
    name="queue_statistics",
    key="stat_id",
    version="version",
    columns=(
        ("stat_id", "TEXT NOT NULL"),
        ("version", "BIGINT NOT NULL"),
        ("queue", "TEXT NOT NULL"),
        ("channel", "TEXT NOT NULL"),
        ("region", "TEXT NOT NULL"),
        ("window", "TEXT NOT NULL"),
        ("window_start", "BIGINT NOT NULL"),
        ("window_end", "BIGINT NOT NULL"),
        ("final", "BOOLEAN NOT NULL"),
        ("offered", "BIGINT NOT NULL"),
        ("answered", "BIGINT NOT NULL"),
        ("abandoned", "BIGINT NOT NULL"),
        ("short_abandoned", "BIGINT NOT NULL"),
        ("answered_within_threshold", "BIGINT NOT NULL"),
        ("asa_ms", "DOUBLE PRECISION"),
        ("wait_p50_ms", "DOUBLE PRECISION"),
        ("wait_p90_ms", "DOUBLE PRECISION"),
        ("wait_p95_ms", "DOUBLE PRECISION"),
        ("wait_max_ms", "BIGINT"),
        ("sl_threshold_ms", "BIGINT NOT NULL"),
        ("service_level", "DOUBLE PRECISION"),
        ("abandonment_rate", "DOUBLE PRECISION"),
        ("aht_ms", "DOUBLE PRECISION"),
        ("avg_duration_ms", "DOUBLE PRECISION"),
        ("transfers", "BIGINT NOT NULL"),
        ("escalations", "BIGINT NOT NULL"),
        ("late_events", "BIGINT NOT NULL"),
    ),
)

# Protection outcomes are decided once: a replay writes the same row again (no version).
COMPLAINT_OUTCOMES = Table(
    name="complaint_outcomes",
    key="complaint_id",
    version=None,
    columns=(
        ("complaint_id", "TEXT NOT NULL"),
        ("occurred_at", "BIGINT NOT NULL"),
        ("subscriber", "TEXT NOT NULL"),
        ("kind", "TEXT NOT NULL"),
        ("about", "TEXT"),
        ("outcome", "TEXT NOT NULL"),
        ("complainers", "INTEGER NOT NULL"),
        ("threshold", "INTEGER NOT NULL"),
        ("alert_id", "TEXT"),
    ),
)

SUBSCRIPTION_OUTCOMES = Table(
    name="subscription_outcomes",
    key="outcome_id",
    version=None,
    columns=(
        ("outcome_id", "TEXT NOT NULL"),  # provider and request id (providers' ids may collide)
        ("request_id", "TEXT NOT NULL"),
        ("occurred_at", "BIGINT NOT NULL"),
        ("decided_at", "BIGINT NOT NULL"),
        ("subscriber", "TEXT NOT NULL"),
        ("provider", "TEXT NOT NULL"),
        ("service", "TEXT NOT NULL"),
        ("price_minor", "BIGINT NOT NULL"),
        ("currency", "TEXT NOT NULL"),
        ("outcome", "TEXT NOT NULL"),
        ("reason", "TEXT NOT NULL"),
    ),
)

ALL_TABLES = (CONTACT_SUMMARIES, QUEUE_STATISTICS, COMPLAINT_OUTCOMES, SUBSCRIPTION_OUTCOMES)
