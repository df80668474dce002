"""The SMS processors on the engine's broker-less context: verdicts with each signal, the
campaign detector and the complaints processor, bad records, and a restart."""

from __future__ import annotations

import time
from typing import Any

import pytest

from streams.engine.testing import Harness, MemoryBroker, offline_settings
from streams.processors.complaints import Complaints
from streams.processors.sms_campaigns import SmsCampaigns
from streams.processors.sms_verdicts import SmsVerdicts
from streams.protection.addresses import pseudonym

NOW = int(time.time() * 1000) - 3_600_000
KEY = b"test-key"


def settings(**kw: Any):
    return offline_settings(pseudonym_key=KEY, sms_a2p_senders="SBANK", **kw)


def sms(i: int, sender: str, recipient: str, text: str = "привет, как дела?", at: int = NOW) -> dict[str, Any]:
    return {"message_id": f"m{i}", "occurred_at": at, "sender": sender, "recipient": recipient, "text": text,
            "origin_network": None, "source": "smsc"}


def change(i: int, subscriber: str, sender: str, block: bool, at: int, source: str = "ussd") -> dict[str, Any]:
    return {"change_id": f"c{i}", "subscriber_id": subscriber, "sender": sender,
            "action": "BLOCK" if block else "UNBLOCK", "occurred_at": at, "source": source}


def verdicts(h: Harness) -> dict[str, tuple[str, list[str]]]:
    return {v["message_id"]: (v["verdict"], v["reasons"]) for v in h.outputs("sms-verdicts")}


def test_recipient_and_operator_block_lists_by_event_time() -> None:
    h = Harness(SmsVerdicts, settings())
    h.feed("block-list-changes", change(1, "+7 916 000-00-01", "SPAM-CO", True, NOW + 10))
    h.feed("block-list-changes", change(2, "*", "89990000007", True, NOW + 10, "operator:anna: fraud"))
    h.feed("sms-messages", sms(1, "spam-co", "79160000001", at=NOW + 9))
    h.feed("sms-messages", sms(2, "spam-co", "79160000001", at=NOW + 10))
    h.feed("sms-messages", sms(3, "spam-co", "79160000002", at=NOW + 10))
    h.feed("sms-messages", sms(4, "79990000007", "79160000002", at=NOW + 11))
    h.run()
    assert verdicts(h) == {"m1": ("DELIVER", []), "m2": ("BLOCK", ["RECIPIENT_BLOCK_LIST"]),
                           "m3": ("DELIVER", []), "m4": ("BLOCK", ["OPERATOR_BLOCK_LIST"])}
    out = {v["message_id"]: v for v in h.outputs("sms-verdicts")}
    assert out["m2"]["recipient"] == pseudonym("79160000001", KEY)
    assert out["m4"]["sender"] == "79990000007"  # a blocked sender is the operator's business
    assert out["m3"]["sender"] == "spam-co"  # a name is not personal data
    h.feed("sms-messages", sms(5, "79161112233", "79160000002"))
    h.run()
    delivered = h.outputs("sms-verdicts")[-1]
    assert delivered["sender"] == pseudonym("79161112233", KEY)  # a person's ordinary message
    assert not any("7916" in str(v["recipient"]) for v in h.outputs("sms-verdicts"))


def test_mass_mailing_blocks_the_sender_once_with_one_alert_and_spares_a2p() -> None:
    h = Harness(SmsVerdicts, settings(sms_mass_limit=20))
    for i in range(30):
        h.feed("sms-messages", sms(i, "79990000000", f"7926{i:07d}", "Скидки в магазине у дома до 22:00", NOW + i))
        h.feed("sms-messages", sms(100 + i, "SBANK", f"7926{i:07d}", f"Код {i}", NOW + i))
    h.run()
    v = verdicts(h)
    assert [v[f"m{i}"][0] for i in range(30)] == ["DELIVER"] * 20 + ["BLOCK"] * 10
    assert v["m20"][1] == ["OPERATOR_BLOCK_LIST", "MASS_MAILING"]
    assert all(v[f"m{100 + i}"] == ("DELIVER", []) for i in range(30))
    blocks, alerts = h.outputs("block-list-changes"), h.outputs("alerts")
    assert len(blocks) == 1 and blocks[0]["sender"] == "79990000000" and blocks[0]["source"] == "firstline:mass-mailing"
    assert len(alerts) == 1 and alerts[0]["kind"] == "MASS_MAILING" and alerts[0]["details"]["recipients"] == "21"
    assert alerts[0]["alert_id"] == blocks[0]["change_id"]


