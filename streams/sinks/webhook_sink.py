"""alerts -> webhooks (streams/alerting/webhooks.py: the Standard Webhooks scheme).

Every alert goes to every endpoint of FIRSTLINE_WEBHOOKS, endpoints side by side, in two sinks
so that an endpoint in trouble does not hold back the others' alerts:

- `WebhookSink` reads `alerts` and tries each endpoint once (FIRSTLINE_WEBHOOK_TIMEOUT_S). An
  alert an endpoint did not take goes to the internal topic `webhook-retries`, and so does every
  later alert for that endpoint while earlier ones wait there (its alerts stay in order); its
  batch is acknowledged once the first tries ended and the retries were written.
- `WebhookRetrySink` reads `webhook-retries` and tries again after an exponential backoff with
  full jitter, FIRSTLINE_WEBHOOK_MAX_TRIES tries in all; then the alert goes to the dead-letter
  topic with the endpoint's name and the last reason (REFUSED), never lost silently.

An endpoint whose last FIRSTLINE_WEBHOOK_DISABLE_AFTER alerts all failed, or that answers 410
Gone, is disabled: its alerts are dead-lettered at once, untried, until FIRSTLINE_WEBHOOK_PROBE_AFTER_S
later the first-try sink tries one alert once as a probe (webhooks.Health); delivered, the
endpoint is enabled again. After a 410, or with the probe off (0), it stays disabled until the
worker restarts. The two sinks of a worker share the endpoints' health (`Deliveries`); when the
two topics' partitions are on different workers, each worker judges the endpoints by what it
saw. A crash re-sends alerts with the same `webhook-id`, which receivers use to drop repeats.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp

from streams.alerting import webhooks
from streams.engine.errors import Abandoned, Undelivered
from streams.engine.processor import Context, Processor
from streams.settings import Settings
from streams.topics import spec

log = logging.getLogger(__name__)


@dataclass
class Deliveries:
    """What a worker's two webhook sinks share: the endpoints, their health, the alerts each has
    waiting in `webhook-retries`, and the counts for /metrics."""

    settings: Settings
    endpoints: list[webhooks.Endpoint]
    keys: list[bytes]
    health: dict[str, webhooks.Health] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # endpoint -> alerts in webhook-retries
    # (endpoint, outcome) -> count; outcome delivered, retried, failed, skipped.
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    session: aiohttp.ClientSession | None = None
    users: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Deliveries:
        endpoints = webhooks.parse_endpoints(settings.webhooks)
        keys = webhooks.parse_secrets(settings.webhook_secrets)
        if endpoints and not keys:
            raise ValueError("FIRSTLINE_WEBHOOKS is set but FIRSTLINE_WEBHOOK_SECRETS is not: alerts "
                             "would go out unsigned")
        return cls(settings, endpoints, keys,
                   health={e.name: webhooks.Health(settings.webhook_disable_after, settings.webhook_probe_after_s)
                           for e in endpoints},
                   waiting={e.name: 0 for e in endpoints})

    def count(self, endpoint: str, outcome: str) -> None:
        self.counts[(endpoint, outcome)] = self.counts.get((endpoint, outcome), 0) + 1

    @property
    def disabled(self) -> dict[str, str]:
        """endpoint -> why, for the endpoints whose alerts are not tried now."""
        return {name: h.why for name, h in self.health.items() if h.disabled}

    async def post(self, endpoint: webhooks.Endpoint, alert: dict[str, Any]) -> str | None:
        """One signed try: None once delivered, otherwise why it failed."""
        s = self.settings
        if self.session is None:
            self.session = aiohttp.ClientSession()
        payload, msg_id = webhooks.body(alert), webhooks.message_id(alert)
        head = webhooks.headers(self.keys, msg_id, int(time.time()), payload)
        try:
            async with self.session.post(endpoint.url, data=payload, headers=head, allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=s.webhook_timeout_s)) as response:
                if 200 <= response.status < 300:
                    return None
                return f"{response.status} {response.reason or ''}".strip()
        except asyncio.TimeoutError:
            return f"no answer within {s.webhook_timeout_s:g} s"
        except aiohttp.ClientError as exc:
            return type(exc).__name__  # the text may quote the URL

    def skipped(self, endpoint: str) -> Undelivered:
        """An alert not tried since the endpoint is disabled: counted, and the dead letter's reason."""
        self.count(endpoint, "skipped")
        return Undelivered(f"webhook {endpoint}: endpoint disabled ({self.health[endpoint].why})")

    def forget_waiting(self) -> None:
        """Partitions moved: the retry sink's partition may be another worker's now, so the count
        of alerts waiting there is no longer known."""
        for name in self.waiting:
            self.waiting[name] = 0

    def delivered(self, endpoint: str) -> None:
        self.count(endpoint, "delivered")
        if self.health[endpoint].delivered():
            log.warning("webhook %s enabled again: a probe was delivered", endpoint)

    def failed(self, endpoint: str, reason: str) -> None:
        """An alert that will not be tried again: count it towards disabling the endpoint."""
        self.count(endpoint, "failed")
        health = self.health[endpoint]
        if health.failed(reason, time.monotonic()):
            probe_s = self.settings.webhook_probe_after_s
            log.warning("webhook %s disabled: %s; %s", endpoint, health.why,
                        f"one alert is tried again in {probe_s:g} s" if probe_s > 0 and not health.gone
                        else "until the worker restarts")

    async def close(self) -> None:
        self.users -= 1
        if self.users <= 0 and self.session is not None:
            await self.session.close()
            self.session = None
            log.info("webhooks: HTTP session to %d endpoint(s) closed", len(self.endpoints))


