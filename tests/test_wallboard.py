"""The wallboard: its pure fold and tile levels by hand, then the page in a real headless Chromium
(Debian's) against a real worker on the real broker: the figures the JSON gives, a tile that turns
red when its queue breaches, updates pushed without a reload. Screenshots go to artifacts/."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.settings import REPO_ROOT
from streams.alerting.levels import Levels
from streams.web.board import Board
from tests.scenarios import T0, ev
from tests.support import Worker, free_port, isolated_settings, query, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("FIRSTLINE_ARTIFACTS_DIR", REPO_ROOT / "artifacts"))


# -- levels and the fold, by hand --------------------------------------------------------------

def test_levels_grade_the_worst_figure() -> None:
    levels = Levels()  # sl 0.8/0.7, oldest wait 1/3 x T, abandonment 0.05/0.1
    assert levels.grade(0.85, 10_000, 20_000, 0.01) == ("green", [])
    assert levels.grade(0.80, 20_000, 20_000, 0.05)[0] == "green"  # the levels themselves are not beyond
    assert levels.grade(0.79, 0, 20_000, None)[0] == "amber"
    assert levels.grade(0.69, 0, 20_000, None)[0] == "red"
    assert levels.grade(None, 20_001, 20_000, None)[0] == "amber"
    assert levels.grade(None, 60_001, 20_000, None)[0] == "red"
    assert levels.grade(0.9, 0, 20_000, 0.11)[0] == "red"
    level, why = levels.grade(0.75, 70_000, 20_000, 0.06)
    assert level == "red" and len(why) == 3 and "oldest wait 70 s beyond 3×T" in why[1]


def test_levels_from_settings() -> None:
    levels = Levels.parse("sl=0.9:0.5, abandonment=0.02:0.2")
    assert (levels.sl_warn, levels.sl_alert, levels.abandon_warn, levels.abandon_alert) == (0.9, 0.5, 0.02, 0.2)
    assert (levels.wait_warn, levels.wait_alert) == (1.0, 3.0)  # left out: the defaults
    for bad in ("sl=0.7:0.8", "oldest_wait=3:1", "speed=1:2", "sl=high:low"):
        with pytest.raises(ValueError, match="FIRSTLINE_WALLBOARD_LEVELS"):
            Levels.parse(bad)


def stat_record(queue: str, channel: str, window: str, start: int, **figures: Any) -> dict[str, Any]:
    return {"queue": queue, "channel": channel, "region": "*", "window": window, "window_start": start,
            "window_end": start + 60_000, "version": figures.pop("version", 1), "offered": 0,
            "sl_threshold_ms": 20_000, "service_level": None, "asa_ms": None, "abandonment_rate": None, **figures}


def test_board_folds_every_source() -> None:
    board = Board()
    board.on_statistic(stat_record("qa", "VOICE", "ROLLING_15_MIN", T0, offered=10, service_level=0.9,
                                   asa_ms=4000.0, abandonment_rate=0.0))
    board.on_statistic(stat_record("qa", "VOICE", "ROLLING_15_MIN", T0 - 60_000, offered=99, service_level=0.1))
    board.on_statistic(stat_record("qa", "VOICE", "DAY", T0 - 3_600_000, offered=40, service_level=0.95))
    board.on_statistic(stat_record("qa", "VOICE", "MINUTE", T0, offered=3, asa_ms=2500.0))
    board.on_statistic({**stat_record("qa", "VOICE", "MINUTE", T0, offered=1), "region": "north"})  # a region: not shown
    board.on_live('qa', {"agents": {"a1": "AVAILABLE", "a2": "BUSY", "a3": "WRAP_UP"}, "p": 0})
    board.on_live("qa|waiting|7", {"waiting": {"c1": T0 - 30_000, "c2": T0 - 10_000}, "p": 0})
    board.on_watermark({"sources": {"0": [T0 + 50_000, 0]}})
    board.on_alert({"alert_id": "x", "occurred_at": T0, "kind": "SPAM_CAMPAIGN", "severity": "CRITICAL",
                    "subject": "s", "summary": "a campaign", "details": {}})
    board.on_alert({"alert_id": "x", "occurred_at": T0, "kind": "SPAM_CAMPAIGN", "severity": "CRITICAL",
                    "subject": "s", "summary": "the same again", "details": {}})
    snap = board.snapshot()
    (tile,) = snap["tiles"]
    assert (tile["queue"], tile["channel"], tile["offered"], tile["service_level"]) == ("qa", "VOICE", 10, 0.9)
    assert (tile["waiting"], tile["oldest_wait_ms"]) == (2, 80_000)  # T0+50 s less T0-30 s
    assert (tile["agents_available"], tile["agents_busy"], tile["agents_wrap_up"]) == (1, 1, 1)
    assert tile["day"]["offered"] == 40 and snap["mix"] == {"VOICE": 40}
    assert tile["level"] == "red"  # 80 s waiting is beyond 3 x 20 s
    assert snap["charts"]["qa · VOICE"] == {"t": [T0], "offered": [3], "asa_s": [2.5]}
    assert [a["summary"] for a in snap["alerts"]] == ["a campaign"]
    board.on_live("qa|waiting|7", None)  # the bucket emptied: nobody waits, the tile is green again
    assert board.snapshot()["tiles"][0]["level"] == "green"


# -- the page in a real browser against a real worker ------------------------------------------

TOKEN = "wallboard-test-token"


def get_json(port: int, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers),
                                timeout=5) as r:
        return json.loads(r.read())


def answered(contact: str, queue: str, at_s: float, wait_s: float, channel: str = "VOICE") -> list[dict[str, Any]]:
    return [ev(contact, "CREATED", at_s, channel), ev(contact, "QUEUED", at_s, channel, queue=queue),
            ev(contact, "ANSWERED", at_s + wait_s, channel, queue=queue, agent_id="agent-1"),
            ev(contact, "ENDED", at_s + wait_s + 60, channel, queue=queue, agent_id="agent-1", disposition="RESOLVED")]


def abandoned(contact: str, queue: str, at_s: float, wait_s: float, channel: str = "CHAT") -> list[dict[str, Any]]:
    return [ev(contact, "CREATED", at_s, channel), ev(contact, "QUEUED", at_s, channel, queue=queue),
            ev(contact, "ABANDONED", at_s + wait_s, channel, queue=queue)]


@pytest.mark.kafka
def test_wallboard_in_headless_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    port = free_port()
    settings = isolated_settings(tmp_path, web_port=port, partitions=1, allowed_lateness_s=1.0,
                                 web_token=TOKEN.encode())
    create_topics(settings)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        # qa-voice: ten calls answered within 5 s (SL 100 %); qb-chat: four chats abandoned after
        # two minutes and one answered after three (SL 0 %, abandonment 80 %).
        events = [e for n in range(10) for e in answered(f"qa{n}", "qa-voice", n * 10, 5)]
        events += [e for n in range(4) for e in abandoned(f"qb{n}", "qb-chat", n * 10, 120)]
        events += answered("qb9", "qb-chat", 50, 180, "CHAT")
        # in event-time order: however the worker's batches fall, no outcome comes after its
        # minute closed (the lateness here is 1 s), so none is counted as late only
        for e in sorted(events, key=lambda e: e["occurred_at"]):
            producer.send("contact-events", e)
        producer.send("contact-events", ev("tick", "CREATED", 400))  # moves the minutes past their end
        producer.flush()

        def both_tiles() -> dict[str, Any] | None:
            board = get_json(port, "/wallboard/data", TOKEN)
            tiles = {t["queue"]: t for t in board["tiles"]}
            ok = ("qa-voice" in tiles and "qb-chat" in tiles and tiles["qa-voice"]["service_level"] is not None
                  and tiles["qb-chat"]["service_level"] is not None and tiles["qb-chat"]["offered"] == 5)
            return tiles if ok else None

        tiles = wait_until(both_tiles, timeout=90, what="both queues on the board", worker=worker)
        assert tiles["qa-voice"]["service_level"] == 1.0 and tiles["qa-voice"]["level"] == "green"
        assert tiles["qb-chat"]["service_level"] == 0.0 and tiles["qb-chat"]["abandonment_rate"] == 0.8
        assert tiles["qb-chat"]["level"] == "red"

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            try:
                stranger = browser.new_context()
                assert stranger.request.get(f"http://127.0.0.1:{port}/wallboard/").status == 401  # no token
                stranger.close()
                # a browser gives the token as HTTP Basic's password, for the page and its event stream
                context = browser.new_context(viewport={"width": 1400, "height": 900},
                                              http_credentials={"username": "ops", "password": TOKEN})
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/")  # redirects to the wallboard
                assert page.url.endswith("/wallboard/")
                page.wait_for_selector('.tile[data-queue="qb-chat"]', timeout=20_000)
                qa = page.locator('.tile[data-queue="qa-voice"]')
                qb = page.locator('.tile[data-queue="qb-chat"]')
                assert qb.get_attribute("data-level") == "red" and "level-red" in (qb.get_attribute("class") or "")
                assert qa.get_attribute("data-level") == "green"
                # The page shows the figures of the JSON it is pushed.
                board = get_json(port, "/wallboard/data", TOKEN)
                shown = {t["queue"]: t for t in board["tiles"]}
                assert qa.locator('[data-field="service_level"]').inner_text() == "100.0%"
                assert qb.locator('[data-field="service_level"]').inner_text() == "0.0%"
                assert qb.locator('[data-field="abandonment"]').inner_text() == "80.0%"
                assert qa.locator('[data-field="waiting"]').inner_text() == str(shown["qa-voice"]["waiting"])
                asa = shown["qa-voice"]["asa_ms"] / 1000
                assert qa.locator('[data-field="asa"]').inner_text() == f"{asa:.1f} s"
                assert page.locator('#mix .mixrow[data-channel="VOICE"]').count() == 1
                page.screenshot(path=str(ARTIFACTS / "wallboard-before.png"), full_page=True)

                # A call waits in qa-voice while time moves on 100 s (5 x T): the tile turns red,
                # pushed to the open page: no reload (the marker set on this page survives).
                page.evaluate("window.__same_page = true")
                version = int(page.evaluate("document.body.dataset.version"))
                producer.send("contact-events", ev("qa-late", "CREATED", 1000))
                producer.send("contact-events", ev("qa-late", "QUEUED", 1000, queue="qa-voice"))
                producer.send("contact-events", ev("tick2", "CREATED", 1100))
                producer.flush()
                page.wait_for_selector('.tile[data-queue="qa-voice"][data-level="red"]', timeout=60_000)
                assert page.evaluate("window.__same_page") is True
                assert int(page.evaluate("document.body.dataset.version")) > version
                assert qa.locator('[data-field="waiting"]').inner_text() == "1"
                assert "oldest wait" in qa.locator(".why").inner_text()
                page.screenshot(path=str(ARTIFACTS / "wallboard-breach.png"), full_page=True)
                assert get_json(port, "/queues/qa-voice/", TOKEN)["waiting"] == 1  # the worker's own view agrees
            finally:
                browser.close()


def test_board_routing_and_protection_panels() -> None:
    board = Board()

    def decision(at_s: int, kind: str, queue: str = "voice-general", **extra: Any) -> dict[str, Any]:
        return {"occurred_at": T0 + at_s * 1000, "kind": kind, "queue": queue, "group": "voice", **extra}

    board.on_routing(decision(0, "QUEUED", position=3, ewt_ms=45_000))
    board.on_routing(decision(10, "OFFERED"))
    board.on_routing(decision(20, "ASSIGNED"))
    board.on_routing(decision(1000, "QUEUED", position=1, ewt_ms=5_000))  # 16 min later: the first three age out
    board.on_routing(decision(1001, "ESCALATED"))
    board.on_campaign({"campaign_id": "c1", "confirmed_at": T0, "sender_count": 25, "reach": 240, "sample": "win a prize"})
    board.on_campaign({"campaign_id": "c1", "confirmed_at": T0, "sender_count": 30, "reach": 300, "sample": "win a prize"})
    board.on_alert({"alert_id": "a", "occurred_at": T0, "kind": "SERVICE_LEVEL", "severity": "WARNING",
                    "subject": "q", "summary": "s", "details": {}, "state": "RAISED"})
    board.on_alert({"alert_id": "a", "occurred_at": T0 + 1, "kind": "SERVICE_LEVEL", "severity": "INFO",
                    "subject": "q", "summary": "back", "details": {}, "state": "RESOLVED"})
    snap = board.snapshot()
    (routing,) = snap["routing"]
    assert routing["decisions"] == {"QUEUED": 1, "OFFERED": 0, "ASSIGNED": 0, "REQUEUED": 0, "ESCALATED": 1,
                                    "UNROUTABLE": 0}
    assert (routing["position"], routing["ewt_ms"], routing["group"]) == (1, 5_000, "voice")
    assert snap["protection"]["campaigns"] == 1 and snap["protection"]["reach"] == 300  # the newest version
    assert snap["protection"]["alerts"] == {"SERVICE_LEVEL": 1}  # raised once; its resolution is listed, not counted
    assert [a["state"] for a in snap["alerts"]] == ["RESOLVED", "RAISED"]


@pytest.mark.kafka
def test_every_workers_page_shows_every_queue(tmp_path: Path) -> None:
    """Two workers share the partitions: each one's /queues/ holds only its own queues, while
    each one's wallboard shows all of them."""
    ports = [free_port(), free_port()]
    base = isolated_settings(tmp_path, partitions=3)
    create_topics(base)
    queues = [f"q{n}-voice" for n in range(8)]
    import dataclasses

    first = Worker(dataclasses.replace(base, web_port=ports[0]), name="w1")
    second = Worker(dataclasses.replace(base, web_port=ports[1]), name="w2")
    with first, second, ChannelProducer(base) as producer:
        for n, queue in enumerate(queues):
            for e in answered(f"mw{n}", queue, n * 5, 3):
                producer.send("contact-events", e)
            producer.send("contact-events", ev(f"mw-wait{n}", "QUEUED", 100 + n, queue=queue))
        producer.flush()

        def missing() -> list[list[str]]:
            boards = [{t["queue"] for t in get_json(p, "/wallboard/data")["tiles"]} for p in ports]
            return [sorted(set(queues) - b) for b in boards]

        try:
            wait_until(lambda: not any(missing()), timeout=120, worker=first, what="every queue on both wallboards")
        except AssertionError as exc:
            stored = query(base, "SELECT contact_id, status, first_queue FROM contact_summaries ORDER BY contact_id")
            live = [sorted(q["queue"] for q in get_json(p, "/queues/")["queues"]) for p in ports]
            raise AssertionError(f"missing on each board: {missing()}; stored {stored}; live {live}; {exc}") from None
        own = [{q["queue"] for q in get_json(p, "/queues/")["queues"]} & set(queues) for p in ports]
        assert own[0] | own[1] == set(queues)
        assert own[0] and own[1] and own[0] != set(queues) and own[1] != set(queues)  # each holds some only
        for p in ports:
            tiles = {t["queue"]: t for t in get_json(p, "/wallboard/data")["tiles"]}
            assert all(tiles[q]["waiting"] == 1 for q in queues)


