"""The routing engine: a deterministic state machine with no I/O.

Events go in (a contact queued, an agent's state, an offer answered, a contact gone, a clock tick),
decisions come out (queued with position and EWT, offered to an agent, assigned, returned to its
queue, escalated). The same engine is the live router's (processors/router.py, one engine per
routing group, fed from Kafka) and the simulator's ACD (simulator/engine.py): the simulator's
waits come from the logic that routes live contacts.

Rules it keeps, after every event:
- an agent holds at most its capacity per channel, and the mixing rule across channels
  ("voice-exclusive": a call alone, text channels together; "single-channel": one channel at a
  time); an offer takes a place like a contact in hand (a reservation, as TaskRouter's);
- a contact is offered to one agent at a time;
- work-conserving: no agent able to take a waiting contact (present, room for its channel, the
  skills its ring asks, not one who declined it) stays without an offer.

Order: the highest effective priority first, FIFO within it. Effective priority is the rule's
priority plus one for each `aging_s` waited in the queue, so a low priority overtakes a high one
after a delay and nothing starves. Escalation steps (after a wait) widen the skills asked, ring by
ring, or overflow the contact to another queue, carrying its effective priority.

Time is event time: the newest `at` seen. Offers time out and steps fall due when an event or a
Tick moves the time past them, so a replay of the same events gives the same decisions.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from streams.routing.config import QueueConfig, RoutingConfig

PRESENT = ("AVAILABLE", "BUSY")  # BUSY: the load is the router's to count; the agent is logged in
AGENT_STATES = ("OFFLINE", "AVAILABLE", "BUSY", "WRAP_UP", "AWAY")


# -- events in ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ContactQueued:
    at: int
    contact_id: str
    channel: str
    queue: str | None = None  # the queue the channel system names; rules may choose another
    reason: str | None = None
    language: str | None = None
    segment: str | None = None
    line: int = 1


@dataclass(frozen=True, slots=True)
class AgentChanged:
    at: int
    agent_id: str
    state: str
    skills: dict[str, int] | None = None  # None: unchanged
    capacity: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class OfferAnswered:
    at: int
    contact_id: str
    agent_id: str
    accepted: bool
    offer_id: str | None = None  # None: the current offer of this contact to this agent


@dataclass(frozen=True, slots=True)
class ContactLeft:
    """The contact ended, was abandoned or transferred: it no longer waits or takes a place."""

    at: int
    contact_id: str
    why: str = "ended"


@dataclass(frozen=True, slots=True)
class Tick:
    at: int


Event = ContactQueued | AgentChanged | OfferAnswered | ContactLeft | Tick


# -- decisions out ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Decision:
    kind: str  # QUEUED, OFFERED, ASSIGNED, REQUEUED, ESCALATED, UNROUTABLE
    decision_id: str  # contact id, its entry and decision count (Contact.decision_id): the same on a replay
    at: int
    contact_id: str
    channel: str
    queue: str
    rule: str
    priority: int
    reason: str
    agent_id: str | None = None
    escalated: bool = False
    position: int | None = None
    ewt_ms: int | None = None


# -- state --------------------------------------------------------------------------------------

@dataclass(slots=True)
class Agent:
    agent_id: str
    state: str = "OFFLINE"
    skills: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=dict)
    load: dict[str, int] = field(default_factory=dict)  # channel -> contacts offered or in hand
    contacts: dict[str, str] = field(default_factory=dict)  # contact id -> channel
    idle_since: int = 0
    handled: int = 0

    @property
    def present(self) -> bool:
        return self.state in PRESENT

    def total(self) -> int:
        return sum(self.load.values())

    def encode(self) -> list[Any]:
        return [self.state, self.skills, self.capacity, self.contacts, self.idle_since, self.handled]

    @classmethod
    def decode(cls, agent_id: str, raw: list[Any]) -> "Agent":
        a = cls(agent_id, raw[0], dict(raw[1]), dict(raw[2]), {}, dict(raw[3]), raw[4], raw[5])
        for channel in a.contacts.values():
            a.load[channel] = a.load.get(channel, 0) + 1
        return a


@dataclass(slots=True)
class Contact:
    contact_id: str
    channel: str
    queue: str
    priority: int  # base priority in this queue
    rule: str
    entered_at: int  # entered this queue (aging and escalation count from here)
    seq: int  # FIFO order within a priority
    first_queued_at: int
    ring: int = 0  # escalation steps passed in this queue
    offered_to: str | None = None
    offer_id: str | None = None
    offered_at: int = 0
    declined: list[str] = field(default_factory=list)  # agents who rejected it or let it time out
    decisions: int = 0
    escalated: bool = False
    token: int = 0  # heap entries with another token are void
    waiting: bool = False
    held_by: str | None = None  # accepted by this agent
    # The engine's sequence number when the contact came in (kept through transfers): part of its
    # decision ids, so that a contact that left and is queued again gets new ones. 0: a contact
    # restored from state written before it existed, whose ids were the count alone.
    entry: int = 0

    def decision_id(self, count: int) -> str:
        return f"{self.contact_id}:{self.entry}:{count}" if self.entry else f"{self.contact_id}:{count}"

    def encode(self) -> list[Any]:
        return [self.channel, self.queue, self.priority, self.rule, self.entered_at, self.seq, self.first_queued_at,
                self.ring, self.offered_to, self.offer_id, self.offered_at, self.declined,
                self.decisions, self.escalated, self.held_by, self.entry]

    @classmethod
    def decode(cls, contact_id: str, raw: list[Any]) -> "Contact":
        (channel, queue, priority, rule, entered_at, seq, first, ring, offered_to, offer_id, offered_at,
         declined, decisions, escalated, held_by) = raw[:15]
        return cls(contact_id, channel, queue, priority, rule, entered_at, seq, first, ring, offered_to,
                   offer_id, offered_at, list(declined), decisions, escalated, held_by=held_by,
                   entry=raw[15] if len(raw) > 15 else 0)


HeapKey = tuple[str, str, int]  # queue, channel, base priority


class ServiceRate:
    """What the estimated wait time of a queue and channel is made of.

    EWT for a contact with `position` contacts ahead = (position + 1) × mean handle time / the
    places of the agents present who can take it: while every place is busy (which is when a
    contact waits) places leave at that rate, so for the M/M/N queue this is the exact expected
    wait. The mean handle time is learnt from the contacts' ends (an exponentially weighted mean
    over about the last 100); before `min_samples` ends, or with no agent present, the queue's
    own assignments of the last `window_min` minutes give the rate instead (counted per minute:
    the state stays small however busy the queue).
    """

    def __init__(self, window_min: int = 15, min_samples: int = 20) -> None:
        self.window_min = window_min
        self.min_samples = min_samples
        self.per_minute: dict[int, int] = {}  # minute (epoch ms // 60,000) -> assignments
        self.handle_ms = 180_000.0
        self.ends = 0

    def assigned(self, at: int) -> None:
        minute = at // 60_000
        self.per_minute[minute] = self.per_minute.get(minute, 0) + 1
        if len(self.per_minute) > self.window_min + 1:
            for old in [m for m in self.per_minute if m < minute - self.window_min]:
                del self.per_minute[old]

    def ended(self, handle_ms: int) -> None:
        if handle_ms > 0:
            self.ends += 1
            self.handle_ms += max(0.01, 1 / self.ends) * (handle_ms - self.handle_ms)

    def ewt_ms(self, now: int, position: int, places: int) -> int:
        if places > 0 and self.ends >= self.min_samples:
            return int((position + 1) * self.handle_ms / places)
        since = now // 60_000 - self.window_min
        recent = {m: n for m, n in self.per_minute.items() if m >= since}
        count = sum(recent.values())
        if count >= 5:
            return int((position + 1) * max(now - min(recent) * 60_000, 1_000) / count)
        return int((position + 1) * self.handle_ms / max(places, 1))

    def encode(self) -> list[Any]:
        return [sorted(self.per_minute.items()), self.handle_ms, self.ends]

    @classmethod
    def decode(cls, raw: list[Any]) -> "ServiceRate":
        rate = cls()
        rate.per_minute = {int(m): n for m, n in raw[0]}
        rate.handle_ms, rate.ends = raw[1], raw[2]
        return rate


class Router:
    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.now = 0
        self.agents: dict[str, Agent] = {}
        self.contacts: dict[str, Contact] = {}  # waiting, offered or in hand
        self._heaps: dict[HeapKey, list[tuple[int, int, str]]] = {}  # (seq, token, contact id)
        self._waiting: dict[HeapKey, int] = {}
        # (due, kind, contact id, version): ordered by what the state holds, not by when a timer
        # was set, so that an engine restored from its tables fires them in the same order
        self._timers: list[tuple[int, str, str, int]] = []
        self._seq = 0
        self._cursor: dict[str, str] = {}  # round robin: the last agent given a contact, per queue
        self.rates: dict[tuple[str, str], ServiceRate] = {}
        self.out: list[Decision] = []
        # What changed since `changes()` was last called: for the live router's tables.
        self.dirty_agents: set[str] = set()
        self.dirty_contacts: set[str] = set()
        self.stale_answers = 0

    # -- the public face ------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Decision]:
        """Apply one event; the decisions it caused, in order."""
        self.out = []
        self._advance(event.at)
        if isinstance(event, ContactQueued):
            self._queued(event)
        elif isinstance(event, AgentChanged):
            self._agent_changed(event)
        elif isinstance(event, OfferAnswered):
            self._answered(event)
        elif isinstance(event, ContactLeft):
            self._left(event)
        return self.out

    def waiting(self) -> int:
        return sum(self._waiting.values())

    def next_due(self) -> int | None:
        """When an offer may time out or an escalation step fall due next (None: nothing is
        pending); a Tick at or after it lets the engine act."""
        timers = self._timers
        while timers and not self._live(*timers[0]):
            heapq.heappop(timers)  # an accepted offer's timeout, a step of a contact gone
        return timers[0][0] if timers else None

    def _pause_offers(self, gap: int) -> None:
        """No router ran for `gap` (nothing came in, not even its own TICKs): the offers pending
        were not seen by any desk meanwhile, so their time to answer starts again where it
        stopped. Contacts' waits, aging and escalation go on: the customers did wait."""
        for c in self.contacts.values():
            if c.offered_to is not None and c.held_by is None:
                c.offered_at += gap
                self.dirty_contacts.add(c.contact_id)
                self._at(c.offered_at + self.config.offer_timeout_ms, "offer", c.contact_id,
                         int(c.offer_id.rsplit(":", 1)[1]) if c.offer_id else 0)

    def _live(self, due: int, kind: str, contact_id: str, version: int) -> bool:
        c = self.contacts.get(contact_id)
        if c is None:
            return False
        # version: the offer's decision count, or the seq of the queue entry a step is for
        if kind == "offer":
            return (c.offered_to is not None and c.offer_id == c.decision_id(version)
                    and c.offered_at + self.config.offer_timeout_ms == due)
        return c.seq == version and c.held_by is None

    # -- time -----------------------------------------------------------------------------------

    def _at(self, due: int, kind: str, contact_id: str, version: int) -> None:
        heapq.heappush(self._timers, (due, kind, contact_id, version))

    def _advance(self, at: int) -> None:
        if at > self.now:
            if self.now and at - self.now > self.config.stall_ms:
                self._pause_offers(at - self.now)
            self.now = at
        timers = self._timers
        while timers and timers[0][0] <= self.now:
            due, kind, contact_id, version = heapq.heappop(timers)
            if not self._live(due, kind, contact_id, version):
                continue
            c = self.contacts[contact_id]
            if kind == "offer":
                self._timed_out(c)
            else:
                self._step(c)

    # -- contacts -------------------------------------------------------------------------------

    def _decide(self, c: Contact, kind: str, reason: str, agent_id: str | None = None,
                position: int | None = None, ewt_ms: int | None = None) -> None:
        c.decisions += 1
        self.dirty_contacts.add(c.contact_id)
        self.out.append(Decision(kind, c.decision_id(c.decisions), self.now,
                                 c.contact_id, c.channel, c.queue, c.rule, self._effective(c), reason, agent_id,
                                 c.escalated, position, ewt_ms))

    def _queued(self, ev: ContactQueued) -> None:
        c = self.contacts.get(ev.contact_id)
        if c is not None and c.held_by is None:
            return  # already waiting or offered: a repeated event
        attrs = {"channel": ev.channel, "queue": ev.queue, "reason": ev.reason, "language": ev.language,
                 "segment": ev.segment, "line": ev.line}
        chosen = self.config.route(attrs)
        if c is not None:
            self._release(c)  # queued again from an agent's hands: a transfer
            if chosen is None:
                del self.contacts[c.contact_id]
        if chosen is None:
            self.out.append(Decision("UNROUTABLE", f"{ev.contact_id}:unroutable:{self.now}", self.now, ev.contact_id,
                                     ev.channel, ev.queue or "", "", 0,
                                     f"no rule matches and the queue {ev.queue!r} is not configured"))
            return
        rule, queue, priority = chosen
        decisions = c.decisions if c is not None else 0
        self._seq += 1
        c = Contact(ev.contact_id, ev.channel, queue.name, priority, rule, self.now, self._seq, self.now,
                    decisions=decisions, entry=c.entry if c is not None else self._seq)
        self.contacts[c.contact_id] = c
        self._schedule_step(c, queue)
        agent = self._agent_for(c)
        if agent is not None:
            self._decide(c, "QUEUED", f"rule {rule}", position=0, ewt_ms=0)
            self._offer(c, agent)
        else:
            self._enqueue(c)
            position = self._position(c)
            self._decide(c, "QUEUED", f"rule {rule}", position=position, ewt_ms=self._ewt(c, position))

    def _effective(self, c: Contact) -> int:
        aging = self.config.queues[c.queue].aging_ms
        if aging <= 0:
            return c.priority
        return c.priority + max(0, self.now - c.entered_at) // aging

    def _key(self, c: Contact) -> HeapKey:
        return (c.queue, c.channel, c.priority)

    def _enqueue(self, c: Contact) -> None:
        key = self._key(c)
        c.token += 1
        c.waiting = True
        heapq.heappush(self._heaps.setdefault(key, []), (c.seq, c.token, c.contact_id))
        self._waiting[key] = self._waiting.get(key, 0) + 1
        self.dirty_contacts.add(c.contact_id)

    def _dequeue(self, c: Contact) -> None:
        if c.waiting:
            c.waiting = False
            c.token += 1
            key = self._key(c)
            self._waiting[key] -= 1
        self.dirty_contacts.add(c.contact_id)

    def _position(self, c: Contact) -> int:
        """Contacts of its queue and channel at its priority or above queued before it."""
        ahead = 0
        for (queue, channel, priority), n in self._waiting.items():
            if queue == c.queue and channel == c.channel and priority > c.priority:
                ahead += n
        return ahead + max(self._waiting.get(self._key(c), 0) - 1, 0)

    def _ewt(self, c: Contact, position: int) -> int:
        rate = self.rates.get((c.queue, c.channel))
        if rate is None:
            rate = self.rates[(c.queue, c.channel)] = ServiceRate()
        skills = self.config.queues[c.queue].ring_skills(c.ring)
        places = sum(a.capacity.get(c.channel, 0) for a in self.agents.values()
                     if a.present and _has(a, skills))
        return rate.ewt_ms(self.now, position, places)

    def _schedule_step(self, c: Contact, queue: QueueConfig) -> None:
        if c.ring < len(queue.escalation):
            self._at(c.entered_at + queue.escalation[c.ring].after_ms, "step", c.contact_id, c.seq)

    def _step(self, c: Contact) -> None:
        queue = self.config.queues[c.queue]
        step = queue.escalation[c.ring]
        if step.queue is not None:
            if c.offered_to is not None:  # overflow when the offer is answered or times out
                self._at(c.offered_at + self.config.offer_timeout_ms, "step", c.contact_id, c.seq)
                return
            self._dequeue(c)
            target = self.config.queues[step.queue]
            c.priority = self._effective(c)
            c.queue, c.entered_at, c.ring = target.name, self.now, 0
            self._seq += 1
            c.seq = self._seq
            c.escalated = True
            self._schedule_step(c, target)
            self._decide(c, "ESCALATED", f"waited {step.after_ms // 1000} s in {queue.name}: overflow to {target.name}")
            self._enqueue(c)
        else:
            c.ring += 1
            c.escalated = True
            self._schedule_step(c, queue)
            self._decide(c, "ESCALATED", f"waited {step.after_ms // 1000} s: skills widened to {step.skills}")
        if c.waiting:
            self._dispatch_contact(c)

    def _dispatch_contact(self, c: Contact) -> None:
        agent = self._agent_for(c)
        if agent is not None:
            self._dequeue(c)
            self._offer(c, agent)

    def _offer(self, c: Contact, agent: Agent) -> None:
        c.offered_to = agent.agent_id
        c.offered_at = self.now
        agent.load[c.channel] = agent.load.get(c.channel, 0) + 1
        agent.contacts[c.contact_id] = c.channel
        self.dirty_agents.add(agent.agent_id)
        self._cursor[c.queue] = agent.agent_id
        self._decide(c, "OFFERED", f"{self.config.queues[c.queue].strategy} in {c.queue}", agent.agent_id)
        c.offer_id = self.out[-1].decision_id
        self._at(self.now + self.config.offer_timeout_ms, "offer", c.contact_id, c.decisions)

    def _free_place(self, agent: Agent, contact_id: str) -> None:
        channel = agent.contacts.pop(contact_id, None)
        if channel is None:
            return
        agent.load[channel] -= 1
        if not agent.load[channel]:
            del agent.load[channel]
        if not agent.load:
            agent.idle_since = self.now
        self.dirty_agents.add(agent.agent_id)

    def _return(self, c: Contact, reason: str) -> None:
        """An offer that came to nothing: the contact goes back to its place in its queue (its
        order is its seq: the head if it was the oldest)."""
        agent = self.agents.get(c.offered_to or "")
        if agent is not None:
            self._free_place(agent, c.contact_id)
        declined_by = c.offered_to
        c.offered_to, c.offer_id = None, None
        self._enqueue(c)
        self._decide(c, "REQUEUED", reason, declined_by)
        if c.ring < len(self.config.queues[c.queue].escalation):
            step = self.config.queues[c.queue].escalation[c.ring]
            if step.queue is not None and c.entered_at + step.after_ms <= self.now:
                self._step(c)  # an overflow put off while it was offered
                return
        self._dispatch_contact(c)

    def _timed_out(self, c: Contact) -> None:
        agent = self.agents.get(c.offered_to or "")
        agent_id = c.offered_to
        if agent_id is not None and agent_id not in c.declined:
            c.declined.append(agent_id)
        self._return(c, "offer timed out")
        if agent is not None and agent.present:
            # An agent who lets an offer ring out is not at the desk (Asterisk's autopause,
            # TaskRouter's timeout activity): AWAY until the agent says otherwise.
            self._set_state(agent, "AWAY")

    def _answered(self, ev: OfferAnswered) -> None:
        c = self.contacts.get(ev.contact_id)
        if (c is None or c.offered_to != ev.agent_id or c.held_by is not None
                or (ev.offer_id is not None and ev.offer_id != c.offer_id)):
            self.stale_answers += 1  # an old offer's answer (it timed out or was revoked)
            return
        if not ev.accepted:
            if ev.agent_id not in c.declined:
                c.declined.append(ev.agent_id)
            agent = self.agents.get(ev.agent_id)
            self._return(c, "offer rejected")
            if agent is not None:
                self._pull(agent)
            return
        c.held_by = ev.agent_id
        c.offered_to = None
        agent = self.agents[ev.agent_id]
        agent.handled += 1
        self.dirty_agents.add(agent.agent_id)
        rate = self.rates.setdefault((c.queue, c.channel), ServiceRate())
        rate.assigned(self.now)
        self._decide(c, "ASSIGNED", "offer accepted", ev.agent_id)

    def _left(self, ev: ContactLeft) -> None:
        c = self.contacts.get(ev.contact_id)
        if c is None:
            return
        self._release(c)
        del self.contacts[c.contact_id]
        self.dirty_contacts.add(c.contact_id)

    def _release(self, c: Contact) -> None:
        """The contact no longer waits or holds a place; the agent it held takes more work."""
        self._dequeue(c)
        agent_id = c.held_by or c.offered_to
        if c.held_by is not None:
            self.rates.setdefault((c.queue, c.channel), ServiceRate()).ended(self.now - c.offered_at)
        c.held_by = c.offered_to = c.offer_id = None
        agent = self.agents.get(agent_id or "")
        if agent is not None:
            self._free_place(agent, c.contact_id)
            self._pull(agent)

    # -- agents ---------------------------------------------------------------------------------

    def _agent_changed(self, ev: AgentChanged) -> None:
        agent = self.agents.get(ev.agent_id)
        if agent is None:
            agent = self.agents[ev.agent_id] = Agent(ev.agent_id, idle_since=self.now)
        if ev.skills is not None:
            agent.skills = dict(ev.skills)
        if ev.capacity is not None:
            agent.capacity = {k: v for k, v in ev.capacity.items() if v > 0}
            # Offers over a lowered capacity go back (the newest first); contacts in hand stay.
            for contact_id, channel in reversed(list(agent.contacts.items())):
                if (agent.load.get(channel, 0) > agent.capacity.get(channel, 0)
                        and self.contacts[contact_id].held_by is None):
                    self._return(self.contacts[contact_id], "agent capacity lowered")
        self.dirty_agents.add(agent.agent_id)
        self._set_state(agent, ev.state if ev.state in AGENT_STATES else "OFFLINE")
        self._pull(agent)

    def _set_state(self, agent: Agent, state: str) -> None:
        was = agent.present
        agent.state = state
        self.dirty_agents.add(agent.agent_id)
        if was and not agent.present:
            # Offers to an agent who left go back to their queues; contacts in hand stay.
            for contact_id in [cid for cid in agent.contacts if self.contacts[cid].held_by is None]:
                self._return(self.contacts[contact_id], f"agent {state.lower()}")
        elif agent.present and not was and not agent.load:
            agent.idle_since = self.now

    def _can_take(self, agent: Agent, channel: str) -> bool:
        if not agent.present or agent.capacity.get(channel, 0) <= agent.load.get(channel, 0):
            return False
        load = agent.load
        if not load:
            return True
        if self.config.mixing == "single-channel":
            return len(load) == 1 and channel in load
        if channel == "VOICE":
            return False  # a call alone
        return "VOICE" not in load

    def _agent_key(self, agent: Agent, queue: QueueConfig, skills: dict[str, int]) -> tuple[Any, ...]:
        strategy = queue.strategy
        if strategy == "fewest-contacts":
            return (agent.handled, agent.total(), agent.idle_since, agent.agent_id)
        if strategy == "highest-skill":
            return (-sum(agent.skills.get(s, 0) for s in skills), agent.total(), agent.idle_since, agent.agent_id)
        if strategy == "round-robin":
            cursor = self._cursor.get(queue.name, "")
            return (agent.agent_id <= cursor, agent.agent_id)
        return (agent.total(), agent.idle_since, agent.agent_id)

    def _agent_for(self, c: Contact) -> Agent | None:
        queue = self.config.queues[c.queue]
        skills = queue.ring_skills(c.ring)
        best, best_key = None, None
        for agent in self.agents.values():
            if not self._can_take(agent, c.channel) or not _has(agent, skills) or agent.agent_id in c.declined:
                continue
            key = self._agent_key(agent, queue, skills)
            if best_key is None or key < best_key:
                best, best_key = agent, key
        return best

    def _head(self, key: HeapKey, agent: Agent) -> Contact | None:
        """The first waiting contact of a heap this agent can take: the oldest, unless it
        declined that one (then the next it did not decline, a rare walk)."""
        heap = self._heaps.get(key)
        while heap:
            seq, token, contact_id = heap[0]
            c = self.contacts.get(contact_id)
            # seq and token: an entry of this contact's earlier stay (another queue, channel or
            # priority, or a contact id used again) is void
            if c is None or c.seq != seq or c.token != token or not c.waiting:
                heapq.heappop(heap)
                continue
            break
        if not heap:
            return None
        queue = self.config.queues[key[0]]
        for seq, token, contact_id in (heap[:1] if not self.contacts[heap[0][2]].declined else sorted(heap)):
            c = self.contacts.get(contact_id)
            if c is None or c.seq != seq or c.token != token or not c.waiting:
                continue
            if not _has(agent, queue.ring_skills(c.ring)):
                return None  # rings widen with the wait: a younger contact asks no less
            if agent.agent_id not in c.declined:
                return c
        return None

    def _contact_for(self, agent: Agent) -> Contact | None:
        best, best_key = None, None
        for key, n in self._waiting.items():
            if n <= 0 or not self._can_take(agent, key[1]):
                continue
            c = self._head(key, agent)
            if c is None:
                continue
            order = (-self._effective(c), c.seq)
            if best_key is None or order < best_key:
                best, best_key = c, order
        return best

    def _pull(self, agent: Agent) -> None:
        """Work-conserving: an agent with room takes waiting contacts until it has none."""
        while agent.present:
            c = self._contact_for(agent)
            if c is None:
                return
            self._dequeue(c)
            self._offer(c, agent)

    # -- the live router's tables ---------------------------------------------------------------

    def changes(self) -> tuple[dict[str, Agent | None], dict[str, Contact | None]]:
        """Agents and contacts changed since the last call (None: gone)."""
        agents = {a: self.agents.get(a) for a in self.dirty_agents}
        contacts = {c: self.contacts.get(c) for c in self.dirty_contacts}
        self.dirty_agents, self.dirty_contacts = set(), set()
        return agents, contacts

    def meta(self) -> dict[str, Any]:
        return {"now": self.now, "seq": self._seq, "cursor": self._cursor,
                "rates": {f"{q}\x1f{ch}": r.encode() for (q, ch), r in self.rates.items()}}

    def restore(self, agents: dict[str, Agent], contacts: dict[str, Contact], meta: dict[str, Any] | None) -> None:
        """Rebuild from the tables: heaps from the waiting contacts, timers from the offers and
        the next escalation steps."""
        self.agents, self.contacts = dict(agents), dict(contacts)
        self._heaps, self._waiting, self._timers = {}, {}, []
        if meta:
            self.now, self._seq, self._cursor = meta["now"], meta["seq"], dict(meta["cursor"])
            for name, raw in meta["rates"].items():
                q, ch = name.split("\x1f")
                self.rates[(q, ch)] = ServiceRate.decode(raw)
        for c in sorted(self.contacts.values(), key=lambda c: c.seq):
            if c.queue not in self.config.queues:
                continue  # the configuration changed: its next event routes it again
            if c.held_by is None and c.offered_to is None:
                self._enqueue(c)
            if c.offered_to is not None:
                self._at(c.offered_at + self.config.offer_timeout_ms, "offer", c.contact_id,
                         int(c.offer_id.rsplit(":", 1)[1]))
            if c.held_by is None:
                self._schedule_step(c, self.config.queues[c.queue])
        self.dirty_agents, self.dirty_contacts = set(), set()


