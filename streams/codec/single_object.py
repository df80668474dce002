"""Avro single-object encoding: C3 01, the writer schema's 8-byte CRC-64-AVRO fingerprint, the body.

Decoding resolves the writer schema by fingerprint and applies Avro schema resolution to the
reader's current version, so old and new producers and consumers interoperate.

Records of the current version are encoded and decoded in C where the extension is built
(native.py, two to three times the speed of the compiled functions), else by functions compiled
from the schema (compiled.py, several times fastavro's speed on these records); an older writer's
records are resolved by fastavro.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from streams.codec.compiled import Decoder, Encoder, Unsupported, compile_decoder, compile_encoder
from streams.codec.errors import DecodeError, EncodeError
from streams.codec.native import AVAILABLE as NATIVE, native_decoder, native_encoder
from streams.codec.registry import SchemaRegistry, SchemaVersion, strip_logical_types

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
_NONE: dict[bytes, Any] = {}


class Codec:
    def __init__(self, registry: SchemaRegistry, native: bool = True) -> None:
        self.registry = registry
        # Encode and decode in C where the extension is built (native.py), unless told not to.
        self.native = native and NATIVE
        # (writer fingerprint, reader name) -> (writer parsed, reader parsed or None when equal)
        self._resolution: dict[tuple[bytes, str | None], tuple[Any, Any]] = {}
        # Compiled per schema version on first use; None where a schema is not compiled.
        self._encoders: dict[str, Encoder | None] = {}
        # expected name -> writer fingerprint -> decoder, where the writer is the current version
        self._decoders: dict[str | None, dict[bytes, Decoder]] = {}
        # (expected name, columns) -> writer fingerprint -> row decoder, likewise
        self._row_decoders: dict[tuple[str, tuple[str, ...]], dict[bytes, Decoder]] = {}

    def encode(self, full_name: str, record: dict[str, Any], *, check: bool = False) -> bytes:
        """Encode with the current schema of `full_name`.

        check=True validates first and names every offending field; without it a bad record still
        fails, with fastavro's terser message.
        """
        encoder = self._encoders.get(full_name)
        if encoder is None or check:
            version = self.registry.reader(full_name)
            if check:
                try:
                    validate(record, version.parsed, raise_errors=True)
                except ValidationError as exc:
                    raise EncodeError(f"{full_name}: {exc}") from None
            if full_name not in self._encoders:
                encoder = self._encoders[full_name] = _compiled_encoder(version, self.native)
        if encoder is not None:
            try:
                return encoder(record)
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError, struct.error) as exc:
                raise EncodeError(f"{full_name}: {type(exc).__name__}: {exc}") from None
        return self._encode_fastavro(version, record)

    def _encode_fastavro(self, version: SchemaVersion, record: dict[str, Any]) -> bytes:
        full_name = version.full_name
        out = BytesIO()
        out.write(MAGIC)
        out.write(version.fingerprint)
        try:
            schemaless_writer(out, version.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise EncodeError(f"{full_name}: {exc}") from None
        return out.getvalue()

    def decode(self, data: bytes | None, expected: str | None = None) -> dict[str, Any]:
        """Decode a record; with `expected` the writer must be a version of that schema, read as its
        current version. Raises DecodeError with a DeadLetter ErrorKind."""
        if data.__class__ is bytes and data.startswith(MAGIC):
            decoder = self._decoders.get(expected, _NONE).get(data[2:HEADER_LEN])
            if decoder is not None:
                return _compiled(decoder, data)
        if data is None or len(data) < HEADER_LEN or data[:2] != MAGIC:
            shown = b"" if data is None else data[:12]
            raise DecodeError("UNDECODABLE", f"not Avro single-object encoding (starts {shown!r})")
        data = bytes(data)  # a bytearray or memoryview may come from elsewhere than the consumer
        fp = data[2:HEADER_LEN]
        writer, reader = self._schemas_for(fp, expected)
        if fp in self._decoders.get(expected, _NONE):  # the current version: compiled
            return self.decode(data, expected)
        body = BytesIO(data[HEADER_LEN:])
        try:
            record = schemaless_reader(body, writer, reader)
        except Exception as exc:  # fastavro raises many types on truncated or corrupt bodies
            raise DecodeError("UNDECODABLE", f"body does not decode: {type(exc).__name__}: {exc}") from None
        if body.tell() != len(data) - HEADER_LEN:
            raise DecodeError("UNDECODABLE", "trailing bytes after the record body")
        return record  # type: ignore[return-value]

    def decode_row(self, data: bytes | None, expected: str, columns: tuple[str, ...]) -> tuple[Any, ...]:
        """The record's fields named by `columns`, in that order (None where the record has no such
        field): what a sink writes as a row. Checked and resolved as `decode`."""
        if data.__class__ is bytes and data.startswith(MAGIC):
            decoder = self._row_decoders.get((expected, columns), _NONE).get(data[2:HEADER_LEN])
            if decoder is not None:
                return _compiled(decoder, data)  # type: ignore[no-any-return]
        record = self.decode(data, expected)
        fp = bytes(data[2:HEADER_LEN])  # type: ignore[index]  # decode checked the header
        if fp in self._decoders.get(expected, _NONE):  # the current version, compiled: rows too
            writer = self.registry.writer(fp)
            self._row_decoders.setdefault((expected, columns), {})[fp] = _fast_decoder(
                strip_logical_types(writer.definition), columns, self.native)
        return tuple(record.get(name) for name in columns)

    def writer_name(self, data: bytes) -> str:
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise DecodeError("UNDECODABLE", "not Avro single-object encoding")
        return self.registry.writer(bytes(data[2:HEADER_LEN])).full_name

    def _schemas_for(self, fp: bytes, expected: str | None) -> tuple[Any, Any]:
        key = (fp, expected)
        cached = self._resolution.get(key)
        if cached is not None:
            return cached
        writer = self.registry.writer(fp)
        if expected is None or expected == writer.full_name:
            reader = self.registry.current.get(writer.full_name)
        else:
            raise DecodeError("WRONG_TYPE", f"expected {expected}, the record was written as {writer.full_name}")
        # Same schema: no resolution needed, which is also fastavro's fast path.
        pair = (writer.parsed, None if reader is None or reader.fingerprint == fp else reader.parsed)
        self._resolution[key] = pair
        if pair[1] is None:
            try:
                self._decoders.setdefault(expected, {})[fp] = _fast_decoder(
                    strip_logical_types(writer.definition), None, self.native)
            except Unsupported:
                pass
        return pair


def _compiled(decoder: Decoder, data: bytes) -> Any:
    try:
        record, end = decoder(data, HEADER_LEN)
    except Exception as exc:  # IndexError, KeyError, ValueError, UnicodeDecodeError, struct.error
        raise DecodeError("UNDECODABLE", f"body does not decode: {type(exc).__name__}: {exc}") from None
    if end != len(data):
        raise DecodeError("UNDECODABLE", "trailing bytes after the record body")
    return record


def _fast_decoder(schema: dict[str, Any], columns: tuple[str, ...] | None, native: bool) -> Decoder:
    """The C decoder of a schema the compiled functions take (they raise Unsupported for the
    others), or the compiled function."""
    compiled = compile_decoder(schema, columns)
    return native_decoder(schema, columns) if native else compiled


def _compiled_encoder(version: SchemaVersion, native: bool) -> Encoder | None:
    """The C encoder of a schema the compiled functions take, or the compiled function; None
    for a schema they do not take (fastavro encodes it)."""
    schema = strip_logical_types(version.definition)
    try:
        compiled = compile_encoder(schema, MAGIC + version.fingerprint)
    except Unsupported:
        return None
    return native_encoder(schema, MAGIC + version.fingerprint) if native else compiled
