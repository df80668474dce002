"""Every version of every schema in `schemas/`, indexed by full name and by fingerprint.

`schemas/<name>.avsc` are the current versions (the reader schemas); `schemas/history/<name>/v<N>.avsc`
are released versions that old producers may still write with. The fingerprint is the Avro
specification's CRC-64-AVRO of the Parsing Canonical Form.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import orjson
from fastavro.schema import fingerprint, to_parsing_canonical_form

from streams.codec.errors import DecodeError


@dataclass(frozen=True)
class SchemaVersion:
    full_name: str
    fingerprint: bytes  # 8 bytes, little-endian as in single-object encoding
    source: Path
    definition: dict[str, Any]  # the JSON as written, with docs and logical types
    parsed: Any  # fastavro's parsed form, logical types stripped (times stay int milliseconds)


def strip_logical_types(node: Any) -> Any:
    # The logical type is an annotation: on the wire a timestamp-millis is a long. Keeping it would
    # make fastavro hand out datetime objects; the project works in integer UTC milliseconds.
    if isinstance(node, dict):
        return {k: strip_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical_types(v) for v in node]
    return node


def fingerprint_of(definition: dict[str, Any]) -> bytes:
    canonical = to_parsing_canonical_form(fastavro.parse_schema(copy.deepcopy(definition)))
    # fastavro spells the fingerprint as the hex of its little-endian bytes, the order that
    # single-object encoding puts on the wire (the spec's test vector: "int" -> 8f5c393f1ad57572).
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def _load(path: Path) -> SchemaVersion:
    definition = orjson.loads(path.read_bytes())
    if not isinstance(definition, dict) or definition.get("type") != "record":
        raise ValueError(f"{path}: one record schema per file is expected")
    namespace = definition.get("namespace")
    full_name = f"{namespace}.{definition['name']}" if namespace else definition["name"]
    # The write hint marks the schema as parsed, so fastavro does not parse it again per record.
    parsed = fastavro.parse_schema(strip_logical_types(definition))
    return SchemaVersion(full_name, fingerprint_of(definition), path, definition, parsed)


class SchemaRegistry:
    """Current (reader) schema per full name; any known version (writer) per fingerprint."""

    def __init__(self, current: list[SchemaVersion], history: list[SchemaVersion]) -> None:
        self.current: dict[str, SchemaVersion] = {}
        for version in current:
            if version.full_name in self.current:
                raise ValueError(f"{version.full_name} is defined twice: {version.source}")
            self.current[version.full_name] = version
        self.history = history
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        for version in [*history, *current]:
            self.by_fingerprint[version.fingerprint] = version

    def reader(self, full_name: str) -> SchemaVersion:
        try:
            return self.current[full_name]
        except KeyError:
            raise KeyError(f"no schema named {full_name!r} in the registry") from None

    def writer(self, fp: bytes) -> SchemaVersion:
        try:
            return self.by_fingerprint[fp]
        except KeyError:
            raise DecodeError("UNKNOWN_SCHEMA", f"no known schema has fingerprint {fp.hex()}") from None

    def add(self, version: SchemaVersion) -> None:
        """Make another writer version known (a schema from elsewhere, e.g. a test's old writer)."""
        self.by_fingerprint[version.fingerprint] = version

    def versions_of(self, full_name: str) -> list[SchemaVersion]:
        return [v for v in self.history if v.full_name == full_name]

    @classmethod
    def from_directory(cls, directory: Path) -> "SchemaRegistry":
        current = [_load(p) for p in sorted(directory.glob("*.avsc"))]
        history = [_load(p) for p in sorted((directory / "history").glob("*/*.avsc"))]
        if not current:
            raise FileNotFoundError(f"no *.avsc schemas in {directory}")
        return cls(current, history)

    @staticmethod
    def version_from_file(path: Path) -> SchemaVersion:
        return _load(path)


@functools.lru_cache(maxsize=8)
def load_registry(directory: Path) -> SchemaRegistry:
    """The registry of a schemas folder, read once per process (schemas do not change while running)."""
    return SchemaRegistry.from_directory(directory)
