"""The C codec (`_native.c`): a schema as the programs it runs, and whether it is built.

Encoding and decoding Avro were the largest single cost of a worker (every input, every output,
and every summary and statistics record the sinks store). The compiled Python functions spend
most of their time in the interpreter's dispatch between a few byte operations per field; the C
code does the same work without it (docs/benchmarks.md has the figures): the same bytes, dicts
and rows, and the same errors. It is optional: built by `pip install` where a C compiler is found
(setup.py), and without it the compiled Python functions do the work (`AVAILABLE` is False).
"""

from __future__ import annotations

import sys
from typing import Any

from streams.codec.compiled import Decoder, Encoder, _Source, _type_of

try:
    import streams.codec._native as _native
except ImportError:  # no C compiler where firstline was installed
    _native = None  # type: ignore[assignment]

AVAILABLE = _native is not None

# Operations of a program node: the order of the enum in _native.c.
(NULL, BOOLEAN, LONG, FLOAT, DOUBLE, STRING, BYTES, FIXED, ENUM, UNION, ARRAY, MAP,
 RECORD) = range(13)
_PRIMITIVE = {"null": NULL, "boolean": BOOLEAN, "int": LONG, "long": LONG, "float": FLOAT, "double": DOUBLE,
              "string": STRING, "bytes": BYTES}


def native_decoder(schema: dict[str, Any], columns: tuple[str, ...] | None = None) -> Decoder:
    """The C decoder of a record schema: (data, position) -> (dict, or row of `columns`, end),
    as compiled.compile_decoder's. Only where AVAILABLE."""
    if _native is None:
        raise RuntimeError("the C decoder is not built here")
    src = _Source()
    src.normalise(schema, None)
    return _native.Decoder(_node(src, schema, None, columns, frozenset()))  # type: ignore[no-any-return]


def native_encoder(schema: dict[str, Any], header: bytes = b"") -> Encoder:
    """The C encoder of a record schema: record -> header + its Avro binary encoding, as
    compiled.compile_encoder's (the same bytes, and the same errors). Only where AVAILABLE."""
    if _native is None:
        raise RuntimeError("the C encoder is not built here")
    src = _Source()
    src.normalise(schema, None)
    return _native.Encoder(_encoding(src, schema, None, frozenset()), header)  # type: ignore[no-any-return]


def _encoding(src: _Source, schema: Any, namespace: str | None, seen: frozenset[str]) -> tuple[Any, ...]:
    schema, namespace = src.normalise(schema, namespace)
    kind = _type_of(schema)
    if kind in ("int", "long"):
        return (LONG, kind == "int")
    if kind in _PRIMITIVE:
        return (_PRIMITIVE[kind],)
    if kind == "fixed":
        return (FIXED, int(schema["size"]))
    if kind == "enum":
        return (ENUM, {symbol: i for i, symbol in enumerate(schema["symbols"])})
    if kind == "union":
        branches = [src.normalise(b, namespace)[0] for b in schema]
        if len(branches) != 2 or branches.count("null") != 1:
            raise ValueError(f"union {schema}: only null and one other type are encoded")
        null_index = branches.index("null")
        return (UNION, null_index, _encoding(src, branches[1 - null_index], namespace, seen))
    if kind in ("array", "map"):
        inner = schema["items"] if kind == "array" else schema["values"]
        return (ARRAY if kind == "array" else MAP, _encoding(src, inner, namespace, seen))
    if kind == "record":
        full = src.names.full(schema["name"], schema.get("namespace", namespace))
        if full in seen:
            raise ValueError(f"recursive record {full}")
        inside = full.rpartition(".")[0] or None
        fields = schema["fields"]
        # As compiled.py (and fastavro): a missing field takes its default, or null if its type allows.
        missing = tuple((f["default"],) if "default" in f
                        else (None,) if isinstance(f["type"], list) and "null" in f["type"] else None
                        for f in fields)
        return (RECORD, tuple(sys.intern(f["name"]) for f in fields),
                tuple(_encoding(src, f["type"], inside, seen | {full}) for f in fields), missing)
    raise ValueError(f"type {schema!r}")


def _node(src: _Source, schema: Any, namespace: str | None, columns: tuple[str, ...] | None,
          seen: frozenset[str]) -> tuple[Any, ...]:
    schema, namespace = src.normalise(schema, namespace)
    kind = _type_of(schema)
    if kind in _PRIMITIVE:
        return (_PRIMITIVE[kind],)
    if kind == "fixed":
        return (FIXED, int(schema["size"]))
    if kind == "enum":
        return (ENUM, tuple(sys.intern(s) for s in schema["symbols"]))
    if kind == "union":
        return (UNION, tuple(_node(src, branch, namespace, None, seen) for branch in schema))
    if kind in ("array", "map"):
        inner = schema["items"] if kind == "array" else schema["values"]
        least = src.min_size(inner, namespace) + (1 if kind == "map" else 0)
        return (ARRAY if kind == "array" else MAP, _node(src, inner, namespace, None, seen), least)
    if kind == "record":
        full = src.names.full(schema["name"], schema.get("namespace", namespace))
        if full in seen:  # a recursive type: its program would never end (compiled.py's does)
            raise ValueError(f"recursive record {full}")
        inside = full.rpartition(".")[0] or None
        fields = schema["fields"]
        program = tuple(_node(src, f["type"], inside, None, seen | {full}) for f in fields)
        keys = tuple(sys.intern(f["name"]) for f in fields)
        if columns is None:
            return (RECORD, keys, program, None, 0)
        slots = tuple(columns.index(name) if name in columns else -1 for name in keys)
        return (RECORD, keys, program, slots, len(columns))
    raise ValueError(f"type {schema!r}")
