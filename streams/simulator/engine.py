"""The discrete-event engine: arrivals, queues, agents, abandonment, transfers, surveys, repeats.

The ACD is the routing engine (streams/routing/engine.py), the one that routes live contacts: the
simulator tells it what happens (a contact queued, an agent's state, a contact gone) and its
simulated desktops accept every offer at once. The routing configuration is the profile's queues,
each asking for the skills every agent group serving it has (`routing_config_for`), unless one is
given.

Deterministic for a seed: one random generator, and ties in time broken by the order events were
scheduled. `run` yields (topic, record) pairs in event-time order, ready for the producer.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from typing import Any

from streams.analytics import erlang
from streams.routing.config import QueueConfig, RoutingConfig
from streams.routing.engine import AgentChanged, ContactLeft, ContactQueued, Decision, Event, OfferAnswered, Router
from streams.simulator.model import SimAgent, SimContact
from streams.simulator.profile import AgentGroup, ChannelProfile, Profile

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
Output = tuple[str, dict[str, Any]]


def routing_config_for(profile: Profile, routing_group: str = "default") -> RoutingConfig:
    """The profile's queues, each asking for the skills that every agent group serving it has
    (level 1; the simulated agents have level 5), FIFO, longest idle first, one channel at a time
    per agent (the profile's capacities are "1 call or 3 chats")."""
    names = [c.queue for c in profile.channels]
    names += [q + profile.line2_queue_suffix for q in names if profile.transfer_share > 0]
    for group in profile.agents:
        names += [q for q in group.queues if q not in names]
    queues = {}
    for name in names:
        serving = [set(g.skills) for g in profile.agents if name in g.queues]
        common = set.intersection(*serving) if serving else set()
        queues[name] = QueueConfig(name, {skill: 1 for skill in sorted(common)}, group=routing_group)
    return RoutingConfig(queues, mixing="single-channel")


def request_record(event: Event, request_id: str, group: str) -> dict[str, Any]:
    """A routing engine's event as the `routing-requests` record the live router reads."""
    r: dict[str, Any] = {"request_id": request_id, "group": group, "occurred_at": event.at, "contact_id": None,
                         "channel": None, "queue": None, "reason": None, "language": None, "segment": None,
                         "line": 1, "agent_id": None, "offer_id": None, "agent_state": None, "skills": [],
                         "capacity": {}, "source": "simulator"}
    if isinstance(event, AgentChanged):
        r.update(kind="AGENT", agent_id=event.agent_id, agent_state=event.state,
                 skills=[{"name": k, "level": v} for k, v in (event.skills or {}).items()],
                 capacity=dict(event.capacity or {}))
    elif isinstance(event, ContactQueued):
        r.update(kind="CONTACT_QUEUED", contact_id=event.contact_id, channel=event.channel, queue=event.queue,
                 reason=event.reason, language=event.language, segment=event.segment, line=event.line)
    elif isinstance(event, OfferAnswered):
        r.update(kind="OFFER_ACCEPTED" if event.accepted else "OFFER_REJECTED", contact_id=event.contact_id,
                 agent_id=event.agent_id, offer_id=event.offer_id)
    elif isinstance(event, ContactLeft):
        r.update(kind="CONTACT_LEFT", contact_id=event.contact_id)
    else:
        raise TypeError(f"the simulator does not send {type(event).__name__}")
    return r


class Simulation:
    def __init__(self, profile: Profile, start_ms: int, seed: int = 1,
                 routing: RoutingConfig | None = None, id_prefix: str | None = None,
                 routing_group: str | None = None) -> None:
        self.profile = profile
        self.start = start_ms
        self.rng = random.Random(seed)
        # routing_group: also publish what the ACD tells its router as `routing-requests` of that
        # group, so that the live router, configured alike (`routing_config_for(profile, group)`),
        # decides the same as the simulated ACD did.
        self.routing_group = routing_group
        self.routing = routing or routing_config_for(profile, routing_group or "default")
        self.router = Router(self.routing)
        self._requests = 0
        self.decisions = 0  # what the ACD's router decided
        self.prefix = id_prefix or f"s{seed}"
        self.now = start_ms
        self._heap: list[tuple[int, int, str, tuple[Any, ...]]] = []
        self._seq = 0
        self._contacts = 0
        self.waiting: dict[str, SimContact] = {}  # contacts the router holds, not yet answered
        self.agents: list[SimAgent] = []
        self._agent_by_id: dict[str, SimAgent] = {}
        # The router's estimate for each contact that had to wait, and the wait that followed.
        self.ewt: dict[str, tuple[int, int]] = {}
        self._schedule_by_group: dict[str, list[int]] = {}  # agents on shift per hour
        self.out: list[Output] = []
        self.stats = {"contacts": 0, "answered": 0, "abandoned": 0, "events": 0}
        self._build_agents()

    # -- set-up ----------------------------------------------------------------------------------

    def _hourly_rate(self, channel: ChannelProfile, hour: int) -> float:
        weights = self.profile.daily_profile
        return channel.contacts_per_day * weights[hour % 24] / sum(weights) / 3600.0  # per second

    def _build_agents(self) -> None:
        for group in self.profile.agents:
            if group.count > 0 or self.profile.staffing == "fixed":
                plan = [group.count] * 24
            else:
                plan = [self._staff(group, h) for h in range(24)]
            self._schedule_by_group[group.name] = plan
            for i in range(max(plan)):
                agent = SimAgent(f"{group.name}-{i:03d}", group.name, group.queues, dict(group.capacity),
                                 self.profile.regions[0])
                self.agents.append(agent)
                self._agent_by_id[agent.agent_id] = agent

    def _staff(self, group: AgentGroup, hour: int) -> int:
        channels = [c for c in self.profile.channels if c.queue in group.queues]
        rate = sum(self._hourly_rate(c, hour) for c in channels)
        if rate <= 0:
            return 0
        aht = sum((c.handle_mean_s + c.wrapup_s) * self._hourly_rate(c, hour) for c in channels) / rate
        if self.profile.staffing == "erlang":
            return erlang.agents_for_asa(rate, aht, self.profile.target_asa_s)
        per_erlang = group.staff_per_erlang if group.staff_per_erlang is not None else self.profile.staff_per_erlang
        places = max(group.capacity.get(c.channel, 1) for c in channels)
        return max(1, round(erlang.offered_load(rate, aht) * per_erlang / places))

    # -- scheduling ------------------------------------------------------------------------------

    def _at(self, time_ms: int, kind: str, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time_ms, self._seq, kind, args))

    def _next_arrival(self, channel: ChannelProfile, after: int) -> None:
        # Thinning (Lewis and Shedler): a Poisson process at the peak rate, each point kept with
        # probability rate(t) / peak, gives the non-homogeneous process of the daily profile.
        peak = max(self._hourly_rate(channel, h) for h in range(24))
        if peak <= 0:
            return
        t = after
        while True:
            t += max(1, int(self.rng.expovariate(peak) * 1000))
            hour = (t - self.start) // HOUR_MS
            if self.rng.random() * peak <= self._hourly_rate(channel, int(hour)):
                self._at(t, "arrival", channel, None)
                return

    # -- output ----------------------------------------------------------------------------------

    def _contact_event(self, c: SimContact, kind: str, **extra: Any) -> None:
        c.seq += 1
        self.out.append(("contact-events", {
            "event_id": f"{c.contact_id}-{c.seq}", "contact_id": c.contact_id, "type": kind,
            "occurred_at": self.now, "channel": c.channel, "queue": c.queue, "subscriber_id": c.subscriber_id,
            "region": c.region, "reason": c.reason, "language": "ru", "line": c.line, "source": "simulator",
            **extra}))

    def _agent_state(self, agent: SimAgent) -> None:
        routed = agent.routing_state()
        if routed != agent.routed:
            # What the router needs: off shift finishing a contact or wrapping up takes no more.
            first = agent.routed is None
            agent.routed = routed
            skills = {s: 5 for s in self._group(agent).skills} if first else None
            self._route(self._ask(AgentChanged(self.now, agent.agent_id, routed, skills,
                                                        dict(agent.capacity) if first else None)))
        state = agent.current_state()
        if state == agent.state:
            return
        first = agent.state == "OFFLINE"
        agent.state = state
        self.out.append(("agent-events", {
            "event_id": f"{agent.agent_id}-{self.now}-{state}", "agent_id": agent.agent_id,
            "occurred_at": self.now, "state": state, "region": agent.region, "source": "simulator",
            "queues": list(agent.queues) if first else [],
            "capacity": dict(agent.capacity) if first else {},
            "skills": [{"name": s, "level": 5} for s in self._group(agent).skills] if first else [],
        }))

    def _group(self, agent: SimAgent) -> AgentGroup:
        return next(g for g in self.profile.agents if g.name == agent.group)

    # -- the model ---------------------------------------------------------------------------------

    def _on_arrival(self, channel: ChannelProfile, repeat_of: tuple[str, str] | None) -> None:
        if repeat_of is None:
            self._next_arrival(channel, self.now)
            subscriber = f"7{self.rng.randrange(self.profile.subscribers):010d}"
            reason = self.rng.choice(self.profile.reasons)
        else:
            subscriber, reason = repeat_of
        self._contacts += 1
        self.stats["contacts"] += 1
        c = SimContact(f"{self.prefix}-{self._contacts:08d}", channel.channel, channel.queue, subscriber,
                       self.rng.choice(self.profile.regions), reason, self.now)
        self._contact_event(c, "CREATED", queue=None)
        self._at(self.now + int(channel.ivr_s * 1000), "queue", c)

    def _on_queue(self, c: SimContact) -> None:
        c.queued_at = self.now
        decisions = self._ask(ContactQueued(self.now, c.contact_id, c.channel, c.queue, c.reason, "ru",
                                                     None, c.line))
        if decisions and decisions[0].kind == "QUEUED":
            c.queue = decisions[0].queue
        self._contact_event(c, "QUEUED")
        self.waiting[c.contact_id] = c
        patience = self.profile.channel(c.channel).patience_mean_s
        if decisions and decisions[0].kind == "QUEUED" and decisions[0].position is not None and len(decisions) == 1:
            self.ewt[c.contact_id] = (decisions[0].ewt_ms or 0, -1)
        self._route(decisions)
        if patience and not c.answered:
            self._at(self.now + int(self.rng.expovariate(1 / patience) * 1000), "abandon", c)

    def _ask(self, event: Event) -> list[Decision]:
        """Tell the ACD's router what happened; with a routing group, publish it as well."""
        if self.routing_group is not None:
            self._requests += 1
            self.out.append(("routing-requests", request_record(
                event, f"{self.prefix}-q{self._requests:08d}", self.routing_group)))
        decided = self.router.handle(event)
        self.decisions += len(decided)
        return decided

    def _route(self, decisions: list[Decision]) -> None:
        """Carry out the router's decisions: a simulated desktop accepts every offer at once."""
        for d in decisions:
            if d.kind == "OFFERED":
                c = self.waiting.get(d.contact_id)
                if c is None:
                    continue
                accepted = self._ask(OfferAnswered(self.now, d.contact_id, d.agent_id, True, d.decision_id))
                self._answer(c, self._agent_by_id[d.agent_id])
                self._route(accepted)
            elif d.kind == "ESCALATED" and d.contact_id in self.waiting:
                self.waiting[d.contact_id].queue = d.queue

    def _handle_ms(self, channel: ChannelProfile) -> int:
        mean = channel.handle_mean_s
        if channel.handle_sigma > 0:
            mu = math.log(mean) - channel.handle_sigma ** 2 / 2  # lognormal with this mean
            return max(1, int(self.rng.lognormvariate(mu, channel.handle_sigma) * 1000))
        return max(1, int(self.rng.expovariate(1 / mean) * 1000))

    def _answer(self, c: SimContact, agent: SimAgent) -> None:
        del self.waiting[c.contact_id]
        if c.contact_id in self.ewt:
            self.ewt[c.contact_id] = (self.ewt[c.contact_id][0], self.now - c.queued_at)
        c.answered = True
        self.stats["answered"] += 1
        agent.active.append(c.channel)
        self._contact_event(c, "ANSWERED", agent_id=agent.agent_id)
        self._agent_state(agent)
        handle = self._handle_ms(self.profile.channel(c.channel))
        if c.line == 1 and self.rng.random() < self.profile.transfer_share:
            self._at(self.now + handle // 2, "transfer", c, agent)
        else:
            self._at(self.now + handle, "end", c, agent)

    def _release(self, agent: SimAgent, c: SimContact) -> None:
        agent.active.remove(c.channel)
        wrapup = self.profile.channel(c.channel).wrapup_s
        if wrapup > 0:
            agent.wrapping += 1
            self._at(self.now + int(wrapup * 1000), "wrapup_end", agent)
        self._agent_state(agent)  # wrap-up first: the router must not give the place away
        self._route(self._ask(ContactLeft(self.now, c.contact_id)))
        self._agent_state(agent)

    def _on_end(self, c: SimContact, agent: SimAgent) -> None:
        channel = self.profile.channel(c.channel)
        self._contact_event(c, "ENDED", agent_id=agent.agent_id, disposition="RESOLVED",
                            after_contact_work_ms=int(channel.wrapup_s * 1000) or None)
        self._release(agent, c)
        if self.rng.random() < self.profile.survey_share:
            self._at(self.now + 60_000, "survey", c)
        if self.rng.random() < self.profile.repeat_share:
            self._at(self.now + self.rng.randrange(HOUR_MS, 7 * DAY_MS), "arrival", channel, (c.subscriber_id, c.reason))

    def _on_transfer(self, c: SimContact, agent: SimAgent) -> None:
        target = c.queue + self.profile.line2_queue_suffix
        self._contact_event(c, "TRANSFERRED", agent_id=agent.agent_id, queue=target)
        self._release(agent, c)
        c.queue, c.line = target, 2
        self._at(self.now + 1, "queue", c)

    def _on_abandon(self, c: SimContact) -> None:
        if c.answered or c.abandoned:
            return
        c.abandoned = True
        self.stats["abandoned"] += 1
        del self.waiting[c.contact_id]
        self.ewt.pop(c.contact_id, None)
        self._route(self._ask(ContactLeft(self.now, c.contact_id, "abandoned")))
        self._contact_event(c, "ABANDONED")

    def _on_survey(self, c: SimContact) -> None:
        score = self.rng.choices(range(1, 6), self.profile.score_weights)[0]
        self.out.append(("survey-responses", {
            "response_id": f"{c.contact_id}-survey", "contact_id": c.contact_id, "subscriber_id": c.subscriber_id,
            "occurred_at": self.now, "score": score, "comment": None, "source": "simulator"}))

    def _on_shift(self, hour: int) -> None:
        for group, plan in self._schedule_by_group.items():
            staff = plan[hour % 24]
            members = [a for a in self.agents if a.group == group]
            for i, agent in enumerate(members):
                agent.on_shift = i < staff
                self._agent_state(agent)
        self._at(self.start + (hour + 1) * HOUR_MS, "shift", hour + 1)

    # -- driving -------------------------------------------------------------------------------------

    def run(self, duration_ms: int) -> Iterator[Output]:
        """Simulate [start, start + duration) and yield the records, in event-time order. Contacts
        still open at the end are left open (as a real cut-off would)."""
        self._at(self.start, "shift", 0)
        for channel in self.profile.channels:
            self._next_arrival(channel, self.start)
        handlers = {"arrival": self._on_arrival, "queue": self._on_queue, "end": self._on_end,
                    "transfer": self._on_transfer, "abandon": self._on_abandon,
                    "wrapup_end": self._on_wrapup_end, "survey": self._on_survey, "shift": self._on_shift}
        end = self.start + duration_ms
        while self._heap and self._heap[0][0] < end:
            self.now, _, kind, args = heapq.heappop(self._heap)
            handlers[kind](*args)
            if self.out:
                self.stats["events"] += len(self.out)
                yield from self.out
                self.out = []

    def _on_wrapup_end(self, agent: SimAgent) -> None:
        agent.wrapping -= 1
        self._agent_state(agent)
