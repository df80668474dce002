"""A small built-in generator of contact lifecycle events, so that something flows in a local run.

Each contact arrives on a channel, waits in that channel's queue, and is either answered and ended
or abandoned. Times are event times starting at `start_ms`; output is deterministic for a seed.
(The full discrete-event simulator with agents and shifts is `firstline simulate`, a later step.)
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

CHANNELS = (("VOICE", 0.55), ("CHAT", 0.2), ("MESSENGER", 0.1), ("EMAIL", 0.05),
            ("SOCIAL", 0.05), ("APP", 0.05))
REGIONS = ("chelyabinsk", "moscow", "ekaterinburg", "novosibirsk")
REASONS = ("billing", "tariff", "roaming", "internet", "fraud", "subscriptions")


@dataclass(frozen=True)
class GeneratorProfile:
    mean_interarrival_ms: float = 2_000.0
    mean_wait_ms: float = 60_000.0
    mean_handle_ms: float = 150_000.0
    abandon_share: float = 0.06
    transfer_share: float = 0.03
    acw_ms: int = 15_000


def contact_events(n: int, start_ms: int, seed: int = 1, profile: GeneratorProfile = GeneratorProfile(),
                   prefix: str | None = None) -> Iterator[list[dict[str, Any]]]:
    """Yield the events of one contact at a time, in event-time order within the contact.

    Contact ids are `<prefix>-<n>` (prefix `c-<seed>` by default); give each run its own prefix
    so that a second run is not taken for duplicates of the first."""
    prefix = prefix or f"c-{seed}"
    rng = random.Random(seed)
    names, weights = zip(*CHANNELS)
    t = start_ms
    for i in range(n):
        t += int(rng.expovariate(1 / profile.mean_interarrival_ms))
        channel = rng.choices(names, weights)[0]
        contact_id = f"{prefix}-{i:07d}"
        base = {"contact_id": contact_id, "channel": channel, "source": "generator",
                "subscriber_id": f"7900{rng.randrange(10**7):07d}", "region": rng.choice(REGIONS),
                "reason": rng.choice(REASONS), "language": "ru", "line": 1}
        queue = f"{channel.lower()}-general"
        steps: list[tuple[str, int, dict[str, Any]]] = [("CREATED", t, {}),
                                                          ("QUEUED", t + 5_000, {"queue": queue})]
        queued = t + 5_000
        wait = int(rng.expovariate(1 / profile.mean_wait_ms))
        if rng.random() < profile.abandon_share:
            steps.append(("ABANDONED", queued + wait, {"queue": queue}))
        else:
            agent = f"a-{channel.lower()}-{rng.randrange(40):02d}"
            answered = queued + wait
            steps.append(("ANSWERED", answered, {"queue": queue, "agent_id": agent}))
            handle = int(rng.lognormvariate(0, 0.5) * profile.mean_handle_ms / 1.13)
            extra: dict[str, Any] = {}
            if rng.random() < profile.transfer_share:
                second = f"{channel.lower()}-line2"
                steps.append(("TRANSFERRED", answered + handle // 2, {"queue": second, "agent_id": agent}))
                steps.append(("QUEUED", answered + handle // 2 + 1, {"queue": second, "line": 2}))
                extra["line"] = 2
            steps.append(("ENDED", answered + handle,
                          {"queue": queue, "agent_id": agent, "disposition": "RESOLVED",
                           "after_contact_work_ms": profile.acw_ms, **extra}))
        yield [{**base, "event_id": f"{contact_id}-{k}", "type": kind, "occurred_at": at, **fields}
               for k, (kind, at, fields) in enumerate(steps)]
