"""The compiled Avro functions (streams/codec/compiled.py) against fastavro, the reference, on
every schema in schemas/ and on hostile bytes (pure logic, no broker)."""

from __future__ import annotations

import io
import math
import random
import struct
from typing import Any

import fastavro
import pytest

from streams.codec import Codec, DecodeError, EncodeError, load_registry
from streams.codec.compiled import Unsupported, compile_decoder, compile_encoder
from streams.codec.registry import strip_logical_types
from streams.settings import Settings

REGISTRY = load_registry(Settings().schemas_dir)
VERSIONS = sorted([*REGISTRY.current.values(), *REGISTRY.history], key=lambda v: str(v.source))
TEXT = ["", "a", "queue-1", "Челябинск", "é" * 40, "x" * 63, "y" * 64, "z" * 300, "\U0001F600 emoji"]
LONGS = [0, 1, -1, 63, -64, 64, -65, 127, 128, 8191, 8192, -8193, 1_764_000_000_000, -(1 << 63),
         (1 << 63) - 1, 2**31 - 1, -(2**31),
         # the edges of the written-in-place paths (compiled.py): 2-3 bytes, and 6 for timestamps
         (1 << 20) - 1, 1 << 20, (1 << 13) - 1, 1 << 13,
         (1 << 34) - 1, 1 << 34, (1 << 41) - 1, 1 << 41, -(1 << 34), -(1 << 41)]
CORRUPT = (IndexError, KeyError, ValueError, UnicodeDecodeError, struct.error)
INTS = [v for v in LONGS if -(2**31) <= v < 2**31]


