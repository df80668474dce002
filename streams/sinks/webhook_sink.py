"""alerts -> webhooks (streams/alerting/webhooks.py: the Standard Webhooks scheme).

Every alert goes to every endpoint of FIRSTLINE_WEBHOOKS, in order per endpoint, endpoints side
by side. A try that gets no 2xx in FIRSTLINE_WEBHOOK_TIMEOUT_S is retried after an exponential
backoff with full jitter, FIRSTLINE_WEBHOOK_MAX_TRIES tries in all; then the alert goes to the
dead-letter topic with the endpoint's name and the last reason (REFUSED), never lost silently. An
endpoint whose last FIRSTLINE_WEBHOOK_DISABLE_AFTER alerts all failed, or that answers 410 Gone,
is disabled: its alerts are dead-lettered at once, not retried, until FIRSTLINE_WEBHOOK_PROBE_AFTER_S
later one alert is tried once as a probe (webhooks.Health); delivered, the endpoint is enabled
again. After a 410, or with the probe off (0), it stays disabled until the worker restarts. A batch
is acknowledged after every delivery of it ended; a crash re-sends its alerts with the same
`webhook-id`, which receivers use to drop repeats.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp

from streams.alerting import webhooks
from streams.engine.errors import Abandoned, Undelivered
from streams.engine.processor import Context, Processor
from streams.topics import spec

log = logging.getLogger(__name__)


class WebhookSink(Processor):
    name = "webhooks"
    inputs = ("alerts",)
    checkpointed: ClassVar[bool] = False

    def __init__(self, ctx: Context, endpoints: list[webhooks.Endpoint] | None = None) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.endpoints = endpoints if endpoints is not None else webhooks.parse_endpoints(s.webhooks)
        self.keys = webhooks.parse_secrets(s.webhook_secrets)
        if self.endpoints and not self.keys:
            raise ValueError("FIRSTLINE_WEBHOOKS is set but FIRSTLINE_WEBHOOK_SECRETS is not: alerts "
                             "would go out unsigned")
        self.schema = spec("alerts").value_schema
        self.pending: list[tuple[Any, dict[str, Any]]] = []
        self.health = {e.name: webhooks.Health(s.webhook_disable_after, s.webhook_probe_after_s)
                       for e in self.endpoints}
        # For /metrics: (endpoint, outcome) -> count; outcome delivered, retried, failed, skipped.
        self.deliveries: dict[tuple[str, str], int] = {}
        self.rng = random.Random()
        self.session: aiohttp.ClientSession | None = None

    def count(self, endpoint: str, outcome: str) -> None:
        self.deliveries[(endpoint, outcome)] = self.deliveries.get((endpoint, outcome), 0) + 1

    def on_batch(self, records: Sequence[Any]) -> None:
        for message in records:
            try:
                self.ctx.bounds.record_size(message.value, internal=True)
                self.pending.append((message, self.ctx.codec.decode(message.value, self.schema)))
            except Exception as exc:
                self.ctx.out.reject(message, exc)

    async def on_checkpoint(self) -> None:
        batch, self.pending = self.pending, []
        if not batch or not self.endpoints:
            return
        if self.session is None:
            self.session = aiohttp.ClientSession()
        await asyncio.gather(*(self.deliver_all(endpoint, batch) for endpoint in self.endpoints))

    async def deliver_all(self, endpoint: webhooks.Endpoint, batch: list[tuple[Any, dict[str, Any]]]) -> None:
        health = self.health[endpoint.name]
        for message, alert in batch:
            if not health.may_try(time.monotonic()):
                self.count(endpoint.name, "skipped")
                self.ctx.out.reject(message, Undelivered(f"webhook {endpoint.name}: endpoint disabled ({health.why})"))
                continue
            probe = health.disabled
            reason = await self.deliver(endpoint, alert, tries=1 if probe else None)
            if reason is None:
                self.count(endpoint.name, "delivered")
                if health.delivered():
                    log.warning("webhook %s enabled again: a probe was delivered", endpoint.name)
                continue
            self.count(endpoint.name, "failed")
            self.ctx.out.reject(message, Undelivered(f"webhook {endpoint.name}: {reason}"))
            if health.failed(reason, time.monotonic()):
                probe_s = self.ctx.settings.webhook_probe_after_s
                log.warning("webhook %s disabled: %s; %s", endpoint.name, health.why,
                            f"one alert is tried again in {probe_s:g} s" if probe_s > 0 and not health.gone
                            else "until the worker restarts")

    @property
    def disabled(self) -> dict[str, str]:
        """endpoint -> why, for the endpoints whose alerts are not tried now (status, /metrics)."""
        return {name: h.why for name, h in self.health.items() if h.disabled}

    async def deliver(self, endpoint: webhooks.Endpoint, alert: dict[str, Any], tries: int | None = None) -> str | None:
        """None once delivered; otherwise why the last try failed."""
        s = self.ctx.settings
        assert self.session is not None
        payload, msg_id = webhooks.body(alert), webhooks.message_id(alert)
        tries = max(1, s.webhook_max_tries if tries is None else tries)
        reason = "no try"
        for attempt in range(1, tries + 1):
            head = webhooks.headers(self.keys, msg_id, int(time.time()), payload)
            try:
                async with self.session.post(endpoint.url, data=payload, headers=head, allow_redirects=False,
                                             timeout=aiohttp.ClientTimeout(total=s.webhook_timeout_s)) as response:
                    if 200 <= response.status < 300:
                        return None
                    reason = f"{response.status} {response.reason or ''}".strip()
                    if response.status == 410:
                        return reason  # the receiver says it is gone for good
            except asyncio.TimeoutError:
                reason = f"no answer within {s.webhook_timeout_s:g} s"
            except aiohttp.ClientError as exc:
                reason = type(exc).__name__  # the text may quote the URL
            if attempt < tries:
                self.count(endpoint.name, "retried")
                await self.pause(webhooks.backoff(attempt, s.webhook_backoff_s, s.webhook_backoff_max_s, self.rng))
        return f"{reason}, after {tries} tries"

    async def pause(self, delay: float) -> None:
        """Sleep, unless the worker wants this sink's partition back: the batch is then read again."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if self.ctx.yield_requested():
                raise Abandoned("webhooks: deliveries pending while the worker stops or rebalances")
            await asyncio.sleep(min(left, 0.1))

    async def on_stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
            log.info("webhooks: HTTP session to %d endpoint(s) closed", len(self.endpoints))

    def status(self) -> dict[str, Any]:
        return {"endpoints": [e.name for e in self.endpoints], "disabled": dict(self.disabled),
                "deliveries": {f"{e}/{o}": n for (e, o), n in sorted(self.deliveries.items())}}
