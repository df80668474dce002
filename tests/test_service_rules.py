"""The service-level alert rules, by hand (streams/alerting/service_rules.py)."""

from __future__ import annotations

from typing import Any

import pytest

from streams.alerting import service_rules as sr

RULES = sr.RuleSettings(sl_level=0.8, sl_windows=3, wait_factor=3.0, abandon_level=0.1, abandon_clear=0.05,
                        min_offered=5, volume_factor=3.0, volume_weeks=2)
M = 60_000
H = sr.HOUR_MS
WEEK = 168 * H


def rolling(end: int, offered: int, sl: float | None, rate: float | None = 0.0) -> dict[str, Any]:
    return {"queue": "q", "channel": "VOICE", "window_end": end, "offered": offered, "service_level": sl,
            "abandonment_rate": rate}


def minute(start: int, offered: int) -> dict[str, Any]:
    return {"queue": "q", "channel": "VOICE", "window_start": start, "offered": offered}


def kinds(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["kind"], a["state"]) for a in alerts]


def test_service_level_below_target_for_three_minutes_then_back() -> None:
    state = sr.empty()
    assert sr.on_rolling(RULES, state, rolling(1 * M, 10, 0.70)) == []
    assert sr.on_rolling(RULES, state, rolling(2 * M, 10, 0.79)) == []
    assert sr.on_rolling(RULES, state, rolling(3 * M, 4, 0.10)) == []  # 4 offered: says nothing
    raised = sr.on_rolling(RULES, state, rolling(4 * M, 10, 0.5))
    assert kinds(raised) == [("SERVICE_LEVEL", "RAISED")]
    assert raised[0]["alert_id"] == "SERVICE_LEVEL|q|VOICE|240000" and raised[0]["occurred_at"] == 4 * M
    assert raised[0]["details"]["service_level"] == "0.5"
    assert sr.on_rolling(RULES, state, rolling(4 * M, 10, 0.5)) == []  # the same window again (a replay)
    assert sr.on_rolling(RULES, state, rolling(5 * M, 10, 0.4)) == []  # raised once
    assert sr.on_rolling(RULES, state, rolling(6 * M, 10, 0.80)) == []  # at the target: 1 of 3
    assert sr.on_rolling(RULES, state, rolling(7 * M, 10, 0.9)) == []
    resolved = sr.on_rolling(RULES, state, rolling(8 * M, 10, 1.0))
    assert kinds(resolved) == [("SERVICE_LEVEL", "RESOLVED")]
    assert resolved[0]["alert_id"] == raised[0]["alert_id"] and resolved[0]["occurred_at"] == 8 * M


def test_a_dip_shorter_than_three_minutes_raises_nothing() -> None:
    state = sr.empty()
    for end, sl in ((1, 0.5), (2, 0.5), (3, 0.9), (4, 0.5), (5, 0.5), (6, 0.95)):
        assert sr.on_rolling(RULES, state, rolling(end * M, 10, sl)) == []


def test_abandonment_spike_raised_and_resolved_without_flapping() -> None:
    state = sr.empty()

    def at(minute: int, rate: float, offered: int = 10) -> list[tuple[str, str]]:
        return kinds(sr.on_rolling(RULES, state, rolling(minute * M, offered, 0.9, rate=rate)))

    assert at(1, 0.10) == []  # at the level: not above
    assert at(2, 0.3) == [] and at(3, 0.5) == [] and at(4, 0.2, offered=3) == []  # 3 offered: says nothing
    assert at(5, 0.2) == [("ABANDONMENT", "RAISED")]  # the third minute in a row above 10 %
    assert at(6, 0.08) == [] and at(7, 0.12) == []  # between the levels, then above: still raised, once
    assert at(8, 0.05) == [] and at(9, 0.0) == []
    assert at(10, 0.04) == [("ABANDONMENT", "RESOLVED")]  # three in a row at or below 5 %


def test_oldest_wait_beyond_three_thresholds() -> None:
    state = sr.empty()
    t = 20_000
    assert sr.on_live(RULES, state, "q", t, 2, 1000, 1000 + 60_000) == []  # exactly 3 x T: not beyond
    raised = sr.on_live(RULES, state, "q", t, 2, 1000, 1000 + 60_001)
    assert kinds(raised) == [("OLDEST_WAIT", "RAISED")] and raised[0]["alert_id"] == "OLDEST_WAIT|q|1000"
    assert raised[0]["severity"] == "CRITICAL" and raised[0]["details"]["oldest_wait_s"] == "60"
    assert sr.on_live(RULES, state, "q", t, 3, 1000, 1000 + 90_000) == []
    resolved = sr.on_live(RULES, state, "q", t, 0, None, 1000 + 95_000)  # answered: nobody waits
    assert kinds(resolved) == [("OLDEST_WAIT", "RESOLVED")] and resolved[0]["alert_id"] == "OLDEST_WAIT|q|1000"
    assert sr.on_live(RULES, state, "q", t, 0, None, 1000 + 99_000) == []