class Random:
    """Random records of a schema: every branch, edge values, empty and long collections."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.named: dict[str, Any] = {}

    def value(self, schema: Any, namespace: str | None = None) -> Any:
        rng = self.rng
        if isinstance(schema, list):
            return self.value(rng.choice(schema), namespace)
        if isinstance(schema, str):
            simple = {"null": lambda: None, "boolean": lambda: rng.random() < 0.5,
                      "int": lambda: rng.choice(INTS), "long": lambda: rng.choice(LONGS),
                      "float": lambda: rng.choice([0.0, 1.5, -2.25]),
                      "double": lambda: rng.choice([0.0, 0.1, -1e300, 12345.678, math.inf]),
                      "string": lambda: rng.choice(TEXT), "bytes": lambda: rng.randbytes(rng.choice([0, 3, 70]))}
            if schema in simple:
                return simple[schema]()
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            return self.value(self.named.get(full) or self.named[schema], namespace)
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            ns = schema.get("namespace", namespace)
            full = schema["name"] if "." in schema["name"] or not ns else f"{ns}.{schema['name']}"
            self.named[full] = schema
            namespace = full.rpartition(".")[0] or None
        if kind == "record":
            return {f["name"]: self.value(f["type"], namespace) for f in schema["fields"]}
        if kind == "enum":
            return rng.choice(schema["symbols"])
        if kind == "fixed":
            return rng.randbytes(schema["size"])
        if kind == "array":
            return [self.value(schema["items"], namespace) for _ in range(rng.choice([0, 1, 2, 70]))]
        if kind == "map":
            return {f"k{i}": self.value(schema["values"], namespace) for i in range(rng.choice([0, 1, 70]))}
        return self.value(kind, namespace)


def fastavro_bytes(parsed: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: str(v.source.relative_to(v.source.parents[1])))
def test_same_bytes_and_records_as_fastavro(version: Any) -> None:
    definition = strip_logical_types(version.definition)
    encode, decode = compile_encoder(definition), compile_decoder(definition)
    gen = Random(hash(version.fingerprint) & 0xFFFF)
    for _ in range(300):
        record = gen.value(definition)
        data = encode(record)
        assert data == fastavro_bytes(version.parsed, record)
        decoded, end = decode(data, 0)
        assert end == len(data)
        assert decoded == fastavro.schemaless_reader(io.BytesIO(data), version.parsed, None)
        assert decoded == record or any(isinstance(v, float) and math.isnan(v) for v in record.values())


def test_the_header_comes_first_and_missing_fields_take_their_defaults() -> None:
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "string"], "default": None},
        {"name": "c", "type": "int", "default": 7}, {"name": "d", "type": ["null", "long"]}]}
    parsed = fastavro.parse_schema(schema)
    assert compile_encoder(schema, b"HDR")({"a": 1}) == b"HDR" + fastavro_bytes(parsed, {"a": 1})
    assert compile_decoder(schema)(fastavro_bytes(parsed, {"a": 1}), 0)[0] == {"a": 1, "b": None, "c": 7, "d": None}


# A record schema with defaults, and records it must refuse (the C encoder's tests use them too).
DEFAULTS: dict[str, Any] = {"type": "record", "name": "R", "fields": [
    {"name": "a", "type": "long"},
    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["YES"]}, "default": "YES"},
    {"name": "f", "type": "boolean", "default": False},
    {"name": "n", "type": ["null", "int"], "default": None},
    {"name": "s", "type": ["null", "string"], "default": None},
    {"name": "l", "type": {"type": "array", "items": "long"}, "default": []}]}
BAD_RECORDS = [
    {"a": None}, {"a": "1"}, {"a": 1.5}, {"a": 1 << 63}, {"a": 1, "e": "NOPE"}, {"a": 1, "f": 1},
    {"a": 1, "n": 2**31}, {}, {"a": 1, "s": 5}, {"a": 1, "s": b"bytes"}, {"a": 1, "l": [1, "x"]},
]


@pytest.mark.parametrize("record", BAD_RECORDS)
def test_bad_records_fail_to_encode(record: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError, KeyError)):
        compile_encoder(DEFAULTS)(record)


def assert_hostile_bytes_fail_or_agree(decode: Any, data: bytes, parsed: Any, rng: random.Random,
                                       corruptions: int = 20, most_bytes: int = 1) -> None:
    """Every truncation of `data` (a valid record; of a long one, the first 512 and 256 others at
    random) fails to decode; random corruption of up to `most_bytes` bytes either fails or decodes
    to what fastavro makes of the same bytes (never a different record, never a hang)."""
    cuts = range(len(data)) if len(data) <= 768 else [*range(512), *rng.sample(range(512, len(data)), 256)]
    for cut in cuts:
        with pytest.raises(CORRUPT):
            record, end = decode(data[:cut], 0)
            assert end == cut, "a prefix decodes as a whole record"
            raise ValueError("a prefix decoded (checked against the length above)")
    for _ in range(corruptions):
        broken = bytearray(data)
        for _ in range(rng.randint(1, most_bytes)):
            broken[rng.randrange(len(broken))] = rng.randrange(256)
        try:
            record, end = decode(bytes(broken), 0)
        except CORRUPT:
            continue
        reference = fastavro.schemaless_reader(io.BytesIO(bytes(broken)), parsed, None)
        assert repr(record) == repr(reference)  # repr: NaN is not equal to itself


def test_hostile_bytes_fail_or_agree_with_fastavro() -> None:
    rng = random.Random(7)
    for version in REGISTRY.current.values():
        definition = strip_logical_types(version.definition)
        encode, decode = compile_encoder(definition), compile_decoder(definition)
        gen = Random(3)
        for _ in range(8):
            assert_hostile_bytes_fail_or_agree(decode, encode(gen.value(definition)), version.parsed, rng)


def test_remembered_timestamps_read_and_write_as_fastavro() -> None:
    """The 6-byte varints the compiled functions remember (timestamps): thousands through one
    encoder and one decoder (hits, misses, a memory that fills and starts afresh), and varints
    that share a remembered varint's last four bytes but are not 6 bytes long."""
    from streams.codec import compiled

    schema = {"type": "record", "name": "T", "fields": [{"name": "t", "type": "long"}, {"name": "n", "type": "int"}]}
    rng = random.Random(11)
    day = 1_764_000_000_000
    values = sorted(day + rng.randrange(86_400_000) for _ in range(3_000))
    values += [day + rng.randrange(-10**9, 10**9) for _ in range(3_000)] + [v for v in LONGS]
    values += [(1 << 34) + d for d in range(-3, 4)] + [(1 << 41) + d for d in range(-3, 4)]
    original = compiled.TIMESTAMP_HIGHS
    compiled.TIMESTAMP_HIGHS = 1_000  # the memory fills several times
    try:
        encode, decode = compile_encoder(schema), compile_decoder(schema)
        for v in values * 2:  # the second round hits what the first remembered
            record = {"t": v, "n": 5}
            data = encode(record)
            assert data == fastavro_bytes(schema, record)
            assert decode(data, 0) == (record, len(data))
        # A remembered varint's last four bytes after a first byte alone, or after two bytes whose
        # second ends the varint; and a 6-byte prefix whose last byte goes on (a 7-byte varint).
        remembered = encode({"t": day, "n": 5})[:6]
        assert decode(remembered + b"\x0a", 0)[0]["t"] == day
        for data in (remembered[:1] + remembered[2:6] + b"\x0a", remembered[:1] + b"\x05" + remembered[2:6] + b"\x0a",
                     remembered[:5] + bytes([remembered[5] | 128]) + b"\x01\x0a"):
            try:
                got = decode(data, 0)
            except CORRUPT:
                got = None
            reference = fastavro.schemaless_reader(io.BytesIO(data), schema, None)
            assert got is None or got[0] == reference
            assert got is None or got[0]["t"] != day
    finally:
        compiled.TIMESTAMP_HIGHS = original


