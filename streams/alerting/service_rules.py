"""Service-level rules: pure logic, no Kafka. The queue-stats processor, which holds each queue's
windows and live state, feeds them (streams/processors/queue_stats.py).

  SERVICE_LEVEL  the service level of the 15 minutes to the last closed minute below the
                 wallboard's warn level (the target) for `sl_windows` closed minutes in a row;
                 resolved after as many in a row at or above it. Windows with fewer than
                 `min_offered` contacts say nothing either way.
  ABANDONMENT    the abandonment rate of those 15 minutes above the wallboard's alert level for
                 `sl_windows` closed minutes in a row (with at least `min_offered` offered);
                 resolved after as many at or below its warn level: a rate hovering about the
                 level raises one alert, not one a minute.
  OLDEST_WAIT    a contact waiting longer than the wallboard's alert multiple of the queue's
                 threshold T; resolved when nobody waits that long.
  VOLUME         an hour's offered contacts far from the usual for that hour of the week:
                 |x - usual| above `volume_factor` x sqrt(usual) (a Poisson count's spread) and
                 above half the usual, once `volume_weeks` weeks of that hour were seen. The usual
                 is a mean of the weeks seen, then an exponentially weighted one (a quarter per
                 week), so it follows the seasons. Hours with no contact count as 0.

An alert is raised once and resolved once under the same id, made from what raised it (the
queue, channel and the event time of the window or of the oldest waiting contact), so that a
replay after a crash raises the same ids: the webhook's `webhook-id` lets receivers drop repeats.
Each rule's state (counts, open alerts, the hour being counted, the usual levels) is a small dict
per queue and channel, stored in a table by the processor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streams.identifiers import join_id
from streams.protection.alerts import alert

HOUR_MS = 3_600_000
WEEK_HOURS = 168
MAX_GAP_HOURS = WEEK_HOURS  # hours with no contact counted as 0 at most this far back


@dataclass(frozen=True)
class RuleSettings:
    sl_level: float = 0.80
    sl_windows: int = 3
    wait_factor: float = 3.0
    abandon_level: float = 0.10
    abandon_clear: float = 0.05
    min_offered: int = 5
    volume_factor: float = 3.0
    volume_weeks: int = 2

    @classmethod
    def parse(cls, text: str, sl_level: float, wait_factor: float, abandon_level: float,
              abandon_clear: float) -> "RuleSettings":
        """`FIRSTLINE_ALERT_RULES`: "sl_windows=3,min_offered=5,volume_factor=3,volume_weeks=2"; the
        levels are the wallboard's (FIRSTLINE_WALLBOARD_LEVELS), so red there is an alert here."""
        values: dict[str, Any] = {"sl_level": sl_level, "wait_factor": wait_factor, "abandon_level": abandon_level,
                                  "abandon_clear": abandon_clear}
        kinds = {"sl_windows": int, "min_offered": int, "volume_factor": float, "volume_weeks": int}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, raw = part.partition("=")
            name = name.strip()
            if name not in kinds:
                raise ValueError(f"FIRSTLINE_ALERT_RULES: unknown setting {name!r}; known: {', '.join(kinds)}")
            try:
                value = kinds[name](raw)
            except ValueError:
                raise ValueError(f"FIRSTLINE_ALERT_RULES: {part!r} needs a number") from None
            if value <= 0:
                raise ValueError(f"FIRSTLINE_ALERT_RULES: {name} must be above 0")
            values[name] = value
        return cls(**values)


def empty() -> dict[str, Any]:
    return {"below": 0, "above": 0, "high": 0, "low": 0, "end": 0, "open": {}, "hour": None, "minute": 0,
            "usual": {}}


def _raise(state: dict[str, Any], kind: str, alert_id: str, at: int, severity: str, subject: str,
           summary: str, details: dict[str, Any]) -> list[dict[str, Any]]:
    if kind in state["open"]:
        return []
    state["open"][kind] = [alert_id, at]
    return [alert(alert_id, at, kind, severity, subject, summary, details)]


def _resolve(state: dict[str, Any], kind: str, at: int, subject: str, summary: str,
             details: dict[str, Any]) -> list[dict[str, Any]]:
    held = state["open"].pop(kind, None)
    if held is None:
        return []
    return [alert(held[0], max(at, held[1]), kind, "INFO", subject, summary, details, state="RESOLVED")]


