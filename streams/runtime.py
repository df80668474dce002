"""Process-level tuning of a worker: the cyclic garbage collector.

CPython runs a young-generation collection every 700 net allocations of container objects. A
worker allocates tens of thousands of dicts and lists per batch (decoded records, facts, outputs)
and keeps hundreds of thousands alive in its stores, so with that default the collector took ~15 %
of the worker's CPU on the whole path (measured: 2.5 s of 18 s; 59 -> 50-52 us per event with a
threshold of 50,000). Almost nothing the processors make is cyclic: reference counting frees it,
and the collector only has to find the rare cycle (asyncio's exceptions and futures), which a
larger threshold still does, a little later.
"""

from __future__ import annotations

import gc


def tune_garbage_collector(young_threshold: int) -> None:
    """Collect the young generation every `young_threshold` container allocations (0: Python's
    default). The objects made while importing and building the app are frozen: they live as long
    as the process, and a full collection need not walk them again."""
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
    gc.freeze()
