"""subscription-requests -> subscription-outcomes: unwanted paid subscriptions are not started.

Partitioned by subscriber (the topic's key): a request and its confirmation meet on one worker,
in the changelog-backed table `subscription-requests` (by request_id). Content bans come from the
replicated block lists (`content:*`, `content:<provider>`; block_list_view.py). A request still
unconfirmed when its partition's event time passes its time to confirm is refused; so is one
whose partition is read to its end and quiet, once the wall clock passes that time by
FIRSTLINE_ALLOWED_LATENESS_S (a timer). Decided requests are kept a day, to answer repeats, then forgotten. The outcome is keyed
by provider; refusals go to `subscription-refusals` too, where ProviderAbuse counts each
provider's in one place (the storage sink reads the outcomes: a topic has one reader per worker).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from streams.engine.errors import InvalidRecord
from streams.engine.processor import Context, Processor, Timer
from streams.processors.block_list_view import BlockListView
from streams.processors.contact_lifecycle import check_time
from streams.protection.addresses import canonical, pseudonym
from streams.protection.subscriptions import (Pending, SubscriptionRule, content_ban_names, decide_arrival,
                                              expired)
from streams.topics import spec

KEEP_DECIDED_MS = 24 * 3600 * 1000


class Subscriptions(Processor):
    name = "subscriptions"
    inputs = ("subscription-requests",)
    replicas = ("block-list-changes",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.schema = spec("subscription-requests").value_schema
        self.check = ctx.bounds.checker(ctx.codec.registry.reader(self.schema).definition)
        self.rule = SubscriptionRule(int(s.subscription_confirm_s * 1000), s.provider_abuse_limit,
                                     int(s.provider_abuse_window_s * 1000))
        self.key = s.pseudonym_key
        self.lateness_ms = int(s.allowed_lateness_s * 1000)
        self.requests = ctx.table("subscription-requests",
                                  partitions=spec("subscription-requests").partition_count(s), encode=Pending.encode)
        self.blocks = BlockListView(ctx)
        self.event_time: dict[int, int] = {}  # partition -> newest request time read
        # per partition, a heap of (when the entry is next due: to be refused or forgotten, request
        # id); None: rebuild from the table (at start and after a rebalance)
        self.due: dict[int, list[tuple[int, str]]] | None = None
        self.outcomes: dict[str, int] = {}

    def on_replica(self, records: Sequence[Any]) -> None:
        self.blocks.apply(records)

    def on_rebalanced(self) -> None:
        self.due = None

    def timers(self) -> list[Timer]:
        return [(1.0, self.tick)]

    def _held(self, request_id: str) -> Pending | None:
        held = self.requests.get(request_id)
        return held if held is None or isinstance(held, Pending) else Pending.decode(held)

    def _due(self) -> dict[int, list[tuple[int, str]]]:
        if self.due is None:
            self.due = {}
            for request_id, value in list(self.requests.items()):
                held = value if isinstance(value, Pending) else Pending.decode(value)
                self.due.setdefault(held.partition, []).append((self._next_due(held), request_id))
            for heap in self.due.values():
                heapq.heapify(heap)
        return self.due

    def _queue(self, request_id: str, held: Pending) -> None:
        heapq.heappush(self._due().setdefault(held.partition, []), (self._next_due(held), request_id))

    def _next_due(self, held: Pending) -> int:
        return held.at + self.rule.confirm_ms + (KEEP_DECIDED_MS if held.outcome else 0)

    def on_batch(self, records: Sequence[Any]) -> None:
        ctx = self.ctx
        now = ctx.clock.max_event_time()
        for message in records:
            try:
                ctx.bounds.record_size(message.value)
                ev = ctx.codec.decode(message.value, self.schema)
                self.check(ev)
                if not ev["request_id"] or not ev["subscriber_id"].strip() or not ev["provider"].strip():
                    raise InvalidRecord("request_id, subscriber_id and provider must not be empty")
                if ev["price_minor"] < 0:
                    raise InvalidRecord(f"price_minor {ev['price_minor']} is negative")
                check_time("occurred_at", ev["occurred_at"], now)
                if message.key != ev["subscriber_id"].encode():
                    raise InvalidRecord(f"record key {message.key!r} is not the subscriber")
            except Exception as exc:
                ctx.out.reject(message, exc)
                continue
            self._arrive(ev, message.partition)
            p = message.partition
            self.event_time[p] = max(self.event_time.get(p, 0), ev["occurred_at"])
        for p in {m.partition for m in records}:
            # by the partition's event time: what a replay of the same records decides again
            self._settle(p, self.event_time.get(p, 0))

    def _arrive(self, ev: dict[str, Any], partition: int) -> None:
        at = ev["occurred_at"]
        subscriber, provider = canonical(ev["subscriber_id"]), ev["provider"].strip().casefold()
        # Providers choose their request ids, and two may choose the same one: the table's key
        # is both, unambiguously.
        request_id = f"{len(provider)}:{provider}:{ev['request_id']}"  # the table's key
        held = self._held(request_id)
        banned = self.blocks.lists.has_content_ban(subscriber, content_ban_names(provider), at)
        decision = decide_arrival(self.rule, held, at, ev["confirmed"], banned)
        if held is None:
            held = Pending(at, partition, ev["request_id"], pseudonym(subscriber, self.key), provider, ev["service"][:200],
                           ev["price_minor"], ev["currency"][:8])
            if decision is None:
                self._queue(request_id, held)
        if decision is not None:
            self._decide(request_id, held, decision, at)
        else:
            self.requests.put(request_id, held, partition)

    def _decide(self, request_id: str, held: Pending, decision: str, at: int) -> None:
        outcome, reason = decision.split("/")
        held.outcome = decision
        self.requests.put(request_id, held, held.partition)
        self._queue(request_id, held)
        self.outcomes[decision] = self.outcomes.get(decision, 0) + 1
        record = {
            "request_id": held.request_id, "occurred_at": held.at, "decided_at": at, "subscriber": held.subscriber,
            "provider": held.provider, "service": held.service, "price_minor": held.price_minor,
            "currency": held.currency, "outcome": outcome, "reason": reason}
        self.ctx.out.emit("subscription-outcomes", held.provider, record)
        if outcome == "BLOCKED":
            self.ctx.out.emit("subscription-refusals", held.provider, record)

    def _settle(self, partition: int, now: int) -> None:
        """Refuse the partition's requests whose time to confirm has passed by `now` (event time)
        and forget its old decided ones."""
        heap = self._due().get(partition)
        while heap and heap[0][0] < now:
            when, request_id = heapq.heappop(heap)
            held = self._held(request_id)
            if held is None or held.partition != partition or self._next_due(held) != when:
                continue  # gone, or decided since it was queued (queued again)
            if expired(self.rule, held, now):
                self._decide(request_id, held, "BLOCKED/NOT_CONFIRMED", held.at + self.rule.confirm_ms)
            else:
                self.requests.delete(request_id, partition)

    async def tick(self) -> None:
        """Quiet partitions: the wall clock, less the allowed lateness, stands in for event time;
        only for a partition read to its end, since a confirmation may be waiting in a backlog
        (a worker back after an outage must not refuse what was confirmed meanwhile)."""
        wall = self.ctx.clock.now_ms() - self.lateness_ms
        before = sum(self.outcomes.values())
        owned = self.ctx.assigned("subscription-requests")
        for p in owned:
            position = await self.ctx.position("subscription-requests", p)
            end = self.ctx.highwater("subscription-requests", p)
            if position is not None and end is not None and position >= end:
                self._settle(p, max(self.event_time.get(p, 0), wall))
        for p in [p for p in self._due() if p not in owned]:
            del self._due()[p]  # moved to another worker
        if sum(self.outcomes.values()) != before:
            await self.ctx.commit()

    def status(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes)}
