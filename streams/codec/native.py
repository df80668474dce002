"""The C decoder (`_native.c`): a schema as the program it runs, and whether it is built.

The compiled Python decoders read a contact event in about 4.4 us, and decoding was the largest
single cost of a worker (about a sixth: every input, and every summary and statistics record the
sinks store). The C extension reads the same bytes into the same dict or row in about a third of
that. It is optional: built by `pip install` where a C compiler is found (setup.py), and without
it the compiled Python decoders do the work (`AVAILABLE` is False).
"""

from __future__ import annotations

import sys
from typing import Any

from streams.codec.compiled import Decoder, _Source, _type_of

try:
    from streams.codec import _native
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
