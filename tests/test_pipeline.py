"""Producer -> contact-summary processor -> summary sink -> storage, on the real broker.

The scripted contacts arrive shuffled and partly duplicated, mixed with hostile records; storage
must end with exactly the hand-computed summaries, and every hostile record must be in the
dead-letter topic with its origin.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from streams.codec import Codec, load_registry
from streams.producers import ChannelProducer, InvalidRecord
from streams.settings import REPO_ROOT, Settings
from streams.sinks.storage.tables import CONTACT_SUMMARIES
from tests.scenarios import EXPECTED, T0, delivery_order, ev
from tests.support import Worker, decoded, firstline, query, read_topic, wait_until

COLUMNS = CONTACT_SUMMARIES.column_names


def stored(settings: Settings) -> dict[str, dict]:
    rows = query(settings, f"SELECT {', '.join(COLUMNS)} FROM contact_summaries")
    return {r[0]: dict(zip(COLUMNS, r)) for r in rows}


def publish_script(settings: Settings) -> dict[str, bytes]:
    """Send the scripted contacts and three hostile records; returns the hostile values by name."""
    codec = Codec(load_registry(settings.schemas_dir))
    seconds = {**ev("E", "QUEUED", 0, queue="q"), "occurred_at": T0 // 1000}  # seconds, not ms
    hostile = {
        "garbage": b"\x00not avro at all",
        "seconds": codec.encode("io.firstline.ContactEvent", {**seconds, "queue": "q"}),
        "wrong-key": codec.encode("io.firstline.ContactEvent", ev("F", "QUEUED", 0, queue="q")),
    }
    with ChannelProducer(settings) as producer:
        events = delivery_order()
        for e in events[:6]:
            producer.send("contact-events", e)
        producer.send_raw("contact-events", b"A", hostile["garbage"])
        producer.send_raw("contact-events", b"E", hostile["seconds"])
        producer.send_raw("contact-events", b"not-F", hostile["wrong-key"])
        for e in events[6:]:
            producer.send("contact-events", e)
    return hostile


def check_storage_and_dead_letters(settings: Settings, worker: Worker, hostile: dict[str, bytes]) -> None:
    def all_final() -> dict | None:
        rows = stored(settings)
        done = all(rows.get(c, {}).get("version") == EXPECTED[c]["version"] for c in EXPECTED)
        return rows if done else None

    rows = wait_until(all_final, timeout=90, what="the scripted summaries in storage", worker=worker)
    assert set(rows) == set(EXPECTED)
    for contact, expected in EXPECTED.items():
        got = {k: rows[contact][k] for k in expected}
        assert got == expected, contact

    letters = wait_until(lambda: decoded(settings, "dead-letters") if len(read_topic(settings, "dead-letters")) >= 3 else None,
                         what="three dead letters", worker=worker)
    by_value = {bytes(d["value"]): d for d in letters}
    assert set(by_value) == set(hostile.values()) and len(letters) == 3
    source = f"{settings.namespace}.contact-events"
    garbage = by_value[hostile["garbage"]]
    assert (garbage["error_kind"], garbage["source_topic"], garbage["key"]) == ("UNDECODABLE", source, b"A")
    assert garbage["processor"] == "contact-summary" and garbage["source_offset"] >= 0
    assert by_value[hostile["seconds"]]["error_kind"] == "INVALID"
    assert "milliseconds" in by_value[hostile["seconds"]]["error"]
    assert by_value[hostile["wrong-key"]]["error_kind"] == "INVALID"
    # The offsets named are where the bytes really are.
    originals = {(r.partition, r.offset): r.value for r in read_topic(settings, "contact-events")}
    for letter in letters:
        assert originals[(letter["source_partition"], letter["source_offset"])] == letter["value"]


@pytest.mark.kafka
def test_pipeline_into_sqlite(settings: Settings) -> None:
    with Worker(settings) as worker:
        hostile = publish_script(settings)
        check_storage_and_dead_letters(settings, worker, hostile)
        assert "Traceback" not in worker.log()


@pytest.mark.kafka
def test_processors_and_sinks_in_two_processes(settings: Settings) -> None:
    """FIRSTLINE_ROLE splits a worker's load over two processes; together they do the same job."""
    sinks = Worker(dataclasses.replace(settings, role="sinks"), "sinks")
    with Worker(dataclasses.replace(settings, role="processors"), "processors") as processors, sinks:
        hostile = publish_script(settings)
        check_storage_and_dead_letters(settings, processors, hostile)
        group = f"group {settings.namespace}-sinks"  # a consumer group of its own
        assert group in sinks.log() and group not in processors.log()
        assert "Traceback" not in processors.log() + sinks.log()


