"""Alert delivery to webhooks by the Standard Webhooks scheme: pure logic, no I/O (the sink that
sends is streams/sinks/webhook_sink.py).

Each delivery is a POST of a JSON body `{"type": "alert.raised" | "alert.resolved", "timestamp":
ISO 8601, "data": <the Alert record>}` with three headers:

  webhook-id         the message id: the same for every try of one alert's state, so a receiver
                     drops repeats (a retry, or a replay after a crash)
  webhook-timestamp  seconds since the epoch when this try was signed
  webhook-signature  `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret, separated
                     by spaces: while a secret is rotated, both the new and the old one sign, and a
                     receiver that knows either accepts

Secrets are `whsec_` and the base64 of the key bytes, as the scheme's libraries make them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import orjson

PREFIX = "whsec_"


@dataclass(frozen=True)
class Endpoint:
    name: str  # in logs, metrics and dead letters: never the URL, which may carry a token
    url: str


def parse_endpoints(text: str) -> list[Endpoint]:
    """FIRSTLINE_WEBHOOKS: "name=url,name=url"."""
    endpoints: list[Endpoint] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, url = part.partition("=")
        name, url = name.strip(), url.strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"FIRSTLINE_WEBHOOKS: {name!r} is not a name (letters, digits, - and _)")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError(f"FIRSTLINE_WEBHOOKS: the endpoint {name!r} needs an http(s) URL")
        if any(e.name == name for e in endpoints):
            raise ValueError(f"FIRSTLINE_WEBHOOKS: the endpoint {name!r} is named twice")
        endpoints.append(Endpoint(name, url))
    return endpoints


def parse_secrets(raw: bytes) -> list[bytes]:
    """FIRSTLINE_WEBHOOK_SECRETS: `whsec_...` values separated by spaces, the current one first."""
    keys = []
    for token in raw.decode().split():
        if not token.startswith(PREFIX):
            raise ValueError("FIRSTLINE_WEBHOOK_SECRETS: each secret starts with whsec_")
        try:
            keys.append(base64.b64decode(token[len(PREFIX):], validate=True))
        except ValueError:
            raise ValueError("FIRSTLINE_WEBHOOK_SECRETS: a secret is not base64 after whsec_") from None
    return keys


def new_secret() -> str:
    import secrets

    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def message_id(alert: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{alert['alert_id']}\x1f{alert.get('state', 'RAISED')}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def body(alert: dict[str, Any]) -> bytes:
    state = str(alert.get("state", "RAISED")).lower()
    stamp = datetime.fromtimestamp(alert["occurred_at"] / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"type": f"alert.{state}", "timestamp": stamp, "data": alert})


def signature(keys: list[bytes], msg_id: str, timestamp: int, payload: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)


def headers(keys: list[bytes], msg_id: str, timestamp: int, payload: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(keys, msg_id, timestamp, payload)}


def verify(secret: str, got: dict[str, str], payload: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (and the tests' server): one of the signatures matches the secret,
    and the timestamp is within the tolerance (a replayed old request is refused)."""
    key = base64.b64decode(secret[len(PREFIX):])
    lowered = {k.lower(): v for k, v in got.items()}
    try:
        stamp = int(lowered["webhook-timestamp"])
        expected = signature([key], lowered["webhook-id"], stamp, payload).split(",", 1)[1]
    except (KeyError, ValueError):
        return False
    if abs(now - stamp) > tolerance_s:
        return False
    offered = [s.split(",", 1)[1] for s in lowered.get("webhook-signature", "").split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, s) for s in offered)


@dataclass
class Health:
    """One endpoint's circuit breaker. Closed: every alert is tried, with retries. Open (disabled)
    once `disable_after` alerts in a row failed, or at once on 410 Gone: alerts are dead-lettered
    untried. Half-open: `probe_after_s` after it opened, the next alert is tried once; delivered,
    the circuit closes, failed, it opens for another `probe_after_s`. A 410 (the receiver says it
    is gone for good) or `probe_after_s` = 0 keeps it open until the worker restarts."""

    disable_after: int
    probe_after_s: float
    failures: int = 0  # alerts in a row that failed
    opened_at: float | None = None
    why: str = ""
    gone: bool = False

    @property
    def disabled(self) -> bool:
        return self.opened_at is not None

    def may_try(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        return not self.gone and self.probe_after_s > 0 and now - self.opened_at >= self.probe_after_s

    def delivered(self) -> bool:
        """Record a delivery; True when it closed an open circuit (a probe got through)."""
        reopened = self.opened_at is not None
        self.failures, self.opened_at, self.why = 0, None, ""
        return reopened

    def failed(self, reason: str, now: float) -> bool:
        """Record an alert that was not delivered; True when the endpoint is newly disabled."""
        self.failures += 1
        gone = reason.startswith("410")
        if self.opened_at is None and not gone and self.failures < self.disable_after:
            return False
        newly = self.opened_at is None
        self.opened_at, self.gone = now, gone
        self.why = reason if gone else f"{self.failures} alerts in a row failed"
        return newly


def backoff(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds before try `attempt + 1` (attempt >= 1): "full jitter", uniform up to the
    exponential bound, so that many senders retrying at once spread out."""
    return rng.uniform(0, min(cap_s, base_s * 2 ** (attempt - 1)))
