"""Faults with real processes: a worker killed mid-stream, a broker restarted under load.

Either way storage must end with every contact exactly once, equal to the summary that the pure
lifecycle fold gives for the events sent.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.codec import Codec, load_registry
from streams.processors.contact_lifecycle import ContactState
from streams.producers import ChannelProducer
from streams.producers.contact_generator import contact_events
from streams.protection.addresses import canonical, pseudonym
from streams.settings import REPO_ROOT, Settings
from streams.sinks.storage.tables import CONTACT_SUMMARIES
from streams.topics import spec
from tests import expected_figures
from tests.scenarios import T0
from tests.support import (Worker, caught_up, decoded, isolated_settings, query, read_named_topic, read_topic,
                           wait_until)

CONTACTS = 3000
WINDOW_RULES = {"SERVICE_LEVEL", "ABANDONMENT", "VOLUME"}
COLUMNS = CONTACT_SUMMARIES.column_names
DEFAULTS = {"queue": None, "agent_id": None, "language": None, "segment": None, "line": 1,
            "disposition": None, "after_contact_work_ms": None}


def folded(events: list[dict]) -> ContactState:
    """One contact's state after its events, by the pure lifecycle fold."""
    state = ContactState(events[0]["contact_id"])
    for e in events:
        state.apply({**DEFAULTS, **e})
    return state


def expected_summary(events: list[dict], settings: Settings) -> dict:
    """The summary the pure fold makes of a contact's events, its subscriber as the processor
    publishes it: only the keyed pseudonym."""
    summary = folded(events).summary()
    if summary["subscriber_id"]:
        summary["subscriber_id"] = pseudonym(canonical(summary["subscriber_id"]), settings.pseudonym_key)
    return summary


def publish(settings: Settings, seed: int) -> dict[str, dict]:
    """Send the generated contacts; returns the expected summary of each."""
    expected = {}
    with ChannelProducer(settings, check=False) as producer:
        for events in contact_events(CONTACTS, T0, seed=seed):
            for e in events:
                producer.send("contact-events", e)
            expected[events[0]["contact_id"]] = expected_summary(events, settings)
    return expected


def rows(settings: Settings) -> dict[str, dict]:
    return {r[0]: dict(zip(COLUMNS, r)) for r in query(settings, f"SELECT {', '.join(COLUMNS)} FROM contact_summaries")}


def finished(settings: Settings, expected: dict[str, dict]) -> bool:
    count = query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
    if count != len(expected):
        return False
    got = rows(settings)
    return all(got[c]["version"] == e["version"] for c, e in expected.items())


def assert_exactly_the_expected(settings: Settings, expected: dict[str, dict],
                                events: Iterable[list[dict]]) -> None:
    """Every stored row equals the pure fold's summary, and its figures (status, queues, wait,
    handle, duration, transfers, line) those folded by hand from the same events
    (tests/expected_figures.py), so that a bug in the fold is not on both sides."""
    got = rows(settings)
    assert len(got) == len(expected) == query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
    mismatched = [c for c, e in expected.items() if {k: got[c][k] for k in e} != e]
    assert not mismatched, f"{len(mismatched)} contacts differ, e.g. {mismatched[:3]}"
    by_hand = expected_figures.contacts_of(("contact-events", e) for c in events for e in c)
    figures = {cid: c.summary() for cid, c in by_hand.items()}
    stored = {cid: {k: row[k] for k in figures[cid] if k != "csat_score"} for cid, row in got.items()}
    assert stored == {cid: {k: v for k, v in f.items() if k != "csat_score"} for cid, f in figures.items()}


def kill_when(worker: Worker, count_sql: str, above: int, what: str) -> None:
    """SIGKILL the worker once the query's count in its storage passes `above`. Polled often: a
    worker on a fast moment stores a few thousand rows within wait_until's usual quarter second,
    and was once killed only after it had stored everything."""
    try:
        wait_until(lambda: query(worker.settings, count_sql)[0][0] > above, timeout=90, interval=0.02,
                   what=what, worker=worker)
        worker.kill()
    finally:
        worker.stop()


