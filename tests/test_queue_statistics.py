"""Queue statistics, live queues and CSAT end to end on the real broker, against hand-computed
figures for the scripted contacts (see tests/scenarios.py and tests/test_queue_windows.py)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.analytics.queue_window import DAY_MS
from streams.processors.contact_lifecycle import ContactState
from streams.producers import ChannelProducer
from streams.sinks.storage.tables import QUEUE_STATISTICS
from tests.scenarios import EXPECTED, SCRIPTED, T0, delivery_order, ev
from tests.support import Worker, caught_up, decoded, free_port, isolated_settings, query, wait_until
from tests.test_contact_lifecycle import SCHEMA_DEFAULTS

DAY0 = T0 - T0 % DAY_MS
COLUMNS = QUEUE_STATISTICS.column_names


def stat(settings, stat_id: str) -> dict | None:  # noqa: ANN001
    quoted = ", ".join(f'"{c}"' for c in COLUMNS)
    rows = query(settings, f"SELECT {quoted} FROM queue_statistics WHERE stat_id = %s", (stat_id,))
    return dict(zip(COLUMNS, rows[0])) if rows else None


def survey(contact: str, score: int, at_s: float) -> dict:
    return {"response_id": f"s-{contact}", "contact_id": contact, "subscriber_id": f"sub-{contact}",
            "occurred_at": T0 + int(at_s * 1000), "score": score, "source": "test"}


def agent(agent_id: str, state: str, at_s: float, queues: list[str]) -> dict:
    return {"event_id": f"{agent_id}-{state}-{at_s}", "agent_id": agent_id, "occurred_at": T0 + int(at_s * 1000),
            "state": state, "queues": queues, "skills": [], "capacity": {"VOICE": 1}, "source": "test"}


@pytest.mark.kafka
def test_statistics_live_queues_and_csat(tmp_path: Path) -> None:
    port = free_port()
    settings = isolated_settings(tmp_path, web_port=port, stats_update_interval_s=0.5)
    create_topics(settings)
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        producer.send("survey-responses", survey("A", 5, 300))  # before any event of A
        for e in delivery_order():
            producer.send("contact-events", e)
        producer.send("survey-responses", survey("C", 4, 400))
        for a in (agent("agent-1", "AVAILABLE", 1, ["email-general", "voice-general"]),
                  agent("agent-2", "BUSY", 2, ["email-general"]),
                  agent("agent-3", "AWAY", 3, ["email-general"]),
                  agent("agent-3", "AVAILABLE", 0, ["email-general"])):  # older: ignored
            producer.send("agent-events", a)
        producer.flush()

        # Live view: D waits in email-general since T0+200 s; the newest event there is D's.
        def email_live() -> dict | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/queues/email-general/", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                return None
            return body if body["agents_logged_in"] == 3 else None

        live = wait_until(email_live, timeout=90, what="the live email queue", worker=worker)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2) as r:
            health = json.loads(r.read())
        # streams/engine/collector.py: the worker collects cycles far less often than Python's default
        assert health["gc"]["thresholds"][0] == settings.gc_young_threshold == 500_000
        assert health["gc"]["frozen"] > 0
        assert (live["waiting"], live["agents_available"], live["agents_busy"], live["agents_away"]) == (1, 1, 1, 1)
        # one ahead of a new contact plus itself, one available agent: 1 x AHT / 2 staffed
        assert live["ewt_ms"] == pytest.approx(1 * 180_000 / 2)

        # Open (not final) day record while the day is running.
        voice_day = f"voice-general|VOICE|*|DAY|{DAY0}"
        open_day = wait_until(lambda: (s := stat(settings, voice_day)) and s["answered"] == 2 and s,
                              timeout=60, what="the open day record", worker=worker)
        assert open_day["final"] in (False, 0)

        # A contact a day later in each queue moves every queue's watermark past the day's end.
        for queue, channel in (("voice-general", "VOICE"), ("chat-general", "CHAT"), ("email-general", "EMAIL"),
                               ("voice-line2", "VOICE")):
            producer.send("contact-events", ev(f"tick-{queue}", "QUEUED", 86_400 + 3_600, channel, queue=queue))
        producer.flush()
        final = wait_until(lambda: (s := stat(settings, voice_day)) and s["final"] and s,
                           timeout=90, what="the final day record", worker=worker)
        assert (final["offered"], final["answered"], final["abandoned"]) == (2, 2, 0)
        assert final["asa_ms"] == 55_000 and final["service_level"] == 0.5
        assert final["wait_p50_ms"] == pytest.approx(20_000, rel=0.01) and final["wait_max_ms"] == 90_000
        assert (final["aht_ms"], final["avg_duration_ms"], final["transfers"], final["escalations"]) == \
            (171_000, 256_000, 1, 1)
        chat = stat(settings, f"chat-general|CHAT|chelyabinsk|DAY|{DAY0}")
        assert (chat["abandoned"], chat["short_abandoned"], chat["abandonment_rate"]) == (1, 1, 1.0)
        minute = stat(settings, f"voice-general|VOICE|*|MINUTE|{T0 + 60_000}")
        assert (minute["final"], minute["offered"], minute["answered"], minute["asa_ms"]) == (True, 1, 1, 90_000)

        # Late: a contact queued in the first minute, after that minute closed.
        producer.send("contact-events", ev("LATE", "QUEUED", 1, queue="voice-general"))
        producer.flush()
        late_minute = wait_until(lambda: (s := stat(settings, f"voice-general|VOICE|*|MINUTE|{T0}")) and
                                 s["late_events"] == 1 and s, timeout=60, what="the late count", worker=worker)
        assert late_minute["offered"] == 1  # A only; the late contact is counted, not added
        day = wait_until(lambda: (s := stat(settings, voice_day)) and s["late_events"] == 1 and s,
                         timeout=60, what="the late count of the day", worker=worker)
        assert day["offered"] == 2 and day["final"]

        # CSAT joined to the contacts, whichever came first.
        scores = dict(query(settings, "SELECT contact_id, csat_score FROM contact_summaries WHERE contact_id IN ('A','C')"))
        assert scores == {"A": 5, "C": 4}
        assert stat(settings, voice_day)["version"] >= 1 and EXPECTED["A"]["status"] == "ENDED"
        assert "Traceback" not in worker.log()


@pytest.mark.kafka
def test_fact_records_old_and_new_forms_and_a_bad_fact(tmp_path: Path) -> None:
    """queue-facts carries one record per queue per batch (QueueFactBatch); records of the older
    form (one QueueFact each, from a worker of an earlier release) still count, and bad facts in a
    record go to the dead letters while the others count. Among them, facts that would move every
    source's watermark past the wall clock: taken in, they would close every window, and the
    next fact would count as late."""
    from kafka import KafkaProducer

    from streams.codec import Codec, load_registry
    from streams.topics import spec

    settings = isolated_settings(tmp_path)
    create_topics(settings)
    codec = Codec(load_registry(settings.schemas_dir))

    def fact(contact: str, **extra: object) -> dict:
        return {"fact_id": f"{contact}|OFFERED|0", "sign": 1, "kind": "OFFERED", "queue": "voice-general",
                "channel": "VOICE", "region": "chelyabinsk", "at": T0 + 1_000, "contact_id": contact,
                "wait_ms": None, "handle_ms": None, "duration_ms": None, "agent_id": None, "agent_state": None,
                "source_partition": None, "watermark": None, **extra}

    topic = spec("queue-facts").full_name(settings)
    with Worker(settings) as worker:
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
        producer.send(topic, key=b"voice-general", value=codec.encode("io.firstline.QueueFact", fact("old")))
        bad = [fact("bad", kind="WATERMARK")]  # a heartbeat without its source partition
        sources = spec("contact-events").partition_count(settings)
        bad += [fact(f"future-{p}", source_partition=p, watermark=4_200_000_000_000) for p in range(sources)]
        bad.append(fact("nowhere", source_partition=sources, watermark=T0))
        batch = [fact("new"), *bad]
        producer.send(topic, key=b"voice-general", value=codec.encode(
            "io.firstline.QueueFactBatch", {"queue": "voice-general", "facts": batch}))
        producer.send(topic, key=b"voice-general", value=codec.encode(
            "io.firstline.QueueFactBatch", {"queue": "voice-general", "facts": [fact("next")]}))
        producer.flush()
        producer.close()
        minute = f"voice-general|VOICE|*|MINUTE|{T0 - T0 % 60_000}"
        counted = wait_until(lambda: (s := stat(settings, minute)) and s["offered"] == 3 and s,
                             timeout=60, what="the three good facts counted", worker=worker)
        assert counted["late_events"] == 0 and not counted["final"]
        letters = wait_until(lambda: (found := decoded(settings, "dead-letters")) and len(found) >= len(bad) and found,
                             timeout=30, what="the bad facts' dead letters", worker=worker)
    assert sorted(letter["error"].split(":")[0] for letter in letters) == \
        sorted(f"fact {i} of {len(batch)}" for i in range(1, len(batch)))
    assert all("past the wall clock" in letter["error"] for letter in letters[1:-1]), letters


@pytest.mark.kafka
def test_a_minute_of_a_very_busy_queue(tmp_path: Path) -> None:
    """12,000 calls queued and answered within one minute in one queue. The statistics once kept
    every counted fact id inside the minute's stored value: this minute's value outgrew the
    broker's largest record (1 MB) and the worker stopped."""
    settings = isolated_settings(tmp_path)
    create_topics(settings)
    calls = 12_000
    with ChannelProducer(settings) as producer:
        for i in range(calls):
            contact = f"busy-{i}"
            at_ms = T0 + i * 50_000 // calls  # all within the first 50 s of T0's minute
            for kind, extra in (("QUEUED", {}), ("ANSWERED", {"agent_id": f"agent-{i % 300}"})):
                producer.send("contact-events", {"event_id": f"{contact}-{kind}", "contact_id": contact, "type": kind,
                                                 "occurred_at": at_ms + (2_000 if extra else 0), "channel": "VOICE",
                                                 "source": "test", "queue": "voice-busy", **extra})
    with Worker(settings) as worker:
        minute = T0 - T0 % 60_000
        row = wait_until(lambda: (s := stat(settings, f"voice-busy|VOICE|*|MINUTE|{minute}")) and
                         s["answered"] == calls and s, timeout=180, what="the busy minute", worker=worker)
        assert (row["offered"], row["answered"], row["asa_ms"]) == (calls, calls, 2_000)