def test_bad_records_are_dead_lettered_with_reasons_and_the_rest_judged() -> None:
    h = Harness(SmsVerdicts, settings())
    h.feed("sms-messages", b"\x00garbage", key=b"x")
    h.feed("sms-messages", sms(1, "79990000001", "7916"), key="someone-else")
    h.feed("sms-messages", sms(2, " ", "7916"))
    h.feed("sms-messages", sms(3, "7999", "7916", at=NOW + 10 * 86_400_000))
    h.feed("sms-messages", sms(4, "7999", "7916", text="x" * 5000))
    h.feed("block-list-changes", {**change(9, "", "7999", True, NOW)})
    h.feed("sms-messages", sms(5, "7999", "7916"))
    h.run()
    errors = [d["error"] for d in h.dead_letters()]
    assert len(errors) == 6, errors
    assert any("not the sender" in e for e in errors) and any("must not be empty" in e for e in errors)
    assert any("past the wall clock" in e for e in errors) and any("text has 5000 characters" in e for e in errors)
    assert list(verdicts(h)) == ["m5"]


def test_a_restart_after_a_failed_checkpoint_gives_the_same_verdicts() -> None:
    def feed(h: Harness, lo: int, hi: int) -> None:
        for i in range(lo, hi):
            h.feed("sms-messages", sms(i, "79990000000", f"7926{i:07d}", "Скидки у дома", NOW + i))

    plain = Harness(SmsVerdicts, settings(sms_mass_limit=15))
    plain.feed("block-list-changes", change(1, "79260000003", "79990000000", True, NOW))
    feed(plain, 0, 10)
    plain.run()
    feed(plain, 10, 30)
    plain.run()

    h = Harness(SmsVerdicts, settings(sms_mass_limit=15))
    h.feed("block-list-changes", change(1, "79260000003", "79990000000", True, NOW))
    feed(h, 0, 10)
    h.run()
    feed(h, 10, 30)
    h.fail("changelog")
    with pytest.raises(ConnectionError):
        h.run()
    h = h.restart()
    h.run()
    assert verdicts(h) == verdicts(plain)  # replayed verdicts are the same, the window restored
    assert len({a["alert_id"] for a in h.outputs("alerts")}) == 1


def test_campaign_detection_feeds_back_into_verdicts() -> None:
    broker, s = MemoryBroker(), settings()
    v = Harness(SmsVerdicts, s, broker)
    text = "Здравствуйте! Вам положена единовременная выплата {} р. Заявление заполните на bit.ly/{}"
    for i in range(30):
        v.feed("sms-messages", sms(i, f"7985000000{i % 8}", f"7916{i:07d}", text.format(100 + i, i), NOW + i * 1000))
    v.feed("sms-messages", sms(99, "79161234567", "79160000001", "Мама, я буду дома в семь", NOW))
    v.run()
    sightings = [x for b in v.outputs("sms-sightings") for x in b["sightings"]]
    assert len(sightings) == 30 and all("79160000001" not in str(x) for x in sightings)
    c = Harness(SmsCampaigns, s, broker)
    for rec in v.sent("sms-sightings"):
        c.feed("sms-sightings", rec.value, key=rec.key)
    c.run()
    campaign = c.outputs("spam-campaigns")[-1]
    assert campaign["sender_count"] == 8 and campaign["messages"] == 29 and campaign["reach"] == 29
    assert "⟨url⟩" in campaign["sample"]
    assert {b["sender"] for b in c.outputs("block-list-changes")} == {f"7985000000{i}" for i in range(8)}
    assert [a["kind"] for a in c.outputs("alerts")] == ["SPAM_CAMPAIGN"]
    for rec in c.sent("spam-campaigns"):
        v.feed("spam-campaigns", rec.value, key=rec.key)
    v.feed("sms-messages", sms(200, "79851111111", "79160000009", text.format(555, "zz"), NOW + 60_000))
    v.run()
    last = v.outputs("sms-verdicts")[-1]
    assert "CAMPAIGN" in last["reasons"] and last["campaign_id"] == campaign["campaign_id"]
    # restarted, the detector has its clusters back and publishes no second alert
    c2 = c.restart()
    for rec in v.sent("sms-sightings")[-1:]:
        c2.feed("sms-sightings", rec.value, key=rec.key)
    c2.run()
    assert [a["kind"] for a in c2.outputs("alerts")] == ["SPAM_CAMPAIGN"]


