"""Subscriber protection on the real broker with real worker processes: a generated hour of an
operator's SMS traffic gets every expected verdict, block, campaign, alert, complaint and
subscription outcome (in storage too), blocks no legitimate message, and gives the same verdicts after a worker is killed with SIGKILL
mid-stream. The expected verdicts are worked out here from the traffic's truth, not by the
processors' code."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.protection.addresses import canonical
from streams.simulator.sms import CAMPAIGN_TEXT, SmsDay, SmsProfile
from tests.support import Worker, decoded, isolated_settings, query, wait_until
from tests.test_faults import private_broker  # noqa: F401 - the fixture

PROFILE = SmsProfile(subscribers=3000, p2p_per_hour=2500, a2p_per_hour=800, mass_recipients=250, mass_minutes=5,
                     campaign_senders=12, campaign_messages=120, campaign_minutes=20, block_changes=60,
                     complaints_about_mailer=4)
MASS_LIMIT = 100
ABUSE_LIMIT = 15


def expected_verdicts(events: list[tuple[str, dict[str, Any], str]]) -> dict[str, tuple[str, list[str]]]:
    """What each person-to-person, bulk and mass-mailing message must get."""
    pair_changes: dict[tuple[str, str], list[tuple[int, bool]]] = defaultdict(list)
    clears: dict[str, list[int]] = defaultdict(list)
    for topic, r, _ in events:
        if topic == "block-list-changes":
            if r["sender"] == "*":
                clears[canonical(r["subscriber_id"])].append(r["occurred_at"])
            else:
                pair_changes[(canonical(r["subscriber_id"]), canonical(r["sender"]))].append(
                    (r["occurred_at"], r["action"] == "BLOCK"))
    out: dict[str, tuple[str, list[str]]] = {}
    mass_seen = 0
    for topic, r, kind in events:
        if topic != "sms-messages" or kind == "campaign":
            continue
        at, key = r["occurred_at"], (canonical(r["recipient"]), canonical(r["sender"]))
        before = [c for c in pair_changes.get(key, []) if c[0] <= at]
        blocked = bool(before) and max(before)[1]
        if blocked and any(max(before)[0] <= t <= at for t in clears.get(key[0], [])):
            blocked = False
        if kind == "mass":
            mass_seen += 1  # each to a new recipient: the 101st is past the limit
            if mass_seen > MASS_LIMIT:
                out[r["message_id"]] = ("BLOCK", ["OPERATOR_BLOCK_LIST", "MASS_MAILING"])
                continue
        out[r["message_id"]] = ("BLOCK", ["RECIPIENT_BLOCK_LIST"]) if blocked else ("DELIVER", [])
    return out


def by_id(records: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        grouped[r[key]].append(r)
    return grouped


@pytest.mark.kafka
def test_an_hour_of_sms_traffic_gets_every_expected_verdict_across_a_sigkill(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, sms_a2p_senders="MTS,SBERBANK,OZON", sms_mass_limit=MASS_LIMIT,
                                 pseudonym_key=b"pipeline-test-key", complaint_threshold=3,
                                 provider_abuse_limit=ABUSE_LIMIT,
                                 # small batches and checkpoints close together, offsets committed
                                 # seldom: killed part-way, with outputs sent whose input offsets
                                 # were not committed yet (they are judged again)
                                 checkpoint_interval_s=0.2, batch_max=100, commit_interval_s=30.0)
    create_topics(settings)
    day = SmsDay(start=int(time.time() * 1000) - 3_600_000, hours=1.0, seed=11, profile=PROFILE)
    events = day.events()
    messages = [(r, kind) for t, r, kind in events if t == "sms-messages"]
    expected = expected_verdicts(events)
    kinds = {r["message_id"]: kind for r, kind in messages}
    assert sum(v[0] == "BLOCK" and v[1] == ["RECIPIENT_BLOCK_LIST"] for v in expected.values()) >= 5

    with ChannelProducer(settings) as producer:
        for topic, r, _ in events:  # block lists first: they answer by event time
            if topic == "block-list-changes":
                producer.send(topic, r)
        # subscription requests and their confirmations an hour late, all there before the worker
        # starts (arriving late in two parts, the first part's requests would be refused by the
        # wall clock before their confirmations came: what FIRSTLINE_ALLOWED_LATENESS_S is for)
        requests = [(r, kind) for t, r, kind in events if t == "subscription-requests"]
        for r, _ in requests:
            producer.send("subscription-requests", r)
        producer.flush()
        worker = Worker(settings, "worker-1").start()
        half = len(messages) // 2
        for r, _ in messages[:half]:
            producer.send("sms-messages", r)
        producer.flush()
        wait_until(lambda: len(decoded(settings, "sms-verdicts")) >= half // 4, timeout=120, interval=0.02,
                   what="a quarter of the first half judged", worker=worker)
        worker.kill()  # SIGKILL mid-stream: no final commit
        judged_before = len(decoded(settings, "sms-verdicts"))
        assert judged_before < len(messages)
        worker = Worker(settings, "worker-2").start()
        try:
            for r, _ in messages[half:]:
                producer.send("sms-messages", r)
            producer.flush()
            verdicts = wait_until(lambda: (v := by_id(decoded(settings, "sms-verdicts"), "message_id"))
                                  and len(v) >= len(messages) and v, timeout=180,
                                  what="a verdict for every message", worker=worker)
            # complaints after the traffic: about the mass mailer (blocked by then) and about one
            # ordinary sender whose third distinct complainer blocks it
            for topic, r, _ in events:
                if topic == "complaints":
                    producer.send(topic, r)
            for i in range(3):
                producer.send("complaints", {
                    "complaint_id": f"kx{i}", "occurred_at": day.start + 3_000_000 + i, "kind": "FRAUD_SMS",
                    "subscriber_id": f"7903000000{i}", "about": "+7 (903) 555-00-11", "contact_id": None,
                    "text": None, "source": "contact-centre"})
            producer.flush()
            outcomes = wait_until(lambda: (o := by_id(decoded(settings, "complaint-outcomes"), "complaint_id"))
                                  and len(o) >= 10 and o, timeout=90, what="ten complaint outcomes", worker=worker)
            campaigns = wait_until(lambda: decoded(settings, "spam-campaigns"), timeout=60,
                                   what="a confirmed campaign", worker=worker)
            # a second wave of the campaign from new numbers, after it was confirmed
            for i in range(15):
                producer.send("sms-messages", {
                    "message_id": f"wave-{i}", "occurred_at": day.start + 3_500_000 + i,
                    "sender": f"7977000{i:04d}", "recipient": f"7916555{i:04d}",
                    "text": CAMPAIGN_TEXT[i % 3].format(n=300 + i, link=f"bit.ly/w{i}"), "origin_network": None,
                    "source": "smsc"})
            campaign_sender = next(r["sender"] for r, kind in messages if kind == "campaign")
            producer.send("sms-messages", {"message_id": "after-campaign", "occurred_at": day.start + 3_600_000,
                                           "sender": campaign_sender, "recipient": "79160001235",
                                           "text": "Добрый день", "origin_network": None, "source": "smsc"})
            producer.send("sms-messages", {"message_id": "after-complaints", "occurred_at": day.start + 3_600_000,
                                           "sender": "79035550011", "recipient": "79160001234",
                                           "text": "Привет, как дела?", "origin_network": None, "source": "smsc"})
            producer.flush()
            final = wait_until(lambda: (v := by_id(decoded(settings, "sms-verdicts"), "message_id"))
                               and len(v) >= len(messages) + 17 and v, timeout=90,
                               what="the second wave judged", worker=worker)
            truth = {(r["provider"], r["request_id"]): kind.split("/") for r, kind in requests if kind}
            decided = wait_until(lambda: (o := {(x["provider"], x["request_id"]): [x["outcome"], x["reason"]]
                                                for x in decoded(settings, "subscription-outcomes")})
                                 and len(o) >= len(truth) and o, timeout=60, what="every subscription decided",
                                 worker=worker)
            stored = wait_until(lambda: (c := query(settings, "SELECT complaint_id, outcome FROM complaint_outcomes"))
                                and len(c) >= 10 and query(settings, "SELECT provider, request_id, outcome, reason, "
                                                                     "subscriber FROM subscription_outcomes"),
                                timeout=60, what="outcomes in storage", worker=worker)
            assert worker.alive()
            assert "FIRSTLINE_PSEUDONYM_KEY is not set" not in worker.log()  # a key of its own
        finally:
            worker.stop()

    # every deterministic message: exactly the expected verdict, however often it was judged
    wrong = {}
    for message_id, want in expected.items():
        got = {(v["verdict"], tuple(v["reasons"])) for v in verdicts[message_id]}
        if got != {(want[0], tuple(want[1]))}:
            wrong[message_id] = (kinds[message_id], want, got)
    assert not wrong, list(wrong.items())[:10]
    replayed = sum(len(v) > 1 for v in verdicts.values())
    assert replayed > 0, "the kill replayed nothing: it did not happen mid-stream"
    # no legitimate message blocked by anything but its recipient's own list
    for message_id, kind in kinds.items():
        if kind in ("p2p", "a2p"):
            assert all(set(v["reasons"]) <= {"RECIPIENT_BLOCK_LIST"} for v in verdicts[message_id]), message_id

    campaign = campaigns[-1]
    campaign_senders = {canonical(r["sender"]) for r, kind in messages if kind == "campaign"}
    assert campaign["sender_count"] >= 5 and set(campaign["senders"]) <= campaign_senders
    assert "единовременная выплата" in campaign["sample"] and "⟨url⟩" in campaign["sample"]
    wave = [final[f"wave-{i}"][-1] for i in range(15)]
    assert all("CAMPAIGN" in v["reasons"] and v["campaign_id"] for v in wave), wave
    # its members are blocked operator-wide once it is confirmed: whatever they send next
    blocks = [c for c in decoded(settings, "block-list-changes") if c["source"] == "firstline:campaign"]
    wave_senders = {f"7977000{i:04d}" for i in range(15)}
    assert set(campaign["senders"]) <= {c["sender"] for c in blocks} <= campaign_senders | wave_senders
    after_campaign = final["after-campaign"][-1]
    assert after_campaign["verdict"] == "BLOCK" and after_campaign["reasons"] == ["OPERATOR_BLOCK_LIST", "CAMPAIGN"]

    alerts = {a["alert_id"]: a for a in decoded(settings, "alerts")}
    kinds_raised = sorted({a["kind"] for a in alerts.values()})
    assert kinds_raised == ["FRAUD_COMPLAINTS", "MASS_MAILING", "SPAM_CAMPAIGN", "UNWANTED_SUBSCRIPTION"], kinds_raised
    refusals: dict[str, int] = defaultdict(int)  # all within the hour: the abuse window
    for provider, _ in (k for k, v in truth.items() if v[0] == "BLOCKED"):
        refusals[provider] += 1
    abusers = sorted(p for p, n in refusals.items() if n >= ABUSE_LIMIT)
    assert abusers == ["premium-lure"]
    assert sorted(a["subject"] for a in alerts.values() if a["kind"] == "UNWANTED_SUBSCRIPTION") == abusers

    # every paid-subscription request decided as the traffic's truth says, once, and stored
    assert decided == truth
    assert len(stored) == len(truth) and all(row[4].startswith("p:") for row in stored)
    assert {(row[0], row[1]): [row[2], row[3]] for row in stored} == truth
    assert sorted(stored_c := [c for c in query(settings, "SELECT complaint_id, outcome FROM complaint_outcomes")]) == \
        sorted((k, v[-1]["outcome"]) for k, v in outcomes.items()) and stored_c
    # the complaints that forwarded the mass mailer's text, confirmed, taught the content model
    updates = decoded(settings, "content-model-updates")
    assert sorted(u["update_id"] for u in updates) == [f"complaint:k11-{i}" for i in range(4)]
    assert sum(a["kind"] == "MASS_MAILING" for a in alerts.values()) == 1
    assert next(a for a in alerts.values() if a["kind"] == "MASS_MAILING")["subject"] == day.mass_sender

    got = {k: v[-1]["outcome"] for k, v in outcomes.items()}
    assert got == {**{f"k11-{i}": "ALREADY_BLOCKED" for i in range(4)}, "k11-again": "ALREADY_BLOCKED",
                   "k11-nobody": "NO_SENDER", "k11-other": "FORWARDED",
                   "kx0": "COUNTED", "kx1": "COUNTED", "kx2": "SENDER_BLOCKED"}
    after = final["after-complaints"][-1]
    assert after["verdict"] == "BLOCK" and after["reasons"] == ["OPERATOR_BLOCK_LIST", "COMPLAINTS"]
    # subscriber numbers appear nowhere in clear in what was published about them
    published = str(decoded(settings, "sms-verdicts")) + str(decoded(settings, "complaint-outcomes"))
    assert "79160001234" not in published and "79030000001" not in published


@pytest.mark.kafka
@pytest.mark.slow
def test_verdicts_and_outcomes_survive_a_broker_restart_and_one_of_two_workers_killed(tmp_path: Path,
                                                                                     private_broker) -> None:
    """Two workers share an hour of SMS and the paid-subscription requests; the broker is restarted
    while they judge, then one worker is killed with SIGKILL. Every deterministic message gets
    exactly the verdict worked out from the traffic's truth, every request exactly its truth, once
    each in storage; how long the workers took to carry on is printed (`-s`)."""
    settings = isolated_settings(tmp_path, bootstrap_servers="127.0.0.1:19192", sms_a2p_senders="MTS,SBERBANK,OZON",
                                 sms_mass_limit=MASS_LIMIT, pseudonym_key=b"pipeline-test-key",
                                 provider_abuse_limit=ABUSE_LIMIT, checkpoint_interval_s=0.2, batch_max=100,
                                 commit_interval_s=5.0, partitions=4)
    create_topics(settings)
    day = SmsDay(start=int(time.time() * 1000) - 3_600_000, hours=1.0, seed=12, profile=PROFILE)
    events = day.events()
    messages = [r for t, r, _ in events if t == "sms-messages"]
    expected = expected_verdicts(events)
    requests = [(r, kind) for t, r, kind in events if t == "subscription-requests"]
    truth = {(r["provider"], r["request_id"]): kind.split("/") for r, kind in requests if kind}
    with ChannelProducer(settings) as producer:
        for topic, r, _ in events:
            if topic in ("block-list-changes", "subscription-requests"):
                producer.send(topic, r)
        producer.flush()
    first, second = Worker(settings, "worker-1").start(), Worker(settings, "worker-2").start()
    try:
        with ChannelProducer(settings) as producer:
            for r in messages[:len(messages) // 3]:
                producer.send("sms-messages", r)
        wait_until(lambda: len(decoded(settings, "sms-verdicts")) >= len(messages) // 6, timeout=120, interval=0.05,
                   what="some judged", worker=first)
        private_broker("stop")
        stopped = time.monotonic()
        private_broker("start")
        before = len(decoded(settings, "sms-verdicts"))
        with ChannelProducer(settings) as producer:
            for r in messages[len(messages) // 3:2 * len(messages) // 3]:
                producer.send("sms-messages", r)
        wait_until(lambda: len(decoded(settings, "sms-verdicts")) > before, timeout=120, interval=0.05,
                   what="verdicts again after the broker's restart", worker=first)
        after_restart = time.monotonic() - stopped
        wait_until(lambda: len(decoded(settings, "sms-verdicts")) >= len(messages) // 2, timeout=120, interval=0.05,
                   what="half judged", worker=first)
        second.kill()  # mid-stream: its partitions move to the first worker, what it did not commit is judged again
        killed = time.monotonic()
        with ChannelProducer(settings) as producer:
            for r in messages[2 * len(messages) // 3:]:
                producer.send("sms-messages", r)
        verdicts = wait_until(lambda: (v := by_id(decoded(settings, "sms-verdicts"), "message_id"))
                              and len(v) >= len(messages) and v, timeout=180, what="a verdict for every message",
                              worker=first)
        after_kill = time.monotonic() - killed
        decided = wait_until(lambda: (o := {(x["provider"], x["request_id"]): [x["outcome"], x["reason"]]
                                            for x in decoded(settings, "subscription-outcomes")})
                             and len(o) >= len(truth) and o, timeout=90, what="every subscription decided",
                             worker=first)
        stored = wait_until(lambda: (rows := query(settings, "SELECT provider, request_id, outcome, reason "
                                                             "FROM subscription_outcomes"))
                            and len(rows) >= len(truth) and rows, timeout=60, what="outcomes stored", worker=first)
        assert first.alive()
    finally:
        first.stop()
        second.stop()
    wrong = {m: (want, {(v["verdict"], tuple(v["reasons"])) for v in verdicts[m]}) for m, want in expected.items()
             if {(v["verdict"], tuple(v["reasons"])) for v in verdicts[m]} != {(want[0], tuple(want[1]))}}
    assert not wrong, list(wrong.items())[:10]
    assert decided == truth
    assert len(stored) == len(truth) and {(p, r): [o, why] for p, r, o, why in stored} == truth
    print(f"\nverdicts resumed {after_restart:.1f} s after the broker was stopped (and restarted); "
          f"every message judged {after_kill:.1f} s after a worker was killed")
