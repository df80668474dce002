"""Pure logic: event-time watermarks across a repartition.

Facts reach a statistics partition from every contact-events partition, each stream in its own
event-time order but interleaved arbitrarily with the others. A window may close only when every
source has moved past it: the watermark is the minimum over the sources' newest watermarks. A
source that has not moved for `idle_s` of wall-clock time (or has not been heard from within
`idle_s` of the start) stops holding it back, as in Flink's idleness; when all are idle the
newest one counts.
"""

from __future__ import annotations

from typing import Any


def observe(state: dict[str, Any], source: int, watermark: int, now: float) -> bool:
    """Record a source's watermark (never moving back); False when it did not advance."""
    sources = state.setdefault("sources", {})
    held = sources.get(str(source))
    if held is not None and held[0] >= watermark:
        return False
    sources[str(source)] = [watermark, now]
    return True


def effective(state: dict[str, Any], source_count: int, now: float, started: float, idle_s: float) -> int:
    """The watermark by which windows may close (0: none yet). It never moves back: a source
    that wakes up after being idle cannot reopen what has closed."""
    sources = state.get("sources", {})
    active = [wm for wm, seen in sources.values() if now - seen < idle_s]
    if source_count - len(sources) > 0 and now - started < idle_s:
        candidate = 0  # a source not heard from yet may still bring old events
    elif active:
        candidate = min(active)
    else:
        candidate = max((wm for wm, _ in sources.values()), default=0)
    state["closed"] = max(state.get("closed", 0), candidate)
    return state["closed"]