def on_rolling(rules: RuleSettings, state: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    """A final ROLLING_15_MIN record of all regions: the service-level and abandonment rules."""
    end = record["window_end"]
    if end <= state["end"]:
        return []  # seen (a replay) or older
    state["end"] = end
    queue, channel = record["queue"], record["channel"]
    subject = f"{queue} {channel}"
    offered, sl, rate = record["offered"], record["service_level"], record["abandonment_rate"]
    out: list[dict[str, Any]] = []
    figures = {"offered": offered, "service_level": sl, "abandonment_rate": rate, "window_end": end}
    if offered >= rules.min_offered and sl is not None:
        if sl < rules.sl_level:
            state["below"], state["above"] = state["below"] + 1, 0
            if state["below"] >= rules.sl_windows:
                out += _raise(state, "SERVICE_LEVEL", join_id("SERVICE_LEVEL", queue, channel, end), end, "WARNING",
                              subject, f"{subject}: service level {sl:.0%} below {rules.sl_level:.0%} for "
                              f"{state['below']} minutes", figures)
        else:
            state["above"], state["below"] = state["above"] + 1, 0
            if state["above"] >= rules.sl_windows:
                out += _resolve(state, "SERVICE_LEVEL", end, subject,
                                f"{subject}: service level {sl:.0%} back at or above {rules.sl_level:.0%}", figures)
    if rate is not None and offered >= rules.min_offered:
        high, low = state.get("high", 0), state.get("low", 0)
        state["high"], state["low"] = (high + 1, 0) if rate > rules.abandon_level else (0, low)
        if rate <= rules.abandon_clear:
            state["low"] = low + 1
        if state["high"] >= rules.sl_windows:
            out += _raise(state, "ABANDONMENT", join_id("ABANDONMENT", queue, channel, end), end, "WARNING",
                          subject, f"{subject}: {rate:.0%} of contacts abandoned in 15 minutes (above "
                          f"{rules.abandon_level:.0%} for {state['high']} minutes)", figures)
        elif state["low"] >= rules.sl_windows:
            out += _resolve(state, "ABANDONMENT", end, subject,
                            f"{subject}: abandonment {rate:.0%}, at or below {rules.abandon_clear:.0%}", figures)
    return out


def hour_of_week(start: int) -> int:
    return (start // HOUR_MS) % WEEK_HOURS


def _close_hour(rules: RuleSettings, state: dict[str, Any], queue: str, channel: str, start: int,
                offered: int) -> list[dict[str, Any]]:
    subject = f"{queue} {channel}"
    how = str(hour_of_week(start))
    usual = state["usual"].get(how)
    end = start + HOUR_MS
    out: list[dict[str, Any]] = []
    if usual is not None and usual[1] >= rules.volume_weeks:
        mean = usual[0]
        gap = abs(offered - mean)
        figures = {"offered": offered, "usual": round(mean, 1), "weeks": usual[1], "hour_start": start}
        if gap > rules.volume_factor * math.sqrt(max(mean, 1.0)) and gap > 0.5 * mean:
            direction = "above" if offered > mean else "below"
            out += _raise(state, "VOLUME", join_id("VOLUME", queue, channel, start), end, "WARNING", subject,
                          f"{subject}: {offered} contacts in the hour, far {direction} the usual "
                          f"{mean:.0f} for this hour of the week", figures)
        else:
            out += _resolve(state, "VOLUME", end, subject, f"{subject}: volume back to its usual level", figures)
    if usual is None:
        state["usual"][how] = [float(offered), 1]
    else:
        weeks = usual[1] + 1
        weight = max(1.0 / weeks, 0.25)
        state["usual"][how] = [usual[0] + weight * (offered - usual[0]), weeks]
    return out


def on_minute(rules: RuleSettings, state: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    """A final MINUTE record of all regions: counts the hour; an hour is judged when a minute of
    a later hour closes (hours between with no minute at all count as 0)."""
    start = record["window_start"]
    if start <= state["minute"]:
        return []
    state["minute"] = start
    hour = start - start % HOUR_MS
    out: list[dict[str, Any]] = []
    held = state["hour"]
    if held is not None and hour > held[0]:
        out += _close_hour(rules, state, record["queue"], record["channel"], held[0], held[1])
        gap_from = max(held[0] + HOUR_MS, hour - MAX_GAP_HOURS * HOUR_MS)
        for empty_hour in range(gap_from, hour, HOUR_MS):
            out += _close_hour(rules, state, record["queue"], record["channel"], empty_hour, 0)
        held = None
    state["hour"] = [hour, (held[1] if held else 0) + record["offered"]]
    return out


def on_live(rules: RuleSettings, state: dict[str, Any], queue: str, threshold_ms: int, waiting: int,
            oldest_since: int | None, now: int) -> list[dict[str, Any]]:
    """The queue's live state: the oldest-wait rule. `oldest_since`: when its oldest waiting
    contact entered; `now`: the newest event time seen (the live view's clock)."""
    limit = rules.wait_factor * threshold_ms
    waited = now - oldest_since if oldest_since is not None and waiting else 0
    figures = {"waiting": waiting, "oldest_wait_s": round(waited / 1000), "limit_s": round(limit / 1000)}
    if waited > limit and oldest_since is not None:
        return _raise(state, "OLDEST_WAIT", join_id("OLDEST_WAIT", queue, oldest_since), now, "CRITICAL", queue,
                      f"{queue}: a contact has waited {waited / 1000:.0f} s, beyond {limit / 1000:.0f} s", figures)
    return _resolve(state, "OLDEST_WAIT", now, queue, f"{queue}: nobody waits beyond {limit / 1000:.0f} s", figures)
