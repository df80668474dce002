"""Subscriber numbers on the real broker: contacts and surveys that name a subscriber by number
(in three spellings), and bad records that carry the number in their key, value and reason. After
the worker has processed them, no topic of the namespace (outputs, tables' changelogs, dead
letters) and no row of storage holds the number; the summaries carry the keyed pseudonym
worked out here with the standard library's HMAC, one per subscriber whatever the spelling."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.protection.addresses import NumberMask, Pseudonyms
from streams.topics import spec
from tests.support import Worker, decoded, isolated_settings, query, read_named_topic, wait_until

KEY = b"personal-data-test-key"
NUMBER = "79161234567"  # the canonical spelling
SPELLINGS = ("+7 (916) 123-45-67", "89161234567", NUMBER)
OTHER = "79035550011"


def pseudonym(canonical: str) -> str:
    return "p:" + hmac.new(KEY, canonical.encode(), hashlib.sha256).digest()[:10].hex()


def holds_number(data: bytes | str | None) -> bool:
    if data is None:
        return False
    raw = data if isinstance(data, bytes) else data.encode()
    return any(n.encode() in raw for n in ("9161234567", "9035550011"))


@pytest.mark.kafka
def test_no_subscriber_number_is_kept_or_published_in_clear(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, pseudonym_key=KEY, partitions=2)
    create_topics(settings)
    now = int(time.time() * 1000) - 600_000
    contacts = []
    for i, spelling in enumerate(SPELLINGS):
        cid = f"pd-{i}"
        contacts.append(cid)
        base = {"contact_id": cid, "channel": "VOICE", "source": "test", "region": "moscow", "reason": "billing"}
        t = now + i * 60_000
        events = [{**base, "event_id": f"{cid}-c", "type": "CREATED", "occurred_at": t, "subscriber_id": spelling},
                  {**base, "event_id": f"{cid}-q", "type": "QUEUED", "occurred_at": t + 1000, "queue": "voice-general",
                   "subscriber_id": spelling},
                  {**base, "event_id": f"{cid}-a", "type": "ANSWERED", "occurred_at": t + 5000,
                   "queue": "voice-general", "agent_id": "agent-1"},
                  {**base, "event_id": f"{cid}-e", "type": "ENDED", "occurred_at": t + 50_000,
                   "queue": "voice-general", "agent_id": "agent-1", "disposition": "RESOLVED"}]
        with ChannelProducer(settings) as producer:
            for e in events:
                producer.send("contact-events", e)
    # a contact whose events do not name the subscriber, its survey does
    with ChannelProducer(settings) as producer:
        for kind, dt in (("CREATED", 0), ("QUEUED", 1000), ("ABANDONED", 9000)):
            producer.send("contact-events", {"event_id": f"pd-survey-{kind}", "contact_id": "pd-survey", "type": kind,
                                             "channel": "CHAT", "occurred_at": now + dt, "source": "test",
                                             "queue": "chat-general"})
        producer.send("survey-responses", {"response_id": "pd-s", "contact_id": "pd-survey", "subscriber_id": OTHER,
                                           "occurred_at": now, "score": 5, "source": "test"})
    # bad records carrying the numbers: raw bytes keyed by a number, a good event under a wrong key
    # (the number), an event from too far in the future naming the subscriber
    with ChannelProducer(settings, check=False) as producer:
        producer.send_raw("contact-events", NUMBER.encode(), b"\x00garbage from +79161234567 and 89035550011")
        _, _, good = producer.encode("contact-events", {
            "event_id": "pd-w", "contact_id": "pd-w", "type": "CREATED", "channel": "CHAT", "occurred_at": now,
            "source": "test", "subscriber_id": NUMBER})
        producer.send_raw("contact-events", b"89161234567", good)
        producer.send("contact-events", {"event_id": "pd-f", "contact_id": "pd-f", "type": "CREATED", "channel": "CHAT",
                                         "occurred_at": now + 86_400_000, "source": "test", "subscriber_id": NUMBER})

    with Worker(settings) as worker:
        wait_until(lambda: len(query(settings, "SELECT contact_id FROM contact_summaries")) >= 4, timeout=90,
                   what="the summaries stored", worker=worker)
        letters = wait_until(lambda: (d := decoded(settings, "dead-letters")) and len(d) >= 3 and d, timeout=60,
                             what="three dead letters", worker=worker)
        log = worker.log()
    # one pseudonym per subscriber, whatever the spelling, as worked out here
    rows = dict(query(settings, "SELECT contact_id, subscriber_id FROM contact_summaries"))
    assert {rows[c] for c in contacts} == {pseudonym(NUMBER)}
    assert rows["pd-survey"] == pseudonym(OTHER)
    summaries = {s["contact_id"]: s for s in decoded(settings, "contact-summaries")}
    assert {summaries[c]["subscriber_id"] for c in contacts} == {pseudonym(NUMBER)}
    # every dead letter accounted for, the numbers masked by tokens of their length
    assert len(letters) == 3
    assert all(not holds_number(letter["key"]) and not holds_number(letter["value"])
               and not holds_number(letter["error"]) for letter in letters)
    garbage = next(letter for letter in letters if letter["value"] and letter["value"].startswith(b"\x00garbage"))
    assert len(garbage["value"]) == len(b"\x00garbage from +79161234567 and 89035550011")
    assert garbage["key"] == b"p" + pseudonym(NUMBER)[2:12].encode()  # the start of its pseudonym
    # nothing anywhere in the namespace's topics but the inputs, nor in storage or the log
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    inputs = {spec(t).full_name(settings) for t in ("contact-events", "survey-responses")}
    topics = [t for t in admin.list_topics() if t.startswith(settings.namespace) and t not in inputs]
    admin.close()
    assert any(t.endswith("contact-state-changelog") for t in topics), topics
    for name in topics:
        for record in read_named_topic(settings, name):
            assert not holds_number(record.key) and not holds_number(record.value), (name, record.offset)
    dump = str(query(settings, "SELECT * FROM contact_summaries"))
    assert not holds_number(dump)
    assert not holds_number(log)


def test_the_number_mask_keeps_lengths_and_leaves_times_alone() -> None:
    mask = NumberMask(Pseudonyms(KEY))
    data = b"\x16+79161234567|89161234567|9161234567|t=1764780000000|id 123456789|x123456789012345678"
    masked = mask.bytes(data)
    assert len(masked) == len(data) and not holds_number(masked)
    assert b"1764780000000" in masked and b"123456789" in masked and b"123456789012345678" in masked
    token = pseudonym(NUMBER)[2:]
    assert masked.split(b"|")[:2] == [b"\x16p" + token[:11].encode(), b"p" + token[:10].encode()]
    assert mask.text("key b'89161234567' ≠ contact") == f"key b'p{token[:10]}' ≠ contact"
