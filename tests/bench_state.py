"""The state path of `make bench` (tests/bench.py --only state): how much memory a contact's state
takes in a worker, and how long a worker holding many contacts takes to be ready after a restart.

The contact-state changelog is written directly (the states the processor would have written for
`--state-contacts` generated contacts, each folded by the pure lifecycle, in the engine's own
changelog encoding and partitions), then a worker starts: the clock runs from its start to its
"Worker ready" (every table read back from its changelog); memory is the worker's resident size
then, less that of a worker of the same build with no state.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from streams.admin.topics import create_topics
from streams.engine.producer import KeyHashes
from streams.processors.contact_lifecycle import ContactState
from streams.producers.contact_generator import contact_events
from streams.protection.addresses import Pseudonyms, canonical
from streams.settings import Settings
from streams.topics import spec
from tests.support import Worker, isolated_settings

DEFAULTS = {"queue": None, "agent_id": None, "language": None, "segment": None, "line": 1,
            "disposition": None, "after_contact_work_ms": None}


def dumps(value: Any) -> bytes:
    """As the engine's tables write their changelogs (streams/engine/tables.py)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def write_states(settings: Settings, count: int) -> tuple[int, int]:
    """(records, bytes) written to the contact-state changelog."""
    name = f"{settings.namespace}-contact-state-changelog"
    partitions = spec("contact-events").partition_count(settings)
    hashes, names = KeyHashes(), Pseudonyms(settings.pseudonym_key)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, linger_ms=20, batch_size=512 * 1024,
                             compression_type=None, acks=1, **settings.kafka_auth.kafka_python())
    size = 0
    start = int(time.time() * 1000) - 3 * 86_400_000  # within the retention
    for n, events in enumerate(contact_events(count, start, seed=9)):
        state = ContactState(events[0]["contact_id"])
        for e in events:
            state.apply({**DEFAULTS, **e})
        if state.subscriber_id:
            state.subscriber_id = names.of(canonical(state.subscriber_id))[0]
        key, value = dumps(state.contact_id), dumps(ContactState.to_json(state))
        size += len(key) + len(value)
        producer.send(name, key=key, value=value, partition=hashes.partition(state.contact_id.encode(), partitions))
        if n % 100_000 == 0:
            producer.flush()
    producer.flush()
    producer.close()
    return count, size


def ready_after_start(settings: Settings, name: str) -> tuple[float, int, str]:
    """(seconds from start to ready, resident bytes then, the restore line of the log)."""
    worker = Worker(settings, name)
    started = time.time()
    worker.start()
    try:
        assert worker.proc is not None
        took = worker.ready_ms() / 1000 - started
        rss = rss_bytes(worker.proc.pid)
        restored = [line for line in worker.log().splitlines() if "Restored" in line]
    finally:
        worker.stop()
    return took, rss, restored[-1] if restored else ""


def report_state(count: int, tmp: Path) -> dict[str, Any]:
    settings = isolated_settings(tmp / "state", partitions=6, role="processors")
    create_topics(settings)
    empty_s, empty_rss, _ = ready_after_start(settings, "empty")  # also makes the changelog topics
    wrote = time.time()
    records, size = write_states(settings, count)
    wrote = time.time() - wrote
    took, rss, line = ready_after_start(settings, "restored")
    figures = {"state_contacts": count, "state_changelog_bytes_per_contact": size / records,
               "state_ready_s": took, "state_ready_empty_s": empty_s,
               "state_memory_bytes_per_contact": (rss - empty_rss) / count}
    print(f"state           {count:,} contacts ({size / records:.0f} changelog bytes each, written in {wrote:.0f} s): "
          f"ready in {took:.1f} s after start (empty: {empty_s:.1f} s), "
          f"{figures['state_memory_bytes_per_contact']:,.0f} bytes of memory per contact; {line.split('] ')[-1]}")
    return figures
