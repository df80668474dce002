"""Hostile input on the real broker, one worker: each case is sent, dead-lettered with its reason
(or, for values that are allowed, kept apart), the worker keeps running, and the good records
around them are stored correctly."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from tests.scenarios import EXPECTED, SCRIPTED, ev
from tests.support import Worker, decoded, free_port, isolated_settings, query, wait_until

DEFAULTS = {"queue": None, "agent_id": None, "language": None, "segment": None, "line": 1,
            "disposition": None, "after_contact_work_ms": None}
PAIR = (("qa|VOICE|rb", "rc"), ("qa", "rb|VOICE|rc"))  # would share "qa|VOICE|rb|VOICE|rc|..." joined with "|"


def get(port: int, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()[:200]


@pytest.mark.kafka
def test_hostile_records_are_dead_lettered_and_the_worker_and_the_good_records_carry_on(tmp_path: Path) -> None:
    port = free_port()
    settings = isolated_settings(tmp_path, web_port=port, max_events_per_contact=50)
    create_topics(settings)
    huge = b"\xc3\x01" + bytes(900_000)  # about 1 MB: a single-object header and garbage
    with Worker(settings) as worker, ChannelProducer(settings, check=False) as producer:
        good = [e for c in sorted(SCRIPTED) for e in SCRIPTED[c]]
        for e in good[:5]:
            producer.send("contact-events", {**DEFAULTS, **e})
        producer.send_raw("contact-events", b"X", huge)
        for i in range(3):  # three events of one contact of 400 KB each
            producer.send("contact-events", {**DEFAULTS, **ev("BIG", "HELD", i), "reason": "r" * 400_000})
        producer.send("contact-events", {**DEFAULTS, **ev("Q", "QUEUED", 1, queue="q" * 600_000)})
        producer.send("contact-events", {**DEFAULTS, **ev("LONG", "QUEUED", 1, queue="q" * 300)})
        producer.send("contact-events", {**DEFAULTS, **ev("F", "CREATED", 0), "occurred_at": 4_070_908_800_000})
        for i in range(60):  # more events of one contact than it may have
            producer.send("contact-events", {**DEFAULTS, **ev("M", "HELD", i), "event_id": f"M-{i}"})
        for n, (queue, region) in enumerate(PAIR):  # one contact waiting in each
            producer.send("contact-events", {**DEFAULTS, **ev(f"P{n}", "QUEUED", 1, queue=queue), "region": region})
        for e in good[5:]:
            producer.send("contact-events", {**DEFAULTS, **e})
        producer.flush()

        letters = wait_until(lambda: (d := decoded(settings, "dead-letters")) and len(d) >= 17 and d,
                             timeout=90, what="17 dead letters", worker=worker)
        expected_ids = set(SCRIPTED) | {"M", "P0", "P1"}
        wait_until(lambda: {r[0] for r in query(settings, "SELECT contact_id FROM contact_summaries")} >= expected_ids,
                   timeout=90, what="the good contacts in storage", worker=worker)
        assert worker.alive()

        reasons = [(d["error_kind"], d["error"]) for d in letters]
        assert len(letters) == 1 + 3 + 1 + 1 + 1 + 10, reasons
        raw = next(d for d in letters if d["value_length"] == len(huge))
        assert raw["error_kind"] == "TOO_LARGE" and "FIRSTLINE_MAX_RECORD_BYTES" in raw["error"]
        assert raw["value"] == huge[:settings.dead_letter_value_bytes]
        assert raw["value_sha256"] == hashlib.sha256(huge).hexdigest()
        assert sum("FIRSTLINE_MAX_RECORD_BYTES" in e for _, e in reasons) == 1 + 3 + 1  # the 600 KB queue too
        assert any("queue has 300 characters" in e for _, e in reasons)
        assert any(k == "INVALID" and "past the wall clock" in e for k, e in reasons)
        assert sum("FIRSTLINE_MAX_EVENTS_PER_CONTACT" in e for _, e in reasons) == 10
        assert all(len(d["value"] or b"") <= settings.dead_letter_value_bytes for d in letters)

        rows = {r[0]: r for r in query(settings, "SELECT contact_id, status, version, wait_ms FROM contact_summaries")}
        for contact, figures in EXPECTED.items():
            assert rows[contact][1:] == (figures["status"], figures["version"], figures["wait_ms"]), contact
        assert rows["M"][2] == 50 and not {"BIG", "Q", "LONG", "F", "X"} & set(rows)

        # The colliding pair: two queues, two sets of statistics, each counted once.
        stats = wait_until(lambda: (r := query(settings, "SELECT stat_id, queue, region, offered FROM queue_statistics "
                                               "WHERE \"window\" = 'MINUTE' AND queue LIKE 'qa%' AND region <> '*'"))
                           and {(q, reg) for _, q, reg, _ in r} == set(PAIR) and r,
                           timeout=90, what="statistics of both queues", worker=worker)
        assert len({s for s, _, _, _ in stats}) == len(stats) == 2 and all(a == 1 for *_, a in stats)
        # The event dated 2099 closed no window: nothing of the good contacts counted late.
        late = query(settings, "SELECT SUM(late_events) FROM queue_statistics WHERE queue NOT LIKE 'qa%'")[0][0]
        assert late == 0

        # A "|" in a queue name: the live views answer, faust's own table pages are not served.
        status, body = get(port, "/queues/")
        assert status == 200 and {"qa|VOICE|rb", "qa"} <= {q["queue"] for q in body["queues"]}  # type: ignore[index]
        assert get(port, "/queues/" + urllib.parse.quote("qa|VOICE|rb", safe="") + "/")[0] == 200
        for page in ("/table/contact-state/A/", "/router/", "/graph/", "/stats/"):
            assert get(port, page)[0] == 404, page
        status, health = get(port, "/health/")
        assert status == 200 and health["status"] == "ok"  # type: ignore[index]
