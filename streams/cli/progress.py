"""The main job's live view: what the simulation published, and what the workers say on their
/metrics and /wallboard/data."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field

from rich.table import Table


@dataclass
class Progress:
    start_ms: int
    end_ms: int
    simulated_ms: int = 0
    published: int = 0
    contacts: int = 0
    finished: set[str] = field(default_factory=set)  # contacts whose last event was published
    done: bool = False
    error: str | None = None


def _get(url: str, token: bytes = b"") -> bytes | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token.decode()}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            return r.read()
    except OSError:
        return None


@dataclass
class Observed:
    processed: int = 0
    lag: int = 0
    day: dict[str, tuple[int, float | None, float | None]] = field(default_factory=dict)  # channel -> (answered, ASA s, SL)


def observe(ports: list[int], token: bytes = b"", metrics_token: bytes = b"") -> Observed:
    from prometheus_client.parser import text_string_to_metric_families

    seen = Observed()
    for port in ports:
        text = _get(f"http://127.0.0.1:{port}/metrics", metrics_token or token)
        if not text:
            continue
        for family in text_string_to_metric_families(text.decode()):
            for s in family.samples:
                if s.name == "firstline_processor_records_in_total" and s.labels.get("processor") == "contact-summary":
                    seen.processed += int(s.value)
                elif s.name == "firstline_consumer_lag_records":
                    seen.lag += int(s.value)
    board = _get(f"http://127.0.0.1:{ports[0]}/wallboard/data", token) if ports else None
    if board:
        per: dict[str, list[float]] = {}
        for tile in json.loads(board)["tiles"]:
            day = tile["day"]
            answered = day.get("answered") or 0
            acc = per.setdefault(tile["channel"], [0, 0.0, 0.0, 0.0])
            acc[0] += answered
            acc[1] += (day.get("asa_ms") or 0) * answered
            if day.get("service_level") is not None:
                acc[2] += day["service_level"] * answered
                acc[3] += answered
        seen.day = {c: (int(a[0]), a[1] / a[0] / 1000 if a[0] else None, a[2] / a[3] if a[3] else None)
                    for c, a in per.items()}
    return seen


def progress_table(p: Progress, seen: Observed, elapsed: float) -> Table:
    table = Table(title="firstline run", show_header=False, box=None)
    table.add_column(style="dim")
    table.add_column()
    sim = time.strftime("%Y-%m-%d %H:%M", time.gmtime(p.simulated_ms / 1000)) if p.simulated_ms else "-"
    span = max(p.end_ms - p.start_ms, 1)
    table.add_row("simulated time (UTC)", f"{sim}  ({min(1.0, (p.simulated_ms - p.start_ms) / span):.0%} of the run)")
    table.add_row("events published", f"{p.published:,}  ({p.published / max(elapsed, 1e-9):,.0f}/s)")
    table.add_row("contact events processed", f"{seen.processed:,}")
    table.add_row("consumer lag", f"{seen.lag:,} records")
    table.add_row("contacts", f"{p.contacts:,} created, {len(p.finished):,} finished")
    for channel, (answered, asa, sl) in sorted(seen.day.items(), key=lambda kv: -kv[1][0]):
        table.add_row(f"  {channel} today", f"{answered:,} answered, ASA "
                      f"{'-' if asa is None else f'{asa:.0f} s'}, SL {'-' if sl is None else f'{sl:.0%}'}")
    return table


def progress_line(p: Progress, seen: Observed) -> str:
    """One line of progress for a terminal that is not one (a log, CI): the same figures as the
    table, the channels' ASA and SL so far weighted by their answered contacts."""
    sim = time.strftime("%H:%M", time.gmtime(p.simulated_ms / 1000)) if p.simulated_ms else "-"
    answered = sum(a for a, _, _ in seen.day.values())
    with_asa = [(a, asa) for a, asa, _ in seen.day.values() if asa is not None and a]
    with_sl = [(a, sl) for a, _, sl in seen.day.values() if sl is not None and a]
    asa = sum(a * x for a, x in with_asa) / sum(a for a, _ in with_asa) if with_asa else None
    sl = sum(a * x for a, x in with_sl) / sum(a for a, _ in with_sl) if with_sl else None
    return (f"  simulated {sim}  published {p.published:,}  processed {seen.processed:,}  lag {seen.lag:,}"
            f"  finished contacts {len(p.finished):,}  answered {answered:,}"
            f"  ASA {'-' if asa is None else f'{asa:.0f} s'}  SL {'-' if sl is None else f'{sl:.0%}'}")
