"""Alerts for detections: a stable id (a repeated detection gives the same id, so a consumer can
drop the second copy) and a cool-down per kind and subject (a sender blocked twice in an hour
raises one alert)."""

from __future__ import annotations

from typing import Any


def alert(alert_id: str, at: int, kind: str, severity: str, subject: str, summary: str,
          details: dict[str, Any], state: str = "RAISED") -> dict[str, Any]:
    return {"alert_id": alert_id, "occurred_at": at, "kind": kind, "severity": severity,
            "subject": subject, "summary": summary[:500], "details": {k: str(v)[:200] for k, v in details.items()},
            "state": state}


def cooled(last_at: int | None, at: int, cooldown_ms: int) -> bool:
    """True when an alert at `at` may be raised after one raised at `last_at`: a cool-down either
    side of it, since detections read out of order may come earlier in event time."""
    return last_at is None or abs(at - last_at) >= cooldown_ms