def test_board_snapshot_in_full() -> None:
    """Every field of the snapshot, worked out by hand: newest records win by window and version,
    the tile's T falls back to the day's, deleted live entries and empty buckets go, the routing
    window keeps 15 minutes to the newest decision, charts in time order."""
    board = Board()
    roll = stat_record("qa", "CHAT", "ROLLING_15_MIN", T0, offered=8, service_level=0.75, asa_ms=30_000.0,
                       abandonment_rate=0.125, sl_threshold_ms=60_000, version=2)
    board.on_statistic(roll)
    board.on_statistic({**roll, "version": 1, "offered": 99})  # older version of the same window: ignored
    day = stat_record("qa", "CHAT", "DAY", T0 - 3_600_000, offered=40, answered=35, abandoned=3, service_level=0.9,
                      asa_ms=20_000.0, abandonment_rate=0.075, aht_ms=300_000.0, sl_threshold_ms=60_000)
    board.on_statistic(day)
    board.on_statistic(stat_record("qa", "CHAT", "MINUTE", T0 + 60_000, offered=2, asa_ms=None))
    board.on_statistic(stat_record("qa", "CHAT", "MINUTE", T0, offered=1, asa_ms=1000.0, version=1))
    board.on_statistic(stat_record("qa", "CHAT", "MINUTE", T0, offered=3, asa_ms=4000.0, version=3))
    board.on_statistic(stat_record("qa", "CHAT", "MINUTE", T0, offered=7, asa_ms=9000.0, version=2))  # older
    board.on_statistic(stat_record("qb", "EMAIL", "DAY", T0, offered=5, sl_threshold_ms=86_400_000))  # no rolling yet
    board.on_live("qa", {"agents": {"a1": "AVAILABLE", "a2": "WRAP_UP", "a3": "AWAY"}, "p": 1})
    board.on_live("qa|waiting|3", {"waiting": {"c9": T0 + 30_000}, "p": 1})
    board.on_live("qa|waiting|5", {"waiting": {"c8": T0 + 50_000}, "p": 1})
    board.on_live("qa|waiting|5", {"waiting": {}, "p": 1})  # emptied
    board.on_live("gone", {"agents": {"a9": "BUSY"}, "p": 0})
    board.on_live("gone", None)  # deleted
    board.on_live(7, {"agents": {}})  # not a text key: ignored
    board.on_watermark({"sources": {"0": [T0 + 90_000, 0], "1": []}})
    for at, kind in ((0, "QUEUED"), (900, "ASSIGNED"), (901, "OFFERED")):
        board.on_routing({"occurred_at": T0 + at * 1000, "kind": kind, "queue": "qa", "group": "g"})
    snap = board.snapshot()
    assert snap["as_of"] == T0 + 90_000
    assert snap["tiles"] == [
        {"queue": "qa", "channel": "CHAT", "level": "red",
         "why": ["service level 75% below 80%", "abandonment 12% above 10%"],
         "waiting": 1, "oldest_wait_ms": 60_000, "agents_available": 1, "agents_busy": 0, "agents_wrap_up": 1,
         "sl_threshold_ms": 60_000, "service_level": 0.75, "asa_ms": 30_000.0, "abandonment_rate": 0.125,
         "offered": 8,
         "day": {"offered": 40, "answered": 35, "abandoned": 3, "service_level": 0.9, "asa_ms": 20_000.0,
                 "abandonment_rate": 0.075, "aht_ms": 300_000.0}},
        {"queue": "qb", "channel": "EMAIL", "level": "green", "why": [], "waiting": 0, "oldest_wait_ms": 0,
         "agents_available": 0, "agents_busy": 0, "agents_wrap_up": 0, "sl_threshold_ms": 86_400_000,
         "service_level": None, "asa_ms": None, "abandonment_rate": None, "offered": 0,
         "day": {"offered": 5, "answered": None, "abandoned": None, "service_level": None, "asa_ms": None,
                 "abandonment_rate": None, "aht_ms": None}},
    ]
    assert snap["mix"] == {"CHAT": 40, "EMAIL": 5}
    assert snap["charts"] == {"qa · CHAT": {"t": [T0, T0 + 60_000], "offered": [3, 2], "asa_s": [4.0, None]}}
    # the QUEUED decision is 15 min 1 s older than the newest: out of the window
    assert snap["routing"] == [{"queue": "qa", "decisions": {
        "QUEUED": 0, "OFFERED": 1, "ASSIGNED": 1, "REQUEUED": 0, "ESCALATED": 0, "UNROUTABLE": 0}}]
    assert snap["protection"] == {"campaigns": 0, "senders": 0, "reach": 0, "latest": [], "alerts": {}}
    assert snap["alerts"] == [] and snap["version"] == board.version > 0


