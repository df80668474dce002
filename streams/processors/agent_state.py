"""agent-events -> queue-facts: each agent's newest state, told to every queue it serves.

State per agent (faust table): the newest state by event time, its queues, skills and capacity.
An older event arriving late does not overwrite a newer state. A change is sent as AGENT facts to
the queue-statistics processor (keyed by queue), where the live queue view counts agents; leaving
a queue is sent as OFFLINE for that queue. Facts are delivered before the state is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.engine.processor import Context, Processor
from streams.processors.contact_lifecycle import InvalidEvent, check_time
from streams.identifiers import join_id
from streams.processors.queue_facts import fact_records
from streams.topics import spec


def validate_agent_event(ev: dict[str, Any], max_time_ms: int) -> None:
    if not ev["agent_id"] or not ev["event_id"]:
        raise InvalidEvent("agent_id and event_id must not be empty")
    if ev["state"] == "UNKNOWN":
        raise InvalidEvent("unknown agent state")
    check_time("occurred_at", ev["occurred_at"], max_time_ms)
    if any(c < 0 for c in ev["capacity"].values()):
        raise InvalidEvent("negative capacity")


def fold(held: dict[str, Any] | None, ev: dict[str, Any]) -> dict[str, Any] | None:
    """The agent's new state, or None when the event is older than what is held (or the same)."""
    if held is not None and ev["occurred_at"] < held["at"]:
        return None
    new = {"at": ev["occurred_at"], "state": ev["state"],
           "queues": sorted(ev["queues"]) if ev["queues"] else (held or {}).get("queues", []),
           "skills": {s["name"]: s["level"] for s in ev["skills"]} or (held or {}).get("skills", {}),
           "capacity": dict(ev["capacity"]) or (held or {}).get("capacity", {}),
           "region": ev.get("region") or (held or {}).get("region")}
    return None if new == held else new


def agent_facts(agent_id: str, held: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    facts = []
    left = set((held or {}).get("queues", [])) - set(new["queues"])
    for queue, state in [*((q, "OFFLINE") for q in sorted(left)), *((q, new["state"]) for q in new["queues"])]:
        facts.append({"fact_id": join_id("agent", agent_id, queue), "sign": 1, "kind": "AGENT", "queue": queue,
                      "channel": "UNKNOWN", "region": new["region"] or "unknown", "at": new["at"],
                      "contact_id": None, "wait_ms": None, "handle_ms": None, "duration_ms": None,
                      "agent_id": agent_id, "agent_state": state})
    return facts


class AgentState(Processor):
    name = "agent-state"
    inputs = ("agent-events",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.schema = spec("agent-events").value_schema
        self.check = ctx.bounds.checker(ctx.codec.registry.reader(self.schema).definition)
        self.agents = ctx.table("agent-state", partitions=spec("agent-events").partition_count(ctx.settings))
        # What the batches since the last checkpoint changed.
        self.changed: dict[str, tuple[dict[str, Any], int]] = {}
        self.facts: dict[str, dict[str, Any]] = {}  # fact_id (agent and queue) -> latest fact

    def on_batch(self, records: Sequence[Any]) -> None:
        decode, out, now = self.ctx.codec.decode, self.ctx.out, self.ctx.clock.max_event_time()
        for message in records:
            try:
                self.ctx.bounds.record_size(message.value)
                ev = decode(message.value, self.schema)
                self.check(ev)
                validate_agent_event(ev, now)
                if message.key != ev["agent_id"].encode():
                    raise InvalidEvent(f"record key {message.key!r} is not the agent_id")
                agent_id = ev["agent_id"]
                held = self.changed[agent_id][0] if agent_id in self.changed else self.agents.get(agent_id)
                new = fold(held, ev)
                if new is None:
                    continue
                for fact in agent_facts(agent_id, held, new):
                    self.facts[fact["fact_id"]] = fact
                self.changed[agent_id] = (new, message.partition)
            except Exception as exc:  # anything a hostile record can cause goes to the dead letters
                out.reject(message, exc)

    async def on_checkpoint(self) -> None:
        # The live view wants an agent's latest state per queue: of the states an agent went
        # through since the last checkpoint, only the last is sent (under load most are skipped).
        for queue, record in fact_records(list(self.facts.values())):
            self.ctx.out.emit("queue-facts", queue, record)
        for agent_id, (new, partition) in self.changed.items():
            self.agents.put(agent_id, new, partition)
        self.changed, self.facts = {}, {}
