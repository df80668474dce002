"""Running a simulation onto the bus: pacing, progress, the producer."""

from __future__ import annotations

import sys
import time
from typing import IO

from streams.producers import ChannelProducer
from streams.settings import Settings
from streams.simulator.engine import HOUR_MS, Simulation


def publish(simulation: Simulation, settings: Settings, duration_ms: int, speedup: float | None = None,
            out: IO[str] = sys.stdout, progress_every_ms: int = HOUR_MS) -> int:
    """Publish the simulation's records through the producer library; returns the number sent.

    speedup=None runs as fast as possible; speedup=60 plays one simulated minute per second."""
    began_wall = time.monotonic()
    next_report = simulation.start + progress_every_ms
    sent = 0
    with ChannelProducer(settings, check=False, linger_ms=20) as producer:
        for topic, record in simulation.run(duration_ms):
            if speedup:
                due = began_wall + (simulation.now - simulation.start) / 1000 / speedup
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            producer.send(topic, record)
            sent += 1
            if simulation.now >= next_report:
                _report(simulation, sent, began_wall, out)
                next_report += progress_every_ms
    _report(simulation, sent, began_wall, out)
    return sent


def _report(simulation: Simulation, sent: int, began_wall: float, out: IO[str]) -> None:
    elapsed = max(time.monotonic() - began_wall, 1e-9)
    simulated_h = (simulation.now - simulation.start) / HOUR_MS
    s = simulation.stats
    print(f"  simulated {simulated_h:6.1f} h  contacts {s['contacts']:>7}  answered {s['answered']:>7}  "
          f"abandoned {s['abandoned']:>6}  records {sent:>8}  {sent / elapsed:>8,.0f} records/s",
          file=out, flush=True)
