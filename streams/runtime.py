"""Process-level tuning of a worker: the cyclic garbage collector.

CPython runs a young-generation collection every 700 net allocations of container objects. A
worker allocates tens of thousands of dicts and lists per batch (decoded records, facts, outputs)
and keeps hundreds of thousands alive in its stores, so with that default the collector took ~15 %
of the worker's CPU on the whole path (measured: 2.5 s of 18 s; 59 -> 50-52 us per event with a
threshold of 50,000). Almost nothing the processors make is cyclic: reference counting frees it,
and the collector only has to find the rare cycle (asyncio's exceptions and futures), which a
larger threshold still does, a little later.

Since checkpoints (streams/batch_channel.py) keep a checkpoint's outputs and state changes alive
for up to its interval, 50,000 was too low again: most of those objects outlived a young
collection, were walked there, moved to the middle generation and walked again (2.8 s of 42 s of
CPU on the national bench path, 1.2 s of it in the middle generation). At 500,000 most die
before a collection sees them: 0.7-1.0 s, and a young collection still takes ~7 ms on average.
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
