"""What the engine counts for monitoring, in plain integers: a counter per record would cost the
hot path a lock (prometheus_client's); these are read only when /metrics is scraped
(streams/web/metrics.py turns them into Prometheus families).

A `Timings` is a histogram with fixed bucket bounds in seconds, as Prometheus histograms are.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Bounds for durations from a millisecond to a minute: checkpoints, sink writes, recoveries.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Timings:
    bounds: tuple[float, ...] = SECONDS_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(SECONDS_BUCKETS) + 1))  # last: +Inf
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count at or below it) for each bound and +Inf, as a Prometheus histogram gives."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


@dataclass
class ProcessorMeters:
    records_in: int = 0
    batches: int = 0
    checkpoints: Timings = field(default_factory=Timings)


@dataclass
class EngineMeters:
    processors: dict[str, ProcessorMeters] = field(default_factory=dict)
    rebalances: int = 0

    def of(self, processor: str) -> ProcessorMeters:
        meters = self.processors.get(processor)
        if meters is None:
            meters = self.processors[processor] = ProcessorMeters()
        return meters
