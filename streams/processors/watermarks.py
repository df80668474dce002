"""Pure logic: event-time watermarks across a repartition.

Facts reach a statistics partition from every contact-events partition, each stream in its own
event-time order but interleaved arbitrarily with the others. A window may close only when every
source has moved past it: the watermark is the minimum over the sources' newest watermarks.

Idleness is decided where the data is, as in Flink: the processor reading a source partition
declares it idle when it has processed everything in it and nothing new came for `idle_s`
(`source_idle`), and says so in a heartbeat to every statistics partition. An idle source stops
holding the watermark back. A source that merely lags (a backlog, a slow worker) is never idle:
judging idleness by wall-clock silence at the receiving end closed windows ahead of a lagging
source and turned its facts into late ones (a 40-hour simulated backlog lost 3,316 of them).

A source not heard from at all (no fact, no heartbeat) for `silent_s` while others are heard, or
since start, is presumed gone (its worker stopped and no other has taken over) and stops holding
the watermark back as well; heartbeats come every second or so, so this is a last resort.
"""

from __future__ import annotations

from typing import Any

SILENT_FACTOR = 6  # silent_s = SILENT_FACTOR * idle_s, at least MIN_SILENT_S
MIN_SILENT_S = 30.0


def silent_after(idle_s: float) -> float:
    return max(MIN_SILENT_S, SILENT_FACTOR * idle_s)


def source_idle(now: float, last_record: float, processed_up_to: int | None, highwater: int | None,
                idle_s: float) -> bool:
    """Whether a source partition is idle: nothing processed for `idle_s` and nothing left to
    process (`processed_up_to`: next offset to process; `highwater`: end of the partition)."""
    if now - last_record < idle_s or highwater is None or processed_up_to is None:
        return False
    return processed_up_to >= highwater


def observe(state: dict[str, Any], source: int, watermark: int | None, now: float, idle: bool = False,
            wall_ms: int | None = None) -> bool:
    """Record what a source said: its watermark (never moving back, never past the wall clock
    `wall_ms` when given) and whether it is idle; `now`: when, in seconds, for silence. Returns
    True when the source's watermark advanced."""
    sources = state.setdefault("sources", {})
    held = sources.get(str(source))
    old = held[0] if held else 0
    new = watermark or 0
    if wall_ms is not None and new > wall_ms:
        new = wall_ms
    new = max(old, new)
    sources[str(source)] = [new, now, bool(idle)]
    return new > old


def effective(state: dict[str, Any], source_count: int, now: float, started: float, silent_s: float,
              wall_ms: int | None = None) -> int:
    """The watermark by which windows may close (0: none yet). It never moves back (a source
    that wakes up after being idle cannot reopen what has closed) and never passes the wall
    clock `wall_ms` when given: an event from a producer with a wrong clock must not close
    today's windows."""
    sources = state.get("sources", {})
    heard = [(held[0], now - held[1] < silent_s, len(held) > 2 and held[2]) for held in sources.values()]
    anyone_heard = any(recent for _, recent, _ in heard)
    holding = [wm for wm, recent, idle in heard if not idle and (recent or not anyone_heard)]
    if source_count - len(sources) > 0 and now - started < silent_s:
        candidate = 0  # a source not heard from yet may still bring old events
    elif holding:
        candidate = min(holding)
    else:
        candidate = max((wm for wm, _, _ in heard), default=0)
    if wall_ms is None:
        state["closed"] = max(state.get("closed", 0), candidate)
        return state["closed"]  # type: ignore[no-any-return]
    state["closed"] = max(state.get("closed", 0), min(candidate, wall_ms))
    return min(state["closed"], wall_ms)  # type: ignore[no-any-return]
