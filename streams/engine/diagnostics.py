"""What a worker is waiting on, logged on SIGUSR1: for an operator (or a test) facing a worker
that is alive, ready and doing nothing.

`kill -USR1 <pid>` logs, at WARNING so that it is seen whatever the level, one line per
processor (its batch channel's buffer, whether a batch is out, whether its turn is held), the
consumer's view of each assigned input partition (fetch position, committed offset,
acknowledged offsets, highwater, paused or held back for a full channel), the flow control and
generation, and the stack of every asyncio task that is not finished. It reads, and changes
nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal
from typing import Any

log = logging.getLogger(__name__)


def describe(engine: Any) -> dict[str, Any]:
    """The engine's (streams/engine/runner.py) waiting state as plain data."""
    app = engine.app
    consumer = app.consumer
    channels = {}
    for name, processor in engine.processors.items():
        channel = processor.ctx.channel  # type: ignore[attr-defined]
        channels[name] = {
            "buffered": channel._held, "chunks": len(channel._chunks), "full": channel.full(),
            "batch_out": not channel._idle.is_set(), "checkpoint_wanted": channel._checkpoint_wanted,
            "arrived_set": channel._arrived.is_set(), "turn_held": engine.turns[name].locked(),
        }
    inputs = set(app.batch_channels)
    active = consumer._active_partitions or set()
    partitions = {}
    for tp in sorted(consumer.assignment()):
        if tp.topic not in inputs:
            continue
        acked = consumer._acked.get(tp) or []
        partitions[f"{tp.topic}[{tp.partition}]"] = {
            "read": consumer._read_offset.get(tp), "committed": consumer._committed_offset.get(tp),
            "acked": [min(acked), max(acked), len(acked)] if acked else None,
            "highwater": consumer.highwater(tp), "active": tp in active,
            "paused": tp in consumer._paused_partitions, "held_back": tp in consumer._buffered_partitions,
        }
    return {
        "generation": app.consumer_generation_id, "flow_control": app.flow_control.is_active(),
        "flow_active": consumer.flow_active, "in_recovery": app.in_recovery, "rebalancing": app.rebalancing,
        "rereads": consumer.rereads, "failures": dict(engine.failures), "processors": channels,
        "partitions": partitions,
    }


def task_stacks(limit: int = 8) -> str:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if not task.done():
            task.print_stack(limit=limit, file=out)
    return out.getvalue()


def dump(engine: Any) -> None:
    try:
        state = describe(engine)
    except Exception as exc:  # a dump must not take the worker down
        state = {"error": repr(exc)}
    log.warning("SIGUSR1: engine state %s", state)
    log.warning("SIGUSR1: asyncio tasks\n%s", task_stacks())


def install(engine: Any) -> None:
    """Dump on SIGUSR1 once the worker's loop runs."""

    @engine.app.task  # type: ignore[misc]
    async def dump_on_sigusr1() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump, engine)
