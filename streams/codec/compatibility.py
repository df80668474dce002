"""Schema evolution checks with the official `avro` package's compatibility checker.

Backward: the new schema can read data written with the old one. Forward: the old schema can read
data written with the new one. Both must hold between a schema and every released version of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import avro.schema
import orjson
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from streams.codec.registry import SchemaVersion


@dataclass(frozen=True)
class Compatibility:
    backward: bool
    forward: bool
    messages: tuple[str, ...]

    @property
    def full(self) -> bool:
        return self.backward and self.forward


def _parse(version: SchemaVersion) -> avro.schema.Schema:
    return avro.schema.parse(orjson.dumps(version.definition).decode())


def check(new: SchemaVersion, old: SchemaVersion) -> Compatibility:
    checker = ReaderWriterCompatibilityChecker()
    new_s, old_s = _parse(new), _parse(old)
    backward = checker.get_compatibility(reader=new_s, writer=old_s)
    forward = checker.get_compatibility(reader=old_s, writer=new_s)
    messages = []
    for label, result in (("backward", backward), ("forward", forward)):
        if result.compatibility is not SchemaCompatibilityType.compatible:
            messages.append(f"{label}: {'; '.join(sorted(result.messages))} at {result.locations}")
    return Compatibility(
        backward=backward.compatibility is SchemaCompatibilityType.compatible,
        forward=forward.compatibility is SchemaCompatibilityType.compatible,
        messages=tuple(messages),
    )
