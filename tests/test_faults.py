"""Faults with real processes: a worker killed mid-stream, a broker restarted under load.

Either way storage must end with every contact exactly once, equal to the summary that the pure
lifecycle fold gives for the events sent.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.processors.contact_lifecycle import ContactState
from streams.producers import ChannelProducer
from streams.producers.contact_generator import contact_events
from streams.settings import REPO_ROOT, Settings
from streams.sinks.storage.tables import CONTACT_SUMMARIES
from tests.scenarios import T0
from tests.support import Worker, isolated_settings, query, wait_until

CONTACTS = 3000
COLUMNS = CONTACT_SUMMARIES.column_names
DEFAULTS = {"queue": None, "agent_id": None, "language": None, "segment": None, "line": 1,
            "disposition": None, "after_contact_work_ms": None}


def publish(settings: Settings, seed: int) -> dict[str, dict]:
    """Send the generated contacts; returns the expected summary of each."""
    expected = {}
    with ChannelProducer(settings, check=False) as producer:
        for events in contact_events(CONTACTS, T0, seed=seed):
            state = ContactState(events[0]["contact_id"])
            for e in events:
                producer.send("contact-events", e)
                state.apply({**DEFAULTS, **e})
            expected[state.contact_id] = state.summary()
    return expected


def rows(settings: Settings) -> dict[str, dict]:
    return {r[0]: dict(zip(COLUMNS, r)) for r in query(settings, f"SELECT {', '.join(COLUMNS)} FROM contact_summaries")}


def finished(settings: Settings, expected: dict[str, dict]) -> bool:
    count = query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
    if count != len(expected):
        return False
    got = rows(settings)
    return all(got[c]["version"] == e["version"] for c, e in expected.items())


def assert_exactly_the_expected(settings: Settings, expected: dict[str, dict]) -> None:
    got = rows(settings)
    assert len(got) == len(expected) == query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
    mismatched = [c for c, e in expected.items() if {k: got[c][k] for k in e} != e]
    assert not mismatched, f"{len(mismatched)} contacts differ, e.g. {mismatched[:3]}"


@pytest.mark.kafka
def test_worker_killed_mid_stream_leaves_every_result_once(settings: Settings) -> None:
    expected = publish(settings, seed=7)
    first = Worker(settings, "worker-1").start()
    try:
        # Kill it while it is part-way: some summaries stored, far from all.
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0] > 200,
                   timeout=90, what="some stored summaries", worker=first)
        first.kill()
    finally:
        first.stop()
    partial = query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
    with Worker(settings, "worker-2") as second:
        wait_until(lambda: finished(settings, expected), timeout=180, what="all contacts final", worker=second)
        assert "Error in recovery" not in second.log()  # state came back from the changelog
    assert_exactly_the_expected(settings, expected)
    assert partial < CONTACTS  # the kill really happened mid-stream


@pytest.fixture
def private_broker(tmp_path: Path):
    """A broker of this test's own (another port and data folder), so it can be restarted."""
    env = {**os.environ, "FIRSTLINE_KAFKA_PORT": "19192", "FIRSTLINE_KAFKA_HOME": str(tmp_path / "kafka")}
    ctl = [str(REPO_ROOT / "deploy" / "kafka" / "kafkactl")]
    subprocess.run([*ctl, "start"], env=env, check=True, timeout=180)
    try:
        yield lambda action: subprocess.run([*ctl, action], env=env, check=True, timeout=180)
    finally:
        subprocess.run([*ctl, "stop"], env=env, timeout=60)


@pytest.mark.kafka
def test_broker_restart_under_load_leaves_every_result_once(tmp_path: Path, private_broker) -> None:
    settings = isolated_settings(tmp_path, bootstrap_servers="127.0.0.1:19192")
    create_topics(settings)
    expected = publish(settings, seed=11)
    with Worker(settings) as worker:
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0] > 200,
                   timeout=90, what="some stored summaries", worker=worker)
        private_broker("stop")
        private_broker("start")
        wait_until(lambda: finished(settings, expected), timeout=240, what="all contacts final", worker=worker)
    assert_exactly_the_expected(settings, expected)


@pytest.mark.kafka
def test_workers_joining_and_leaving_while_publishing_lose_nothing(settings: Settings) -> None:
    """Rebalances under load: one worker starts while contacts are being published (no waiting for
    "Worker ready"), a second joins and leaves. faust skips records of an older consumer generation;
    the first worker, never restarted, must still store every contact (streams/transport.py)."""
    import threading

    expected: dict[str, dict] = {}
    publisher = threading.Thread(target=lambda: expected.update(publish(settings, seed=11)))
    first = Worker(settings, "worker-1").start(wait_ready=False)
    try:
        publisher.start()
        second = Worker(settings, "worker-2").start(wait_ready=False)
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0] > 300,
                   timeout=120, what="some stored summaries", worker=first)
        second.stop()
        publisher.join()
        wait_until(lambda: finished(settings, expected), timeout=180, what="all contacts final", worker=first)
    finally:
        first.stop()
    assert_exactly_the_expected(settings, expected)
