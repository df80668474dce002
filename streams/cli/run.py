"""`firstline run`: the main job on embedded defaults, live progress, and a report at the end.

Creates the topics, starts the worker(s) and waits until they are ready, prints the wallboard's
address, publishes an hour of generated SMS traffic (streams/simulator/sms.py), then runs the
simulated contact centre of the seed's profile (contacts, agents, surveys; the routing engine as
its ACD) through the producer library: a simulated day ending at the wall clock, at a speed-up
that passes it in about three minutes. The terminal shows simulated time, records published and
processed, the workers' lag and the day's ASA and SL so far (read from the workers' /metrics and
/wallboard/data). At the end of the day, after `--duration` seconds or on Ctrl-C it stops
publishing, waits until storage holds every finished contact of the run, and prints per channel
contacts, ASA, SL, abandonment, AHT, duration, FCR and CSAT from storage; what the protection did
with the SMS; and the alerts raised.

`--months N` simulates N months instead, at a reduced scale and as fast as possible, with the
online channels growing as the seed says (+35 % in half a year), and prints the monthly channel
mix (as `firstline report mix --period month` does).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.admin.topics import create_topics
from streams.cli.progress import Progress, observe, progress_line, progress_table
from streams.cli.workers import start_worker, stop_worker, wait_until_ready
from streams.producers import ChannelProducer
from streams.producers.contact_generator import GeneratorProfile, contact_events
from streams.reports import outcomes
from streams.reports.run_report import SUMMARY_SQL, ChannelReport, channel_reports
from streams.reports.sms import SmsRun, TopicReader, consumed, follow
from streams.settings import Settings
from streams.routing.config import dumps
from streams.simulator.engine import HOUR_MS, Simulation, routing_config_for
from streams.simulator.profile import Profile, seed_profile
from streams.simulator.sms import SmsDay
from streams.sinks.storage import open_store

DAY_MS = 24 * HOUR_MS
MONTH_MS = 30 * DAY_MS
ONLINE_GROWTH_HALF_YEAR = 1.35  # the seed: online contacts +35 % in half a year


def history_start(contacts: int) -> int:
    """When generated contacts must start so that their events end before now: their arrivals
    span `contacts` mean inter-arrival times, and the last one's wait and talk a few minutes more
    (two hours leaves room for the longest the generator makes)."""
    return int(time.time() * 1000 - contacts * GeneratorProfile().mean_interarrival_ms - 2 * 3_600_000)


def generate(settings: Settings, contacts: int, seed: int, rate: float | None = None,
             start_ms: int | None = None) -> int:
    """Publish generated contacts (by default ending before now: event times ahead of the wall
    clock are refused); `rate` contacts per second (None: as fast as possible). Contact ids are
    `c<start_ms>-<n>`, new for every run. Returns the events sent."""
    start_ms = start_ms or history_start(contacts)
    began = time.monotonic()
    sent = 0
    with ChannelProducer(settings) as producer:
        for number, events in enumerate(contact_events(contacts, start_ms, seed=seed, prefix=f"c{start_ms}")):
            for ev in events:
                producer.send("contact-events", ev)
                sent += 1
            if rate:
                ahead = (number + 1) / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
    return sent


def publish_sms(settings: Settings, hours: float, seed: int) -> tuple[SmsRun, dict[str, int]]:
    """A generated span of SMS traffic ending a few minutes before now, with this run's ids;
    returns the run to report on and how many of each input were sent."""
    now = int(time.time() * 1000)
    end = now - 5 * 60_000
    day = SmsDay(start=end - int(hours * 3_600_000), hours=hours, seed=seed, run_id=f"x{end}-")
    sent: dict[str, int] = {}
    with ChannelProducer(settings) as producer:
        for topic, record, kind in day.events():
            producer.send(topic, record)
            counted = topic if topic != "subscription-requests" or kind else "confirmations"
            sent[counted] = sent.get(counted, 0) + 1
    return SmsRun(prefix=day.run_id, since=now), sent


# -- the simulated contact centre ------------------------------------------------------------------

def grown(profile: Profile, factor: float) -> Profile:
    """The profile with its online channels' arrivals times `factor` (voice as it is)."""
    from dataclasses import replace

    channels = tuple(c if c.channel == "VOICE" else replace(c, contacts_per_day=c.contacts_per_day * factor)
                     for c in profile.channels)
    return replace(profile, channels=channels)


@dataclass
class Plan:
    """What to simulate: (simulation, simulated length) in order, and the pace."""

    parts: list[tuple[Simulation, int]]
    speedup: float | None
    prefix: str  # every contact id of the run starts with it