@pytest.mark.kafka
def test_minute_deltas_counted_once_and_bad_ones_dead_lettered(tmp_path: Path) -> None:
    """Minute deltas (streams/processors/minute_deltas.py) on the internal topic as a hostile
    writer could send them: a good one counts once however often it comes under its identifier;
    one for a time that is not a minute goes to the dead letters while the others of its record
    count; deltas that do not say where they come from go there too, all of them."""
    from kafka import KafkaProducer

    from streams.codec import Codec, load_registry
    from streams.processors.minute_deltas import CheckpointDeltas
    from streams.processors.queue_facts import outcome_changes, outcomes_of
    from streams.topics import spec

    settings = isolated_settings(tmp_path)
    create_topics(settings)
    codec = Codec(load_registry(settings.schemas_dir))
    state = ContactState("A")
    for e in SCRIPTED["A"]:
        state.apply({**SCHEMA_DEFAULTS, **e})
    deltas = CheckpointDeltas(settings.sl_threshold_ms)
    deltas.add(0, state, outcome_changes({}, outcomes_of(state)), None)
    ((queue, good),) = [(q, r) for q, r in deltas.records(0, None, 41) if q == "voice-general"]
    assert [d["offered"] for d in good["minutes"]] == [1, 0, 0]  # queued, answered, ended: three minutes
    offered = good["minutes"][0]
    bad = {**offered, "start": offered["start"] + 1}
    topic = spec("queue-facts").full_name(settings)
    with Worker(settings) as worker:
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
        for record in (good, {**good, "minutes": [offered, bad], "through_offset": 42}, good,
                       {**good, "source_partition": None, "through_offset": 43, "minutes": [offered]}):
            producer.send(topic, key=queue.encode(), value=codec.encode("io.firstline.QueueFactBatch", record))
        producer.flush()
        producer.close()
        minute = f"voice-general|VOICE|*|MINUTE|{offered['start']}"
        wait_until(lambda: (s := stat(settings, minute)) and s["offered"] == 2, timeout=60,
                   what="the good deltas counted", worker=worker)
        letters = wait_until(lambda: (found := decoded(settings, "dead-letters")) and len(found) >= 2 and found,
                             timeout=30, what="the bad deltas' dead letters", worker=worker)
        # every delta merged and every statistics record stored: a delta counted twice would show
        wait_until(lambda: caught_up(settings, "queue-facts", "queue-statistics"), timeout=60,
                   what="the statistics caught up", worker=worker)
        assert (stat(settings, minute)["offered"], stat(settings, minute)["late_events"]) == (2, 0)
    errors = sorted(letter["error"] for letter in letters)
    assert errors[0].startswith("1 minute deltas: source partition None"), errors
    assert errors[1].startswith("minute delta 1 of 2: minute delta start"), errors
