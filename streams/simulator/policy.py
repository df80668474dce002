"""How the simulator gives contacts to agents: one small interface, so that the routing engine
can take the place of the default policy."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Protocol

from streams.simulator.model import SimAgent, SimContact


class AssignmentPolicy(Protocol):
    def agent_for(self, contact: SimContact, candidates: Sequence[SimAgent], now: int) -> SimAgent | None:
        """A contact has just entered a queue: which of the agents able to take it now gets it
        (None: it waits)."""

    def contact_for(self, agent: SimAgent, queues: Mapping[str, deque[SimContact]], now: int) -> SimContact | None:
        """An agent can take more work: which waiting contact of the queues it serves it takes
        (None: it stays idle). The contact must be one the agent can take."""


class LongestIdleFirst:
    """The ACD default: the agent idle longest takes a new contact; a freed agent takes the
    contact waiting longest among its queues (FIFO across queues)."""

    def agent_for(self, contact: SimContact, candidates: Sequence[SimAgent], now: int) -> SimAgent | None:
        return min(candidates, key=lambda a: (a.idle_since, a.agent_id), default=None)

    def contact_for(self, agent: SimAgent, queues: Mapping[str, deque[SimContact]], now: int) -> SimContact | None:
        best = None
        for queue in agent.queues:
            waiting = queues.get(queue)
            if not waiting:
                continue
            head = next((c for c in waiting if agent.can_take(c.channel)), None)
            if head is not None and (best is None or (head.queued_at, head.contact_id) < (best.queued_at, best.contact_id)):
                best = head
        return best
