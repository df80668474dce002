"""routing-requests -> routing-decisions: the live router.

The ACD queues contacts and says when they leave, agents' desktops accept or reject offers, the
workforce system tells agents' states: all on `routing-requests`, keyed by routing group, so one
worker decides a group and sees all of it in one order. Each group has a routing engine
(streams/routing/engine.py); its decisions go to `routing-decisions`, keyed by contact.

Replays decide alike: the engine is deterministic in its input, and its clock is part of the
input too: while an offer or an escalation step is pending, the worker writes a TICK with the
wall clock to the group's partition (every FIRSTLINE_ROUTING_TICK_S), and the engine acts on it
when it reads it back. A worker killed after sending decisions and before committing is replaced by one
that reads the same requests from the same state and sends the same decisions with the same
decision ids: a contact is never offered to two agents.

State: agents and contacts in the changelog-backed tables `routing-agents` and
`routing-contacts` (key: group, 0x1f, id), the engine's clock, sequence and service rates in
`routing-meta`; rebuilt into engines after a start or a rebalance. Decisions are sent after every
batch (eager outputs); state and offsets are made durable at the checkpoints, so a crash replays
the requests since the last one onto the state it wrote, deciding the same again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from streams.engine.errors import InvalidRecord
from streams.engine.processor import Context, Processor, Timer
from streams.processors.contact_lifecycle import check_time
from streams.routing.config import load
from streams.routing.engine import (Agent, AgentChanged, Contact, ContactLeft, ContactQueued, Decision, Event,
                                    OfferAnswered, Router as Engine, Tick)
from streams.topics import spec

log = logging.getLogger("firstline.router")
SEP = "\x1f"
CHANNELS = {"VOICE", "CHAT", "EMAIL", "MESSENGER", "SOCIAL", "APP"}
MAX_CAPACITY = 100


def decision_record(d: Decision, group: str) -> dict[str, Any]:
    return {"decision_id": d.decision_id, "contact_id": d.contact_id, "occurred_at": d.at,
            "channel": d.channel if d.channel in CHANNELS else "UNKNOWN", "queue": d.queue, "agent_id": d.agent_id,
            "priority": d.priority, "rule": d.rule, "escalated": d.escalated, "kind": d.kind, "reason": d.reason,
            "position": d.position, "ewt_ms": d.ewt_ms, "group": group}


def event_of(r: dict[str, Any]) -> Event:
    """The engine's event for a decoded request; InvalidRecord when a field it needs is missing."""
    kind, at = r["kind"], r["occurred_at"]
    if kind == "TICK":
        return Tick(at)
    if kind == "AGENT":
        if not r["agent_id"]:
            raise InvalidRecord("AGENT without agent_id")
        if r["agent_state"] in (None, "UNKNOWN"):
            raise InvalidRecord("AGENT without a known agent_state")
        skills = {}
        for s in r["skills"]:
            if not 1 <= s["level"] <= 10:
                raise InvalidRecord(f"skill {s['name']!r} level {s['level']} is not 1..10")
            skills[s["name"]] = s["level"]
        if any(not 0 <= v <= MAX_CAPACITY for v in r["capacity"].values()):
            raise InvalidRecord(f"capacity {r['capacity']} is not 0..{MAX_CAPACITY} per channel")
        return AgentChanged(at, r["agent_id"], r["agent_state"], skills or None, dict(r["capacity"]) or None)
    if not r["contact_id"]:
        raise InvalidRecord(f"{kind} without contact_id")
    if kind == "CONTACT_QUEUED":
        if r["channel"] in (None, "UNKNOWN"):
            raise InvalidRecord("CONTACT_QUEUED without a known channel")
        return ContactQueued(at, r["contact_id"], r["channel"], r["queue"], r["reason"], r["language"], r["segment"],
                             r["line"])
    if kind == "CONTACT_LEFT":
        return ContactLeft(at, r["contact_id"])
    if kind in ("OFFER_ACCEPTED", "OFFER_REJECTED"):
        if not r["agent_id"]:
            raise InvalidRecord(f"{kind} without agent_id")
        return OfferAnswered(at, r["contact_id"], r["agent_id"], kind == "OFFER_ACCEPTED", r["offer_id"])
    raise InvalidRecord(f"request kind {kind} is not known")


