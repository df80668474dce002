"""Routing requests as the ACD, the desktops and the workforce system send them (for the tests and
the benchmark)."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


def request(kind: str, at: int, group: str = "default", **fields: Any) -> dict[str, Any]:
    record = {"request_id": f"r{next(_ids)}", "group": group, "kind": kind, "occurred_at": at, "contact_id": None,
              "channel": None, "queue": None, "reason": None, "language": None, "segment": None, "line": 1,
              "agent_id": None, "offer_id": None, "agent_state": None, "skills": [], "capacity": {},
              "source": "test"}
    record.update(fields)
    return record


def agent(at: int, agent_id: str, state: str = "AVAILABLE", capacity: dict[str, int] | None = None,
          **skills: int) -> dict[str, Any]:
    return request("AGENT", at, agent_id=agent_id, agent_state=state,
                   skills=[{"name": k, "level": v} for k, v in skills.items()],
                   capacity=capacity if capacity is not None else {"VOICE": 1})


def queued(at: int, contact_id: str, queue: str = "voice-general", channel: str = "VOICE", **attrs: Any) -> dict[str, Any]:
    return request("CONTACT_QUEUED", at, contact_id=contact_id, queue=queue, channel=channel, **attrs)


def answer(at: int, contact_id: str, agent_id: str, accepted: bool = True, offer_id: str | None = None) -> dict[str, Any]:
    return request("OFFER_ACCEPTED" if accepted else "OFFER_REJECTED", at, contact_id=contact_id, agent_id=agent_id,
                   offer_id=offer_id)


def left(at: int, contact_id: str) -> dict[str, Any]:
    return request("CONTACT_LEFT", at, contact_id=contact_id)
