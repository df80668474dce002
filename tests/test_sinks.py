"""The storage sinks on the engine (streams/sinks/base.py), against a real PostgreSQL server: a
row the database refuses goes to the dead letters while the others are written; a server
restart while the sink writes loses and doubles nothing; SIGTERM stops a worker whose sink is
retrying. And no password reaches the worker's log or the run's output."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.producers.contact_generator import contact_events
from tests.scenarios import EXPECTED, SCRIPTED, T0, ev
from tests.support import Worker, decoded, firstline, free_port, isolated_settings, query, wait_until
from tests.test_faults import CONTACTS, assert_exactly_the_expected, finished, publish

DEFAULTS = {"queue": None, "agent_id": None, "language": None, "segment": None, "line": 1,
            "disposition": None, "after_contact_work_ms": None}


def cluster() -> tuple[str, str] | None:
    """(version, name) of the local PostgreSQL cluster that CI starts, if this process may control it."""
    if shutil.which("pg_lsclusters") is None or os.geteuid() != 0:
        return None
    for line in subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.splitlines():
        version, name, *_rest = line.split()
        if "online" in line:
            return version, name
    return None


@pytest.fixture
def server() -> Iterator[tuple[str, str]]:
    found = cluster()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run these tests against the local PostgreSQL cluster, as root")
        pytest.skip("no local PostgreSQL cluster this process may restart")
    yield found
    subprocess.run(["pg_ctlcluster", *found, "start"], capture_output=True)  # whatever a test left


def pg(server: tuple[str, str], action: str) -> None:
    subprocess.run(["pg_ctlcluster", *server, action], check=True, capture_output=True, timeout=120)


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.kafka
@pytest.mark.postgres
def test_a_row_the_database_refuses_is_dead_lettered_and_the_others_written(tmp_path: Path, postgres_url: str) -> None:
    settings = isolated_settings(tmp_path, database_url=postgres_url)
    create_topics(settings)
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        for e in [e for c in sorted(SCRIPTED) for e in SCRIPTED[c]]:
            producer.send("contact-events", {**DEFAULTS, **e})
        # A NUL byte is a valid Avro string, and PostgreSQL refuses it in text.
        producer.send("contact-events", {**DEFAULTS, **ev("NUL", "CREATED", 0), "region": "chelyabinsk\x00-1"})
        producer.flush()
        wait_until(lambda: {r[0] for r in query(settings, "SELECT contact_id FROM contact_summaries")} == set(SCRIPTED),
                   timeout=60, what="the good contacts in PostgreSQL", worker=worker)
        (letter,) = wait_until(lambda: decoded(settings, "dead-letters"), timeout=60, what="the refused row's dead letter",
                               worker=worker)
        assert letter["error_kind"] == "REFUSED" and letter["processor"] == "contact-summaries-sink"
        assert letter["source_topic"].endswith("contact-summaries") and "NUL" in letter["error"]
        assert worker.alive()
    rows = {r[0]: r[1] for r in query(settings, "SELECT contact_id, version FROM contact_summaries")}
    assert rows == {c: EXPECTED[c]["version"] for c in SCRIPTED}


@pytest.mark.kafka
@pytest.mark.postgres
def test_a_server_restart_while_the_sink_writes_loses_and_doubles_nothing(tmp_path: Path, postgres_url: str,
                                                                           server: tuple[str, str]) -> None:
    port = free_port()
    settings = isolated_settings(tmp_path, database_url=postgres_url, web_port=port, batch_max=100)
    create_topics(settings)
    with Worker(settings) as worker:
        expected: dict = {}
        publishing = threading.Thread(target=lambda: expected.update(publish(settings, seed=47)))
        publishing.start()
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0] > 0, timeout=60,
                   interval=0.05, what="the first rows", worker=worker)
        pg(server, "restart")  # the sink's connection dies under it
        publishing.join()
        wait_until(lambda: finished(settings, expected), timeout=120, what="every contact stored", worker=worker)
        sink = health(port)["processors"]["contact-summaries-sink"]
        stats = health(port)["processors"]["queue-statistics-sink"]
        assert sink["retries"] + stats["retries"] > 0, "the restart never reached the sinks"
        assert sink["refused_rows"] == 0 and worker.alive()
    assert_exactly_the_expected(settings, expected, contact_events(CONTACTS, T0, seed=47))


@pytest.mark.kafka
@pytest.mark.postgres
def test_sigterm_stops_a_worker_whose_sink_is_retrying(tmp_path: Path, postgres_url: str,
                                                       server: tuple[str, str]) -> None:
    settings = isolated_settings(tmp_path, database_url=postgres_url)
    create_topics(settings)
    worker = Worker(settings).start()
    try:
        pg(server, "stop")
        with ChannelProducer(settings) as producer:
            for e in SCRIPTED["A"]:
                producer.send("contact-events", {**DEFAULTS, **e})
        wait_until(lambda: "retrying in" in worker.log(), timeout=60, what="the sink to retry", worker=worker)
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGTERM)
        worker.proc.wait(timeout=30)  # it stops while the sink retries, not once retries run out
    finally:
        pg(server, "start")
        worker.stop()
    # Nothing was acknowledged while the database was down: a new worker writes it.
    with Worker(settings, name="again") as again:
        wait_until(lambda: query(settings, "SELECT version FROM contact_summaries WHERE contact_id = 'A'") == [(4,)],
                   timeout=60, what="A stored by the next worker", worker=again)


@pytest.mark.kafka
def test_no_password_in_the_run_output_or_the_worker_log(tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55"
    url = f"postgresql://firstline:{secret}@127.0.0.1:1/nowhere"  # nothing listens: the sink retries
    settings = isolated_settings(tmp_path, database_url=url)
    create_topics(settings)
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        for e in SCRIPTED["A"]:
            producer.send("contact-events", {**DEFAULTS, **e})
        producer.flush()
        wait_until(lambda: "retrying in" in worker.log(), timeout=60, what="the sink to retry", worker=worker)
        assert secret not in worker.log()
    done = firstline(settings, "run", "--hours", "0.2", "--speedup", "0", "--scale", "0.1", "--sms-hours", "0",
                     "--timeout", "5")
    assert "firstline:***@127.0.0.1" in done.stdout.decode()
    assert secret not in (done.stdout + done.stderr).decode()


def test_writes_overlap_decoding_coalesce_and_the_checkpoint_waits_for_them() -> None:
    """A broker-less sink on a store whose writes wait until the test lets them go: the first
    batch's write starts at once; batches decoded meanwhile are written together in the next
    transaction (newest version per key); the checkpoint returns only once both are written; a
    failed write is raised at the checkpoint, and what was pending is dropped (read again)."""
    import asyncio
    from typing import Any

    from streams.engine.errors import Abandoned
    from streams.engine.testing import BrokerlessContext, MemoryBroker, offline_settings
    from streams.sinks.storage_sink import ContactSummarySink
    from tests.bench_storage import summary

    class SlowStore:
        def __init__(self) -> None:
            self.transactions: list[list[tuple[str, int]]] = []
            self.go = asyncio.Event()
            self.fail_next = False

        async def open(self) -> None: ...

        async def upsert(self, table: Any, rows: list[tuple[Any, ...]]) -> None:
            await self.go.wait()
            if self.fail_next:
                self.fail_next = False
                raise OSError("connection lost")
            self.transactions.append(sorted((r[0], r[1]) for r in rows))

        def is_transient(self, exc: BaseException) -> bool:
            return isinstance(exc, OSError)

        async def reconnect(self) -> None: ...

    from streams.codec import Codec, load_registry

    settings = offline_settings()
    codec = Codec(load_registry(settings.schemas_dir))

    def message(n: int, version: int) -> Any:
        from aiokafka.structs import ConsumerRecord

        value = codec.encode("io.firstline.ContactSummary", summary(n, version))
        return ConsumerRecord("contact-summaries", 0, n, 0, 0, b"k", value, None, 1, len(value), ())

    async def scenario() -> tuple[list[list[tuple[str, int]]], str]:
        store = SlowStore()
        ctx = BrokerlessContext(settings, codec, MemoryBroker(), ContactSummarySink.name)
        sink = ContactSummarySink(ctx, store)  # type: ignore[arg-type]
        ctx.bind(sink)
        sink.on_batch([message(0, 1), message(1, 1)])
        await asyncio.sleep(0)  # the writer has started and waits in the store
        assert sink.writer is not None and not sink.writer.done() and not sink.pending
        sink.on_batch([message(2, 1), message(1, 2)])
        sink.on_batch([message(1, 3), message(3, 1)])  # decoded while the first write waits
        checkpoint = asyncio.ensure_future(sink.on_checkpoint())
        await asyncio.sleep(0.01)
        assert not checkpoint.done()  # nothing acknowledged while rows are unwritten
        store.go.set()
        await checkpoint
        # the database is down while the worker stops: the write gives up, the checkpoint raises
        # it, and the rows pending then are dropped unacknowledged (read again by the next owner)
        store.fail_next = True
        ctx.stopping = True
        sink.on_batch([message(4, 1)])
        await asyncio.sleep(0)
        sink.on_batch([message(5, 1)])
        try:
            await sink.on_checkpoint()
            failed = "no failure"
        except Abandoned as exc:
            failed = type(exc).__name__
        assert not sink.pending and sink.writer is None
        return store.transactions, failed

    transactions, failed = asyncio.run(scenario())
    assert transactions[0] == [("b000000000", 1), ("b000000001", 1)]
    assert transactions[1] == [("b000000001", 3), ("b000000002", 1), ("b000000003", 1)]  # two batches, one transaction
    assert failed == "Abandoned" and len(transactions) == 2