def test_every_complaint_gets_an_outcome() -> None:
    h = Harness(Complaints, settings(complaint_threshold=3))
    h.feed("block-list-changes", change(1, "*", "79990000005", True, NOW - 1, "operator:anna: known"))

    def complaint(i: int, subscriber: str, about: str | None, kind: str = "SMS_SPAM") -> None:
        h.feed("complaints", {"complaint_id": f"k{i}", "occurred_at": NOW + i, "subscriber_id": subscriber,
                              "kind": kind, "about": about, "contact_id": None, "text": None, "source": "app"})

    for i, sub in enumerate(["79160000001", "79160000002", "8 916 000-00-02", "79160000003", "79160000004"]):
        complaint(i, sub, "+7 999 000-00-01")
    complaint(10, "79160000001", None, "FRAUD_SMS")
    complaint(11, "79160000001", None, "OTHER")
    complaint(12, "79160000001", "79990000005")
    h.run()
    out = {o["complaint_id"]: (o["outcome"], o["complainers"]) for o in h.outputs("complaint-outcomes")}
    assert out == {"k0": ("COUNTED", 1), "k1": ("COUNTED", 2), "k2": ("REPEATED", 2), "k3": ("SENDER_BLOCKED", 3),
                   "k4": ("ALREADY_BLOCKED", 4), "k10": ("NO_SENDER", 0), "k11": ("FORWARDED", 0),
                   "k12": ("ALREADY_BLOCKED", 1)}
    blocks = h.outputs("block-list-changes")
    assert [(b["sender"], b["source"]) for b in blocks] == [("79990000001", "firstline:complaints")]
    alerts = h.outputs("alerts")
    assert [a["kind"] for a in alerts] == ["FRAUD_COMPLAINTS"]
    assert all(o["subscriber"].startswith("p:") for o in h.outputs("complaint-outcomes"))


def request(rid: str, at: int, subscriber: str, provider: str, confirmed: bool) -> dict[str, Any]:
    return {"request_id": rid, "occurred_at": at, "subscriber_id": subscriber, "provider": provider,
            "service": "Игры", "price_minor": 3000, "currency": "RUB", "confirmed": confirmed, "source": "gw"}


def outcomes(h: Harness) -> dict[tuple[str, str], tuple[str, str, int]]:
    return {(o["provider"], o["request_id"]): (o["outcome"], o["reason"], o["decided_at"])
            for o in h.outputs("subscription-outcomes")}


