"""A processor's outputs until they are delivered: encoded at once, bounded, sent in bulk.

`emit` encodes a record for a catalogue topic; an output larger than
FIRSTLINE_MAX_OUTPUT_BYTES (which must stay below the topics' max.message.bytes and the
producer's batch size) is never sent: it goes to the dead-letter topic, cut to its first bytes,
with its length and SHA-256, so an oversized output cannot crash the worker. `reject` files a
record that could not be used on the dead-letter topic. `delivered()` sends everything and waits
until the broker acknowledged all of it; the checkpoint (checkpoint.py) decides when. `send_now()`
sends what there is without waiting (a processor with eager outputs, after each batch); the next
`delivered()` waits for those too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol

from streams.codec import Codec
from streams.engine.dead_letters import Origin, dead_letter
from streams.engine.errors import TooLarge
from streams.protection.addresses import NumberMask, Pseudonyms
from streams.settings import Settings
from streams.topics import spec


class Sender(Protocol):
    """Where encoded records go: Kafka record batches (producer.RecordBatches) or, in tests, a
    list (testing.MemorySender)."""

    def __bool__(self) -> bool: ...

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None: ...

    async def send(self) -> list[Awaitable[Any]]: ...


class Outbox:
    def __init__(self, sender: Sender, codec: Codec, settings: Settings, processor: str) -> None:
        self._sender = sender
        self._codec = codec
        self._settings = settings
        self.processor = processor
        self._topics: dict[str, tuple[str, str]] = {}  # short name -> (full name, value schema)
        self._max_bytes = settings.max_output_bytes
        self._inflight: list[Awaitable[Any]] = []  # sent by send_now, not yet known delivered
        # For /metrics (engine/meters.py): records emitted per topic, dead letters per error kind.
        self.emitted: dict[str, int] = {}
        self.dead_letters: dict[str, int] = {}
        self._mask: NumberMask | None = None  # made with the first dead letter

    def _topic(self, name: str) -> tuple[str, str]:
        known = self._topics.get(name)
        if known is None:
            s = spec(name)
            known = self._topics[name] = (s.full_name(self._settings), s.value_schema)
        return known

    def emit(self, name: str, key: str, record: dict[str, Any], partition: int | None = None) -> None:
        """Encode a record for catalogue topic `name` (to the key's partition unless one is given)."""
        topic, schema = self._topic(name)
        raw_key, value = key.encode(), self._codec.encode(schema, record)
        if len(value) + len(raw_key) > self._max_bytes:
            self._file(Origin(topic, -1, -1, None, raw_key, value),
                       TooLarge(f"output of {len(value) + len(raw_key)} bytes for {name}, more than "
                                f"FIRSTLINE_MAX_OUTPUT_BYTES ({self._max_bytes}); not sent"))
            return
        self._sender.add(topic, raw_key, value, partition)
        self.emitted[name] = self.emitted.get(name, 0) + 1

    def reject(self, message: Any, exc: BaseException) -> None:
        """Send a record that could not be used to the dead-letter topic, with its origin."""
        self._file(Origin.of(message), exc)

    def _file(self, origin: Origin, exc: BaseException) -> None:
        topic, schema = self._topic("dead-letters")
        if self._mask is None:
            self._mask = NumberMask(Pseudonyms(self._settings.pseudonym_key))
        record = dead_letter(origin, exc, self.processor, self._settings.dead_letter_value_bytes, self._mask)
        self.dead_letters[record["error_kind"]] = self.dead_letters.get(record["error_kind"], 0) + 1
        self._sender.add(topic, origin.topic.encode()[:1024], self._codec.encode(schema, record), None)

    def __bool__(self) -> bool:
        return bool(self._sender) or bool(self._inflight)

    async def send_now(self) -> None:
        if self._sender:
            self._inflight += await self._sender.send()

    async def delivered(self) -> None:
        pending, self._inflight = self._inflight, []
        if self._sender:
            pending += await self._sender.send()
        if pending:
            await asyncio.gather(*pending)