def plan(hours: float, months: int, scale: float, seed: int, speedup: float | None, now_ms: int,
         routing_group: str | None = None) -> Plan:
    """routing_group: the day's ACD also tells the live router what it told its own (months of
    simulations side by side have an ACD each, which one router could not follow)."""
    prefix = f"r{now_ms}-"
    if months > 0:
        start = now_ms - months * MONTH_MS
        start -= start % 60_000
        parts = []
        for m in range(months):
            growth = ONLINE_GROWTH_HALF_YEAR ** (m / 6)
            profile = grown(seed_profile().scaled(scale), growth)
            parts.append((Simulation(profile, start + m * MONTH_MS, seed=seed + m, id_prefix=f"{prefix}m{m}"),
                          MONTH_MS))
        return Plan(parts, None, prefix)
    start = now_ms - int(hours * HOUR_MS)
    start -= start % 60_000  # on the minute, for readable windows; ends before the wall clock
    simulation = Simulation(seed_profile().scaled(scale), start, seed=seed, id_prefix=f"{prefix}d",
                            routing_group=routing_group)
    return Plan([(simulation, int(hours * HOUR_MS))], speedup, prefix)


def simulate(settings: Settings, the_plan: Plan, progress: Progress, stop: threading.Event) -> None:
    """Publish the plan's records (in a thread beside the display); paced by the plan's speed-up."""
    try:
        with ChannelProducer(settings, check=False, linger_ms=20) as producer:
            began = time.monotonic()
            played = 0  # simulated ms of the parts before this one
            for simulation, length in the_plan.parts:
                for topic, record in simulation.run(length):
                    if stop.is_set():
                        return
                    if the_plan.speedup:
                        due = began + (played + simulation.now - simulation.start) / 1000 / the_plan.speedup
                        delay = due - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    producer.send(topic, record)
                    progress.published += 1
                    progress.simulated_ms = simulation.now
                    if topic == "contact-events":
                        if record["type"] in ("ENDED", "ABANDONED"):
                            progress.finished.add(record["contact_id"])
                        elif record["type"] == "CREATED":
                            progress.contacts += 1
                played += length
                progress.simulated_ms = simulation.start + length
    except Exception as exc:  # shown by the main thread
        progress.error = f"{type(exc).__name__}: {exc}"
    finally:
        progress.done = True


# -- the report ----------------------------------------------------------------------------------------

async def stored_figures(settings: Settings, prefix: str) -> tuple[int, list[ChannelReport], list[Any]]:
    store = open_store(settings.database_url)
    await store.open()
    try:
        rows = await store.query(SUMMARY_SQL, (prefix + "%",))
        contacts = [c for c in await outcomes.load_contacts(store) if c.contact_id.startswith(prefix)]
        finished = sum(1 for r in rows if r[3] in ("ENDED", "ABANDONED"))
    finally:
        await store.close()
    return finished, channel_reports(rows, settings.sl_threshold_ms, contacts), contacts


def wait_for_storage(settings: Settings, prefix: str, expected: int, deadline: float,
                     console: Console) -> tuple[int, list[ChannelReport], list[Any]] | None:
    """The run's figures once storage holds `expected` finished contacts, or at the deadline;
    None when storage could not be read at all."""
    figures = None
    while True:
        try:
            figures = asyncio.run(stored_figures(settings, prefix))
        except Exception as exc:  # storage down: the sinks retry meanwhile; say why, without secrets
            from streams.settings import redact_url

            console.print(f"storage not readable yet: {redact_url(f'{type(exc).__name__}: {exc}')[:300]}",
                          highlight=False, markup=False)
        if (figures and figures[0] >= expected) or time.monotonic() >= deadline:
            return figures
        time.sleep(1.0)


def report_table(reports: list[ChannelReport]) -> Table:
    table = Table(title="per channel, from storage")
    for name in ("channel", "contacts", "answered", "abandoned", "ASA", "SL", "abandonment", "AHT", "duration",
                 "FCR", "CSAT 5/5"):
        table.add_column(name, justify="left" if name == "channel" else "right")

    def secs(v: float | None) -> str:
        return "-" if v is None else f"{int(v // 60)}:{v % 60:04.1f}"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    for r in reports:
        table.add_row(r.channel, f"{r.contacts:,}", f"{r.answered:,}", f"{r.abandoned:,}", secs(r.asa_s),
                      pct(r.service_level), pct(r.abandonment), secs(r.aht_s), secs(r.duration_s), pct(r.fcr),
                      pct(r.csat_top_box))
    return table