def test_paid_subscriptions_are_decided_by_confirmation_time_and_content_bans() -> None:
    from streams.processors.subscriptions import Subscriptions

    h = Harness(Subscriptions, settings(subscription_confirm_s=600, allowed_lateness_s=60))
    h.feed("block-list-changes", change(1, "79150000001", "content:*", True, NOW))
    h.feed("block-list-changes", change(2, "79150000002", "content:games", True, NOW))
    h.feed("block-list-changes", change(3, "79150000002", "*", False, NOW + 1))  # clear all leaves the ban
    h.feed("subscription-requests", request("r1", NOW + 10, "79150000001", "music", False))
    h.feed("subscription-requests", request("r1", NOW + 20, "79150000001", "music", True))  # banned, confirmed
    h.feed("subscription-requests", request("r2", NOW + 10, "79150000002", "Games", True))
    h.feed("subscription-requests", request("r3", NOW + 10, "79150000002", "music", False))
    h.feed("subscription-requests", request("r3", NOW + 70_000, "79150000002", "music", True))
    h.feed("subscription-requests", request("r4", NOW + 10, "79160000004", "music", True))
    h.feed("subscription-requests", request("r4", NOW + 10, "79160000004", "games", False))  # same id, other provider
    h.feed("subscription-requests", request("r5", NOW + 10, "79160000005", "music", False))
    h.feed("subscription-requests", request("r5", NOW + 600_011, "79160000005", "music", True))  # a ms too late
    h.feed("subscription-requests", request("r6", NOW + 10, "79160000006", "music", False))  # never confirmed
    h.run()
    got = outcomes(h)
    assert got == {("music", "r1"): ("BLOCKED", "CONTENT_BAN", NOW + 10),
                   ("games", "r2"): ("BLOCKED", "CONTENT_BAN", NOW + 10),
                   ("music", "r3"): ("ALLOWED", "CONFIRMED", NOW + 70_000),
                   ("music", "r4"): ("ALLOWED", "CONFIRMED", NOW + 10),
                   ("music", "r5"): ("BLOCKED", "NOT_CONFIRMED", NOW + 600_011),
                   # its partition's event time passed its time to confirm (r5's confirmation)? Only
                   # where they share a partition; otherwise the wall clock below decides it
                   **{k: v for k, v in got.items() if k in {("games", "r4"), ("music", "r6")}}}
    h.tick()  # the wall clock is an hour past: every waiting request is refused
    got = outcomes(h)
    assert got[("games", "r4")] == ("BLOCKED", "NOT_CONFIRMED", NOW + 600_010)
    assert got[("music", "r6")] == ("BLOCKED", "NOT_CONFIRMED", NOW + 600_010)
    assert len(h.outputs("subscription-outcomes")) == 7  # each decided once
    assert all(o["subscriber"].startswith("p:") and "7915" not in o["subscriber"]
               for o in h.outputs("subscription-outcomes"))
    # a repeat after the decision changes nothing; a restart keeps the decisions
    h2 = h.restart()
    h2.feed("subscription-requests", request("r6", NOW + 600_100, "79160000006", "music", True))
    h2.run()
    h2.tick()
    assert len(h2.outputs("subscription-outcomes")) == 7
    # a confirmation waiting in a backlog is read before the wall clock may refuse its request
    h2.feed("subscription-requests", request("r8", NOW + 5, "79160000008", "music", False))
    h2.run()
    h2.feed("subscription-requests", request("r8", NOW + 60_000, "79160000008", "music", True))
    h2.tick()  # behind: the partition is not read to its end
    h2.run()
    assert outcomes(h2)[("music", "r8")] == ("ALLOWED", "CONFIRMED", NOW + 60_000)
    h2.feed("subscription-requests", {**request("r7", NOW, "79160000007", "music", True), "price_minor": -1})
    h2.feed("subscription-requests", request("", NOW, "79160000007", "music", True))
    h2.run()
    assert len(h2.dead_letters()) == 2 and len(h2.outputs("subscription-outcomes")) == 8


