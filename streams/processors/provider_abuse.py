"""subscription-refusals -> alerts: a content provider refused again and again is abusing the
paid-subscription service (subscribing people who did not ask, or who ban paid content).

The refusals are keyed by provider, so one worker counts each provider's refusals (table
`provider-refusals`); `FIRSTLINE_PROVIDER_ABUSE_LIMIT` refusals within
`FIRSTLINE_PROVIDER_ABUSE_WINDOW_S` raise an UNWANTED_SUBSCRIPTION alert, at most one per provider
per `FIRSTLINE_ALERT_COOLDOWN_S`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.engine.processor import Context, Processor
from streams.protection.alerts import alert, cooled
from streams.protection.subscriptions import ProviderRefusals, SubscriptionRule
from streams.topics import spec


class ProviderAbuse(Processor):
    name = "provider-abuse"
    inputs = ("subscription-refusals",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.schema = spec("subscription-refusals").value_schema
        self.rule = SubscriptionRule(int(s.subscription_confirm_s * 1000), s.provider_abuse_limit,
                                     int(s.provider_abuse_window_s * 1000))
        self.cooldown_ms = int(s.alert_cooldown_s * 1000)
        self.providers = ctx.table("provider-refusals", partitions=spec("subscription-refusals").partition_count(s),
                                   encode=ProviderRefusals.encode)
        self.alerts = 0

    def on_batch(self, records: Sequence[Any]) -> None:
        for message in records:
            try:
                o = self.ctx.codec.decode(message.value, self.schema)
            except Exception as exc:
                self.ctx.out.reject(message, exc)
                continue
            provider, at = o["provider"], o["decided_at"]
            held = self.providers.get(provider)
            state = held if isinstance(held, ProviderRefusals) else (
                ProviderRefusals.decode(held) if held else ProviderRefusals())
            refused = state.count(self.rule, at, o["request_id"])
            if refused >= self.rule.abuse_limit and cooled(state.alerted_at, at, self.cooldown_ms):
                state.alerted_at = at
                alert_id = f"provider-abuse:{provider}:{at}"
                self.alerts += 1
                self.ctx.out.emit("alerts", alert_id, alert(
                    alert_id, at, "UNWANTED_SUBSCRIPTION", "WARNING", provider,
                    f"content provider {provider} was refused {refused} paid subscriptions within "
                    f"{self.rule.abuse_window_ms // 60000} min (limit {self.rule.abuse_limit})",
                    {"refused": refused, "limit": self.rule.abuse_limit,
                     "window_s": self.rule.abuse_window_ms // 1000, "last_reason": o["reason"]}))
            self.providers.put(provider, state, message.partition)

    def status(self) -> dict[str, Any]:
        return {"alerts": self.alerts}
