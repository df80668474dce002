"""Shared helpers of the tests: isolated namespaces on the real broker, worker processes, waiting."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition

from streams.codec import Codec, load_registry
from streams.settings import REPO_ROOT, Settings
from streams.topics import spec

T = TypeVar("T")


# (bootstrap servers, namespace) of every isolated_settings() of this process, so that a test
# session can delete their topics at its end (conftest.py): a broker that keeps every test's
# topics ran out of open files after some thousand sessions' worth (one file per partition).
NAMESPACES: list[tuple[str, str]] = []


def isolated_settings(tmp: Path, **overrides: Any) -> Settings:
    """Settings with a namespace of their own, so tests never see each other's topics or groups."""
    base = Settings.from_env()
    values: dict[str, Any] = dict(namespace=f"t{uuid.uuid4().hex[:10]}", data_dir=tmp,
                                  database_url=f"sqlite:///{tmp / 'firstline.db'}", web_port=0,
                                  partitions=3, commit_interval_s=0.5,
                                  stats_update_interval_s=0.5, watermark_idle_s=2.0)
    values.update(overrides)
    settings = dataclasses.replace(base, **values)
    NAMESPACES.append((settings.bootstrap_servers, settings.namespace))
    return settings


def delete_own_namespaces(bootstrap_servers: str) -> int:
    """Delete the topics of every namespace `isolated_settings` made on this broker; returns how many."""
    mine = [ns for servers, ns in NAMESPACES if servers == bootstrap_servers]
    return delete_namespaces(bootstrap_servers, mine) if mine else 0


