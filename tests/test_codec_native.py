"""The C encoder and decoder (streams/codec/native.py, _native.c) against the compiled Python
functions and fastavro, on every schema in schemas/ and on hostile bytes (pure logic, no broker)."""

from __future__ import annotations

import gc
import io
import random
import sys
from typing import Any

import fastavro
import pytest

from streams.codec import Codec
from streams.codec import native
from streams.codec.compiled import compile_decoder, compile_encoder
from streams.codec.native import native_decoder, native_encoder
from streams.codec.registry import strip_logical_types
from tests.test_codec_compiled import (BAD_RECORDS, CORRUPT, DEFAULTS, OTHER_TYPES, REGISTRY, VERSIONS, Random,
                                       assert_hostile_bytes_fail_or_agree, fastavro_bytes)


def test_the_c_codec_is_built_here_and_the_codec_uses_it() -> None:
    """The tests run where firstline is installed with a C compiler (as the README's commands do):
    a build that failed quietly (the extension is optional) would only show as a slower worker."""
    assert native.AVAILABLE
    codec = Codec(REGISTRY)
    name = "io.firstline.ContactEvent"
    record = Random(1).value(strip_logical_types(REGISTRY.current[name].definition))
    data = codec.encode(name, record)
    assert codec.decode(data, name) == record
    assert codec.decode_row(data, name, ("contact_id", "event_id")) == (record["contact_id"], record["event_id"])
    decoders = [*codec._decoders[name].values(), *codec._row_decoders[(name, ("contact_id", "event_id"))].values()]
    assert decoders and all(type(d).__name__ == "Decoder" for d in decoders)
    assert type(codec._encoders[name]).__name__ == "Encoder"


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: str(v.source.relative_to(v.source.parents[1])))
def test_same_records_and_rows_as_the_compiled_functions_and_fastavro(version: Any) -> None:
    definition = strip_logical_types(version.definition)
    names = [f["name"] for f in definition["fields"]]
    # a row in another order, with a column the record lacks and one field left out
    columns = (*reversed(names[1:]), "not_a_field")
    fast, fast_row = native_decoder(definition), native_decoder(definition, columns)
    slow, slow_row = compile_decoder(definition), compile_decoder(definition, columns)
    gen = Random(5)
    for _ in range(200):
        record = gen.value(definition)
        data = b"pad" + fastavro_bytes(version.parsed, record)
        reference = fastavro.schemaless_reader(io.BytesIO(data[3:]), version.parsed, None)
        assert fast(data, 3) == slow(data, 3) == (reference, len(data))
        assert fast_row(data, 3) == slow_row(data, 3)
        assert fast_row(data, 3)[0] == tuple(reference.get(c) for c in columns)


def test_hostile_bytes_fail_or_agree_with_fastavro() -> None:
    """Never a crash, a hang or a different record, as a dict or as a row."""
    rng = random.Random(11)
    for version in REGISTRY.current.values():
        definition = strip_logical_types(version.definition)
        encode = compile_encoder(definition)
        decode = native_decoder(definition)
        row = native_decoder(definition, tuple(f["name"] for f in definition["fields"]))

        def as_record(data: bytes, start: int) -> tuple[dict[str, Any], int]:
            values, end = row(data, start)
            return dict(zip((f["name"] for f in definition["fields"]), values)), end

        gen = Random(4)
        for _ in range(8):
            data = encode(gen.value(definition))
            for reader in (decode, as_record):
                assert_hostile_bytes_fail_or_agree(reader, data, version.parsed, rng, corruptions=30, most_bytes=3)


