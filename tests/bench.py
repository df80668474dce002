"""`make bench`: throughput and latency of each path on the real broker, next to yardsticks.

Not part of the test suite: these machines are shared and noisy, so the figures that matter are
the ratios to the yardstick measured in the same run.

  codec       firstline's codec (compiled from the schemas) vs the official avro package
  summary     contact-events -> contact-summary processor, vs a raw aiokafka consumer of the
              same topic (throughput on a backlog; latency at a steady offered rate)
  storage     the same path through the summary sink into SQLite (end-to-end to durable rows)
  whole path  72 simulated hours (contact, agent and survey events) through every processor and
              both sinks: summaries, facts, statistics, live queues, agent state, storage; vs a
              raw consumer of the same input topics. The clock runs from the moment the worker
              is ready (its start-up and recovery are left out) to the moment its consumer group has committed
              every input, fact, summary and statistics record there is, and storage holds every
              summary; also reported: until the stored day statistics count every contact (they
              wait for the next re-sending of open windows), and the worker's CPU per event.
  contacts    the same without the agent events: contact lifecycle events (and surveys) alone
  national    the same for one simulated day of a centre 10 times the seed's (--scale): a queue's
              minute holds ten times the outcomes, as in a centre that really sends this many
              events (a replayed small centre's minutes hold one or two); then a restarted
              worker's start, which restores every table from its changelog (a failover)
  split       the whole path with processors and sinks in two worker processes
  pair        the national path with two whole workers in one consumer group, sharing the input
              partitions (4 of them) and one SQLite file: what a second process on the second
              core adds
  sms, sms-latency  SMS verdicts with every detector on (tests/bench_sms.py); sms-pair: one
              worker process, then two in one group, on 4 partitions
  routing, routing-latency  the live router: a backlog of requests, and queued -> offer at a fixed
               rate with desks answering (tests/bench_routing.py); routing-pair: the backlog in
               8 routing groups through one worker process, then two in one group, on 4 partitions
  state       a worker restarted with the state of --state-contacts contacts: ready after, memory per
              contact (tests/bench_state.py; not in the default set: run it by name)
  webhooks, webhooks-latency  alerts delivered, signed, to a receiver on loopback
               (tests/bench_webhooks.py)
  peers       the contact-summary fold in firstline, faust-streaming and quix-streams on one
              backlog (tests/bench_peers.py, tests/peers/; quix in .venv-peers: `make peers`)
  recovery    SMS verdicts at a fixed rate through a worker killed and replaced, one of two
              workers killed, and a broker restart: outage and time until on time again
              (tests/bench_recovery.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiokafka
import orjson

from streams.admin.topics import create_topics
from streams.codec import Codec, load_registry
from streams.codec.registry import strip_logical_types
from streams.producers import ChannelProducer
from streams.producers.contact_generator import contact_events
from streams.settings import Settings
from streams.topics import spec
from tests.support import Worker, delete_own_namespaces, isolated_settings, query, read_topic, wait_until

EVENT = "io.firstline.ContactEvent"


def bench_codec(n: int) -> dict[str, float]:
    import avro.io
    import avro.schema

    settings = Settings()
    codec = Codec(load_registry(settings.schemas_dir))
    records = [e for evs in contact_events(n // 4 + 1, 1_764_000_000_000) for e in evs][:n]
    full = [{**{"queue": None, "agent_id": None, "language": None, "segment": None, "line": 1,
                "disposition": None, "after_contact_work_ms": None}, **r} for r in records]
    version = codec.registry.reader(EVENT)
    t = time.perf_counter()
    encoded = [codec.encode(EVENT, r) for r in full]
    fa_enc = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for data in encoded:
        codec.decode(data, EVENT)
    fa_dec = n / (time.perf_counter() - t)

    # Without logical types, as firstline's codec reads them: times stay integer milliseconds.
    schema = avro.schema.parse(orjson.dumps(strip_logical_types(version.definition)).decode())
    writer, reader = avro.io.DatumWriter(schema), avro.io.DatumReader(schema, schema)
    header = b"\xc3\x01" + version.fingerprint
    t = time.perf_counter()
    avro_encoded = []
    for r in full:
        buf = io.BytesIO()
        buf.write(header)
        writer.write(r, avro.io.BinaryEncoder(buf))
        avro_encoded.append(buf.getvalue())
    av_enc = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for data in avro_encoded:
        reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))
    av_dec = n / (time.perf_counter() - t)
    assert avro_encoded == encoded, "the two encoders disagree on the bytes"
    return {"codec_encode_per_s": fa_enc, "codec_decode_per_s": fa_dec,
            "avro_encode_per_s": av_enc, "avro_decode_per_s": av_dec}


def load(settings: Settings, contacts: int, start_ms: int, seed: int) -> int:
    sent = 0
    with ChannelProducer(settings, check=False, linger_ms=20) as producer:
        for events in contact_events(contacts, start_ms, seed=seed):
            for e in events:
                producer.send("contact-events", e)
                sent += 1
    return sent


async def raw_consume(settings: Settings, topic: str | list[str], expected: int) -> float:
    """Seconds for a bare aiokafka consumer to read `expected` records from the beginning."""
    topics = [topic] if isinstance(topic, str) else topic
    consumer = aiokafka.AIOKafkaConsumer(*(spec(t).full_name(settings) for t in topics),
                                         bootstrap_servers=settings.bootstrap_servers,
                                         group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen, began = 0, None
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            if batch and began is None:
                began = time.perf_counter()
            seen += sum(len(v) for v in batch.values())
        return time.perf_counter() - (began or time.perf_counter())
    finally:
        await consumer.stop()


def output_span(settings: Settings, topic: str, ready_ms: float) -> tuple[int, float]:
    """(records, seconds from the worker's ready to the last record's timestamp): how long the
    processor took over the backlog, start-up excluded."""
    records = read_topic(settings, topic, timeout=60)
    return len(records), (max(r.timestamp for r in records) - ready_ms) / 1000 if records else float("nan")


def bench_backlog(contacts: int, tmp: Path) -> dict[str, float]:
    settings = isolated_settings(tmp / "backlog", partitions=3)
    create_topics(settings)
    events = load(settings, contacts, 1_764_000_000_000, seed=3)
    raw_s = asyncio.run(raw_consume(settings, "contact-events", events))
    began = time.perf_counter()
    with Worker(settings) as worker:
        def stored() -> int:
            try:
                return query(settings, "SELECT COUNT(*) FROM contact_summaries "
                                       "WHERE status IN ('ENDED','ABANDONED')")[0][0]
            except Exception:
                return 0
        while stored() < contacts:
            if not worker.alive():
                raise SystemExit(worker.log()[-3000:])
            time.sleep(0.2)
        to_storage_s = time.perf_counter() - began
        ready_ms = worker.ready_ms()
    outputs, span_s = output_span(settings, "contact-summaries", ready_ms)
    return {"events": events, "raw_consumer_events_per_s": events / raw_s,
            "summary_events_per_s": events / span_s, "summary_outputs": outputs,
            "storage_incl_startup_s": to_storage_s}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Without:
    """A simulation whose records for some topics are left out (everything else as it is)."""

    def __init__(self, simulation: Any, topics: tuple[str, ...]) -> None:
        self._simulation, self._topics = simulation, topics

    def run(self, duration_ms: int) -> Any:
        return ((t, r) for t, r in self._simulation.run(duration_ms) if t not in self._topics)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._simulation, name)


def bench_whole_path(hours: float, tmp: Path, split: bool = False, without: tuple[str, ...] = (),
                     scale: float = 1.0, pair: bool = False, restart: bool = False) -> dict[str, float]:
    """split: the processors and the sinks in two worker processes (FIRSTLINE_ROLE); without:
    input topics whose records are not sent (agent events, to see contact events alone); scale:
    a centre this many times as big (the seed profile's arrivals and head counts times `scale`);
    pair: two whole workers in one consumer group; restart: then stop the workers and time a new
    one's start, which restores every table from its changelog."""
    from streams.simulator.engine import DAY_MS, HOUR_MS, Simulation
    from streams.simulator.profile import seed_profile
    from streams.simulator.publish import publish

    # The worker's own defaults for commits and statistics updates (the tests' are faster).
    defaults = Settings.from_env()  # the worker's defaults, or FIRSTLINE_* from the environment
    settings = isolated_settings(tmp / ("whole-split" if split else "whole-" + "-".join(without) + f"-x{scale:g}"
                                        + ("-pair" if pair else "")),
                                 partitions=4 if pair else 3,
                                 commit_interval_s=defaults.commit_interval_s,
                                 stats_update_interval_s=defaults.stats_update_interval_s)
    create_topics(settings)
    start = 1_764_000_000_000 - 1_764_000_000_000 % DAY_MS
    simulation = Simulation(seed_profile().scaled(scale), start, seed=1, id_prefix="b")
    with open("/dev/null", "w") as quiet:
        records = publish(_Without(simulation, without), settings, int(hours * HOUR_MS), out=quiet,  # type: ignore[arg-type]
                          progress_every_ms=1000 * HOUR_MS)
    inputs = [name for name in ("contact-events", "agent-events", "survey-responses") if name not in without]
    raw_cpu = time.process_time()
    raw_s = asyncio.run(raw_consume(settings, inputs, records))
    raw_cpu = time.process_time() - raw_cpu
    contacts = simulation.stats["contacts"]
    workers = ([Worker(dataclasses.replace(settings, role="processors"), "processors"),
                Worker(dataclasses.replace(settings, role="sinks"), "sinks")] if split
               else [Worker(settings, "first"), Worker(settings, "second")] if pair else [Worker(settings)])
    with contextlib.ExitStack() as running:
        # All started before any is waited for: a worker ready long before the others would
        # work through the backlog alone, before the clock starts.
        started = time.time()
        for worker in workers:
            running.callback(worker.stop)
            worker.start(wait_ready=False)
        for worker in workers:
            wait_until(lambda: "Worker ready" in worker.log(), timeout=120,  # noqa: B023 - called at once
                       what=f"{worker.log_path.stem} to be ready", worker=worker)
        empty_start_s = time.time() - started

        # The clock and the CPU count start when the workers are ready (start-up and recovery
        # left out). Not at the first output: the processors send theirs at checkpoints, so the
        # first output comes after a checkpoint interval of work.
        first_ms = max(w.ready_ms() for w in workers)
        cpu_from = sum(cpu_seconds(w.proc.pid) for w in workers if w.proc)
        groups = [settings.namespace] + ([f"{settings.namespace}-sinks"] if split else [])
        progress = CommittedProgress(settings, groups, ["contact-events", "agent-events", "survey-responses",
                                                        "contact-summaries"], ["queue-facts", "queue-statistics"])
        contact_records = progress.records("contact-events")
        # What a worker ready before the others did alone, before the clock started (committed
        # when the last one joined and the partitions were shared out): not counted.
        done_before = progress.committed(inputs)
        contact_done_before = progress.committed(["contact-events"])
        processed_ms: list[float] = []  # when the worker had processed everything there was
        # (wall clock, contact events committed, summaries stored), twice a second: the steady rate.
        timeline: list[tuple[float, int, int]] = []
        summaries_ms: list[float] = []  # when storage first held every summary

        reader: list[Any] = []  # one read-only connection to the worker's SQLite file, once it exists

        def sql(statement: str) -> Any:
            if not reader:
                reader.append(sqlite3.connect(f"file:{settings.database_url[len('sqlite:///'):]}?mode=ro", uri=True))
            return reader[0].execute(statement).fetchone()[0]

        def done() -> bool:
            # Cheapest first, and each only once the one before holds: the bench shares the
            # machine with the worker and the broker.
            try:
                # MAX(rowid) first: COUNT(*) reads the whole table, and ten times a second that
                # took a quarter of a core from the worker. Rows are only ever added or updated.
                stored = sql("SELECT MAX(rowid) FROM contact_summaries") or 0
                if stored >= contacts:
                    stored = sql("SELECT COUNT(*) FROM contact_summaries")
            except sqlite3.Error:
                return False
            if stored != contacts:
                return False
            if not summaries_ms:
                summaries_ms.append(time.time() * 1000)
            if not processed_ms:
                if not progress.all_committed():
                    return False
                processed_ms.append(time.time() * 1000)
            offered = sql("SELECT COUNT(*) FROM contact_summaries WHERE queued_at IS NOT NULL "
                          "AND first_queue NOT LIKE '%-line2'")
            counted = sql("SELECT SUM(offered) FROM queue_statistics WHERE \"window\" = 'DAY' "
                          "AND region = '*' AND queue NOT LIKE '%-line2'")
            return counted == offered
        while not done():
            for worker in workers:
                if not worker.alive():
                    raise SystemExit(worker.log()[-3000:])
            if not timeline or time.time() - timeline[-1][0] >= 0.5:
                try:
                    stored_now = sql("SELECT MAX(rowid) FROM contact_summaries") or 0
                except sqlite3.Error:
                    stored_now = 0
                timeline.append((time.time(), progress.committed(["contact-events"]) - contact_done_before, stored_now))
            time.sleep(0.1)
        finished_ms = time.time() * 1000
        # Worker CPU from ready to the end: less noisy on a shared machine than the wall clock,
        # and what a worker with a core of its own would need.
        worker_cpu = sum(cpu_seconds(w.proc.pid) for w in workers if w.proc) - cpu_from
        # The work behind each contact event, in records: what the processors wrote per hop.
        per_event = {f"whole_{name}_per_contact_event": progress.records(name) / contact_records
                     for name in ("contact-summaries", "queue-statistics")}
        changelogs = progress.changelog_records()
        per_event["whole_changelog_per_contact_event"] = sum(changelogs.values()) / contact_records
        per_event.update({f"whole_changelog_{table}_per_contact_event": n / contact_records
                          for table, n in changelogs.items() if n})
        progress.close()
        for conn in reader:
            conn.close()
        restore: dict[str, float] = {}
        if restart:
            # A restarted worker rebuilds its tables from their changelogs before it is ready:
            # what a failover costs without standby tables (FIRSTLINE_STANDBY_REPLICAS).
            for worker in workers:
                worker.stop()
            again = Worker(settings, "restarted")
            running.callback(again.stop)
            started = time.time()
            again.start(wait_ready=False)
            wait_until(lambda: "Worker ready" in again.log(), timeout=900, what="the restarted worker to be ready",
                       worker=again)
            restore = {"whole_restart_s": time.time() - started, "whole_empty_start_s": empty_start_s,
                       "whole_restart_cpu_s": cpu_seconds(again.proc.pid) if again.proc else 0.0,
                       "whole_restart_records": sum(changelogs.values())}
    whole_s = (finished_ms - first_ms) / 1000
    timed, contacts_timed = records - done_before, contact_records - contact_done_before
    # The stored summaries are in the timeline, not in a steady rate: a row appears with a
    # contact's first event, and the sink stores the first checkpoint's rows well after its commit.
    steady = {"whole_steady_contact_events_per_s": steady_rate([(t, n) for t, n, _ in timeline], contacts_timed),
              "whole_timeline": [(round(t - first_ms / 1000, 2), n, m) for t, n, m in timeline]}
    # The day statistics are updates of an open window, sent every FIRSTLINE_STATS_UPDATE_INTERVAL_S
    # (5 s by default): up to that much of the whole time is waiting, not work.
    return {"whole_records": records, "whole_contacts": contacts,
            "whole_processed_per_s": timed / ((processed_ms[0] - first_ms) / 1000),
            "whole_contact_events": contact_records,
            "whole_contact_events_per_s": contacts_timed / ((processed_ms[0] - first_ms) / 1000),
            "whole_records_per_s": timed / whole_s, "whole_workers": len(workers), "whole_done_before": done_before,
            "whole_summaries_per_s": timed / ((summaries_ms[0] - first_ms) / 1000),
            "whole_stats_after_summaries_s": (finished_ms - summaries_ms[0]) / 1000,
            "whole_raw_consumer_per_s": records / raw_s,
            **per_event, **restore, **steady, "whole_cpu_us_per_event": worker_cpu / timed * 1e6, "raw_cpu_us_per_record": raw_cpu / records * 1e6}


def steady_rate(timeline: list[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9) -> float:
    """Items per second while the count went from `low` to `high` of `total` (the least-squares
    slope of the samples in between: counts move in steps, a checkpoint or a commit at a time):
    the rate of a run without its start (the first checkpoint, the first fetches) and its end (the
    last checkpoint, the commit interval, the statistics behind the summaries), which a finite run
    pays once."""
    middle = [(t, n) for t, n in timeline if low * total <= n <= high * total]
    if len({n for _, n in middle}) < 3:  # a slope through one or two steps says nothing
        return float("nan")
    mean_t = sum(t for t, _ in middle) / len(middle)
    mean_n = sum(n for _, n in middle) / len(middle)
    spread = sum((t - mean_t) ** 2 for t, _ in middle)
    return sum((t - mean_t) * (n - mean_n) for t, n in middle) / spread if spread else float("nan")


class CommittedProgress:
    """Whether the workers' consumer groups have processed everything: every partition of the
    inputs and the summaries committed up to its end (offsets are committed only after a batch's
    outputs are delivered), then the facts up to where they ended at that moment, then the
    statistics likewise. Facts sent later are the heartbeats of idle sources (every second), and
    statistics sent later the periodic re-sending of open windows: not work owed."""

    def __init__(self, settings: Settings, groups: list[str], names: list[str], then: list[str]) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

        self.groups, self.settings = groups, settings
        self.admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers)

        def partitions(name: str) -> list[Any]:
            topic = spec(name).full_name(settings)
            return [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or ())]

        self.partitions_of = partitions
        self.stages = [[tp for name in names for tp in partitions(name)], *(partitions(name) for name in then)]
        self._reached = 0  # stages committed so far
        self._targets: dict[int, dict[Any, int]] = {}  # a stage's ends when the one before was reached

    def _committed(self, partitions: list[Any], ends: dict[Any, int]) -> bool:
        committed: dict[Any, int] = {}
        for offsets in self.admin.list_group_offsets(self.groups).values():
            for tp, meta in offsets.items():
                committed[tp] = max(committed.get(tp, -1), meta.offset)
        return all(committed.get(tp, 0 if ends[tp] == 0 else -1) >= ends[tp] for tp in partitions)

    def all_committed(self) -> bool:
        while self._reached < len(self.stages):
            stage = self.stages[self._reached]
            target = self._targets.get(self._reached) or self.consumer.end_offsets(stage)
            if not self._committed(stage, target):
                return False
            self._reached += 1
            if self._reached < len(self.stages):
                self._targets[self._reached] = self.consumer.end_offsets(self.stages[self._reached])
        return True

    def committed(self, names: list[str]) -> int:
        """Input records the groups have committed so far, over the topics named."""
        topics = {spec(name).full_name(self.settings) for name in names}
        return sum(meta.offset for offsets in self.admin.list_group_offsets(self.groups).values()
                   for tp, meta in offsets.items() if tp.topic in topics and meta.offset > 0)

    def records(self, name: str) -> int:
        """How many records a topic holds (the sum of its partitions' end offsets)."""
        return sum(self.consumer.end_offsets(self.partitions_of(name)).values())

    def changelog_records(self) -> dict[str, int]:
        """Records written to each of the groups' table changelogs (`<group>-<table>-changelog`)."""
        from kafka import TopicPartition

        counts = {}
        for topic in sorted(self.consumer.topics()):
            group = next((g for g in self.groups if topic.startswith(f"{g}-")), None)
            if group is None or not topic.endswith("-changelog"):
                continue
            partitions = [TopicPartition(topic, p) for p in self.consumer.partitions_for_topic(topic) or ()]
            counts[topic[len(group) + 1:-len("-changelog")]] = sum(self.consumer.end_offsets(partitions).values())
        return counts

    def close(self) -> None:
        self.admin.close()
        self.consumer.close()


