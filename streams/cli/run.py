"""`firstline run`: the main job on embedded defaults, and a report of what happened.

Creates the topics, starts a worker process, feeds it generated contacts and an hour of generated
SMS traffic (streams/simulator/sms.py) through the producer library, waits until storage holds
every contact's final summary and every message, complaint and subscription request has its
outcome, and prints per-channel figures and what the protection did.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.producers.contact_generator import GeneratorProfile, contact_events
from streams.reports.contacts import channel_figures, finished_contacts, format_table
from streams.reports.sms import SmsRun, follow
from streams.settings import Settings
from streams.simulator.sms import SmsDay
from streams.sinks.storage import open_store


def start_worker(settings: Settings, extra_env: dict[str, str] | None = None,
                 log_path: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **(extra_env or {})}
    if log_path:
        open(log_path, "wb").close()  # a fresh log per run: readiness is read from it
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], env=env,
                            stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT)


def wait_until_ready(worker: subprocess.Popen[bytes], log_path: str, timeout_s: float = 120) -> bool:
    """Wait for the worker's "Worker ready" line: recovery done, stream partitions sought.

    Publishing before that works, but faust may skip records that arrive during its start-up
    until the next restart (see streams/engine/consumer.py and the README's known issues)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.poll() is None:
        with open(log_path, "rb") as log:
            if b"Worker ready" in log.read():
                return True
        time.sleep(0.2)
    return False


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_for_storage(settings: Settings, expected: int, id_prefix: str, deadline: float,
                            worker: subprocess.Popen[bytes]) -> int:
    store = open_store(settings.database_url)
    await store.open()
    try:
        done, shown = 0, -1
        live = sys.stdout.isatty()
        lead = "\r" if live else ""
        while time.monotonic() < deadline and worker.poll() is None:
            done = await finished_contacts(store, id_prefix)
            if done != shown:
                print(f"{lead}  stored {done}/{expected} finished contacts",
                      end="" if live else "\n", flush=True)
                shown = done
            if done >= expected:
                break
            await asyncio.sleep(0.5)
        if live:
            print()
        print("all contacts in storage:")
        print(format_table(await channel_figures(store)))
        return done
    finally:
        await store.close()


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


def run(settings: Settings, contacts: int, seed: int, timeout_s: float, sms_hours: float = 1.0) -> int:
    created = create_topics(settings)
    print(f"topics: {len(created)} created, namespace '{settings.namespace}' on {settings.bootstrap_servers}")
    print(f"storage: {settings.redacted_database_url}")
    log_path = str(settings.data_dir / "worker.log")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    worker = start_worker(settings, log_path=log_path)
    print(f"worker: pid {worker.pid}, log {log_path}, web http://{settings.web_host}:{settings.web_port}/")
    try:
        if not wait_until_ready(worker, log_path):
            print(f"the worker did not become ready; see {log_path}", file=sys.stderr)
            return 1
        start_ms = history_start(contacts)
        sent = generate(settings, contacts, seed, start_ms=start_ms)
        print(f"produced {sent} events of {contacts} contacts (seed {seed}, ids c{start_ms}-*)")
        sms = None
        if sms_hours > 0:
            sms, sent_sms = publish_sms(settings, sms_hours, seed)
            print(f"produced {sent_sms.get('sms-messages', 0):,} SMS, {sent_sms.get('block-list-changes', 0)} "
                  f"block-list changes, {sent_sms.get('complaints', 0)} complaints, "
                  f"{sent_sms.get('subscription-requests', 0)} paid-subscription requests (ids {sms.prefix}*)")
        deadline = time.monotonic() + timeout_s
        done = asyncio.run(_wait_for_storage(settings, contacts, f"c{start_ms}-", deadline, worker))
        if done < contacts:
            print(f"only {done} of {contacts} contacts reached storage; see {log_path}", file=sys.stderr)
            return 1
        if sms is not None:
            complete = follow(settings, sms, sent_sms.get("sms-messages", 0), sent_sms.get("complaints", 0),
                              sent_sms.get("subscription-requests", 0), deadline)
            print("\n".join(sms.lines()))
            if not complete:
                print(f"not every SMS, complaint or request had its outcome in time; see {log_path}", file=sys.stderr)
                return 1
        return 0
    finally:
        stop_worker(worker)