def delete_namespaces(bootstrap_servers: str, namespaces: list[str]) -> int:
    """Delete every topic of the namespaces (catalogue topics, changelogs, faust's own) on one
    broker; returns how many."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30_000)
    try:
        prefixes = tuple(f"{ns}{sep}" for ns in namespaces for sep in ".-")
        doomed = [t for t in admin.list_topics() if t.startswith(prefixes)]
        for i in range(0, len(doomed), 100):
            admin.delete_topics(doomed[i:i + 100], timeout_ms=30_000)
        return len(doomed)
    finally:
        admin.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "FIRSTLINE_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "FIRSTLINE_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "FIRSTLINE_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "FIRSTLINE_KAFKA_SASL_PASSWORD": settings.kafka_sasl_password.decode(),
        "FIRSTLINE_KAFKA_SASL_PASSWORD_FILE": "",
        "FIRSTLINE_KAFKA_SSL_CA_FILE": settings.kafka_ssl_ca_file,
        "FIRSTLINE_NAMESPACE": settings.namespace,
        "FIRSTLINE_DATA_DIR": str(settings.data_dir),
        "FIRSTLINE_DATABASE_URL": settings.database_url,
        "FIRSTLINE_WEB_PORT": str(settings.web_port),
        "FIRSTLINE_WEB_TOKEN": settings.web_token.decode(),
        "FIRSTLINE_METRICS_TOKEN": settings.metrics_token.decode(),
        "FIRSTLINE_PARTITIONS": str(settings.partitions),
        "FIRSTLINE_BATCH_MAX": str(settings.batch_max),
        "FIRSTLINE_BATCH_LINGER_MS": str(settings.batch_linger_s * 1000),
        "FIRSTLINE_CHECKPOINT_INTERVAL_MS": str(settings.checkpoint_interval_s * 1000),
        "FIRSTLINE_COMMIT_INTERVAL_S": str(settings.commit_interval_s),
        "FIRSTLINE_LOG_LEVEL": "info",
        "FIRSTLINE_ALLOWED_LATENESS_S": str(settings.allowed_lateness_s),
        "FIRSTLINE_CONTACT_STATE_RETENTION_H": str(settings.contact_state_retention_h),
        "FIRSTLINE_STATS_UPDATE_INTERVAL_S": str(settings.stats_update_interval_s),
        "FIRSTLINE_WATERMARK_IDLE_S": str(settings.watermark_idle_s),
        "FIRSTLINE_SL_THRESHOLDS": settings.sl_thresholds,
        "FIRSTLINE_ROLE": settings.role,
        "FIRSTLINE_GC_YOUNG_THRESHOLD": str(settings.gc_young_threshold),
        "FIRSTLINE_GC_FREEZE_INTERVAL_S": str(settings.gc_freeze_interval_s),
        "FIRSTLINE_GC_FULL_INTERVAL_S": str(settings.gc_full_interval_s),
        "FIRSTLINE_NATIVE_CODEC": str(int(settings.native_codec)),
        "FIRSTLINE_STANDBY_REPLICAS": str(settings.standby_replicas),
        "FIRSTLINE_MAX_RECORD_BYTES": str(settings.max_record_bytes),
        "FIRSTLINE_MAX_STRING_CHARS": str(settings.max_string_chars),
        "FIRSTLINE_MAX_TEXT_CHARS": str(settings.max_text_chars),
        "FIRSTLINE_MAX_ARRAY_ITEMS": str(settings.max_array_items),
        "FIRSTLINE_MAX_EVENTS_PER_CONTACT": str(settings.max_events_per_contact),
        "FIRSTLINE_MAX_FUTURE_SKEW_S": str(settings.max_future_skew_s),
        "FIRSTLINE_MAX_OUTPUT_BYTES": str(settings.max_output_bytes),
        "FIRSTLINE_DEAD_LETTER_VALUE_BYTES": str(settings.dead_letter_value_bytes),
        "FIRSTLINE_SINK_MAX_TRIES": str(settings.sink_max_tries),
        "FIRSTLINE_PSEUDONYM_KEY": settings.pseudonym_key.decode(),
        "FIRSTLINE_SMS_MASS_LIMIT": str(settings.sms_mass_limit),
        "FIRSTLINE_SMS_MASS_WINDOW_S": str(settings.sms_mass_window_s),
        "FIRSTLINE_SMS_A2P_SENDERS": settings.sms_a2p_senders,
        "FIRSTLINE_SMS_CONTENT_BLOCK_AT": str(settings.sms_content_block_at),
        "FIRSTLINE_SMS_CONTENT_ASSIST_AT": str(settings.sms_content_assist_at),
        "FIRSTLINE_SMS_MODEL": settings.sms_model,
        "FIRSTLINE_CAMPAIGN_WINDOW_S": str(settings.campaign_window_s),
        "FIRSTLINE_CAMPAIGN_MIN_SENDERS": str(settings.campaign_min_senders),
        "FIRSTLINE_CAMPAIGN_MIN_MESSAGES": str(settings.campaign_min_messages),
        "FIRSTLINE_CAMPAIGN_MIN_CHARS": str(settings.campaign_min_chars),
        "FIRSTLINE_CAMPAIGN_MIN_SCORE": str(settings.campaign_min_score),
        "FIRSTLINE_COMPLAINT_THRESHOLD": str(settings.complaint_threshold),
        "FIRSTLINE_COMPLAINT_WINDOW_S": str(settings.complaint_window_s),
        "FIRSTLINE_ALERT_COOLDOWN_S": str(settings.alert_cooldown_s),
        "FIRSTLINE_SUBSCRIPTION_CONFIRM_S": str(settings.subscription_confirm_s),
        "FIRSTLINE_PROVIDER_ABUSE_LIMIT": str(settings.provider_abuse_limit),
        "FIRSTLINE_PROVIDER_ABUSE_WINDOW_S": str(settings.provider_abuse_window_s),
        "FIRSTLINE_ROUTING_CONFIG": str(settings.routing_config),
        "FIRSTLINE_ROUTING_TICK_S": str(settings.routing_tick_s),
        "FIRSTLINE_WALLBOARD_LEVELS": settings.wallboard_levels,
        "FIRSTLINE_ALERT_RULES": settings.alert_rules,
        "FIRSTLINE_WEBHOOKS": settings.webhooks,
        "FIRSTLINE_WEBHOOK_SECRETS": settings.webhook_secrets.decode(),
        "FIRSTLINE_WEBHOOK_TIMEOUT_S": str(settings.webhook_timeout_s),
        "FIRSTLINE_WEBHOOK_MAX_TRIES": str(settings.webhook_max_tries),
        "FIRSTLINE_WEBHOOK_BACKOFF_S": str(settings.webhook_backoff_s),
        "FIRSTLINE_WEBHOOK_BACKOFF_MAX_S": str(settings.webhook_backoff_max_s),
        "FIRSTLINE_WEBHOOK_DISABLE_AFTER": str(settings.webhook_disable_after),
        "FIRSTLINE_WEBHOOK_PROBE_AFTER_S": str(settings.webhook_probe_after_s),
    }


def firstline(settings: Settings, *args: str, input: bytes | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run the `firstline` command line as a user would, in the settings' namespace."""
    return subprocess.run([sys.executable, "-m", "streams.cli.main", *args], cwd=REPO_ROOT,
                          env={**os.environ, **settings_env(settings)}, input=input,
                          capture_output=True, timeout=timeout)