@pytest.mark.kafka
def test_worker_killed_mid_stream_leaves_every_result_once(tmp_path: Path) -> None:
    # Checkpoints close together: with the default (2 s) the worker takes in the whole backlog in
    # one or two of them, and is killed after it stored everything or before it stored anything.
    settings = isolated_settings(tmp_path, checkpoint_interval_s=0.2, batch_max=100)
    create_topics(settings)
    expected = publish(settings, seed=7)
    # Kill it while it is part-way: some summaries stored, far from all.
    kill_when(Worker(settings, "worker-1").start(), "SELECT COUNT(*) FROM contact_summaries", 100,
              "some stored summaries")
    # The fault: the dead worker had processed records its group had not committed yet, so the
    # next worker reads them again.
    replayed = stored_past_commit(settings)
    assert replayed, "the kill came right after a commit: nothing is read again"
    partial = query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
    with Worker(settings, "worker-2") as second:
        wait_until(lambda: finished(settings, expected), timeout=180, what="all contacts final", worker=second)
        assert "Error in recovery" not in second.log()  # state came back from the changelog
    assert_exactly_the_expected(settings, expected, contact_events(CONTACTS, T0, seed=7))
    assert partial < CONTACTS  # the kill really happened mid-stream


def expected_queue_totals(events: dict[str, list[dict]]) -> dict[str, dict[str, int]]:
    """Per queue: offered, answered and abandoned over the whole run, folded by hand from the
    events sent (tests/expected_figures.py, none of the pipeline's code)."""
    contacts = expected_figures.contacts_of(("contact-events", e) for c in events.values() for e in c)
    days = expected_figures.window_figures(contacts.values(), 0, 2**62)
    return {q: {"OFFERED": d.offered, "ANSWERED": len(d.waits), "ABANDONED": len(d.abandon_waits)}
            for q, d in days.items()}


def stored_queue_totals(settings: Settings) -> dict[str, dict[str, int]]:
    """Per queue, over the stored minutes (all regions)."""
    rows_ = query(settings, "SELECT queue, SUM(offered), SUM(answered), SUM(abandoned) FROM queue_statistics "
                            "WHERE \"window\" = 'MINUTE' AND region = '*' GROUP BY queue")
    return {q: {"OFFERED": o, "ANSWERED": a, "ABANDONED": ab} for q, o, a, ab in rows_}



