"""`firstline report`: FCR, CSAT, channel mix and per-channel figures from storage."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import Any

import orjson

from streams.reports import outcomes
from streams.reports.contacts import channel_figures, format_table
from streams.settings import Settings
from streams.sinks.storage import open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["fcr", "csat", "mix", "channels"])
    parser.add_argument("--by", default="day",
                        help="fcr/csat grouping, comma-separated from day, week, month, queue, channel (default day)")
    parser.add_argument("--period", default="day", choices=["day", "week", "month"], help="mix: period length")
    parser.add_argument("--window-days", type=float, default=7.0, help="fcr: repeat window (default 7)")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")


def report(settings: Settings, args: argparse.Namespace) -> int:
    rows = asyncio.run(_rows(settings, args))
    if args.json:
        for row in rows:
            print(orjson.dumps(row).decode())
    elif args.what == "channels":
        print(rows[0]["table"] if rows else "")
    else:
        _print_table(rows)
    return 0


async def _rows(settings: Settings, args: argparse.Namespace) -> list[dict[str, Any]]:
    store = open_store(settings.database_url)
    await store.open()
    try:
        if args.what == "channels":
            figures = await channel_figures(store)
            return [dataclasses.asdict(f) for f in figures] if args.json else [{"table": format_table(figures)}]
        contacts = await outcomes.load_contacts(store)
    finally:
        await store.close()
    by = tuple(b.strip() for b in args.by.split(",") if b.strip())
    if args.what == "fcr":
        found = outcomes.fcr_outcomes(contacts, int(args.window_days * outcomes.DAY_MS))
        return [{**dict(zip(by, r.group)), "first_contacts": r.first_contacts, "resolved": r.resolved,
                 "fcr": r.rate, "provisional": r.provisional} for r in outcomes.fcr_rates(found, by)]
    if args.what == "csat":
        return [{**dict(zip(by, r.group)), "responses": r.responses, "top_box": r.top_box,
                 "top_two_box": r.top_two_box, "mean": r.mean} for r in outcomes.csat(contacts, by)]
    return [{"period": m.period, "contacts": m.contacts, **m.by_channel, "online": m.online,
             "online_share": m.online_share, "growth": m.growth, "online_growth": m.online_growth}
            for m in outcomes.channel_mix(contacts, args.period)]


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(nothing to report: no matching contacts in storage)")
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value)

    widths = {c: max(len(c), *(len(cell(r.get(c, 0 if c.isupper() else None))) for r in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(cell(row.get(c, 0 if c.isupper() else None)).rjust(widths[c]) for c in columns))