def test_corrupt_lengths_counts_and_varints_are_refused() -> None:
    schema = {"type": "record", "name": "R", "fields": [
        {"name": "s", "type": "string"}, {"name": "xs", "type": {"type": "array", "items": "null"}}]}
    decode = native_decoder(schema)
    assert decode(b"\x02a\x00", 0) == ({"s": "a", "xs": []}, 3)
    for bad, message in [(b"\x01", "negative length"), (b"\x04a", "runs past the end"),
                         (b"\x00\xfe\xff\xff\xff\x0f", "items runs past the end"),  # 2**31 - 1 nulls
                         (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "beyond 64 bits"),
                         (b"\x02\xff", "invalid start byte"),
                         (b"\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "beyond 64 bits")]:  # count -2**63
        with pytest.raises((ValueError, UnicodeDecodeError), match=message):
            decode(bad, 0)
    with pytest.raises(IndexError):
        decode(b"\x02a\x00", 4)
    with pytest.raises(TypeError):
        decode(bytearray(b"\x02a\x00"), 0)


def test_types_firstlines_schemas_do_not_use_yet_agree_with_fastavro() -> None:
    schema = {**OTHER_TYPES, "fields": [*OTHER_TYPES["fields"], {"name": "any", "type": ["null", "long", "string"]}]}
    parsed = fastavro.parse_schema(schema)
    decode = native_decoder(schema)
    gen = Random(9)
    for _ in range(300):
        data = fastavro_bytes(parsed, gen.value(schema))
        assert decode(data, 0) == (fastavro.schemaless_reader(io.BytesIO(data), parsed, None), len(data))


def test_a_recursive_record_is_left_to_the_compiled_functions() -> None:
    schema = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}
    with pytest.raises(ValueError, match="recursive"):
        native_decoder(schema)


def test_decoding_keeps_no_references() -> None:
    """Reference counts of the program's keys and symbols and of the input stay as they were,
    after records and after failures: a leak in C would grow a worker's memory by the record."""
    definition = strip_logical_types(REGISTRY.current["io.firstline.ContactEvent"].definition)
    decode = native_decoder(definition)
    gen = Random(2)
    records = [gen.value(definition) for _ in range(50)]
    encode = compile_encoder(definition)
    blobs = [encode(r) for r in records]
    key, symbol = sys.intern("contact_id"), sys.intern("VOICE")
    gc.collect()
    before = sys.getrefcount(key), sys.getrefcount(symbol), sys.getrefcount(blobs[0])
    for _ in range(200):
        for blob in blobs:
            decode(blob, 0)
            for cut in (1, len(blob) // 2, len(blob) - 1):
                try:
                    decode(blob[:cut], 0)
                except CORRUPT:
                    pass
    gc.collect()
    assert (sys.getrefcount(key), sys.getrefcount(symbol), sys.getrefcount(blobs[0])) == before


def test_the_codec_can_be_told_to_decode_in_python() -> None:
    """FIRSTLINE_NATIVE_CODEC=0 (Settings.native_codec): the compiled Python decoders, as where
    no C compiler was found."""
    codec = Codec(REGISTRY, native=False)
    name = "io.firstline.ContactEvent"
    record = Random(3).value(strip_logical_types(REGISTRY.current[name].definition))
    assert codec.decode(codec.encode(name, record), name) == record
    assert all(type(d).__name__ == "function" for d in codec._decoders[name].values())


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: str(v.source.relative_to(v.source.parents[1])))
def test_the_same_bytes_as_the_compiled_encoder_and_fastavro(version: Any) -> None:
    definition = strip_logical_types(version.definition)
    fast, slow = native_encoder(definition, b"HDR"), compile_encoder(definition, b"HDR")
    gen = Random(6)
    for _ in range(200):
        record = gen.value(definition)
        data = fast(record)
        assert data == slow(record) == b"HDR" + fastavro_bytes(version.parsed, record)


def test_missing_fields_take_their_defaults_and_bad_records_fail_as_in_python() -> None:
    fast, slow = native_encoder(DEFAULTS), compile_encoder(DEFAULTS)
    for record in ({"a": 1}, {"a": -5, "e": "YES", "f": True, "n": 7, "s": "x", "l": [1, 2]}, {"a": 1, "l": None}):
        assert fast(record) == slow(record)
    for record in BAD_RECORDS:
        with pytest.raises((TypeError, ValueError, KeyError)) as info:
            fast(record)
        with pytest.raises(type(info.value)):  # the same kind of error as the compiled encoder's
            slow(record)
    schema = {**OTHER_TYPES, "fields": [*OTHER_TYPES["fields"], {"name": "d", "type": "double"}]}
    gen = Random(8)
    for _ in range(200):
        record = {**gen.value(OTHER_TYPES), "d": gen.rng.choice([0.0, 1, -2.5e300, float("inf")])}
        assert native_encoder(schema)(record) == compile_encoder(schema)(record)
    with pytest.raises(TypeError):
        native_encoder(OTHER_TYPES)({**gen.value(OTHER_TYPES), "f": b"12345"})


def test_encoding_keeps_no_references() -> None:
    definition = strip_logical_types(REGISTRY.current["io.firstline.ContactSummary"].definition)
    encode = native_encoder(definition, b"H")
    gen = Random(12)
    records = [gen.value(definition) for _ in range(50)]
    key, sample = sys.intern("contact_id"), records[0]["contact_id"]
    gc.collect()
    before = sys.getrefcount(key), sys.getrefcount(sample), sys.getrefcount(records[0])
    for _ in range(200):
        for record in records:
            encode(record)
            for broken in ({**record, "contact_id": 5}, {k: v for k, v in record.items() if k != "contact_id"}):
                try:
                    encode(broken)
                except (TypeError, KeyError):
                    pass
    gc.collect()
    assert (sys.getrefcount(key), sys.getrefcount(sample), sys.getrefcount(records[0])) == before


def test_a_union_index_spelt_in_more_bytes_reads_as_fastavro_reads_it() -> None:
    """Found by the fuzzer (tests/fuzz): the C decoder read the index as a varint, the Python one
    refused any but its one-byte spelling."""
    schema = {"type": "record", "name": "R", "fields": [{"name": "u", "type": ["null", "long"]}]}
    parsed = fastavro.parse_schema(schema)
    for data in (b"\x82\x00\x04", b"\x82\x80\x00\x04", b"\x80\x00"):
        want = (fastavro.schemaless_reader(io.BytesIO(data), parsed, None), len(data))
        assert compile_decoder(schema)(data, 0) == native_decoder(schema)(data, 0) == want
    for data in (b"\x84\x00", b"\x81\x00"):  # index 2 of two branches; index -1
        for decode in (compile_decoder(schema), native_decoder(schema)):
            with pytest.raises(ValueError, match="union index"):
                decode(data, 0)
    enum = {"type": "record", "name": "E", "fields": [{"name": "e", "type": {"type": "enum", "name": "K",
                                                                           "symbols": ["A", "B"]}}]}
    parsed = fastavro.parse_schema(enum)
    for data in (b"\x82\x00", b"\x80\x80\x00"):
        want = (fastavro.schemaless_reader(io.BytesIO(data), parsed, None), len(data))
        assert compile_decoder(enum)(data, 0) == native_decoder(enum)(data, 0) == want