def stored_past_commit(settings: Settings) -> list[tuple[int, int]]:
    """After a kill: the contact-summaries records (partition, offset) whose rows the dead
    worker's storage sink had written at or beyond the offset its group committed. The next
    worker reads those records again and writes their rows a second time."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, **settings.kafka_auth.kafka_python())
    try:
        offsets = next(iter(admin.list_group_offsets([settings.namespace]).values()), {})
    finally:
        admin.close()
    name = spec("contact-summaries").full_name(settings)
    committed = {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == name}
    stored = set(query(settings, "SELECT contact_id, version FROM contact_summaries"))
    codec = Codec(load_registry(settings.schemas_dir))
    first: dict[tuple[str, int], tuple[int, int]] = {}  # (contact, version) -> its first record
    for r in read_topic(settings, "contact-summaries"):
        summary = codec.decode(r.value)
        first.setdefault((summary["contact_id"], summary["version"]), (r.partition, r.offset))
    return sorted(at for key, at in first.items() if key in stored and at[1] >= committed.get(at[0], 0))


@pytest.mark.kafka
def test_worker_killed_mid_stream_leaves_every_statistic_once(tmp_path: Path) -> None:
    """The same for the queue statistics: facts replayed after the kill (their offsets were not
    committed yet, 5 s apart) are not counted again, neither in open minutes nor, as late
    outcomes, in minutes that closed before the kill. The lateness is long enough that nothing is
    late in an uninterrupted run, and short enough that minutes close all through the run."""
    settings = isolated_settings(tmp_path, commit_interval_s=5.0, allowed_lateness_s=1800)
    create_topics(settings)
    events: dict[str, list[dict]] = {}
    with ChannelProducer(settings, check=False) as producer:
        for contact in contact_events(CONTACTS, T0, seed=5):
            events[contact[0]["contact_id"]] = contact
            for e in contact:
                producer.send("contact-events", e)
    want = expected_queue_totals(events)
    kill_when(Worker(settings, "worker-1").start(), "SELECT COUNT(*) FROM queue_statistics WHERE final", 100,
              "some closed minutes")

    def counted() -> bool:
        got = stored_queue_totals(settings)
        return all(got.get(q, {}).get("OFFERED") == w["OFFERED"] for q, w in want.items())

    def alerts_of(s: Settings) -> set[tuple]:
        """The alerts raised from closed windows (OLDEST_WAIT is a live rule, judged against the
        newest event seen when it is evaluated, so its alerts depend on how the input was
        batched and interleaved, in an undisturbed run too)."""
        return {(a["alert_id"], a["kind"], a["subject"], a["state"], a["occurred_at"], tuple(sorted(a["details"].items())))
                for a in decoded(s, "alerts") if a["kind"] in WINDOW_RULES}

    calm = isolated_settings(tmp_path / "undisturbed", commit_interval_s=5.0, allowed_lateness_s=1800)
    with Worker(settings, "worker-2") as second:
        wait_until(counted, timeout=180, what="every offered contact in the minute statistics", worker=second)
        wait_until(lambda: stored_queue_totals(settings) == want, timeout=60, what="every answer and abandon in the minute statistics", worker=second)
        late = query(settings, "SELECT COALESCE(SUM(late_events), 0) FROM queue_statistics")[0][0]
        assert late == 0, f"late_events summed over every stored window: {late}, counted again after the restart"

        # The service alerts raised from these statistics are those of an undisturbed run of the
        # same contacts: the same ids, kinds, subjects, states, times and figures (a replay may
        # send one again). Minutes close as the partitions fall idle, so both run until equal.
        create_topics(calm)
        with ChannelProducer(calm, check=False) as producer:
            for contact in events.values():
                for e in contact:
                    producer.send("contact-events", e)
        with Worker(calm, "undisturbed") as worker:
            wait_until(lambda: stored_queue_totals(calm) == want, timeout=180,
                       what="the undisturbed run's statistics", worker=worker)
            try:
                undisturbed = wait_until(lambda: (a := alerts_of(calm)) and alerts_of(settings) == a and a,
                                         timeout=90, interval=1.0, what="the same alerts as the undisturbed run's",
                                         worker=second)
            except AssertionError:
                killed, calm_ = alerts_of(settings), alerts_of(calm)
                raise AssertionError(f"only after the kill: {sorted(killed - calm_)[:5]}; "
                                     f"only undisturbed: {sorted(calm_ - killed)[:5]}") from None
    assert {a[1] for a in undisturbed} >= {"SERVICE_LEVEL"}, undisturbed


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
    # Every batch a checkpoint, and small ones: the worker takes long enough over the backlog
    # that the broker is stopped with work pending, not after it has stored everything.
    settings = isolated_settings(tmp_path, bootstrap_servers="127.0.0.1:19192", batch_max=20,
                                 checkpoint_interval_s=0.0)
    create_topics(settings)
    expected = publish(settings, seed=11)
    with Worker(settings) as worker:
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0] > 200,
                   timeout=90, what="some stored summaries", worker=worker)
        private_broker("stop")
        # The broker went down with work pending (contacts not stored yet), the worker still up;
        # it saw the broker gone, and finished the work on the same broker restarted.
        pending = CONTACTS - query(settings, "SELECT COUNT(*) FROM contact_summaries")[0][0]
        print("contacts not stored when the broker had stopped:", pending)
        assert pending > 0 and worker.alive()
        private_broker("start")
        wait_until(lambda: finished(settings, expected), timeout=240, what="all contacts final", worker=worker)
        assert "Connect call failed ('127.0.0.1', 19192)" in worker.log()
    assert_exactly_the_expected(settings, expected, contact_events(CONTACTS, T0, seed=11))


def generation(worker: Worker) -> int:
    """The newest generation of the group the worker has joined (0: none yet)."""
    return max((int(g) for g in re.findall(r"Joined group '\S+' \(generation (\d+)\)", worker.log())),
               default=0)


@pytest.mark.kafka
def test_workers_joining_and_leaving_while_publishing_lose_nothing(settings: Settings) -> None:
    """Rebalances under load: one worker starts while contacts are being published (no waiting for
    "Worker ready"), a second joins and leaves. faust skips records of an older consumer generation;
    the first worker, never restarted, must still store every contact (streams/engine/consumer.py)."""
    import threading

    expected: dict[str, dict] = {}
    publisher = threading.Thread(target=lambda: expected.update(publish(settings, seed=11)))
    first = Worker(settings, "worker-1").start(wait_ready=False)
    try:
        publisher.start()
        second = Worker(settings, "worker-2").start(wait_ready=False)
        # Both in the group at once (one generation), sharing the partitions, before one leaves.
        shared = wait_until(lambda: (g := generation(first)) and g == generation(second) and g, timeout=120,
                            what="both workers in one generation of the group", worker=first)
        second.stop()
        publisher.join()
        # The partitions moved: the first worker joined a later generation, alone.
        wait_until(lambda: generation(first) > shared, timeout=60, what="a rebalance after the second left",
                   worker=first)
        wait_until(lambda: finished(settings, expected), timeout=180, what="all contacts final", worker=first)
    finally:
        first.stop()
    assert_exactly_the_expected(settings, expected, contact_events(CONTACTS, T0, seed=11))


@pytest.mark.kafka
def test_restarted_worker_restores_its_tables_in_bulk_and_carries_on(tmp_path: Path) -> None:
    """The first half of every contact's events, a clean stop, a new worker, the second half: the
    summaries and the queue statistics can only come out right if the contacts' states and the
    queues' minutes came back from the changelogs (streams/engine/consumer.py restores them in bulk).
    The second half's events are older than the first half's newest: the lateness allows that."""
    settings = isolated_settings(tmp_path, allowed_lateness_s=7200)
    create_topics(settings)
    events = {c[0]["contact_id"]: c for c in contact_events(500, T0, seed=13)}
    expected = {contact_id: expected_summary(contact, settings) for contact_id, contact in events.items()}

    def send(part: slice) -> None:
        with ChannelProducer(settings, check=False) as producer:
            for contact in events.values():
                for e in contact[part]:
                    producer.send("contact-events", e)

    send(slice(0, 2))
    with Worker(settings, "worker-1") as first:
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries WHERE version = 2")[0][0] == 500,
                   timeout=120, what="every contact's first two events stored", worker=first)
    with Worker(settings, "worker-2") as second:
        restored = re.search(r"Restored (\d+) changelog records in bulk", second.log())
        assert restored and int(restored.group(1)) >= 500, second.log()[-3000:]
        send(slice(2, None))
        wait_until(lambda: finished(settings, expected), timeout=120, what="all contacts final", worker=second)
        want = expected_queue_totals(events)
        wait_until(lambda: stored_queue_totals(settings) == want, timeout=60,
                   what="every offer, answer and abandon in the minute statistics", worker=second)
    assert_exactly_the_expected(settings, expected, events.values())


@pytest.mark.kafka
def test_deltas_sent_before_a_crash_are_sent_again_identically_and_counted_once(tmp_path: Path) -> None:
    """The narrow window of the contact-summary processor: its minute deltas delivered, the
    contacts' states not written. The broker refuses every state write (the changelog's record
    size limit), so the first worker dies right there, every time. The second one replays the
    same events onto the old states: only if it cuts its checkpoint where the first one did, and
    the statistics skip deltas they merged, is every outcome counted once."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    # Checkpoints close together: a replay that took in more than the first worker's checkpoint
    # did would send its deltas under another identifier.
    settings = isolated_settings(tmp_path, allowed_lateness_s=7200, checkpoint_interval_s=0.1, batch_max=100)
    create_topics(settings)
    changelog = f"{settings.namespace}-contact-state-changelog"
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(changelog, settings.partitions, 1,
                                      topic_configs={"cleanup.policy": "compact", "max.message.bytes": "100"})])
        events = {c[0]["contact_id"]: c for c in contact_events(CONTACTS, T0, seed=17)}
        with ChannelProducer(settings, check=False) as producer:
            for contact in events.values():
                for e in contact:
                    producer.send("contact-events", e)
        first = Worker(settings, "worker-1").start()
        try:
            wait_until(lambda: not first.alive(), timeout=120, what="the first worker failing to write state",
                       worker=first)
        finally:
            first.stop()
        assert "MessageSizeTooLarge" in first.log() or "too large" in first.log().lower(), first.log()[-3000:]
        # The engine stopped the worker on purpose (streams/engine/runner.py), not a worker that
        # hangs with a dead processor.
        assert "stopping the worker so that a new one resumes" in first.log(), first.log()[-3000:]
        sent = read_named_topic(settings, spec("queue-facts").full_name(settings))
        assert sent, "the first worker died before it sent any deltas"
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, changelog,
                                            configs={"max.message.bytes": "1048588"})])
    finally:
        admin.close()
    want = expected_queue_totals(events)
    expected = {c: expected_summary(e, settings) for c, e in events.items()}
    with Worker(settings, "worker-2") as second:
        wait_until(lambda: finished(settings, expected), timeout=120, what="all contacts final", worker=second)
        wait_until(lambda: stored_queue_totals(settings) == want, timeout=60,
                   what="every offer, answer and abandon in the minute statistics once", worker=second)
        # every delta merged and every statistics record stored: a delta merged twice would show
        wait_until(lambda: caught_up(settings, "contact-events", "queue-facts", "queue-statistics"), timeout=60,
                   what="everything processed and stored", worker=second)
        assert stored_queue_totals(settings) == want
    late = query(settings, "SELECT COALESCE(SUM(late_events), 0) FROM queue_statistics")[0][0]
    assert late == 0, f"late_events summed over every stored window: {late}"