class WebhookSink(Processor):
    """First tries; what an endpoint did not take goes to `webhook-retries`."""

    name = "webhooks"
    inputs = ("alerts",)
    checkpointed: ClassVar[bool] = False

    def __init__(self, ctx: Context, deliveries: Deliveries | None = None) -> None:
        super().__init__(ctx)
        self.shared = deliveries if deliveries is not None else Deliveries.from_settings(ctx.settings)
        self.shared.users += 1
        self.endpoints = self.shared.endpoints
        self.schema = spec("alerts").value_schema
        self.pending: list[tuple[Any, dict[str, Any]]] = []

    # /metrics and /health read these
    @property
    def deliveries(self) -> dict[tuple[str, str], int]:
        return self.shared.counts

    @property
    def disabled(self) -> dict[str, str]:
        return self.shared.disabled

    def on_batch(self, records: Sequence[Any]) -> None:
        for message in records:
            try:
                self.ctx.bounds.record_size(message.value, internal=True)
                self.pending.append((message, self.ctx.codec.decode(message.value, self.schema)))
            except Exception as exc:
                self.ctx.out.reject(message, exc)

    async def on_checkpoint(self) -> None:
        batch, self.pending = self.pending, []
        if batch and self.endpoints:
            await asyncio.gather(*(self.first_tries(endpoint, batch) for endpoint in self.endpoints))

    async def first_tries(self, endpoint: webhooks.Endpoint, batch: list[tuple[Any, dict[str, Any]]]) -> None:
        shared, name = self.shared, endpoint.name
        health = shared.health[name]
        for message, alert in batch:
            if not health.may_try(time.monotonic()):
                self.ctx.out.reject(message, shared.skipped(name))
                continue
            if shared.waiting[name] and not health.disabled:
                self.queue(name, message, alert, tries=0, reason="")  # behind the alerts waiting there
                continue
            probe = health.disabled
            reason = await shared.post(endpoint, alert)
            if reason is None:
                shared.delivered(name)
            elif probe or reason.startswith("410") or self.ctx.settings.webhook_max_tries <= 1:
                # a probe is one try; a 410 says the receiver is gone for good
                self.ctx.out.reject(message, Undelivered(f"webhook {name}: {reason}, after 1 tries"))
                shared.failed(name, reason)
            else:
                shared.count(name, "retried")
                self.queue(name, message, alert, tries=1, reason=reason)

    def queue(self, endpoint: str, message: Any, alert: dict[str, Any], tries: int, reason: str) -> None:
        self.shared.waiting[endpoint] += 1
        self.ctx.out.emit("webhook-retries", endpoint, {"endpoint": endpoint, "alert_id": alert["alert_id"],
                                                        "tries": tries, "reason": reason, "alert": message.value})

    def on_rebalanced(self) -> None:
        self.shared.forget_waiting()

    async def on_stop(self) -> None:
        await self.shared.close()

    def status(self) -> dict[str, Any]:
        return {"endpoints": [e.name for e in self.endpoints], "disabled": self.disabled,
                "waiting": dict(self.shared.waiting),
                "deliveries": {f"{e}/{o}": n for (e, o), n in sorted(self.deliveries.items())}}