def test_volume_far_from_the_usual_hour_of_the_week() -> None:
    state = sr.empty()
    base = 10 * WEEK  # an hour that starts a week-hour slot

    def hour(week: int, offered: int, next_minute: int = 0) -> list[dict[str, Any]]:
        """`offered` contacts in the hour of week `week`, then the first minute of the next hour closes."""
        start = base + week * WEEK
        out = sr.on_minute(RULES, state, minute(start, offered))
        return out + sr.on_minute(RULES, state, minute(start + H, next_minute))

    assert hour(0, 100) == []  # no usual yet
    assert hour(1, 110) == []  # one week seen: not enough (volume_weeks = 2)
    # usual = (100 + 110) / 2 = 105 after two weeks; 150 is 45 away: beyond 3 x sqrt(105) = 30.7, not beyond 52.5 (half)
    assert hour(2, 150) == []
    # usual now 105 + (150 - 105) / 3 = 120; 30 is 90 away: beyond 3 x sqrt(120) = 32.9 and beyond 60
    raised = hour(3, 30)
    assert kinds(raised) == [("VOLUME", "RAISED")] and raised[0]["details"]["usual"] == "120.0"
    assert "below" in raised[0]["summary"] and raised[0]["occurred_at"] == base + 3 * WEEK + H
    # usual 120 + (30 - 120) / 4 = 97.5; 100 is within: resolved
    assert kinds(hour(4, 100)) == [("VOLUME", "RESOLVED")]
    # from the fifth week on a quarter per week: 97.5 + (100 - 97.5) / 4
    assert state["usual"][str(sr.hour_of_week(base))] == [pytest.approx(98.125), 5]


def test_hours_without_a_contact_count_as_zero() -> None:
    state = sr.empty()
    start = 5 * WEEK
    assert sr.on_minute(RULES, state, minute(start, 7)) == []
    sr.on_minute(RULES, state, minute(start + 3 * H + 5 * M, 1))  # closes the hour and two empty ones
    assert state["usual"][str(sr.hour_of_week(start))] == [7.0, 1]
    assert state["usual"][str(sr.hour_of_week(start + H))] == [0.0, 1]
    assert state["usual"][str(sr.hour_of_week(start + 2 * H))] == [0.0, 1]
    assert state["hour"] == [start + 3 * H, 1]
    assert sr.on_minute(RULES, state, minute(start + 3 * H + 5 * M, 1)) == []  # a replay adds nothing
    assert state["hour"] == [start + 3 * H, 1]


def test_rule_settings_from_text() -> None:
    rules = sr.RuleSettings.parse("sl_windows=5, volume_factor=2.5", 0.9, 2.0, 0.2, 0.1)
    assert (rules.sl_windows, rules.volume_factor, rules.sl_level, rules.wait_factor, rules.abandon_level) == \
        (5, 2.5, 0.9, 2.0, 0.2)
    for bad in ("sl_windows=0", "windows=3", "min_offered=x"):
        with pytest.raises(ValueError, match="FIRSTLINE_ALERT_RULES"):
            sr.RuleSettings.parse(bad, 0.8, 3, 0.1, 0.05)


def test_alert_records_carry_their_figures_ids_and_severities() -> None:
    state = sr.empty()
    for minute in (1, 2):
        sr.on_rolling(RULES, state, rolling(minute * M, 10, 0.5, rate=0.2))
    assert sr.on_rolling(RULES, state, rolling(2 * M, 10, 0.5, rate=0.2)) == []  # a replayed window counts once
    assert (state["below"], state["high"]) == (2, 2)
    raised = sr.on_rolling(RULES, state, rolling(3 * M, 12, 0.25, rate=0.5))
    sl, abandon = raised
    assert (sl["kind"], sl["severity"], sl["state"], sl["subject"]) == ("SERVICE_LEVEL", "WARNING", "RAISED", "q VOICE")
    assert sl["details"] == {"offered": "12", "service_level": "0.25", "abandonment_rate": "0.5",
                             "window_end": str(3 * M)}
    assert "25% below 80% for 3 minutes" in sl["summary"]
    assert (abandon["alert_id"], abandon["severity"]) == (f"ABANDONMENT|q|VOICE|{3 * M}", "WARNING")
    assert "50% of contacts abandoned" in abandon["summary"]
    for minute in (4, 5):
        assert sr.on_rolling(RULES, state, rolling(minute * M, 10, 0.9, rate=0.0)) == []
    resolved = sr.on_rolling(RULES, state, rolling(6 * M, 10, 0.9, rate=0.0))
    assert [(a["kind"], a["severity"], a["alert_id"]) for a in resolved] == [
        ("SERVICE_LEVEL", "INFO", sl["alert_id"]), ("ABANDONMENT", "INFO", abandon["alert_id"])]
    assert resolved[0]["occurred_at"] == 6 * M and resolved[0]["details"]["service_level"] == "0.9"
    assert state["open"] == {}


