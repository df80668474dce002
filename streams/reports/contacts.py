"""Per-channel figures over the stored contact summaries (definitions as in the README)."""

from __future__ import annotations

from dataclasses import dataclass

from streams.sinks.storage import Store

CHANNEL_FIGURES_SQL = """
SELECT channel,
       COUNT(*) AS contacts,
       SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
       SUM(CASE WHEN status = 'ABANDONED' THEN 1 ELSE 0 END) AS abandoned,
       AVG(CASE WHEN answered_at IS NOT NULL THEN wait_ms END) AS asa_ms,
       AVG(handle_time_ms) AS aht_ms,
       AVG(CASE WHEN status = 'ENDED' THEN duration_ms END) AS avg_duration_ms
FROM contact_summaries
GROUP BY channel
ORDER BY contacts DESC
"""


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    contacts: int
    answered: int
    abandoned: int
    asa_ms: float | None
    aht_ms: float | None
    avg_duration_ms: float | None


async def channel_figures(store: Store) -> list[ChannelFigures]:
    rows = await store.query(CHANNEL_FIGURES_SQL)
    return [ChannelFigures(r[0], int(r[1]), int(r[2] or 0), int(r[3] or 0),
                           None if r[4] is None else float(r[4]), None if r[5] is None else float(r[5]),
                           None if r[6] is None else float(r[6])) for r in rows]


async def finished_contacts(store: Store, id_prefix: str = "") -> int:
    rows = await store.query("SELECT COUNT(*) FROM contact_summaries WHERE status IN ('ENDED', 'ABANDONED')"
                             " AND contact_id LIKE %s", (id_prefix + "%",))
    return int(rows[0][0])


def _secs(ms: float | None) -> str:
    if ms is None:
        return "-"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{int(minutes)}:{seconds:04.1f}"


def format_table(figures: list[ChannelFigures]) -> str:
    lines = [f"{'channel':<10} {'contacts':>8} {'answered':>8} {'abandoned':>9} {'ASA':>8} {'AHT':>8} {'duration':>8}"]
    for f in figures:
        lines.append(f"{f.channel:<10} {f.contacts:>8} {f.answered:>8} {f.abandoned:>9} "
                     f"{_secs(f.asa_ms):>8} {_secs(f.aht_ms):>8} {_secs(f.avg_duration_ms):>8}")
    return "\n".join(lines)