def _has(agent: Agent, skills: dict[str, int]) -> bool:
    have = agent.skills
    for name, level in skills.items():
        if have.get(name, 0) < level:
            return False
    return True


def violations(router: Router) -> list[str]:
    """The rules of the module docstring that the router's state breaks (for the tests)."""
    found = []
    offered: dict[str, str] = {}
    for agent in router.agents.values():
        for channel, n in agent.load.items():
            offered_here = [cid for cid, ch in agent.contacts.items()
                            if ch == channel and router.contacts[cid].held_by is None]
            # Contacts in hand stay when an agent lowers its capacity; offers may not exceed it.
            if n > agent.capacity.get(channel, 0) and offered_here:
                found.append(f"{agent.agent_id} holds {n} {channel} over its capacity {agent.capacity}")
        if router.config.mixing == "single-channel" and len(agent.load) > 1:
            found.append(f"{agent.agent_id} mixes channels {agent.load}")
        if router.config.mixing == "voice-exclusive" and "VOICE" in agent.load and agent.total() > 1:
            found.append(f"{agent.agent_id} has a call and more {agent.load}")
        for contact_id in agent.contacts:
            if contact_id in offered:
                found.append(f"{contact_id} is with {offered[contact_id]} and {agent.agent_id}")
            offered[contact_id] = agent.agent_id
    for c in router.contacts.values():
        holder = c.held_by or c.offered_to
        if holder is not None and offered.get(c.contact_id) != holder:
            found.append(f"{c.contact_id} says {holder} but the agents say {offered.get(c.contact_id)}")
        if c.waiting and holder is not None:
            found.append(f"{c.contact_id} waits and is with {holder}")
        if not c.waiting and holder is None:
            found.append(f"{c.contact_id} neither waits nor is with an agent")
        if c.offered_to is not None and not router.agents[c.offered_to].present:
            found.append(f"{c.contact_id} is offered to {c.offered_to}, who is {router.agents[c.offered_to].state}")
    for c in router.contacts.values():
        if not c.waiting:
            continue
        skills = router.config.queues[c.queue].ring_skills(c.ring)
        for agent in router.agents.values():
            if (router._can_take(agent, c.channel) and _has(agent, skills) and agent.agent_id not in c.declined):
                found.append(f"{agent.agent_id} could take {c.contact_id} waiting in {c.queue} but has no offer")
    return found
