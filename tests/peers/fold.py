"""The per-record work every peer does, with firstline's own pure code: decode a contact event,
check it, pseudonymise its subscriber, fold it into the contact's state, and encode the summary.
firstline's processor does all this and more (queue facts and minute deltas for the statistics,
state expiry, watermarks), so the comparison favours the peers."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from streams.codec import Codec, load_registry
from streams.processors.contact_lifecycle import ContactState, validate_event
from streams.protection.addresses import Pseudonyms, canonical
from streams.settings import Settings
from streams.topics import spec


class Fold:
    def __init__(self, settings: Settings) -> None:
        self.codec = Codec(load_registry(settings.schemas_dir), native=settings.native_codec)
        self.event_schema = spec("contact-events").value_schema
        self.summary_schema = spec("contact-summaries").value_schema
        self.pseudonyms = Pseudonyms(settings.pseudonym_key)
        self.skew_ms = int(settings.max_future_skew_s * 1000)

    def decode(self, value: bytes) -> dict[str, Any]:
        return self.check(self.codec.decode(value, self.event_schema))

    def check(self, event: dict[str, Any]) -> dict[str, Any]:
        validate_event(event, int(time.time() * 1000) + self.skew_ms)
        subscriber = event.get("subscriber_id")
        if subscriber and not subscriber.startswith("p:"):
            event["subscriber_id"] = self.pseudonyms.of(canonical(subscriber))[0]
        return event

    def apply(self, event: dict[str, Any], stored: dict[str, Any] | None) -> tuple[dict[str, Any], bytes]:
        """(the new state as JSON-able data, the encoded summary)."""
        stored, summary = self.apply_decoded(event, stored)
        return stored, self.codec.encode(self.summary_schema, summary)

    def apply_decoded(self, event: dict[str, Any], stored: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the new state as JSON-able data, the summary as a record)."""
        state = ContactState.from_json(stored) if stored else ContactState(event["contact_id"])
        state.apply(event)
        return state.to_json(), state.summary()


class Meter:
    """Counts records; prints the process's CPU and wall time from the first to the `expected`th
    as `PEER <json>` on stdout, then calls `done`."""

    def __init__(self, expected: int, done: Any) -> None:
        self.expected, self.done, self.n = expected, done, 0
        self.cpu0 = self.wall0 = 0.0

    def tick(self) -> None:
        self.n += 1
        if self.n == 1:
            self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        elif self.n == self.expected:
            import orjson

            cpu, wall = time.process_time() - self.cpu0, time.perf_counter() - self.wall0
            sys.stdout.write("PEER " + orjson.dumps({"records": self.n, "cpu_s": cpu, "wall_s": wall}).decode() + "\n")
            sys.stdout.flush()
            self.done()


def env(name: str) -> str:
    return os.environ[f"PEER_{name}"]