def test_a_huge_item_count_is_refused_at_once() -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "xs", "type": {"type": "array", "items": "null"}}]}
    with pytest.raises(ValueError):
        compile_decoder(schema)(b"\xfe\xff\xff\xff\x0f", 0)  # 2**31 - 1 nulls in five bytes


def test_unions_other_than_null_and_one_type_are_left_to_fastavro() -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "x", "type": ["null", "long", "string"]}]}
    with pytest.raises(Unsupported):
        compile_encoder(schema)
    compile_decoder(schema)  # reading any union is simple


def test_codec_errors_keep_their_kinds() -> None:
    codec = Codec(REGISTRY)
    with pytest.raises(EncodeError):
        codec.encode("io.firstline.ContactEvent", {"event_id": "e"})
    good = codec.encode("io.firstline.QueueStatistics", Random(1).value(
        strip_logical_types(REGISTRY.current["io.firstline.QueueStatistics"].definition)))
    name = "io.firstline.QueueStatistics"
    assert codec.decode(bytearray(good), name) == codec.decode(memoryview(good)) == codec.decode(good, name)
    for bad in (good[:-1], good + b"\x00", bytearray(good[:-1])):
        with pytest.raises(DecodeError) as info:
            codec.decode(bad, "io.firstline.QueueStatistics")
        assert info.value.kind == "UNDECODABLE"


def test_remembered_longs_are_the_longs_and_refuse_what_long_refuses() -> None:
    from streams.codec.compiled import _long, _remembering_long

    remembering = _remembering_long(size=3)
    for v in [*LONGS, *LONGS[::-1], True, 1_764_000_000_000]:
        assert remembering(v) == _long(v)
    for bad in (2.0e4, "20000", None, 1 << 63):
        with pytest.raises((TypeError, ValueError)):
            remembering(bad)


# Types firstline's schemas do not use yet: fixed, a union with a named type, map, float, bytes,
# an enum of more than 64 symbols, a nested record referred to by name.
OTHER_TYPES: dict[str, Any] = {"type": "record", "name": "Other", "namespace": "x.y", "fields": [
    {"name": "f", "type": {"type": "fixed", "name": "Four", "size": 4}},
    {"name": "g", "type": ["null", "Four"]},
    {"name": "m", "type": {"type": "map", "values": ["null", "float"]}},
    {"name": "n", "type": {"type": "array", "items": {"type": "record", "name": "Inner", "fields": [
        {"name": "b", "type": "boolean"}, {"name": "raw", "type": "bytes"},
        {"name": "e", "type": {"type": "enum", "name": "Many", "symbols": [f"S{i}" for i in range(70)]}}]}}},
    {"name": "again", "type": ["null", "x.y.Inner"]},
]}


def test_types_firstlines_schemas_do_not_use_yet_agree_with_fastavro() -> None:
    schema = OTHER_TYPES
    parsed = fastavro.parse_schema(schema)
    encode, decode = compile_encoder(schema), compile_decoder(schema)
    gen = Random(9)
    for _ in range(300):
        record = gen.value(schema)
        data = encode(record)
        assert data == fastavro_bytes(parsed, record)
        assert decode(data, 0) == (fastavro.schemaless_reader(io.BytesIO(data), parsed, None), len(data))
    with pytest.raises(TypeError):
        encode({**gen.value(schema), "f": b"12345"})