def test_levels_reasons_word_by_word() -> None:
    levels = Levels.parse(" sl = 0.9:0.6 , oldest_wait=2:4, abandonment=0.02:0.2 ")
    assert levels == Levels(sl_warn=0.9, sl_alert=0.6, wait_warn=2.0, wait_alert=4.0, abandon_warn=0.02,
                            abandon_alert=0.2)
    assert levels.grade(0.85, 50_000, 20_000, 0.05) == (
        "amber", ["service level 85% below 90%", "oldest wait 50 s beyond 2×T", "abandonment 5% above 2%"])
    assert levels.grade(0.5, 90_000, 20_000, 0.3) == (
        "red", ["service level 50% below 60%", "oldest wait 90 s beyond 4×T", "abandonment 30% above 20%"])
    assert levels.grade(0.6, 80_000, 20_000, 0.2)[0] == "amber"  # at the alert levels: not beyond them
    assert levels.grade(None, 10**9, 0, None) == ("green", [])  # no T: the wait says nothing
    assert Levels.parse("") == Levels()
    # seconds rounded from milliseconds; a T of 1 ms still grades the wait
    assert Levels().grade(None, 1_000_000, 1, None) == ("red", ["oldest wait 1000 s beyond 3×T"])
    assert Levels().grade(None, 1_999_000, 1_000_000, None) == ("amber", ["oldest wait 1999 s beyond 1×T"])
    # equal warn and alert levels are allowed; the refusals name what is known
    assert Levels.parse("sl=0.8:0.8,abandonment=0.1:0.1").sl_alert == 0.8
    with pytest.raises(ValueError) as refused:
        Levels.parse("speed=1:2")
    assert str(refused.value) == ("FIRSTLINE_WALLBOARD_LEVELS: unknown figure 'speed'; "
                                  "known: sl, oldest_wait, abandonment")