class Router(Processor):
    name = "router"
    inputs = ("routing-requests",)
    # A contact waits for its offer: no linger, and the decisions go out after every batch; the
    # state is made durable at the checkpoints (a replay decides alike, see above).
    linger_s = 0.0
    eager = True

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.config = load(s.routing_config)
        self.known_groups = set(self.config.groups())
        self.schema = spec("routing-requests").value_schema
        self.check = ctx.bounds.checker(ctx.codec.registry.reader(self.schema).definition)
        n = spec("routing-requests").partition_count(s)
        self.partitions = n
        self.agents = ctx.table("routing-agents", partitions=n, encode=lambda a: a.encode())
        self.contacts = ctx.table("routing-contacts", partitions=n, encode=lambda c: c.encode())
        self.meta = ctx.table("routing-meta", partitions=n)
        self.engines: dict[str, tuple[Engine, int]] | None = None  # group -> engine, partition
        self.decisions: dict[str, int] = {}

    def on_rebalanced(self) -> None:
        self.engines = None

    def _engines(self) -> dict[str, tuple[Engine, int]]:
        if self.engines is None:
            agents: dict[str, dict[str, Agent]] = {}
            contacts: dict[str, dict[str, Contact]] = {}
            for key, value in list(self.agents.items()):
                group, _, agent_id = key.partition(SEP)
                agents.setdefault(group, {})[agent_id] = value if isinstance(value, Agent) else Agent.decode(agent_id, value)
            for key, value in list(self.contacts.items()):
                group, _, contact_id = key.partition(SEP)
                contacts.setdefault(group, {})[contact_id] = (
                    value if isinstance(value, Contact) else Contact.decode(contact_id, value))
            self.engines = {}
            for group in set(agents) | set(contacts) | {g for g, _ in self.meta.items()}:
                engine = Engine(self.config)
                engine.restore(agents.get(group, {}), contacts.get(group, {}), self.meta.get(group))
                self.engines[group] = (engine, self.ctx.partition_of(group.encode(), self.partitions))
        return self.engines

    def on_batch(self, records: Sequence[Any]) -> None:
        ctx = self.ctx
        engines = self._engines()
        now = ctx.clock.max_event_time()
        touched: set[str] = set()
        for message in records:
            try:
                ctx.bounds.record_size(message.value)
                r = ctx.codec.decode(message.value, self.schema)
                self.check(r)
                if not r["request_id"].strip():
                    raise InvalidRecord("request_id must not be empty")
                group = r["group"]
                if group not in self.known_groups:
                    raise InvalidRecord(f"routing group {group!r} is not in the routing configuration "
                                        f"({', '.join(sorted(self.known_groups))})")
                if message.key != group.encode():
                    raise InvalidRecord(f"record key {message.key!r} is not the group")
                check_time("occurred_at", r["occurred_at"], now)
                event = event_of(r)
            except Exception as exc:
                ctx.out.reject(message, exc)
                continue
            held = engines.get(group)
            if held is None:
                held = engines[group] = (Engine(self.config), message.partition)
            engine = held[0]
            for d in engine.handle(event):
                self.decisions[d.kind] = self.decisions.get(d.kind, 0) + 1
                ctx.out.emit("routing-decisions", d.contact_id, decision_record(d, group))
            touched.add(group)
        for group in touched:
            self._write(group)

    def _write(self, group: str) -> None:
        engine, partition = self._engines()[group]
        agents, contacts = engine.changes()
        for table, changed in ((self.agents, agents), (self.contacts, contacts)):
            for name, value in changed.items():
                key = f"{group}{SEP}{name}"
                if value is None:
                    table.delete(key, partition)
                else:
                    table.put(key, value, partition)
        self.meta.put(group, engine.meta(), partition)

    def timers(self) -> list[Timer]:
        # 0: no ticks, for a stream played faster than time whose desks answer every offer at
        # once (the main job's simulation); the wall clock would jump its event time ahead.
        tick_s = self.ctx.settings.routing_tick_s
        return [(tick_s, self.tick)] if tick_s > 0 else []

    async def tick(self) -> None:
        """Write a TICK for each group of this worker with an offer or a step pending; the engine
        acts on it when it reads it, so a replay acts alike. Written while anything is pending,
        not only when it falls due: a longer gap in a group's input then means that no router ran
        (the engine's `stall_s`), and pending offers are not timed out for it."""
        wall = self.ctx.clock.now_ms()
        held = set(self.ctx.assigned("routing-requests"))
        sent = False
        for group, (engine, partition) in self._engines().items():
            if partition in held and engine.next_due() is not None:
                self.ctx.out.emit("routing-requests", group, {
                    "request_id": f"tick:{group}:{wall}", "group": group, "kind": "TICK", "occurred_at": wall,
                    "contact_id": None, "channel": None, "queue": None, "reason": None, "language": None,
                    "segment": None, "line": 1, "agent_id": None, "offer_id": None, "agent_state": None,
                    "skills": [], "capacity": {}, "source": "router"}, partition)
                sent = True
        if sent:
            await self.ctx.commit()

    def status(self) -> dict[str, Any]:
        engines = self.engines or {}
        return {"decisions": dict(self.decisions), "groups": sorted(engines),
                "waiting": {g: e.waiting() for g, (e, _) in engines.items()},
                "stale_answers": sum(e.stale_answers for e, _ in engines.values())}