def mix_table(contacts: list[Any]) -> Table:
    table = Table(title="channel mix by month (firstline report mix --period month)")
    months = outcomes.channel_mix(contacts, "month")
    channels = sorted({c for m in months for c in m.by_channel})
    for name in ("month", "contacts", *channels, "online share", "online growth"):
        table.add_column(name, justify="left" if name == "month" else "right")
    for m in months:
        table.add_row(m.period, f"{m.contacts:,}", *(f"{m.by_channel.get(c, 0):,}" for c in channels),
                      f"{m.online_share:.1%}", "-" if m.online_growth is None else f"{m.online_growth:+.1%}")
    return table


def run(settings: Settings, hours: float = 24.0, speedup: float | None = None, seed: int = 1,
        duration_s: float | None = None, timeout_s: float = 300.0, sms_hours: float = 1.0,
        scale: float = 1.0, months: int = 0, workers: int = 1, report_json: str | None = None) -> int:
    # A log or a pipe gets the report's full width, not rich's 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    created = create_topics(settings)
    console.print(f"topics: {len(created)} created, namespace '{settings.namespace}' on {settings.bootstrap_servers}")
    console.print(f"storage: {settings.redacted_database_url}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    ports = [settings.web_port + i for i in range(workers)] if settings.web_port > 0 else []
    # The live router follows the simulated ACD: the same routing configuration, a routing group of
    # this run's own (the agents' ids repeat from run to run, their contacts do not), and no clock
    # ticks (simulated time runs faster than the wall clock; the desks answer every offer at once).
    routing_group = None if months else f"simulated-{int(time.time() * 1000)}"
    routing_env: dict[str, str] = {}
    if routing_group:
        routing_file = settings.data_dir / "routing-simulated.toml"
        routing_file.write_text(dumps(routing_config_for(seed_profile().scaled(scale), routing_group)))
        routing_env = {"FIRSTLINE_ROUTING_CONFIG": str(routing_file), "FIRSTLINE_ROUTING_TICK_S": "0"}
    try:
        for i in range(workers):
            log_path = str(settings.data_dir / ("worker.log" if i == 0 else f"worker-{i + 1}.log"))
            env = {"FIRSTLINE_WEB_PORT": str(ports[i] if ports else 0), **routing_env}
            procs.append(start_worker(settings, env, log_path=log_path))
            console.print(f"worker: pid {procs[-1].pid}, log {log_path}")
            if not wait_until_ready(procs[-1], log_path):
                console.print(f"[red]the worker did not become ready; see {log_path}[/red]")
                return 1
        if ports:
            console.print(f"wallboard: [bold]http://{settings.web_host}:{ports[0]}/wallboard/[/bold]   "
                          f"metrics: http://{settings.web_host}:{ports[0]}/metrics")
        now = int(time.time() * 1000)
        sms = None
        if sms_hours > 0:
            sms, sent_sms = publish_sms(settings, sms_hours, seed)
            console.print(f"published {sent_sms.get('sms-messages', 0):,} SMS, {sent_sms.get('block-list-changes', 0)} "
                          f"block-list changes, {sent_sms.get('complaints', 0)} complaints, "
                          f"{sent_sms.get('subscription-requests', 0)} paid-subscription requests (ids {sms.prefix}*)")
        if speedup is None and months == 0:
            speedup = hours * 3600 / 180  # the simulated span in about three minutes
        the_plan = plan(hours, months, scale, seed, speedup or None, now, routing_group)
        first = the_plan.parts[0][0]
        progress = Progress(first.start, the_plan.parts[-1][0].start + the_plan.parts[-1][1])
        console.print(f"simulating {'%d months' % months if months else f'{hours:g} h'} of profile "
                      f"'{first.profile.name}' from {time.strftime('%Y-%m-%d %H:%M', time.gmtime(first.start / 1000))} "
                      f"UTC, {'as fast as possible' if not the_plan.speedup else f'{the_plan.speedup:g}x'} "
                      f"(contact ids {the_plan.prefix}*); Ctrl-C stops and reports")
        stop = threading.Event()
        thread = threading.Thread(target=simulate, args=(settings, the_plan, progress, stop), daemon=True)
        began = time.monotonic()
        thread.start()
        interrupted = False
        try:
            live = Live(console=console, refresh_per_second=2, transient=False) if console.is_terminal else None
            last_line = 0.0
            if live:
                live.start()
            try:
                while not progress.done:
                    if duration_s is not None and time.monotonic() - began >= duration_s:
                        break
                    seen = observe(ports, settings.web_token, settings.metrics_token)
                    if live:
                        live.update(progress_table(progress, seen, time.monotonic() - began))
                    elif time.monotonic() - last_line >= 10:
                        last_line = time.monotonic()
                        console.print(progress_line(progress, seen), highlight=False, markup=False)
                    time.sleep(0.5)
            finally:
                if live:
                    live.update(progress_table(progress, observe(ports, settings.web_token, settings.metrics_token), time.monotonic() - began))
                    live.stop()
        except KeyboardInterrupt:
            interrupted = True
            console.print("stopping: no more records are published; waiting for storage")
        stop.set()
        thread.join(timeout=30)
        if progress.error:
            console.print(f"[red]the simulation failed: {progress.error}[/red]")
            return 1
        expected = len(progress.finished)
        console.print(f"published {progress.published:,} records: {progress.contacts:,} contacts, {expected:,} "
                      f"finished{' (stopped early)' if interrupted or not progress.done else ''}")
        deadline = time.monotonic() + timeout_s
        figures = wait_for_storage(settings, the_plan.prefix, expected, deadline, console)
        # The statistics of the last minutes too: every fact folded, the open windows' last
        # update sent (the processors send them every FIRSTLINE_STATS_UPDATE_INTERVAL_S) and written.
        if consumed(settings, "queue-facts", deadline):
            time.sleep(settings.stats_update_interval_s + 1)
            consumed(settings, "queue-statistics", deadline)
        stored, reports, contacts = figures or (0, [], [])
        console.print(f"storage holds {stored:,} of the {expected:,} finished contacts")
        console.print(report_table(reports))
        if months:
            console.print(mix_table(contacts))
        complete = stored >= expected
        alerts: Counter[str] = Counter()
        if sms is not None:
            sms_done = follow(settings, sms, sent_sms.get("sms-messages", 0), sent_sms.get("complaints", 0),
                              sent_sms.get("subscription-requests", 0), deadline)
            for line in sms.lines():
                console.print(line, highlight=False, markup=False)
            complete = complete and sms_done
        routed: Counter[str] = Counter()
        simulated = 0
        if routing_group:
            simulated = the_plan.parts[0][0].decisions
            routed = live_decisions(settings, routing_group, deadline)
            console.print(f"routing: the live router made {sum(routed.values()):,} decisions "
                          f"({', '.join(f'{k} {n:,}' for k, n in routed.most_common()) or 'none'}); the simulated "
                          f"ACD made {simulated:,} (routing group {routing_group})", highlight=False)
            if progress.done and not interrupted:  # a run stopped early published part of a step
                complete = complete and sum(routed.values()) == simulated
        alerts.update(a["kind"] for a in raised_since(settings, now))
        console.print("alerts raised during the run: " + (", ".join(f"{k} {n}" for k, n in alerts.most_common())
                                                          or "none"), highlight=False)
        if report_json:
            Path(report_json).write_text(json.dumps({
                "prefix": the_plan.prefix, "published": progress.published, "finished": expected, "stored": stored,
                "channels": [r.as_dict() for r in reports], "alerts": dict(alerts),
                "routing": {"group": routing_group, "decisions": dict(routed), "simulated": simulated}
                if routing_group else None}, indent=2))
        if not complete:
            console.print(f"[red]not everything reached storage or its outcome in time; see {settings.data_dir}[/red]")
            return 1
        return 0
    finally:
        for proc in procs:
            stop_worker(proc)


def live_decisions(settings: Settings, group: str, deadline: float) -> Counter[str]:
    """The live router's decisions for a routing group, by kind (each decision id once: a replay
    repeats ids), once the workers have read every routing request."""
    consumed(settings, "routing-requests", deadline)
    reader = TopicReader(settings, ["routing-decisions"])
    seen: dict[str, str] = {}
    try:
        quiet = 0
        while quiet < 2 and time.monotonic() < deadline:
            got = reader.read(timeout_ms=1000)
            quiet = 0 if got else quiet + 1
            for _, r, _ in got:
                if r["group"] == group:
                    seen.setdefault(r["decision_id"], r["kind"])
    finally:
        reader.close()
    return Counter(seen.values())


def raised_since(settings: Settings, since_ms: int) -> list[dict[str, Any]]:
    """The alerts written to the alerts topic since the run began (raised ones, not resolutions)."""
    reader = TopicReader(settings, ["alerts"])
    try:
        found: dict[str, dict[str, Any]] = {}
        for _ in range(4):
            records = reader.read(timeout_ms=500)
            for _, record, written in records:
                if written >= since_ms and record.get("state", "RAISED") == "RAISED":
                    found[record["alert_id"]] = record
        return list(found.values())
    finally:
        reader.close()