def test_board_counts_every_fold_once_and_keeps_what_it_should() -> None:
    """The version moves by one per fold (the page is pushed on a change); the newest event
    comes from an older worker's entry too; a bucket key without a number is a bucket of its
    own; deletions of what was never there are no errors; a queue known only from its waiting
    contacts has a tile of channel UNKNOWN; alerts kept, campaigns newest first, charts capped,
    the routing window's edge, a decision without a queue."""
    from streams.web import board as board_module

    board = Board()
    assert board.version == 0 and board.newest_event == 0
    board.on_live("qa", {"agents": {"a1": "AVAILABLE"}, "waiting": {"c0": T0 + 5_000}, "p": 0})  # older form
    assert board.newest_event == T0 + 5_000 and board.version == 1
    board.on_live("nobody", None)
    board.on_live("qa|waiting|1", {"waiting": {"c1": T0}, "p": 0})
    board.on_live("qa|waiting|old", {"waiting": {"c2": T0 + 1_000}, "p": 0})  # not a number: its own bucket
    board.on_live("qa|waiting|9", None)
    board.on_live("qz|waiting|2", {"waiting": {"c3": T0 + 2_000}, "p": 0})  # waiting contacts only
    assert board.version == 6
    board.on_live("qa|waiting|old", None)  # that bucket deleted: bucket 1 stays
    board.on_live("qa|waiting|old", {"waiting": {"c2": T0 + 1_000}, "p": 0})
    assert board.version == 8
    assert board.queue_live("qa")["waiting"] == 3 and board.queue_live("nope") is None
    only_waiting = board.queue_live("qz")
    assert (only_waiting["queue"], only_waiting["waiting"], only_waiting["agents_logged_in"]) == ("qz", 1, 0)
    no_waiting = Board()
    no_waiting.on_live("qb", {"agents": {"a": "BUSY"}, "p": 0})
    assert no_waiting.queue_live("qb")["waiting"] == 0
    board.on_statistic(stat_record("qa", "VOICE", "DAY", T0, offered=None, sl_threshold_ms=20_000))
    board.on_statistic(stat_record("qa", "CHAT", "DAY", T0, offered=4))
    for n in range(board_module.CHART_MINUTES + 2):
        board.on_statistic(stat_record("qa", "VOICE", "MINUTE", T0 + n * 60_000, offered=n, asa_ms=1_250.0))
    board.on_statistic(stat_record("qa", "VOICE", "ROLLING_15_MIN", T0, offered=5, version=3))
    board.on_statistic(stat_record("qa", "VOICE", "ROLLING_15_MIN", T0, offered=6, version=3))  # same version: newer
    board.on_statistic(stat_record("qa", "VOICE", "MINUTE", T0 + 5 * 60_000, offered=77, asa_ms=1_000_000.0,
                                   version=1))  # the same version again
    board.on_statistic(stat_record("qa", "VOICE", "ROLLING_15_MIN", T0, offered=6, version=3, sl_threshold_ms=15_000))
    board.on_statistic(stat_record("qb", "CHAT", "DAY", T0, offered=3))
    assert board.version == 8 + 2 + board_module.CHART_MINUTES + 2 + 2 + 3
    before = board.version
    for n in range(board_module.ALERTS_KEPT + 3):
        board.on_alert({"alert_id": f"a{n}", "occurred_at": T0, "kind": "VOLUME", "severity": "WARNING",
                        "subject": "q", "summary": "s", "details": {}})  # no state: a raised one
    resolved = {"alert_id": "a0", "occurred_at": T0, "kind": "VOLUME", "severity": "INFO", "subject": "q",
                "summary": "back", "details": {}, "state": "RESOLVED"}
    board.on_alert(resolved)
    board.on_alert(resolved)  # again: kept once
    assert board.version == before + board_module.ALERTS_KEPT + 3 + 1
    assert sum(1 for a in board.alerts if a["alert_id"] == "a0") == 1
    for n, confirmed in enumerate((3, 1, 4, 2)):
        board.on_campaign({"campaign_id": f"k{n}", "confirmed_at": T0 + confirmed, "sender_count": 10 + n,
                           "reach": 100 + n, "sample": "x" * 100})
    board.on_routing({"occurred_at": T0, "kind": "QUEUED", "queue": None})
    board.on_routing({"occurred_at": T0 + 1, "kind": "QUEUED", "queue": None, "ewt_ms": 9_000, "position": 2})
    board.on_routing({"occurred_at": T0 + 15 * 60_000, "kind": "OFFERED", "queue": None})  # exactly 15 min later
    # out of order: a decision 41 min old arrives between newer ones and stays held, out of the window
    board.on_routing({"occurred_at": T0 + 40 * 60_000, "kind": "REQUEUED", "queue": "late"})
    board.on_routing({"occurred_at": T0, "kind": "ESCALATED", "queue": "late"})
    board.on_routing({"occurred_at": T0 + 41 * 60_000, "kind": "ASSIGNED", "queue": "late"})
    assert board.version == before + board_module.ALERTS_KEPT + 3 + 1 + 4 + 6
    snap = board.snapshot()
    assert snap["version"] == board.version
    assert [(t["queue"], t["channel"]) for t in snap["tiles"]] == [
        ("qa", "CHAT"), ("qa", "VOICE"), ("qb", "CHAT"), ("qz", "UNKNOWN")]
    voice = snap["tiles"][1]
    assert (voice["offered"], voice["sl_threshold_ms"]) == (6, 15_000)  # the rolling's T before the day's
    assert snap["tiles"][3]["sl_threshold_ms"] == 0
    assert snap["tiles"][0]["sl_threshold_ms"] == 20_000  # stat_record's T, from the day
    assert snap["mix"] == {"VOICE": 0, "CHAT": 7}
    chart = snap["charts"]["qa · VOICE"]
    assert len(chart["t"]) == board_module.CHART_MINUTES and chart["t"][0] == T0 + 2 * 60_000
    assert chart["asa_s"][0] == 1.2  # 1.25 s to a tenth
    assert (chart["offered"][3], chart["asa_s"][3]) == (77, 1000.0)  # the later record of the same version
    assert len(snap["alerts"]) == board_module.ALERTS_KEPT and snap["protection"]["alerts"] == {"VOLUME": 23}
    assert [c["campaign_id"] for c in snap["protection"]["latest"]] == ["k2", "k0", "k3"]
    assert snap["protection"]["latest"][0] == {"campaign_id": "k2", "senders": 12, "reach": 102, "sample": "x" * 80}
    unqueued, late = snap["routing"]
    assert (unqueued["queue"], unqueued["decisions"]["QUEUED"], unqueued["decisions"]["OFFERED"]) == ("-", 2, 1)
    assert (unqueued["at"], unqueued["ewt_ms"], unqueued["position"]) == (T0 + 1, 9_000, 2)
    assert late["decisions"] == {"QUEUED": 0, "OFFERED": 0, "ASSIGNED": 1, "REQUEUED": 1, "ESCALATED": 0,
                                 "UNROUTABLE": 0}
