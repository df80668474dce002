"""Process-level tuning of a worker: the cyclic garbage collector.

CPython runs a young-generation collection every 700 net allocations of container objects. A
worker allocates tens of thousands of dicts and lists per batch (decoded records, facts, outputs)
and keeps hundreds of thousands alive in its stores, so with that default the collector took a
large share of the worker's CPU. Almost nothing the processors make is cyclic: reference counting
frees it, and the collector only has to find the rare cycle (asyncio's exceptions and futures),
which a larger threshold still does, a little later.

Checkpoints (streams/engine/channel.py) keep a checkpoint's outputs and state changes alive for up
to its interval: with a threshold too low, most of them outlive a young collection, are walked
there, move to the middle generation and are walked again. With a high one most die before a
collection sees them.

What still reaches a young collection is the stores' growth: every new contact's state is a
dozen containers that live for days, and a collection in which all young objects survive walks
them all; a full collection walks every live object, in one pause. So the survivors are frozen
every second (`CollectionPacer`): gc.freeze() moves every tracked object into the permanent
generation in O(1), no collection walks them again, and reference counting still frees them.
What that costs: a reference cycle that was already garbage at a freeze (or becomes garbage while
one of its objects is frozen) is found only by the next full pass, which unfreezes everything and
collects every generation once per `full_interval_s`. (Figures: docs/benchmarks.md.)
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def tune_garbage_collector(young_threshold: int) -> None:
    """Collect the young generation every `young_threshold` container allocations (0: Python's
    default). The objects made while importing and building the app are frozen: they live as long
    as the process, and a full collection need not walk them again."""
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
    gc.freeze()


class CollectionPacer:
    """Freezes what survived since the last tick; on the first tick `full_interval_s` (0: never)
    after the last full pass, first unfreezes everything and runs a full collection."""

    def __init__(self, full_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.full_interval_s = full_interval_s
        self._clock = clock
        self._last_full = clock()
        self.freezes = 0
        self.full_passes = 0

    def tick(self) -> None:
        if self.full_interval_s > 0 and self._clock() - self._last_full >= self.full_interval_s:
            began = time.perf_counter()
            gc.unfreeze()
            found = gc.collect()
            self.full_passes += 1
            self._last_full = self._clock()
            # How much cyclic garbage the freezing held back, and the pause it took to find it.
            log.info("Full garbage collection: %d unreachable objects found in %.2f s", found,
                     time.perf_counter() - began)
        gc.freeze()
        self.freezes += 1


def pace_collections(app: Any, freeze_interval_s: float, full_interval_s: float) -> CollectionPacer | None:
    """Run a CollectionPacer on the faust app's event loop every `freeze_interval_s` (0: never)."""
    if freeze_interval_s <= 0:
        return None
    pacer = CollectionPacer(full_interval_s)

    @app.timer(freeze_interval_s)
    async def freeze_survivors() -> None:
        pacer.tick()

    return pacer