@pytest.mark.kafka
@pytest.mark.postgres
def test_pipeline_into_postgres(tmp_path: Path, postgres_url: str) -> None:
    from streams.admin.topics import create_topics
    from tests.support import isolated_settings

    settings = isolated_settings(tmp_path, database_url=postgres_url)
    create_topics(settings)
    with Worker(settings) as worker:
        hostile = publish_script(settings)
        check_storage_and_dead_letters(settings, worker, hostile)
    tables = query(settings, "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
                   ("contact_summaries",))
    assert tables and tables[0][0].startswith("t")  # it really went to PostgreSQL, in our schema


@pytest.mark.kafka
def test_tail_shows_summaries_and_a_schema_only_consumer_decodes_them(settings: Settings) -> None:
    with Worker(settings) as worker:
        publish_script(settings)
        wait_until(lambda: len(stored(settings)) == len(EXPECTED) and
                   all(r["version"] == EXPECTED[c]["version"] for c, r in stored(settings).items()),
                   timeout=90, what="summaries", worker=worker)
    result = firstline(settings, "tail", "contact-summaries", "--from-beginning", "--idle-timeout", "3")
    assert result.returncode == 0, result.stderr.decode()
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    newest = {}
    for rec in lines:
        if rec["version"] >= newest.get(rec["contact_id"], {}).get("version", 0):
            newest[rec["contact_id"]] = rec
    assert {c: newest[c]["status"] for c in EXPECTED} == {c: e["status"] for c, e in EXPECTED.items()}
    assert newest["A"]["wait_ms"] == 90_000

    # A downstream team's consumer: plain fastavro and the files in schemas/, no project code.
    script = REPO_ROOT / "tests" / "fixtures" / "schema_only_consumer.py"
    proc = subprocess.run([sys.executable, str(script), settings.bootstrap_servers,
                           f"{settings.namespace}.contact-summaries", str(REPO_ROOT / "schemas")],
                          capture_output=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr.decode()
    decoded_lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(decoded_lines) == len(lines)
    assert {(d["contact_id"], d["version"], d["status"]) for d in decoded_lines} == \
        {(d["contact_id"], d["version"], d["status"]) for d in lines}


@pytest.mark.kafka
def test_producer_rejects_invalid_records_and_keys_by_the_catalogue(settings: Settings) -> None:
    with ChannelProducer(settings) as producer:
        with pytest.raises(InvalidRecord, match="contact_id"):
            producer.send("contact-events", {**ev("G", "QUEUED", 0, queue="q"), "contact_id": None})
        with pytest.raises(InvalidRecord, match="type"):
            producer.send("contact-events", {**ev("G", "QUEUED", 0, queue="q"), "type": "LOST"})
        producer.send("contact-events", ev("G", "QUEUED", 0, queue="q"))
    records = read_topic(settings, "contact-events")
    assert [(r.key, len(records)) for r in records] == [(b"G", 1)]


@pytest.mark.kafka
def test_produce_command_sends_good_lines_and_reports_bad_ones(settings: Settings) -> None:
    good = ev("H", "QUEUED", 0, queue="q")
    lines = b"\n".join([json.dumps(good).encode(), b"{not json", json.dumps({**good, "type": "NOPE"}).encode()])
    result = firstline(settings, "produce", "contact-events", input=lines)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "line 2" in err and "line 3" in err and "sent 1, rejected 2" in err
    assert [r.key for r in read_topic(settings, "contact-events")] == [b"H"]


def test_settings_are_isolated(settings: Settings) -> None:
    assert settings.namespace != Settings().namespace
    assert dataclasses.replace(settings).namespace == settings.namespace