class WebhookRetrySink(Processor):
    """Tries again, with backoff, what an endpoint did not take; each endpoint side by side."""

    name = "webhook-retries"
    inputs = ("webhook-retries",)
    checkpointed: ClassVar[bool] = False
    linger_s: ClassVar[float | None] = 0

    def __init__(self, ctx: Context, deliveries: Deliveries) -> None:
        super().__init__(ctx)
        self.shared = deliveries
        self.shared.users += 1
        self.by_name = {e.name: e for e in deliveries.endpoints}
        self.schema = spec("webhook-retries").value_schema
        self.alert_schema = spec("alerts").value_schema
        self.pending: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []

    def on_batch(self, records: Sequence[Any]) -> None:
        for message in records:
            try:
                self.ctx.bounds.record_size(message.value, internal=True)
                retry = self.ctx.codec.decode(message.value, self.schema)
                alert = self.ctx.codec.decode(retry["alert"], self.alert_schema)
            except Exception as exc:
                self.ctx.out.reject(message, exc)
                continue
            if retry["endpoint"] not in self.by_name:
                self.ctx.out.reject(message, Undelivered(f"webhook {retry['endpoint']}: no longer configured"))
                continue
            self.pending.append((message, retry, alert))

    async def on_checkpoint(self) -> None:
        batch, self.pending = self.pending, []
        by_endpoint: dict[str, list[tuple[Any, dict[str, Any], dict[str, Any]]]] = {}
        for item in batch:
            by_endpoint.setdefault(item[1]["endpoint"], []).append(item)
        await asyncio.gather(*(self.retry(self.by_name[name], items) for name, items in by_endpoint.items()))

    async def retry(self, endpoint: webhooks.Endpoint, items: list[tuple[Any, dict[str, Any], dict[str, Any]]]) -> None:
        shared, name = self.shared, endpoint.name
        for message, retry, alert in items:
            if shared.health[name].disabled:
                self.ctx.out.reject(message, shared.skipped(name))
            else:
                reason, made = await self.tries(endpoint, alert, retry["tries"], retry["reason"])
                if reason is None:
                    shared.delivered(name)
                else:
                    self.ctx.out.reject(message, Undelivered(f"webhook {name}: {reason}, after {made} tries"))
                    shared.failed(name, reason)
            shared.waiting[name] = max(0, shared.waiting[name] - 1)

    async def tries(self, endpoint: webhooks.Endpoint, alert: dict[str, Any], made: int,
                    reason: str) -> tuple[str | None, int]:
        """The tries left after `made`: (None, tries made) once delivered, else (why the last
        failed, tries made)."""
        s = self.ctx.settings
        tries = max(1, s.webhook_max_tries)
        while made < tries:
            if made:
                await self.pause(webhooks.backoff(made, s.webhook_backoff_s, s.webhook_backoff_max_s, self.shared.rng))
            got = await self.shared.post(endpoint, alert)
            made += 1
            if got is None:
                return None, made
            reason = got
            if got.startswith("410"):
                break  # the receiver says it is gone for good
            if made < tries:
                self.shared.count(endpoint.name, "retried")
        return reason or "no try", made

    async def pause(self, delay: float) -> None:
        """Sleep, unless the worker wants this sink's partition back: the batch is then read again."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if self.ctx.yield_requested():
                raise Abandoned("webhook retries pending while the worker stops or rebalances")
            await asyncio.sleep(min(left, 0.1))

    def on_rebalanced(self) -> None:
        self.shared.forget_waiting()

    async def on_stop(self) -> None:
        await self.shared.close()
