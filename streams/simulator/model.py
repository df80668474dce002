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
    idle_since: int = 0
    state: str = "OFFLINE"

    def can_take(self, channel: str) -> bool:
        # "1 voice call or 3 chats at once": contacts of one channel at a time, up to capacity.
        if not self.on_shift or self.wrapping or self.capacity.get(channel, 0) <= 0:
            return False
        if not self.active:
            return True
        return all(c == channel for c in self.active) and len(self.active) < self.capacity[channel]

    def current_state(self) -> str:
        if not self.on_shift and not self.active:
            return "OFFLINE"
        if self.active:
            return "BUSY"
        if self.wrapping:
            return "WRAP_UP"
        return "AVAILABLE"
