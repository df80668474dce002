"""The single-object codec and schema evolution (pure logic, no broker)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import fastavro
import pytest

from streams.codec import Codec, DecodeError, EncodeError, SchemaRegistry, load_registry
from streams.codec.compatibility import check
from streams.codec.registry import SchemaVersion, fingerprint_of
from streams.codec.single_object import MAGIC
from streams.settings import Settings
from tests.samples import sample

SCHEMAS = Settings().schemas_dir
REGISTRY = load_registry(SCHEMAS)
ALL_NAMES = sorted(REGISTRY.current)
EVENT = "io.firstline.ContactEvent"


def version_from(definition: dict, tmp_path: Path) -> SchemaVersion:
    path = tmp_path / f"{definition['name']}-{len(definition['fields'])}.avsc"
    path.write_text(json.dumps(definition))
    return SchemaRegistry.version_from_file(path)


def test_fingerprint_matches_the_avro_specification_vector() -> None:
    # Avro spec / Java SchemaNormalization: CRC-64-AVRO of "int" as single-object header bytes.
    assert fingerprint_of({"type": "record", "name": "X", "fields": []}) != b""
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == bytes.fromhex("8f5c393f1ad57572")


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_schema_round_trips(name: str) -> None:
    codec = Codec(REGISTRY)
    record = sample(REGISTRY.current[name].definition)
    data = codec.encode(name, record, check=True)
    assert data[:2] == MAGIC
    assert data[2:10] == REGISTRY.current[name].fingerprint
    assert codec.decode(data, name) == record
    assert codec.decode(data) == record  # without naming the type: the fingerprint says it


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_schema_decodes_to_rows(name: str) -> None:
    # Any order of columns, one the record lacks (None): what a sink writes.
    codec = Codec(REGISTRY)
    record = sample(REGISTRY.current[name].definition)
    data = codec.encode(name, record)
    columns = (*reversed(list(record)), "not_a_field")
    expected = tuple(record.get(c) for c in columns)
    assert codec.decode_row(data, name, columns) == expected  # through the record, then compiled
    assert codec._row_decoders[(name, columns)]
    assert codec.decode_row(data, name, columns) == expected  # compiled
    assert codec.decode_row(data, name, columns[:1]) == expected[:1]
    with pytest.raises(DecodeError, match="trailing bytes"):
        codec.decode_row(data + b"\x00", name, columns)
    with pytest.raises(DecodeError, match="body does not decode"):
        codec.decode_row(data[:-1], name, columns)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_field_is_documented(name: str) -> None:
    definition = REGISTRY.current[name].definition
    assert definition.get("doc")
    missing = [f["name"] for f in definition["fields"] if not f.get("doc")]
    assert not missing, f"{name}: fields without doc: {missing}"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_schema_is_compatible_with_its_released_versions(name: str) -> None:
    released = REGISTRY.versions_of(name)
    assert released, f"{name} has no released version in schemas/history"
    for old in released:
        result = check(REGISTRY.current[name], old)
        assert result.full, f"{name} vs {old.source.name}: {result.messages}"


def test_the_compatibility_check_catches_a_breaking_change(tmp_path: Path) -> None:
    definition = copy.deepcopy(REGISTRY.current[EVENT].definition)
    definition["fields"].append({"name": "priority", "type": "int", "doc": "no default: breaks old data"})
    result = check(version_from(definition, tmp_path), REGISTRY.current[EVENT])
    assert not result.backward and result.forward


def test_old_writer_is_read_by_the_new_reader(tmp_path: Path) -> None:
    # An older ContactEvent without language and segment, as an old producer would still send.
    old_def = copy.deepcopy(REGISTRY.current[EVENT].definition)
    old_def["fields"] = [f for f in old_def["fields"] if f["name"] not in ("language", "segment")]
    old = version_from(old_def, tmp_path)
    registry = SchemaRegistry.from_directory(SCHEMAS)
    registry.add(old)
    record = sample(old_def)
    data = bytearray(MAGIC + old.fingerprint)
    from io import BytesIO

    body = BytesIO()
    fastavro.schemaless_writer(body, old.parsed, record)
    data += body.getvalue()
    got = Codec(registry).decode(bytes(data), EVENT)
    assert got["language"] is None and got["segment"] is None  # defaults of the new fields
    assert {k: got[k] for k in record} == record
    columns = ("segment", "contact_id", "event_id")
    assert Codec(registry).decode_row(bytes(data), EVENT, columns) == (None, record["contact_id"],
                                                                       record["event_id"])


def test_new_writer_is_read_by_an_old_reader(tmp_path: Path) -> None:
    # A newer ContactEvent with an extra field, read by this code (the old reader): the field is
    # skipped, everything else arrives.
    new_def = copy.deepcopy(REGISTRY.current[EVENT].definition)
    new_def["fields"].append({"name": "csat_requested", "type": "boolean", "default": False,
                              "doc": "added later"})
    new = version_from(new_def, tmp_path)
    assert check(new, REGISTRY.current[EVENT]).full
    registry = SchemaRegistry.from_directory(SCHEMAS)
    registry.add(new)
    record = sample(new_def)
    from io import BytesIO

    body = BytesIO()
    fastavro.schemaless_writer(body, new.parsed, record)
    got = Codec(registry).decode(MAGIC + new.fingerprint + body.getvalue(), EVENT)
    assert "csat_requested" not in got
    assert got == {k: v for k, v in record.items() if k != "csat_requested"}


@pytest.mark.parametrize("data, kind", [
    (b"", "UNDECODABLE"),
    (b"{\"contact_id\": \"c1\"}", "UNDECODABLE"),
    (MAGIC + b"\x00" * 8 + b"\x02", "UNKNOWN_SCHEMA"),
])
def test_garbage_gives_a_clear_error(data: bytes, kind: str) -> None:
    with pytest.raises(DecodeError) as err:
        Codec(REGISTRY).decode(data, EVENT)
    assert err.value.kind == kind
    assert str(err.value)


def test_truncated_and_padded_bodies_are_rejected() -> None:
    codec = Codec(REGISTRY)
    good = codec.encode(EVENT, sample(REGISTRY.current[EVENT].definition))
    with pytest.raises(DecodeError, match="body does not decode") as err:
        codec.decode(good[:-3], EVENT)
    assert err.value.kind == "UNDECODABLE"
    with pytest.raises(DecodeError, match="trailing bytes"):
        codec.decode(good + b"\x00", EVENT)


def test_a_record_of_another_type_is_rejected() -> None:
    codec = Codec(REGISTRY)
    alert = codec.encode("io.firstline.Alert", sample(REGISTRY.current["io.firstline.Alert"].definition))
    with pytest.raises(DecodeError) as err:
        codec.decode(alert, EVENT)
    assert err.value.kind == "WRONG_TYPE"


def test_encoding_an_invalid_record_names_the_field() -> None:
    record = sample(REGISTRY.current[EVENT].definition)
    record["type"] = "TELEPORTED"
    with pytest.raises(EncodeError, match="type"):
        Codec(REGISTRY).encode(EVENT, record, check=True)
    del record["contact_id"]
    with pytest.raises(EncodeError):
        Codec(REGISTRY).encode(EVENT, record)


def test_faust_codecs_encode_and_decode_records() -> None:
    from faust.serializers import codecs

    from streams.codec.faust_codec import codec_name, register_all

    codec = Codec(REGISTRY)
    register_all(codec)
    name = "io.firstline.ContactSummary"
    record = sample(REGISTRY.current[name].definition)
    faust_codec = codecs.get_codec(codec_name(name))
    data = faust_codec.dumps(record)
    assert data == codec.encode(name, record)
    assert faust_codec.loads(data) == record
    with pytest.raises(DecodeError):
        faust_codec.loads(codec.encode(EVENT, sample(REGISTRY.current[EVENT].definition)))
