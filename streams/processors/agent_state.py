"""agent-events -> queue-facts: each agent's newest state, told to every queue it serves.

State per agent (faust table): the newest state by event time, its queues, skills and capacity.
An older event arriving late does not overwrite a newer state. A change is sent as AGENT facts to
the queue-statistics processor (keyed by queue), where the live queue view counts agents; leaving
a queue is sent as OFFLINE for that queue. Facts are delivered before the state is written.
"""

from __future__ import annotations

from typing import Any

from streams.app import Pipeline
from streams.processors.contact_lifecycle import MAX_TIME_MS, MIN_TIME_MS, InvalidEvent
from streams.processors.queue_facts import fact_records
from streams.processors.table_state import BufferedTable
from streams.topics import spec

PROCESSOR = "agent-state"


def validate_agent_event(ev: dict[str, Any]) -> None:
    if not ev["agent_id"] or not ev["event_id"]:
        raise InvalidEvent("agent_id and event_id must not be empty")
    if ev["state"] == "UNKNOWN":
        raise InvalidEvent("unknown agent state")
    if not MIN_TIME_MS <= ev["occurred_at"] < MAX_TIME_MS:
        raise InvalidEvent(f"occurred_at {ev['occurred_at']} is not UTC epoch milliseconds between 2000 and 2100")
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
        facts.append({"fact_id": f"agent|{agent_id}|{queue}", "sign": 1, "kind": "AGENT", "queue": queue,
                      "channel": "UNKNOWN", "region": new["region"] or "unknown", "at": new["at"],
                      "contact_id": None, "wait_ms": None, "handle_ms": None, "duration_ms": None,
                      "agent_id": agent_id, "agent_state": state})
    return facts


def register(pipeline: Pipeline) -> None:
    app, codec = pipeline.app, pipeline.codec
    source = pipeline.source("agent-events")
    schema = spec("agent-events").value_schema
    agents = BufferedTable(app.Table("agent-state", default=None, key_type=str, partitions=source.partitions))

    @app.task
    async def track_agents() -> None:
        # What the batches since the last checkpoint changed (see streams/batch_channel.py).
        changed: dict[str, tuple[dict[str, Any], int]] = {}
        facts: dict[str, dict[str, Any]] = {}  # fact_id (agent and queue) -> latest fact
        out = pipeline.outbox()
        async for messages in pipeline.checkpointed(source):
            for message in messages:
                try:
                    ev = codec.decode(message.value, schema)
                    validate_agent_event(ev)
                    if message.key != ev["agent_id"].encode():
                        raise InvalidEvent(f"record key {message.key!r} is not the agent_id")
                    agent_id = ev["agent_id"]
                    held = changed[agent_id][0] if agent_id in changed else agents.get(agent_id)
                    new = fold(held, ev)
                    if new is None:
                        continue
                    for fact in agent_facts(agent_id, held, new):
                        facts[fact["fact_id"]] = fact
                    changed[agent_id] = (new, message.partition)
                except Exception as exc:
                    out.reject(message, exc, PROCESSOR)
            if not messages.checkpoint:
                continue
            # The live view wants an agent's latest state per queue: of the states an agent went
            # through since the last checkpoint, only the last is sent (under load most are skipped).
            for queue, record in fact_records(list(facts.values())):
                out.emit("queue-facts", queue, record)
            await out.delivered()
            for agent_id, (new, partition) in changed.items():
                agents.put(agent_id, new, partition)
            await agents.flush()
            changed, facts, out = {}, {}, pipeline.outbox()
