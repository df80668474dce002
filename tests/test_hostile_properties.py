"""Hostile input, generated: for every input topic of every processor, hypothesis mixes good
records with bad ones (garbage bytes, a valid record cut short, an unknown writer schema, a time
beyond the allowed skew, an identifier beyond its bound, an empty identifier) and feeds them, in
batches of its choosing, to the processor on the engine's broker-less context. Each time:

- the processor never raises (it does not stop);
- exactly the bad records are dead-lettered, each once, with its origin (topic, partition,
  offset) and a reason;
- the good records give exactly the outputs they give without the bad ones around them.

tests/test_hostile_input.py does the same with hand-made cases on the real broker."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.engine.processor import Processor
from streams.engine.testing import Harness, offline_settings
from streams.processors.agent_state import AgentState
from streams.processors.complaints import Complaints
from streams.processors.contact_summary import ContactSummary
from streams.processors.router import Router
from streams.processors.sms_verdicts import SmsVerdicts
from streams.processors.subscriptions import Subscriptions
from streams.topics import spec
from tests.routing_requests import agent, left, queued

NOW = int(time.time() * 1000)  # records are an hour old at most: nothing here waits on the clock
T = NOW - 3_600_000


def contact_event(i: int) -> dict[str, Any]:
    kind = ("CREATED", "QUEUED", "ANSWERED", "ENDED")[i % 4]
    return {"event_id": f"e{i}", "contact_id": f"c{i // 4}", "type": kind, "channel": "VOICE",
            "occurred_at": T + i * 1000, "source": "test", "subscriber_id": f"7916000{i // 4:04d}",
            "queue": "voice-general", "agent_id": "a1" if kind in ("ANSWERED", "ENDED") else None,
            "region": "moscow", "reason": "billing", "line": 1, "language": None, "segment": None,
            "disposition": "RESOLVED" if kind == "ENDED" else None, "after_contact_work_ms": None}


def survey(i: int) -> dict[str, Any]:
    return {"response_id": f"s{i}", "contact_id": f"c{i}", "subscriber_id": None, "occurred_at": T + i * 1000,
            "score": 1 + i % 5, "source": "test"}


def agent_event(i: int) -> dict[str, Any]:
    return {"event_id": f"ae{i}", "agent_id": f"a{i % 3}", "occurred_at": T + i * 1000,
            "state": ("AVAILABLE", "BUSY", "WRAP_UP")[i % 3], "queues": ["voice-general"], "source": "test"}


def sms(i: int) -> dict[str, Any]:
    return {"message_id": f"m{i}", "occurred_at": T + i * 1000, "sender": f"7903{i % 5:07d}",
            "recipient": f"7916{i:07d}", "text": f"Привет, встречаемся в {i % 12} часов", "origin_network": None,
            "source": "smsc"}


def block_change(i: int) -> dict[str, Any]:
    return {"change_id": f"b{i}", "subscriber_id": f"7916{i:07d}", "sender": f"7903{i % 5:07d}",
            "action": "BLOCK" if i % 3 else "UNBLOCK", "occurred_at": T + i * 1000, "source": "ussd"}


def complaint(i: int) -> dict[str, Any]:
    return {"complaint_id": f"k{i}", "occurred_at": T + i * 1000, "subscriber_id": f"7916{i:07d}",
            "kind": "SMS_SPAM", "about": f"7903{i % 2:07d}", "contact_id": None, "text": "спам", "source": "app"}


def subscription(i: int) -> dict[str, Any]:
    return {"request_id": f"r{i // 2}", "occurred_at": T + i * 60_000, "subscriber_id": f"7916{i // 2:07d}",
            "provider": "music-plus", "service": "Музыка+", "price_minor": 2500, "currency": "RUB",
            "confirmed": bool(i % 2), "source": "provider-gateway"}


def routing_request(i: int) -> dict[str, Any]:
    at = T + i * 1000
    if i % 3 == 0:
        return agent(at, f"a{i % 4}", voice=1)
    return queued(at, f"rc{i}") if i % 3 == 1 else left(at, f"rc{i - 1}")


# processor -> its input topics with a good-record maker, the time field and an id field
CASES: dict[str, tuple[type[Processor], list[tuple[str, Callable[[int], dict[str, Any]], str, str]]]] = {
    "contact-summary": (ContactSummary, [("contact-events", contact_event, "occurred_at", "event_id"),
                                         ("survey-responses", survey, "occurred_at", "response_id")]),
    "agent-state": (AgentState, [("agent-events", agent_event, "occurred_at", "event_id")]),
    "sms-verdicts": (SmsVerdicts, [("sms-messages", sms, "occurred_at", "message_id"),
                                   ("block-list-changes", block_change, "occurred_at", "change_id")]),
    "complaints": (Complaints, [("complaints", complaint, "occurred_at", "complaint_id"),
                                ("block-list-changes", block_change, "occurred_at", "change_id")]),
    "subscriptions": (Subscriptions, [("subscription-requests", subscription, "occurred_at", "request_id"),
                                      ("block-list-changes", block_change, "occurred_at", "change_id")]),
    "router": (Router, [("routing-requests", routing_request, "occurred_at", "request_id")]),
}
BAD = ("garbage", "truncated", "unknown-schema", "future", "oversize-id", "empty-id")


@dataclasses.dataclass
class Item:
    topic: str
    n: int
    bad: str | None  # None: a good record


def items(topics: list[str]) -> st.SearchStrategy[list[Item]]:
    one = st.builds(Item, st.sampled_from(topics), st.integers(0, 40), st.sampled_from((None, None, *BAD)))
    return st.lists(one, min_size=1, max_size=30)


def feed(h: Harness, item: Item, makers: dict[str, tuple[Callable[[int], dict[str, Any]], str, str]],
         data: st.DataObject) -> Any:
    make, time_field, id_field = makers[item.topic]
    record = make(item.n)
    s = spec(item.topic)
    key = record[s.key_field]
    if item.bad is None:
        return h.feed(item.topic, record)
    if item.bad == "garbage":
        raw = data.draw(st.binary(max_size=64).filter(lambda b: not b.startswith(b"\xc3")))
        return h.feed(item.topic, raw, key=key)
    if item.bad == "truncated":
        whole = h.codec.encode(s.value_schema, record)
        return h.feed(item.topic, whole[:data.draw(st.integers(0, len(whole) - 1))], key=key)
    if item.bad == "unknown-schema":
        whole = h.codec.encode(s.value_schema, record)
        return h.feed(item.topic, whole[:2] + bytes(8) + whole[10:], key=key)  # no schema has fingerprint 0
    if item.bad == "future":
        record[time_field] = int(time.time() * 1000 + h.settings.max_future_skew_s * 1000) + 3_600_000
    elif item.bad == "oversize-id":
        record[id_field] = "x" * (h.settings.max_string_chars + 1)
    elif item.bad == "empty-id":
        record[id_field] = ""
    return h.feed(item.topic, record, key=key)


def outputs(h: Harness) -> Counter[tuple[str, Any, Any]]:
    """What the processor published, but the dead letters (changelogs are its state, not outputs).
    Batches of queue facts count by their facts: the offsets and watermarks they carry are where
    the input was read to (the bad records have offsets too); heartbeats and the router's ticks
    follow the wall clock."""
    dead, facts = spec("dead-letters").full_name(h.settings), spec("queue-facts").full_name(h.settings)
    requests = spec("routing-requests").full_name(h.settings)  # the router's clock ticks: wall clock
    out: Counter[tuple[str, Any, Any]] = Counter()
    for topic, sent in h.broker.topics.items():
        if not topic.startswith(h.settings.namespace + ".") or topic == dead:
            continue
        for s in sent:
            if topic == requests and h.codec.decode(s.value, spec("routing-requests").value_schema)["kind"] == "TICK":
                continue
            if topic != facts:
                out[(topic, s.key, s.value)] += 1
                continue
            batch = h.codec.decode(s.value, spec("queue-facts").value_schema)
            counted = [f for f in batch["facts"] if f["kind"] != "WATERMARK"]
            if counted or batch["minutes"]:
                out[(topic, batch["queue"], repr((counted, batch["minutes"])))] += 1
    return out


def run(cls: type[Processor], fed: list[Item], cuts: set[int], data: st.DataObject | None,
        makers: dict[str, Any]) -> tuple[Harness, list[Any]]:
    h = Harness(cls, offline_settings(pseudonym_key=b"hostile-test"))
    sent = []
    for i, item in enumerate(fed):
        sent.append(feed(h, item, makers, data))  # type: ignore[arg-type]
        if i in cuts:
            h.run()
    h.run()
    h.tick()
    h.run()
    return h, sent


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bad_records_are_dead_lettered_once_each_and_change_nothing_of_the_good(name: str, data: st.DataObject) -> None:
    cls, topics = CASES[name]
    makers = {t: (make, tf, idf) for t, make, tf, idf in topics}
    fed = data.draw(items(list(makers)))
    cuts = set(data.draw(st.lists(st.integers(0, len(fed) - 1), max_size=3)))
    h, sent = run(cls, fed, cuts, data, makers)

    bad = {(m.topic, m.partition, m.offset) for item, m in zip(fed, sent) if item.bad}
    letters = h.dead_letters()
    origins = [(d["source_topic"], d["source_partition"], d["source_offset"]) for d in letters]
    assert sorted(origins) == sorted(bad), [(d["error_kind"], d["error"]) for d in letters]
    assert all(d["error"] and d["processor"] == cls.name for d in letters)

    # the same batches, less the bad records
    good_cuts = {sum(1 for item in fed[:i + 1] if not item.bad) - 1 for i in cuts} - {-1}
    good_only, _ = run(cls, [item for item in fed if not item.bad], good_cuts, None, makers)
    assert outputs(h) == outputs(good_only)


@pytest.mark.kafka
def test_every_input_topic_on_the_real_broker_dead_letters_exactly_its_bad_records(tmp_path: Path) -> None:
    """One worker (every processor), the real broker: a mix of good and bad records drawn the same
    way, on each of the eight input topics at once. Every bad record is dead-lettered with its
    origin (once per record, whichever processors read it), the worker keeps running, and the good
    records are judged, decided, summarised and routed."""
    import random

    from streams.admin.topics import create_topics
    from streams.producers import ChannelProducer
    from tests.support import Worker, decoded, isolated_settings, wait_until

    settings = isolated_settings(tmp_path, pseudonym_key=b"hostile-test", partitions=2)
    create_topics(settings)
    makers = {t: (make, tf, idf) for _, topics in CASES.values() for t, make, tf, idf in topics}
    rng = random.Random(20)
    plan = [Item(topic, n, rng.choice((None, None, None, *BAD))) for topic in sorted(makers) for n in range(24)]
    rng.shuffle(plan)
    codec = Harness(AgentState, settings).codec
    bad: Counter[str] = Counter()
    good: dict[str, set[str]] = {}
    with ChannelProducer(settings, check=False) as producer:
        for item in plan:
            make, time_field, id_field = makers[item.topic]
            record, s = make(item.n), spec(item.topic)
            key = record[s.key_field].encode()
            whole = codec.encode(s.value_schema, record)
            if item.bad is None:
                good.setdefault(item.topic, set()).add(record[id_field])
                producer.send_raw(item.topic, key, whole)
                continue
            bad[s.full_name(settings)] += 1
            if item.bad == "garbage":
                producer.send_raw(item.topic, key, rng.randbytes(rng.randrange(64)).lstrip(b"\xc3"))
            elif item.bad == "truncated":
                producer.send_raw(item.topic, key, whole[:rng.randrange(len(whole))])
            elif item.bad == "unknown-schema":
                producer.send_raw(item.topic, key, whole[:2] + bytes(8) + whole[10:])
            else:
                if item.bad == "future":
                    record[time_field] = int(time.time() * 1000 + settings.max_future_skew_s * 1000) + 3_600_000
                else:
                    record[id_field] = "" if item.bad == "empty-id" else "x" * (settings.max_string_chars + 1)
                producer.send_raw(item.topic, key, codec.encode(s.value_schema, record))
    with Worker(settings) as worker:
        def origins() -> Counter[str] | None:
            seen = {(d["source_topic"], d["source_partition"], d["source_offset"]) for d in decoded(settings, "dead-letters")}
            counted = Counter(topic for topic, _, _ in seen)
            return counted if counted == bad else None

        wait_until(origins, timeout=120, what=f"dead letters of {dict(bad)}", worker=worker)
        verdicts = wait_until(lambda: (v := {x["message_id"] for x in decoded(settings, "sms-verdicts")})
                              >= good["sms-messages"] and v, timeout=60, what="a verdict per good SMS", worker=worker)
        outcomes = wait_until(lambda: (o := {x["complaint_id"] for x in decoded(settings, "complaint-outcomes")})
                              >= good["complaints"] and o, timeout=60, what="an outcome per good complaint",
                              worker=worker)
        wait_until(lambda: {x["contact_id"] for x in decoded(settings, "routing-decisions")}, timeout=60,
                   what="routing decisions", worker=worker)
        assert worker.alive()
    # nothing judged that was not sent good (a bad record's id never reappears in an output)
    assert verdicts == good["sms-messages"] and outcomes == good["complaints"]