async def bench_latency(rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    """Offer `rate` events/s with occurred_at = send time; latency = output timestamp - send time,
    for the processor's summaries and for a raw consumer of the input topic."""
    settings = isolated_settings(tmp / "latency", partitions=3)
    create_topics(settings)
    raw_lat: list[float] = []
    with Worker(settings) as worker:
        time.sleep(8)  # let the worker join its group before the clock starts
        consumer = aiokafka.AIOKafkaConsumer(spec("contact-events").full_name(settings),
                                             bootstrap_servers=settings.bootstrap_servers,
                                             group_id=None, auto_offset_reset="latest")
        await consumer.start()
        producer = ChannelProducer(settings, check=False, linger_ms=0)
        stop = asyncio.Event()

        async def read_raw() -> None:
            codec = Codec(load_registry(settings.schemas_dir))
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                now = time.time() * 1000
                for recs in batch.values():
                    for rec in recs:
                        raw_lat.append(now - codec.decode(rec.value)["occurred_at"])

        reader = asyncio.create_task(read_raw())
        n, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            t_ms = int(time.time() * 1000)
            # Contacts queued and answered in turn: each event changes one contact and queue.
            producer.send("contact-events", {"event_id": f"e{n}", "contact_id": f"c{n // 2}",
                                             "type": "ANSWERED" if n % 2 else "QUEUED", "occurred_at": t_ms,
                                             "channel": "VOICE", "queue": "voice-general",
                                             "agent_id": f"agent-{n % 40}" if n % 2 else None})
            n += 1
            producer.flush() if n % 50 == 0 else None
            delay = n / rate - (time.perf_counter() - began)
            if delay > 0:
                await asyncio.sleep(delay)
        producer.close()
        await asyncio.sleep(3)
        stop.set()
        await reader
        await consumer.stop()
        if not worker.alive():
            raise SystemExit(worker.log()[-60000:])
    summaries = read_topic(settings, "contact-summaries", timeout=30)
    codec = Codec(load_registry(settings.schemas_dir))
    lat = [r.timestamp - codec.decode(r.value)["updated_at"] for r in summaries]

    def pct(xs: list[float], q: float) -> float:
        return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 2 else float("nan")

    return {"offered_events": n, "summary_p50_ms": pct(lat, 50), "summary_p99_ms": pct(lat, 99),
            "raw_p50_ms": pct(raw_lat, 50), "raw_p99_ms": pct(raw_lat, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=25_000, help="contacts in the backlog run (~4 events each)")
    parser.add_argument("--codec-records", type=int, default=50_000)
    parser.add_argument("--hours", type=float, default=72, help="simulated hours in the whole-path run")
    parser.add_argument("--rate", type=float, default=1_000, help="offered events/s in the latency run")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--scale", type=float, default=10, help="the national path's centre, times the seed's")
    parser.add_argument("--national-hours", type=float, default=24, help="simulated hours in the national path")
    parser.add_argument("--only", help="comma-separated paths to run: codec, summary, whole, contacts, national, split, "
                                        "pair, latency (contacts: the whole path without agent events; national: the same "
                                        "for a centre --scale times as big, over --national-hours)")
    parser.add_argument("--sms", type=int, default=200_000, help="SMS in the sms backlog run")
    parser.add_argument("--sms-rate", type=float, default=5_000, help="offered SMS/s in the sms-latency run")
    parser.add_argument("--routing-contacts", type=int, default=50_000, help="contacts in the routing backlog run")
    parser.add_argument("--routing-rate", type=float, default=500, help="contacts/s queued in the routing-latency run")
    parser.add_argument("--storage-rows", type=int, default=200_000, help="summary rows in the storage run")
    parser.add_argument("--state-contacts", type=int, default=1_000_000, help="contacts whose state a worker restores")
    parser.add_argument("--webhook-alerts", type=int, default=20_000, help="alerts in the webhooks backlog run")
    parser.add_argument("--webhook-rate", type=float, default=100, help="offered alerts/s in the webhooks-latency run")
    parser.add_argument("--peer-contacts", type=int, default=25_000, help="contacts in the peers' backlog")
    parser.add_argument("--peer-rounds", type=int, default=2, help="rounds of the peers, in turn")
    parser.add_argument("--recovery-rate", type=float, default=1_000, help="offered SMS/s in the recovery runs")
    parser.add_argument("--recovery-seconds", type=float, default=45, help="length of each recovery run")
    parser.add_argument("--json", type=Path, help="also write every figure (and the runs' timelines) to this file")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else {"codec", "summary", "whole", "contacts", "national", "split",
                                                                 "pair", "latency", "sms", "sms-pair", "sms-latency", "routing",
                                                                 "routing-pair", "routing-latency", "storage", "webhooks",
                                                                 "webhooks-latency", "webhooks-hang", "recovery", "peers"}
    results: dict[str, Any] = {}
    if "codec" in only:
        results.update(report_codec(args.codec_records))
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as cleanup:
        # The runs' topics go when the bench ends: thousands of partitions left on the local broker
        # over many runs exhaust its file descriptors (as the tests' would, see tests/conftest.py).
        cleanup.callback(delete_own_namespaces, Settings.from_env().bootstrap_servers)
        if "summary" in only:
            results.update(report_summary(args.contacts, Path(tmp)))
        if "whole" in only:
            results.update(report_whole(args.hours, Path(tmp)))
        if "contacts" in only:
            results.update({f"contacts_{k}": v for k, v in report_whole(args.hours, Path(tmp),
                                                                          without=("agent-events",)).items()})
        if "national" in only:
            results.update({f"national_{k}": v for k, v in report_whole(
                args.national_hours, Path(tmp), without=("agent-events",), scale=args.scale, restart=True).items()})
        if "split" in only:
            results.update({f"split_{k}": v for k, v in report_whole(args.hours, Path(tmp), split=True).items()})
        if "pair" in only:
            results.update({f"pair_{k}": v for k, v in report_whole(
                args.national_hours, Path(tmp), without=("agent-events",), scale=args.scale, pair=True).items()})
        if "latency" in only:
            results.update(report_latency(args.rate, args.seconds, Path(tmp)))
        if "sms" in only:
            from tests.bench_sms import report_sms
            results.update(report_sms(args.sms, Path(tmp)))
        if "sms-pair" in only:
            from tests.bench_sms import report_sms_pair
            results.update(report_sms_pair(args.sms, Path(tmp)))
        if "sms-latency" in only:
            from tests.bench_sms import report_sms_latency
            results.update(report_sms_latency(args.sms_rate, args.seconds, Path(tmp)))
        if "routing" in only:
            from tests.bench_routing import report_routing
            results.update(report_routing(args.routing_contacts, Path(tmp)))
        if "routing-pair" in only:
            from tests.bench_routing import report_routing_pair
            results.update(report_routing_pair(args.routing_contacts, Path(tmp)))
        if "routing-latency" in only:
            from tests.bench_routing import report_routing_latency
            results.update(report_routing_latency(args.routing_rate, args.seconds, Path(tmp)))
        if "storage" in only:
            from tests.bench_storage import report_storage
            results.update(report_storage(args.storage_rows, Path(tmp)))
        if "state" in only:
            from tests.bench_state import report_state
            results.update(report_state(args.state_contacts, Path(tmp)))
        if "webhooks" in only:
            from tests.bench_webhooks import report_webhooks
            results.update(report_webhooks(args.webhook_alerts, Path(tmp)))
        if "webhooks-latency" in only:
            from tests.bench_webhooks import report_webhooks_latency
            results.update(report_webhooks_latency(args.webhook_rate, args.seconds, Path(tmp)))
        if "webhooks-hang" in only:
            from tests.bench_webhooks import report_webhooks_latency
            results.update(report_webhooks_latency(args.webhook_rate, args.seconds, Path(tmp), hang=True))
        if "peers" in only:
            from tests.bench_peers import report_peers
            results.update(report_peers(args.peer_contacts, Path(tmp), args.peer_rounds))
        if "recovery" in only:
            from tests.bench_recovery import report_recovery
            results.update(report_recovery(args.recovery_rate, args.recovery_seconds, Path(tmp)))
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


def report_codec(records: int) -> dict[str, float]:
    c = bench_codec(records)
    print(f"codec  encode {c['codec_encode_per_s']:>9,.0f}/s  avro {c['avro_encode_per_s']:>9,.0f}/s  "
          f"ratio {c['codec_encode_per_s'] / c['avro_encode_per_s']:.1f}x")
    print(f"codec  decode {c['codec_decode_per_s']:>9,.0f}/s  avro {c['avro_decode_per_s']:>9,.0f}/s  "
          f"ratio {c['codec_decode_per_s'] / c['avro_decode_per_s']:.1f}x")
    return c


def report_summary(contacts: int, tmp: Path) -> dict[str, float]:
    b = bench_backlog(contacts, tmp)
    print(f"summary path  {b['summary_events_per_s']:>9,.0f} events/s  raw consumer {b['raw_consumer_events_per_s']:>9,.0f}/s  "
          f"ratio {b['summary_events_per_s'] / b['raw_consumer_events_per_s']:.3f}  ({b['events']} events)")
    print(f"to storage    {b['events'] / b['storage_incl_startup_s']:>9,.0f} events/s including worker start-up "
          f"({b['storage_incl_startup_s']:.1f} s)")
    return b


def report_whole(hours: float, tmp: Path, split: bool = False, without: tuple[str, ...] = (),
                 scale: float = 1.0, pair: bool = False, restart: bool = False) -> dict[str, float]:
    w = bench_whole_path(hours, tmp, split, without, scale, pair, restart)
    label = "split in two" if split else "without " + without[0].split("-")[0] if without else "whole path"
    if scale != 1:
        label = f"{'national' if without else 'whole'} x{scale:g}"
    if pair:
        label = "two workers"
    print(f"{label:<13} {w['whole_processed_per_s']:>9,.0f} events/s  raw consumer {w['whole_raw_consumer_per_s']:>9,.0f}/s  "
          f"ratio {w['whole_processed_per_s'] / w['whole_raw_consumer_per_s']:.3f}  "
          f"({w['whole_records']} {'contact and survey' if without else 'contact, agent and survey'} events; "
          f"{hours:g} simulated h{f' of a centre {scale:g}x the seed' if scale != 1 else ''})")
    print(f"{'':<13} until every input, fact, summary and statistics record had been processed (offsets "
          f"committed, every {Settings.from_env().commit_interval_s:g} s); of these, contact events "
          f"{w['whole_contact_events_per_s']:,.0f}/s ({w['whole_contact_events']})")
    print(f"{'':<13} {w['whole_summaries_per_s']:>9,.0f} events/s until storage held every summary; "
          f"{w['whole_records_per_s']:,.0f} until the stored day statistics counted every contact (open windows "
          f"are re-sent every {Settings.from_env().stats_update_interval_s:g} s)")
    steady = w['whole_steady_contact_events_per_s']
    print(f"{'':<13} steady, from 10 % to 90 % of the input committed: contact events "
          + (f"{steady:,.0f}/s (the slope of the committed offsets, sampled every 0.5 s)" if steady == steady
             else "not measured (fewer than three commits in between: a run too short for it)"))
    print(f"{'':<13} per contact event: {w['whole_queue-statistics_per_contact_event']:.2f} statistics records, "
          f"{w['whole_contact-summaries_per_contact_event']:.2f} summaries, "
          f"{w['whole_changelog_per_contact_event']:.2f} changelog records ("
          + ", ".join(f"{key[len('whole_changelog_'):-len('_per_contact_event')]} {value:.2f}" for key, value in w.items()
                      if key.startswith("whole_changelog_") and key != "whole_changelog_per_contact_event") + ")")
    if pair:
        print(f"{'':<13} {w['whole_processed_per_s'] / w['whole_workers']:>9,.0f} events/s per worker process; "
              f"contact events {w['whole_contact_events_per_s'] / w['whole_workers']:,.0f}/s per worker process")
    if w["whole_done_before"]:
        print(f"{'':<13} ({w['whole_done_before']:,} events processed before every worker was ready: not counted)")
    if restart:
        print(f"{'':<13} restart: ready after {w['whole_restart_s']:.1f} s ({w['whole_restart_cpu_s']:.1f} s of CPU), "
              f"restoring {w['whole_restart_records']:,} changelog records written, "
              f"{w['whole_restart_records'] / max(w['whole_restart_s'] - w['whole_empty_start_s'], 0.1):,.0f}/s "
              f"beyond an empty start ({w['whole_empty_start_s']:.1f} s)")
    print(f"{'':<13} worker CPU {w['whole_cpu_us_per_event']:.0f} us per event after start-up "
          f"({1e6 / w['whole_cpu_us_per_event']:,.0f} events per CPU-second); raw consumer "
          f"{w['raw_cpu_us_per_record']:.1f} us per record")
    return w


def report_latency(rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    lat = asyncio.run(bench_latency(rate, seconds, tmp))
    print(f"latency at {rate:,.0f} ev/s  summary p50 {lat['summary_p50_ms']:.0f} ms p99 {lat['summary_p99_ms']:.0f} ms"
          f"  raw consumer p50 {lat['raw_p50_ms']:.0f} ms p99 {lat['raw_p99_ms']:.0f} ms")
    return lat


if __name__ == "__main__":
    main()