@pytest.mark.kafka
def test_a_stalled_storage_sink_does_not_stall_the_processors(tmp_path: Path) -> None:
    """The database refuses every write (another connection holds SQLite's write lock): the
    sinks' buffers fill and their partitions pause, but the contact-summary processor goes on
    summarising every contact onto the bus, and storage catches up once the lock is gone. (When
    a full buffer held up the whole fetch loop, the summaries stopped at about the buffer's size.)"""
    import sqlite3

    settings = isolated_settings(tmp_path, checkpoint_interval_s=0.2, batch_max=50)  # buffers of 200
    create_topics(settings)
    with Worker(settings) as worker:
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries") == [(0,)], what="storage")
        lock = sqlite3.connect(settings.database_url[len("sqlite:///"):], isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            expected = publish(settings, seed=31)
            summarised = wait_until(
                lambda: len({r.key for r in read_topic(settings, "contact-summaries")} & {c.encode() for c in expected})
                == len(expected), timeout=90, what="a summary of every contact on the bus", worker=worker)
            assert summarised
            stored = lock.execute("SELECT COUNT(*) FROM contact_summaries").fetchone()[0]
            assert stored == 0  # the sink was stalled the whole time
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        wait_until(lambda: finished(settings, expected), timeout=90, what="storage to catch up", worker=worker)
    assert_exactly_the_expected(settings, expected, contact_events(CONTACTS, T0, seed=31))