def test_oldest_wait_figures() -> None:
    state = sr.empty()
    (raised,) = sr.on_live(RULES, state, "q", 20_000, 4, 1_000, 1_000 + 75_500)
    assert raised["details"] == {"waiting": "4", "oldest_wait_s": "76", "limit_s": "60"}
    assert raised["occurred_at"] == 76_500 and raised["subject"] == "q"
    assert "waited 76 s, beyond 60 s" in raised["summary"]
    assert state["open"]["OLDEST_WAIT"] == [raised["alert_id"], 76_500]
    (resolved,) = sr.on_live(RULES, state, "q", 20_000, 1, 70_000, 80_000)  # the oldest now waits 10 s
    assert resolved["state"] == "RESOLVED" and resolved["details"]["oldest_wait_s"] == "10"


def test_an_hour_of_many_minutes_and_the_first_week_that_speaks() -> None:
    state = sr.empty()
    start = 20 * WEEK
    for week in range(2):
        for minute in range(0, 60, 10):  # six minutes of 5 contacts: 30 in the hour
            assert sr.on_minute(RULES, state, minute_rec(start + week * WEEK + minute * M, 5)) == []
        sr.on_minute(RULES, state, minute_rec(start + week * WEEK + H, 0))  # the next hour closes it
    assert state["usual"][str(sr.hour_of_week(start))] == [30.0, 2]
    # the third week is the first with volume_weeks (2) of history: 90 is far from 30
    sr.on_minute(RULES, state, minute_rec(start + 2 * WEEK, 90))
    (raised,) = sr.on_minute(RULES, state, minute_rec(start + 2 * WEEK + H, 0))
    assert raised["kind"] == "VOLUME" and "above" in raised["summary"]
    assert raised["details"] == {"offered": "90", "usual": "30.0", "weeks": "2", "hour_start": str(start + 2 * WEEK)}
    assert raised["alert_id"] == f"VOLUME|q|VOICE|{start + 2 * WEEK}"


def minute_rec(start: int, offered: int) -> dict[str, Any]:
    return minute(start, offered)


def test_settings_names_edges_and_refusal_words() -> None:
    rules = sr.RuleSettings.parse("min_offered=3, volume_weeks=1, sl_windows=1", 0.8, 3, 0.1, 0.05)
    assert (rules.min_offered, rules.volume_weeks, rules.sl_windows) == (3, 1, 1)  # 1 is above 0
    with pytest.raises(ValueError) as refused:
        sr.RuleSettings.parse("windows=3", 0.8, 3, 0.1, 0.05)
    assert str(refused.value) == ("FIRSTLINE_ALERT_RULES: unknown setting 'windows'; "
                                  "known: sl_windows, min_offered, volume_factor, volume_weeks")
    assert sr.hour_of_week(WEEK + 2 * H + 5 * M) == 2 and isinstance(sr.hour_of_week(WEEK + 2 * H), int)


