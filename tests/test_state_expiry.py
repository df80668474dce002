"""Contact states are forgotten after the retention, by event time (unit and end to end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.processors.state_expiry import Expiry
from streams.producers import ChannelProducer
from tests.scenarios import T0
from tests.support import Worker, decoded, isolated_settings, query, read_named_topic, wait_until

HOUR_MS = 3_600_000


def test_due_are_the_keys_past_the_retention_in_their_partition() -> None:
    expiry = Expiry(HOUR_MS)
    expiry.touch(0, "a", T0)  # before the partition is indexed: left to the index
    assert not expiry.indexed(0)
    expiry.index(0, [("a", T0), ("b", T0 + 30 * 60_000)])
    expiry.index(1, [])
    expiry.touch(1, "c", T0)
    assert expiry.due(0, T0 + HOUR_MS - 1) == []
    assert expiry.due(0, T0 + HOUR_MS) == ["a"]
    assert expiry.due(0, T0 + 2 * HOUR_MS) == ["b"] and expiry.due(0, T0 + 3 * HOUR_MS) == []
    assert expiry.due(1, T0 + HOUR_MS) == ["c"]
    assert expiry.too_old(T0, T0 + HOUR_MS) and not expiry.too_old(T0 + 1, T0 + HOUR_MS)
    expiry.forget()
    assert not expiry.indexed(0)


def call(contact: str, at_ms: int, *kinds: str) -> list[dict]:
    return [{"event_id": f"{contact}-{kind}", "contact_id": contact, "type": kind, "occurred_at": at_ms + i * 1000,
             "channel": "VOICE", "source": "test", "queue": "voice-general",
             "agent_id": "agent-1" if kind != "QUEUED" else None} for i, kind in enumerate(kinds)]


@pytest.mark.kafka
def test_a_contact_is_forgotten_after_the_retention_and_its_too_late_event_dead_lettered(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, partitions=1, contact_state_retention_h=1.0)
    create_topics(settings)
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        for e in call("old", T0, "QUEUED", "ANSWERED", "ENDED"):
            producer.send("contact-events", e)
        producer.flush()
        wait_until(lambda: query(settings, "SELECT version FROM contact_summaries WHERE contact_id = 'old'") == [(3,)],
                   what="the old contact's summary", worker=worker)
    # A new worker: the old contact's state now comes from the changelog, not from this process.
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        # Two hours of event time later in the same partition: "old" is past the retention.
        for e in call("new", T0 + 2 * HOUR_MS, "QUEUED", "ANSWERED"):
            producer.send("contact-events", e)
        producer.flush()
        changelog = f"{settings.namespace}-contact-state-changelog"
        wait_until(lambda: any(r.key == b'"old"' and r.value is None for r in read_named_topic(settings, changelog)),
                   what="a tombstone for the old contact's state", worker=worker)
        # An event of the forgotten contact, itself older than the retention: refused, reported.
        producer.send("contact-events", {**call("old", T0 + 10 * 60_000, "TRANSFERRED")[0], "agent_id": None})
        producer.flush()
        letters = wait_until(lambda: [d for d in decoded(settings, "dead-letters") if "RETENTION" in d["error"]],
                             what="the too-late event in dead-letters", worker=worker)
        assert letters[0]["error_kind"] == "INVALID" and letters[0]["source_topic"].endswith("contact-events")
        new = wait_until(lambda: query(settings, "SELECT version FROM contact_summaries WHERE contact_id = 'new'"),
                         what="the new contact's summary", worker=worker)
    assert new == [(2,)]
    # Storage keeps the old contact's full summary: nothing replaced it.
    assert query(settings, "SELECT version FROM contact_summaries WHERE contact_id = 'old'") == [(3,)]
