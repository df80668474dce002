"""Building dead-letter records: the rejected bytes, where they came from and why."""

from __future__ import annotations

import time
from typing import Any

from aiokafka.structs import ConsumerRecord

from streams.codec import DecodeError
from streams.processors.contact_lifecycle import InvalidEvent


def classify(exc: Exception) -> tuple[str, str]:
    """(ErrorKind symbol, reason) for an exception raised while decoding or using a record."""
    if isinstance(exc, DecodeError):
        return exc.kind, str(exc)
    if isinstance(exc, InvalidEvent):
        return "INVALID", str(exc)
    return "PROCESSING", f"{type(exc).__name__}: {exc}"


def dead_letter(message: ConsumerRecord, exc: Exception, processor: str) -> dict[str, Any]:
    kind, reason = classify(exc)
    return {
        "source_topic": message.topic,
        "source_partition": message.partition,
        "source_offset": message.offset,
        "source_timestamp": message.timestamp if message.timestamp is not None and message.timestamp >= 0 else None,
        "key": message.key if isinstance(message.key, (bytes, type(None))) else str(message.key).encode(),
        "value": message.value if isinstance(message.value, (bytes, type(None))) else None,
        "error_kind": kind,
        "error": reason,
        "processor": processor,
        "rejected_at": int(time.time() * 1000),
    }