class Worker:
    """A real `firstline worker` process."""

    def __init__(self, settings: Settings, name: str = "worker") -> None:
        self.settings = settings
        self.log_path = settings.data_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True) -> "Worker":
        """Start the process; by default return once it logs "Worker ready" (recovery done), the
        way `firstline run` waits before publishing (see streams/engine/consumer.py)."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli.main", "worker"], cwd=REPO_ROOT,
                                     env={**os.environ, **settings_env(self.settings)},
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait_ready:
            start = self.log().count("Worker ready")
            wait_until(lambda: self.log().count("Worker ready") > start, timeout=120,
                       what="the worker to be ready", worker=self)
        return self

    def ready_ms(self) -> float:
        """When the worker last logged "Worker ready" (recovery done, fetching), in epoch ms."""
        line = [line for line in self.log().splitlines() if "Worker ready" in line][-1]
        stamp = datetime.datetime.strptime(line[1:line.index("]")], "%Y-%m-%d %H:%M:%S,%f")
        return stamp.timestamp() * 1000  # the worker logs local time, as this process reads it

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit, no flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(check: Callable[[], T | None], timeout: float = 60, interval: float = 0.25,
               what: str = "condition", worker: Worker | None = None) -> T:
    """Poll `check` until it returns something truthy; fail with the worker's log tail otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.log()[-4000:]}")
        time.sleep(interval)
    tail = worker.log()[-4000:] if worker else ""
    if worker is not None and worker.alive():  # what it waits on (streams/engine/diagnostics.py)
        worker.proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        log = worker.log()
        if (at := log.rfind("SIGUSR1: engine state")) >= 0:
            tail = log[at:][:12000]
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}\n{tail}")


def read_topic(settings: Settings, topic: str, timeout: float = 5.0) -> list[Any]:
    """Every record of a catalogue topic as kafka-python ConsumerRecords (no consumer group)."""
    return read_named_topic(settings, spec(topic).full_name(settings), timeout)


def read_named_topic(settings: Settings, name: str, timeout: float = 5.0) -> list[Any]:
    """Every record of the topic called `name` (a changelog, say)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False,
                             **settings.kafka_auth.kafka_python())
    try:
        tps = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def decoded(settings: Settings, topic: str) -> list[dict[str, Any]]:
    codec = Codec(load_registry(settings.schemas_dir))
    return [codec.decode(r.value) for r in read_topic(settings, topic)]


def query(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    from streams.sinks.storage import open_store

    async def go() -> list[tuple[Any, ...]]:
        store = open_store(settings.database_url)
        await store.open()
        try:
            return await store.query(sql, params)
        finally:
            await store.close()

    return asyncio.run(go())


def caught_up(settings: Settings, *topics: str, group: str | None = None) -> bool:
    """Whether the worker's consumer group has committed every record there is on these catalogue
    topics: it commits a record only once its outputs, state and (for sinks) rows are written, so
    afterwards nothing more comes of what was sent so far."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, **settings.kafka_auth.kafka_python())
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, **settings.kafka_auth.kafka_python())
    try:
        names = {spec(t).full_name(settings) for t in topics}
        offsets = next(iter(admin.list_group_offsets([group or settings.namespace]).values()), {})
        done = {(tp.topic, tp.partition): m.offset for tp, m in offsets.items() if tp.topic in names}
        tps = [TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or [])]
        return all(done.get((tp.topic, tp.partition), 0) >= end for tp, end in consumer.end_offsets(tps).items())
    finally:
        consumer.close()
        admin.close()
