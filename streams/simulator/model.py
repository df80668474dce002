"""The simulator's contacts and agents."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SimContact:
    contact_id: str
    channel: str
    queue: str
    subscriber_id: str
    region: str
    reason: str
    created_at: int
    line: int = 1
    queued_at: int = 0
    answered: bool = False
    abandoned: bool = False
    seq: int = 0  # events published for this contact, for event ids


@dataclass(slots=True)
class SimAgent:
    agent_id: str
    group: str
    queues: tuple[str, ...]
    capacity: dict[str, int]
    region: str
    on_shift: bool = False
    wrapping: int = 0  # wrap-ups under way
    active: list[str] = field(default_factory=list)  # channels of the contacts being handled
    state: str = "OFFLINE"  # as published on agent-events
    routed: str | None = None  # as told to the router

    def routing_state(self) -> str:
        """The state the router acts on: an agent off shift or wrapping up takes nothing new,
        even with a contact still in hand (published as BUSY)."""
        if self.wrapping:
            return "WRAP_UP"
        if not self.on_shift:
            return "AWAY" if self.active else "OFFLINE"
        return "BUSY" if self.active else "AVAILABLE"

    def current_state(self) -> str:
        if not self.on_shift and not self.active:
            return "OFFLINE"
        if self.active:
            return "BUSY"
        if self.wrapping:
            return "WRAP_UP"
        return "AVAILABLE"
