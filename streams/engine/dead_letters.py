"""Building dead-letter records: where the rejected bytes came from, why, and a bounded part of
them.

A dead letter must never be larger than what it reports: the raw value is cut to
`value_limit` bytes and described by its length and SHA-256 (enough to find the original at its
source offset, or to match it against a producer's log); keys and reasons are cut too.

Dead letters are kept for weeks and read by operators, so subscriber numbers in the key, the kept
value and the reason are masked (protection/addresses.py NumberMask: a same-length token from the
number's keyed pseudonym); the SHA-256 is of the value as it was received.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from streams.codec import DecodeError
from streams.engine.errors import InvalidRecord
from streams.protection.addresses import NumberMask

KEY_LIMIT = 1024
REASON_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a refused record came from; partition and offset -1 for an output never sent."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None

    @classmethod
    def of(cls, message: Any) -> "Origin":
        """From a consumer record (aiokafka's or kafka-python's)."""
        key = message.key if isinstance(message.key, (bytes, type(None))) else str(message.key).encode()
        value = message.value if isinstance(message.value, (bytes, type(None))) else None
        stamp = message.timestamp if message.timestamp is not None and message.timestamp >= 0 else None
        return cls(message.topic, message.partition, message.offset, stamp, key, value)


def classify(exc: BaseException) -> tuple[str, str]:
    """(ErrorKind symbol, reason) for an exception raised while decoding or using a record."""
    if isinstance(exc, DecodeError):
        return exc.kind, str(exc)
    if isinstance(exc, InvalidRecord):
        return exc.kind, str(exc)
    return "PROCESSING", f"{type(exc).__name__}: {exc}"


def cut(text: str, limit: int = REASON_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[:limit - 30]}... ({len(text)} characters)"


def dead_letter(origin: Origin, exc: BaseException, processor: str, value_limit: int,
                mask: NumberMask) -> dict[str, Any]:
    kind, reason = classify(exc)
    value = origin.value
    return {
        "source_topic": cut(origin.topic, 300),
        "source_partition": origin.partition,
        "source_offset": origin.offset,
        "source_timestamp": origin.timestamp,
        "key": mask.bytes(origin.key[:KEY_LIMIT]) if origin.key is not None else None,
        "value": mask.bytes(value[:value_limit]) if value is not None else None,
        "value_length": len(value) if value is not None else None,
        "value_sha256": hashlib.sha256(value).hexdigest() if value is not None else None,
        "error_kind": kind,
        "error": cut(mask.text(reason)),
        "processor": processor,
        "rejected_at": int(time.time() * 1000),
    }
