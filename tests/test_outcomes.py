"""FCR, CSAT and channel mix: the pure logic of streams/reports/outcomes.py, hand-computed, and
the same scripted history end to end (producer -> broker -> worker -> storage -> `firstline report`)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.reports.outcomes import DAY_MS, Contact, channel_mix, csat, fcr_outcomes, fcr_rates, period_of
from tests.scenarios import T0
from tests.support import Worker, firstline, isolated_settings, query, wait_until

DAY0 = T0 - T0 % DAY_MS + 8 * 3_600_000  # 08:00 UTC of T0's day

# (id, subscriber, reason, channel, day, line, answered, survey score)
HISTORY = [
    ("P1", "sub-1", "billing", "VOICE", 0, 1, True, 5),     # repeated on day 6: not resolved
    ("Q1", "sub-2", "billing", "VOICE", 0, 1, True, 4),     # next contact on day 8: resolved
    ("R1", "sub-3", "roaming", "VOICE", 0, 2, True, 2),     # escalated to line 2: not resolved
    ("S1", "sub-4", "billing", "VOICE", 0, 1, False, None),  # abandoned: not an FCR contact
    ("T1", "sub-1", "roaming", "CHAT", 1, 1, True, None),   # same subscriber, other reason
    ("P2", "sub-1", "billing", "CHAT", 6, 1, True, 5),      # a repeat of P1
    ("Q2", "sub-2", "billing", "EMAIL", 8, 1, True, None),  # a first contact again, window open
]


def contact(row: tuple) -> Contact:
    cid, sub, reason, channel, day, line, answered, score = row
    return Contact(cid, channel, f"{channel.lower()}-general", sub, reason, "ENDED" if answered else "ABANDONED",
                   line, DAY0 + day * DAY_MS, answered, score)


def test_fcr_repeat_on_day_6_and_day_8() -> None:
    outcomes = {o.contact.contact_id: o for o in fcr_outcomes([contact(r) for r in HISTORY])}
    assert "S1" not in outcomes
    assert (outcomes["P1"].first, outcomes["P1"].resolved, outcomes["P1"].final) == (True, False, True)
    assert outcomes["P2"].first is False
    assert (outcomes["Q1"].first, outcomes["Q1"].resolved, outcomes["Q1"].final) == (True, True, True)
    assert (outcomes["Q2"].first, outcomes["Q2"].resolved, outcomes["Q2"].final) == (True, True, False)
    assert (outcomes["R1"].resolved, outcomes["T1"].resolved) == (False, True)
    rates = {r.group: (r.first_contacts, r.resolved, r.provisional) for r in fcr_rates(outcomes.values())}
    day = {d: (period_of(DAY0 + d * DAY_MS, "day"),) for d in (0, 1, 8)}
    assert rates == {day[0]: (3, 1, 0), day[1]: (1, 1, 0), day[8]: (1, 1, 1)}
    # Seven days after Q2 everything is final.
    later = fcr_outcomes([contact(r) for r in HISTORY], as_of=DAY0 + 15 * DAY_MS)
    assert all(o.final for o in later)
    # A window of 5 days makes P2 (day 6) a first contact and P1 resolved.
    short = {o.contact.contact_id: o for o in fcr_outcomes([contact(r) for r in HISTORY], window_ms=5 * DAY_MS)}
    assert short["P1"].resolved and short["P2"].first


def test_csat_and_channel_mix() -> None:
    contacts = [contact(r) for r in HISTORY]
    (day0,) = [c for c in csat(contacts) if c.responses == 3]
    assert (day0.top_box, day0.top_two_box, day0.mean) == (pytest.approx(1 / 3), pytest.approx(2 / 3),
                                                            pytest.approx(11 / 3))
    by_channel = {c.group: c.responses for c in csat(contacts, by=("channel",))}
    assert by_channel == {("VOICE",): 3, ("CHAT",): 1}
    days = channel_mix(contacts, "day")
    assert len(days) == 9  # day 0 .. day 8, empty days included
    assert (days[0].contacts, days[0].online, days[0].growth) == (4, 0, None)
    assert (days[1].contacts, days[1].online, days[1].growth) == (1, 1, pytest.approx(-0.75))
    assert days[2].contacts == 0 and days[3].growth is None  # nothing to grow from
    assert (days[8].by_channel, days[8].online_share) == ({"EMAIL": 1}, 1.0)


def test_growth_over_months() -> None:
    # 100 contacts in month 1 (20 online), 135 in month 2 (27 online... then 54 online in month 3)
    base = 1_735_689_600_000  # 2025-01-01
    contacts = []
    for month, (total, online) in enumerate([(100, 20), (135, 27), (150, 54)]):
        at = base + month * 31 * DAY_MS
        contacts += [Contact(f"m{month}-{i}", "CHAT" if i < online else "VOICE", None, None, None, "ENDED", 1, at,
                             True, None) for i in range(total)]
    months = channel_mix(contacts, "month")
    assert [m.period for m in months] == ["2025-01", "2025-02", "2025-03"]
    assert months[1].growth == pytest.approx(0.35) and months[1].online_growth == pytest.approx(0.35)
    assert months[2].online_growth == pytest.approx(1.0)
    assert months[2].online_share == pytest.approx(54 / 150)


def at(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp() * 1000)


def test_weeks_and_months_across_a_new_year_with_empty_ones_between() -> None:
    """ISO weeks: 2025-12-22 is in 2025-W52, 2026-01-01 in 2026-W01, 2026-01-12 in 2026-W03 (W02
    empty). Months: November 2025 to February 2026, January empty."""
    contacts = [Contact(cid, "VOICE", None, None, None, "ENDED", 1, at(when), True, None)
                for cid, when in [("a", "2025-11-30T23:59"), ("b", "2025-12-22T10:00"), ("c", "2026-01-01T00:00"),
                                  ("d", "2026-01-12T08:00"), ("e", "2026-02-02T12:00")]]
    weeks = channel_mix(contacts[1:4], "week")
    assert [(w.period, w.contacts) for w in weeks] == [("2025-W52", 1), ("2026-W01", 1), ("2026-W02", 0),
                                                       ("2026-W03", 1)]
    months = channel_mix([contacts[0], contacts[1], contacts[4]], "month")
    assert [(m.period, m.contacts) for m in months] == [("2025-11", 1), ("2025-12", 1), ("2026-01", 0),
                                                        ("2026-02", 1)]
    assert [d.period for d in channel_mix(contacts[:1])] == ["2025-11-30"]  # by day unless told
    with pytest.raises(ValueError, match="day, week or month"):
        period_of(at("2026-01-01T00:00"), "year")


def test_periods_are_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Vladivostok")  # UTC+10: 23:30 UTC is the next day there
    time.tzset()
    try:
        assert period_of(at("2026-03-31T23:30"), "day") == "2026-03-31"
        assert period_of(at("2026-03-31T23:30"), "month") == "2026-03"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_fcr_and_csat_by_week_month_and_queue() -> None:
    """Each grouping by its name; a contact with no queue is grouped under "-"; provisional counts
    every first contact whose window is still open."""
    rows = [Contact("w1", "VOICE", "voice-general", "s1", "billing", "ENDED", 1, at("2025-12-29T10:00"), True, 5),
            Contact("w2", "CHAT", None, "s2", "billing", "ENDED", 1, at("2025-12-30T10:00"), True, 4),
            Contact("w3", "CHAT", None, "s3", "billing", "ENDED", 1, at("2026-01-05T09:00"), True, 3),
            Contact("w4", "APP", None, "s4", "billing", "ENDED", 1, at("2026-01-05T10:00"), True, None)]
    found = fcr_outcomes(rows)
    # as of the newest (w4), w1's window has just closed (exactly 7 days), the others' have not
    assert {r.group: (r.first_contacts, r.provisional) for r in fcr_rates(found, ("week",))} == {
        ("2026-W01",): (2, 1), ("2026-W02",): (2, 2)}
    assert {r.group: r.first_contacts for r in fcr_rates(found, ("month",))} == {("2025-12",): 2, ("2026-01",): 2}
    assert {r.group: r.first_contacts for r in fcr_rates(found, ("queue",))} == {("-",): 3, ("voice-general",): 1}
    assert {c.group: c.responses for c in csat(rows, ("queue", "channel"))} == {("-", "CHAT"): 2,
                                                                              ("voice-general", "VOICE"): 1}


def test_contacts_are_loaded_from_storage_as_stored(tmp_path: Path) -> None:
    """load_contacts on a real SQLite database: each column to its field, a missing line as 1, an
    answer time as `answered`, no score as None."""
    import asyncio
    import sqlite3

    from streams.reports.outcomes import load_contacts
    from streams.sinks.storage import open_store

    url = f"sqlite:///{tmp_path / 'store.db'}"

    async def load() -> list[Contact]:
        store = open_store(url)
        await store.open()
        try:
            return await load_contacts(store)
        finally:
            await store.close()

    asyncio.run(load())  # creates the tables
    db = sqlite3.connect(tmp_path / "store.db")
    db.executemany("INSERT INTO contact_summaries (contact_id, version, status, channel, first_queue, subscriber_id, "
                   "reason, created_at, answered_at, transfers, line, updated_at, csat_score) "
                   "VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?)",
                   [("A", "ENDED", "VOICE", "voice-general", "p-1", "billing", 1000, 2000, 2, 4),
                    ("B", "ABANDONED", "CHAT", None, None, None, 3000, None, 1, None),
                    ("C", "IN_PROGRESS", "APP", "app-general", "p-2", "tariff", 4000, 5000, 1, None)])
    db.commit()
    db.close()
    assert sorted(asyncio.run(load()), key=lambda c: c.contact_id) == [
        Contact("A", "VOICE", "voice-general", "p-1", "billing", "ENDED", 2, 1000, True, 4),
        Contact("B", "CHAT", None, None, None, "ABANDONED", 1, 3000, False, None),
        Contact("C", "APP", "app-general", "p-2", "tariff", "IN_PROGRESS", 1, 4000, True, None)]


def events(row: tuple) -> list[dict]:
    cid, sub, reason, channel, day, line, answered, _ = row
    at = DAY0 + day * DAY_MS
    queue = f"{channel.lower()}-general"
    base = {"contact_id": cid, "channel": channel, "source": "test", "subscriber_id": sub, "reason": reason,
            "region": "chelyabinsk"}
    out = [{**base, "event_id": f"{cid}-c", "type": "CREATED", "occurred_at": at},
           {**base, "event_id": f"{cid}-q", "type": "QUEUED", "occurred_at": at + 1_000, "queue": queue}]
    if not answered:
        return out + [{**base, "event_id": f"{cid}-x", "type": "ABANDONED", "occurred_at": at + 30_000, "queue": queue}]
    out.append({**base, "event_id": f"{cid}-a", "type": "ANSWERED", "occurred_at": at + 20_000, "queue": queue,
                "agent_id": "agent-1"})
    if line == 2:
        out += [{**base, "event_id": f"{cid}-t", "type": "TRANSFERRED", "occurred_at": at + 60_000,
                 "queue": "voice-line2"},
                {**base, "event_id": f"{cid}-q2", "type": "QUEUED", "occurred_at": at + 61_000,
                 "queue": "voice-line2", "line": 2}]
    return out + [{**base, "event_id": f"{cid}-e", "type": "ENDED", "occurred_at": at + 200_000, "queue": queue,
                   "disposition": "RESOLVED", "line": line}]


@pytest.mark.kafka
def test_reports_from_storage_end_to_end(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    create_topics(settings)
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        for row in HISTORY:
            if row[7] is not None:  # the survey first: it waits for its contact
                producer.send("survey-responses", {"response_id": f"s-{row[0]}", "contact_id": row[0],
                                                   "subscriber_id": row[1], "score": row[7], "source": "test",
                                                   "occurred_at": DAY0 + row[4] * DAY_MS + 300_000})
            for e in events(row):
                producer.send("contact-events", e)
        producer.flush()
        wait_until(lambda: query(settings, "SELECT COUNT(*) FROM contact_summaries WHERE status IN ('ENDED', "
                                           "'ABANDONED') AND (csat_score IS NOT NULL OR contact_id NOT IN "
                                           "('P1','Q1','R1','P2'))")[0][0] == len(HISTORY),
                   timeout=90, what="every contact final in storage", worker=worker)

    def report(*args: str) -> list[dict]:
        done = firstline(settings, "report", *args, "--json")
        assert done.returncode == 0, done.stderr.decode()
        return [json.loads(line) for line in done.stdout.decode().splitlines()]

    fcr = report("fcr", "--by", "day")
    assert [(r["first_contacts"], r["resolved"], r["provisional"]) for r in fcr] == [(3, 1, 0), (1, 1, 0), (1, 1, 1)]
    assert fcr[0]["fcr"] == pytest.approx(1 / 3)
    by_queue = {r["queue"]: (r["first_contacts"], r["resolved"]) for r in report("fcr", "--by", "queue")}
    assert by_queue == {"voice-general": (3, 1), "chat-general": (1, 1), "email-general": (1, 1)}
    scores = report("csat", "--by", "channel")
    assert {r["channel"]: (r["responses"], round(r["mean"], 3)) for r in scores} == {"VOICE": (3, 3.667), "CHAT": (1, 5.0)}
    mix = report("mix", "--period", "day")
    assert [m["contacts"] for m in mix] == [4, 1, 0, 0, 0, 0, 1, 0, 1]
    assert mix[1]["online_share"] == 1.0 and mix[1]["growth"] == pytest.approx(-0.75)
    assert firstline(settings, "report", "fcr").stdout.decode().splitlines()[0].split()[:2] == ["day", "first_contacts"]