def test_a_provider_refused_again_and_again_raises_one_alert() -> None:
    from streams.processors.provider_abuse import ProviderAbuse
    from streams.processors.subscriptions import Subscriptions

    broker, s = MemoryBroker(), settings(subscription_confirm_s=600, provider_abuse_limit=5,
                                        provider_abuse_window_s=3600)
    subs = Harness(Subscriptions, s, broker)
    for i in range(12):
        subs.feed("subscription-requests", request(f"a{i}", NOW + i * 1000, f"7916000{i:04d}", "premium-lure", True
                                                   if i % 4 == 0 else False))
    subs.run()
    subs.tick()
    refused = [o for o in subs.outputs("subscription-outcomes") if o["outcome"] == "BLOCKED"]
    assert len(refused) == 9
    abuse = Harness(ProviderAbuse, s, broker)
    for rec in subs.sent("subscription-refusals"):
        abuse.feed("subscription-refusals", rec.value, key=rec.key)
    abuse.run()
    alerts = abuse.outputs("alerts")
    # decided out of order (partition by partition): one alert all the same, at the limit or past it
    assert [(a["kind"], a["subject"]) for a in alerts] == [("UNWANTED_SUBSCRIPTION", "premium-lure")]
    assert 5 <= int(alerts[0]["details"]["refused"]) <= 9


def test_confirmed_complaints_teach_every_verdict_worker_the_text() -> None:
    broker, s = MemoryBroker(), settings(complaint_threshold=2)
    spam = "Только сегодня скидки до 50% на всё в магазине у дома! Ждём вас с 10 до 22"
    complaints = Harness(Complaints, s, broker)
    for i in range(3):
        complaints.feed("complaints", {"complaint_id": f"k{i}", "occurred_at": NOW + i, "subscriber_id": f"7916000000{i}",
                                       "kind": "SMS_SPAM", "about": "79990000001", "contact_id": None,
                                       "text": spam + f" {i}", "source": "7726"})
    complaints.feed("complaints", {"complaint_id": "k9", "occurred_at": NOW, "subscriber_id": "79160000009",
                                   "kind": "SMS_SPAM", "about": "79990000002", "contact_id": None,
                                   "text": "a text about a sender nobody else complained of", "source": "7726"})
    complaints.run()
    updates = complaints.outputs("content-model-updates")
    # the second complaint blocked the sender, the third found it blocked: both confirm it; the
    # first counted before it was confirmed, the last is about a sender not (yet) blocked
    assert [u["update_id"] for u in updates] == ["complaint:k1", "complaint:k2"]
    assert all(u["spam"] and u["bits"] == 18 and u["buckets"] for u in updates)
    assert spam[:20] not in str(updates)  # hash buckets, not the text
    workers = [Harness(SmsVerdicts, s, broker) for _ in range(2)]
    for v in workers:
        v.feed("sms-messages", sms(1, "79990000003", "79160000001", spam + " 7", NOW))
        v.run()
        for rec in complaints.sent("content-model-updates") * 2:  # a replayed update is learned once
            v.feed("content-model-updates", rec.value, key=rec.key)
        v.feed("sms-messages", sms(2, "79990000003", "79160000001", spam + " 8", NOW + 1))
        v.run()
    scores = [[o["score"] for o in v.outputs("sms-verdicts")] for v in workers]
    assert scores[0] == scores[1] and scores[0][1] > scores[0][0] + 0.3, scores


def test_a_large_batch_of_sightings_fits_the_campaign_detectors_input_bound() -> None:
    """A backlog gives the verdict processor whole batches of a campaign's texts; its sightings
    go out in records the campaign detector accepts (once more than a 64 KB record was refused
    there, and with it the campaign)."""
    broker, s = MemoryBroker(), settings()
    v = Harness(SmsVerdicts, s, broker)
    text = ("Здравствуйте! Вам положена единовременная выплата {} р. Заявление на получение заполните "
            "до конца недели на сайте bit.ly/{} , иначе выплата будет отменена. Служба соцзащиты")
    for i in range(600):
        v.feed("sms-messages", sms(i, f"798500000{i % 20:02d}", f"7916{i:07d}", text.format(100 + i, i), NOW + i))
    v.run()
    sent = v.sent("sms-sightings")
    assert len(sent) > 1 and all(len(r.value) + len(r.key) <= s.max_record_bytes for r in sent)
    c = Harness(SmsCampaigns, s, broker)
    for rec in sent:
        c.feed("sms-sightings", rec.value, key=rec.key)
    c.run()
    assert c.dead_letters() == []
    assert c.outputs("spam-campaigns")[-1]["messages"] >= 590