def test_resolutions_name_their_subject_and_counts_restart_when_interrupted() -> None:
    """min_offered contacts are enough to judge; after a raise, a window back on the wrong side
    starts the count of good windows again; resolutions carry the subject."""
    state = sr.empty()
    for m in (1, 2, 3):  # exactly min_offered (5) offered
        out = sr.on_rolling(RULES, state, rolling(m * M, 5, 0.5, rate=0.5))
    assert [(a["kind"], a["state"], a["subject"]) for a in out] == [
        ("SERVICE_LEVEL", "RAISED", "q VOICE"), ("ABANDONMENT", "RAISED", "q VOICE")]
    for m, sl, rate in ((4, 0.9, 0.0), (5, 0.9, 0.0), (6, 0.5, 0.5), (7, 0.9, 0.0), (8, 0.9, 0.0)):
        assert sr.on_rolling(RULES, state, rolling(m * M, 10, sl, rate=rate)) == [], m
    resolved = sr.on_rolling(RULES, state, rolling(9 * M, 10, 0.9, rate=0.0))
    assert [(a["kind"], a["state"], a["subject"], a["severity"]) for a in resolved] == [
        ("SERVICE_LEVEL", "RESOLVED", "q VOICE", "INFO"), ("ABANDONMENT", "RESOLVED", "q VOICE", "INFO")]
    # a state written by an earlier version, without the abandonment counts
    older = {k: v for k, v in sr.empty().items() if k not in ("high", "low")}
    for m in (1, 2):
        assert sr.on_rolling(RULES, older, rolling(m * M, 10, 0.9, rate=0.5)) == []
    assert kinds(sr.on_rolling(RULES, older, rolling(3 * M, 10, 0.9, rate=0.5))) == [("ABANDONMENT", "RAISED")]


def test_volume_alerts_word_by_word_and_the_edges_of_far() -> None:
    def weeks(offered: list[int], start: int = 30 * WEEK) -> list[dict[str, Any]]:
        """One hour a week; returns what the last closing said."""
        state = sr.empty()
        out: list[dict[str, Any]] = []
        for week, n in enumerate(offered):
            s = start + week * WEEK
            out = sr.on_minute(RULES, state, minute(s, n)) + sr.on_minute(RULES, state, minute(s + H, 0))
        return out

    # usual 4: far is beyond 3 x sqrt(4) = 6 and beyond 2; 10 is exactly 6 away
    assert weeks([2, 6, 10]) == []
    # usual 100: 150 is beyond 30 but exactly half the usual away
    assert weeks([100, 100, 150]) == []
    # usual 1: the square root's floor of 1 gives 3; 5 is 4 away
    (raised,) = weeks([1, 1, 5])
    start = 30 * WEEK + 2 * WEEK
    assert (raised["kind"], raised["severity"], raised["subject"], raised["alert_id"]) == (
        "VOLUME", "WARNING", "q VOICE", f"VOLUME|q|VOICE|{start}")
    assert raised["summary"] == "q VOICE: 5 contacts in the hour, far above the usual 1 for this hour of the week"
    (low,) = weeks([40, 41, 3])
    assert low["summary"] == "q VOICE: 3 contacts in the hour, far below the usual 40 for this hour of the week"
    assert low["details"]["usual"] == "40.5"
    assert weeks([1, 2, 4, 12])[0]["details"]["usual"] == "2.3"  # 1.5 + (4 - 1.5) / 3, to a tenth
    (back,) = weeks([1, 1, 5, 2])
    assert (back["state"], back["subject"], back["summary"]) == (
        "RESOLVED", "q VOICE", "q VOICE: volume back to its usual level")


def test_an_empty_hour_far_below_its_usual_is_raised_for_its_queue() -> None:
    state = sr.empty()
    start = 40 * WEEK
    for week in range(2):
        sr.on_minute(RULES, state, minute(start + week * WEEK, 50))
        sr.on_minute(RULES, state, minute(start + week * WEEK + H, 0))
    sr.on_minute(RULES, state, minute(start + 2 * WEEK - H, 1))  # the hour before, then none in ours
    out = sr.on_minute(RULES, state, minute(start + 2 * WEEK + 2 * H, 1))
    (raised,) = [a for a in out if a["kind"] == "VOLUME" and a["state"] == "RAISED"]
    assert (raised["subject"], raised["alert_id"]) == ("q VOICE", f"VOLUME|q|VOICE|{start + 2 * WEEK}")


def test_oldest_wait_words_with_a_long_threshold() -> None:
    state = sr.empty()
    t = 200_000  # 3 x T = 600 s
    assert sr.on_live(RULES, state, "q", t, 0, 1_000, 900_000) == []  # nobody waits: a stale start says nothing
    (raised,) = sr.on_live(RULES, state, "q", t, 1, 1_000, 1_000 + 700_000)
    assert raised["details"] == {"waiting": "1", "oldest_wait_s": "700", "limit_s": "600"}
    assert raised["summary"] == "q: a contact has waited 700 s, beyond 600 s"
    (resolved,) = sr.on_live(RULES, state, "q", t, 0, None, 1_000 + 800_000)
    assert (resolved["subject"], resolved["summary"]) == ("q", "q: nobody waits beyond 600 s")
