"""Avro binary encoding and decoding compiled to Python functions, one pair per schema.

fastavro interprets the schema for every value it reads or writes: it reads each value through a
file object call and, for every union, tries the branches in turn with a validator. On the
processors' records (20-30 fields, most of them nullable) that was a large share of a worker's
time. Here each schema becomes the source of two functions that do only what that
schema needs: a 1-byte fast path for small integers, a `None` check for a nullable field, a slice
for a string. The bytes are the Avro specification's, checked against fastavro in the tests on
every schema in `schemas/`. Reading an older writer's version (schema resolution) stays with
fastavro; that path is rare.

Supported: every primitive, enum, fixed, array, map, record (nested and named references), and
unions of null with one other type, which is every union firstline's schemas use. `compile_*`
raises `Unsupported` for anything else, and the codec then uses fastavro for that schema.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
INT_RANGE = (-(1 << 31), 1 << 31)
LONG_RANGE = (-(1 << 63), 1 << 63)

Encoder = Callable[[dict[str, Any]], bytes]
Decoder = Callable[[bytes, int], tuple[Any, int]]  # (a dict, or a row tuple, position after it)


class Unsupported(ValueError):
    """A schema this module does not compile (fastavro handles it)."""


# -- runtime helpers (the generated code calls these on its slow paths) ------------------------

def _varint(n: int) -> bytes:
    # Unrolled for the common sizes: a count or a wait in milliseconds (2-3 bytes) and a
    # timestamp in milliseconds (6 bytes) are most of the long values written.
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, (n >> 7 & 0x7F) | 0x80, n >> 14))
    if 1 << 35 <= n < 1 << 42:
        return bytes(((n & 0x7F) | 0x80, (n >> 7 & 0x7F) | 0x80, (n >> 14 & 0x7F) | 0x80,
                      (n >> 21 & 0x7F) | 0x80, (n >> 28 & 0x7F) | 0x80, n >> 35))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_ONE_BYTE = tuple(bytes((i,)) for i in range(0x80))


def _long(v: Any, bounds: tuple[int, int] = LONG_RANGE) -> bytes:
    if v.__class__ is not int and not isinstance(v, int):
        raise TypeError(f"{v!r} is not an integer")
    if not bounds[0] <= v < bounds[1]:
        raise ValueError(f"{v} is out of range")
    return _varint((v << 1) ^ (v >> 63))


def _int(v: Any) -> bytes:
    return _long(v, INT_RANGE)


def _remembering_long(size: int = 1 << 16) -> Callable[[Any], bytes]:
    """_long for one encoder, remembering what it wrote: window starts and ends, watermarks,
    thresholds repeat from record to record, and writing a timestamp out is the costliest value."""
    known: dict[int, bytes] = {}

    def encode(v: Any) -> bytes:
        if v.__class__ is int:
            out = known.get(v)
            if out is not None:
                return out
        out = _long(v)
        if len(known) >= size:
            known.clear()
        known[v] = out
        return out

    return encode


def _read_long(d: bytes, p: int, b: int) -> tuple[int, int]:
    """The rest of a varint whose first byte `b` (>= 0x80) was read; returns (value, position).
    Unrolled: a loop took a fifth longer on a timestamp (6 bytes)."""
    n = b & 0x7F
    b = d[p]
    n |= (b & 0x7F) << 7
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 1
    b = d[p + 1]
    n |= (b & 0x7F) << 14
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 2
    b = d[p + 2]
    n |= (b & 0x7F) << 21
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 3
    b = d[p + 3]
    n |= (b & 0x7F) << 28
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 4
    b = d[p + 4]
    n |= (b & 0x7F) << 35
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 5
    b = d[p + 5]
    n |= (b & 0x7F) << 42
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 6
    b = d[p + 6]
    n |= (b & 0x7F) << 49
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 7
    b = d[p + 7]
    n |= (b & 0x7F) << 56
    if b < 0x80:
        return (n >> 1) ^ -(n & 1), p + 8
    b = d[p + 8]
    n |= (b & 0x7F) << 63
    if b > 1:
        raise ValueError("varint beyond 64 bits")
    return (n >> 1) ^ -(n & 1), p + 9


# A timestamp in milliseconds (1970-07 to 2039) is a 6-byte varint whose last four bytes change
# every 16 s: the compiled functions keep what those bytes stand for, per function, so that a
# timestamp costs a dictionary lookup and its two low bytes instead of six byte operations.
TIMESTAMP_HIGHS = 1 << 16  # entries a function keeps before it starts afresh


def _timestamp_reader() -> tuple[Callable[[bytes], int | None], Callable[[bytes, int, int], tuple[int, int]]]:
    """(known, read) for one decoder: `known(d[p + 1:p + 5])`, where d[p - 1] and d[p] are the
    first two bytes of a varint, both >= 0x80, gives the varint's bits from the 15th on if it is
    a 6-byte varint seen before, else None; `read` is _read_long, remembering what it read. Only
    keys of a 6-byte varint's last four bytes are kept (three continuation bytes, then one
    without), so a hit is always exactly such a varint."""
    highs: dict[bytes, int] = {}

    def read(d: bytes, p: int, b: int) -> tuple[int, int]:
        value, end = _read_long(d, p, b)
        if end - p == 5:
            if len(highs) >= TIMESTAMP_HIGHS:
                highs.clear()
            highs[d[p + 1:end]] = ((value << 1) ^ (value >> 63)) & ~0x3FFF
        return value, end

    return highs.get, read


def _timestamp_writer() -> tuple[Callable[[int], bytes | None], Callable[[int], bytes]]:
    """(known, high) for one encoder: the last four bytes of the 6-byte varint of a zigzagged
    timestamp `z`, by `z >> 14`: `known` if remembered (else None), `high` making them."""
    known: dict[int, bytes] = {}

    def high(h: int) -> bytes:
        if len(known) >= TIMESTAMP_HIGHS:
            known.clear()
        out = known[h] = bytes(((h & 127) | 128, (h >> 7 & 127) | 128, (h >> 14 & 127) | 128, h >> 21))
        return out

    return known.get, high


def _string(v: Any) -> bytes:
    if not isinstance(v, str):
        raise TypeError(f"{v!r} is not a string")
    return v.encode()


def _bytes(v: Any) -> bytes:
    if not isinstance(v, (bytes, bytearray, memoryview)):
        raise TypeError(f"{v!r} is not bytes")
    return bytes(v)


def _bad(what: str, v: Any) -> Any:
    raise TypeError(f"{v!r} is not {what}")


_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")

_RUNTIME = {"_varint": _varint, "_long": _long, "_int": _int, "_read_long": _read_long, "_string": _string,
            "_bytes": _bytes, "_bad": _bad, "_pack_d": _DOUBLE.pack, "_pack_f": _FLOAT.pack,
            "_unpack_d": _DOUBLE.unpack_from, "_unpack_f": _FLOAT.unpack_from}


# -- schema walking --------------------------------------------------------------------------

class _Names:
    """Named types (records, enums, fixed) of one schema, by full name."""

    def __init__(self) -> None:
        self.types: dict[str, dict[str, Any]] = {}

    def full(self, name: str, namespace: str | None) -> str:
        return name if "." in name or not namespace else f"{namespace}.{name}"

    def define(self, schema: dict[str, Any], namespace: str | None) -> str:
        full = self.full(schema["name"], schema.get("namespace", namespace))
        self.types[full] = schema
        return full

    def resolve(self, name: str, namespace: str | None) -> tuple[dict[str, Any], str | None]:
        for candidate in (self.full(name, namespace), name):
            if candidate in self.types:
                schema = self.types[candidate]
                return schema, candidate.rpartition(".")[0] or None
        raise Unsupported(f"unknown type {name!r}")


def _type_of(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return schema["type"] if schema["type"] in ("record", "enum", "fixed", "array", "map") else _type_of(
            schema["type"])
    return schema


class _Source:
    def __init__(self) -> None:
        self.functions: list[str] = []
        self.constants: dict[str, Any] = {}
        self.records: dict[str, str] = {}  # full name -> function name
        self.names = _Names()
        self._n = 0

    def fresh(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def constant(self, value: Any, prefix: str = "_c") -> str:
        name = self.fresh(prefix)
        self.constants[name] = value
        return name

    def normalise(self, schema: Any, namespace: str | None) -> tuple[Any, str | None]:
        """Named references resolved and named definitions recorded."""
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return self.names.resolve(schema, namespace)
        if isinstance(schema, dict) and schema["type"] in ("record", "enum", "fixed"):
            full = self.names.full(schema["name"], schema.get("namespace", namespace))
            if full not in self.names.types:
                self.names.define(schema, namespace)
            return schema, full.rpartition(".")[0] or None
        if isinstance(schema, dict) and schema["type"] in PRIMITIVES:
            return schema["type"], namespace
        return schema, namespace

    def min_size(self, schema: Any, namespace: str | None, seen: frozenset[str] = frozenset()) -> int:
        """The fewest bytes a value of the type takes (bounds hostile array and map counts)."""
        schema, namespace = self.normalise(schema, namespace)
        kind = _type_of(schema)
        if kind == "null":
            return 0
        if kind in ("boolean", "int", "long", "bytes", "string", "enum", "array", "map", "union"):
            return 1
        if kind == "float":
            return 4
        if kind == "double":
            return 8
        if kind == "fixed":
            return int(schema["size"])
        full = self.names.full(schema["name"], namespace)
        if full in seen:
            return 0
        return sum(self.min_size(f["type"], namespace, seen | {full}) for f in schema["fields"])


# -- encoder ---------------------------------------------------------------------------------

def _emit_encode(src: _Source, schema: Any, namespace: str | None, value: str, lines: list[str],
                 indent: str) -> None:
    """Lines appending the encoding of expression `value` (a plain name) to bytearray `o`."""
    schema, namespace = src.normalise(schema, namespace)
    kind = _type_of(schema)
    add = lines.append
    if kind == "null":
        add(f"{indent}if {value} is not None: _bad('null', {value})")
    elif kind == "boolean":
        add(f"{indent}o.append(1 if {value} is True else 0 if {value} is False else _bad('a boolean', {value}))")
    elif kind in ("int", "long"):
        slow = "_int" if kind == "int" else "_long"
        add(f"{indent}if {value}.__class__ is int and -64 <= {value} < 64: o.append(({value} << 1) ^ ({value} >> 63))")
        # Two and three bytes (a count, a wait or a handle time in milliseconds) written here.
        add(f"{indent}elif {value}.__class__ is int and 0 <= {value} < {1 << 20}:")
        add(f"{indent}    z = {value} << 1")
        add(f"{indent}    if z < 16384: o.append((z & 127) | 128); o.append(z >> 7)")
        add(f"{indent}    else: o.append((z & 127) | 128); o.append((z >> 7 & 127) | 128); o.append(z >> 14)")
        if kind == "long":
            # A timestamp in milliseconds (1970-07 to 2039): a 6-byte varint, its two low bytes
            # written here and the other four remembered (_timestamp_writer).
            add(f"{indent}elif {value}.__class__ is int and {1 << 34} <= {value} < {1 << 41}:")
            add(f"{indent}    z = {value} << 1")
            add(f"{indent}    o.append((z & 127) | 128); o.append((z >> 7 & 127) | 128)")
            add(f"{indent}    h = _ts_known(z >> 14)")
            add(f"{indent}    o += h if h is not None else _ts_high(z >> 14)")
        add(f"{indent}else: o += {slow}({value})")
    elif kind == "double":
        add(f"{indent}o += _pack_d({value})")
    elif kind == "float":
        add(f"{indent}o += _pack_f({value})")
    elif kind in ("string", "bytes"):
        raw = src.fresh("_s")
        convert = f"{value}.encode() if {value}.__class__ is str else _string({value})" if kind == "string" \
            else f"_bytes({value})"
        add(f"{indent}{raw} = {convert}")
        add(f"{indent}if len({raw}) < 64: o.append(len({raw}) << 1)")
        add(f"{indent}else: o += _varint(len({raw}) << 1)")
        add(f"{indent}o += {raw}")
    elif kind == "enum":
        index = src.constant({s: bytes([i << 1]) if i < 64 else _varint(i << 1)
                              for i, s in enumerate(schema["symbols"])}, "_enum")
        add(f"{indent}o += {index}[{value}]")
    elif kind == "fixed":
        size = int(schema["size"])  # only numbers and names made here go into the generated source
        add(f"{indent}if len({value}) != {size}: _bad('{size} bytes', {value})")
        add(f"{indent}o += _bytes({value})")
    elif kind == "union":
        branches = [src.normalise(b, namespace)[0] for b in schema]
        nulls = [i for i, b in enumerate(branches) if b == "null"]
        if len(branches) != 2 or len(nulls) != 1:
            raise Unsupported(f"union {schema}: only null and one other type are compiled")
        other = 1 - nulls[0]
        add(f"{indent}if {value} is None: o.append({nulls[0] << 1})")
        add(f"{indent}else:")
        add(f"{indent}    o.append({other << 1})")
        _emit_encode(src, branches[other], namespace, value, lines, indent + "    ")
    elif kind in ("array", "map"):
        item = src.fresh("_i")
        add(f"{indent}if {value}:")
        add(f"{indent}    o += _long(len({value}))")
        if kind == "array":
            add(f"{indent}    for {item} in {value}:")
            _emit_encode(src, schema["items"], namespace, item, lines, indent + "        ")
        else:
            key = src.fresh("_k")
            add(f"{indent}    for {key}, {item} in {value}.items():")
            _emit_encode(src, "string", namespace, key, lines, indent + "        ")
            _emit_encode(src, schema["values"], namespace, item, lines, indent + "        ")
        add(f"{indent}o.append(0)")
    elif kind == "record":
        add(f"{indent}{_record_encoder(src, schema, namespace)}(o, {value})")
    else:
        raise Unsupported(f"type {schema!r}")


def _record_encoder(src: _Source, schema: dict[str, Any], namespace: str | None) -> str:
    full = src.names.full(schema["name"], schema.get("namespace", namespace))
    if full in src.records:
        return src.records[full]
    name = src.records[full] = src.fresh("_enc_")
    namespace = full.rpartition(".")[0] or None
    lines = [f"def {name}(o, r):", "    g = r.get"]
    for field in schema["fields"]:
        value = src.fresh("v")
        # As fastavro: a missing field takes its default, or null if the type allows it.
        nullable = isinstance(field["type"], list) and "null" in field["type"]
        if "default" in field:
            lines.append(f"    {value} = g({field['name']!r}, {src.constant(field['default'])})")
        elif nullable:
            lines.append(f"    {value} = g({field['name']!r})")
        else:
            lines.append(f"    {value} = r[{field['name']!r}]")
        _emit_encode(src, field["type"], namespace, value, lines, "    ")
    src.functions.append("\n".join(lines))
    return name


def compile_encoder(schema: dict[str, Any], header: bytes = b"") -> Encoder:
    """A function record -> header + the record's Avro binary encoding."""
    src = _Source()
    src.normalise(schema, None)
    entry = _record_encoder(src, schema, None)
    head = src.constant(header)
    src.functions.append(f"def encode(r):\n    o = bytearray({head})\n    {entry}(o, r)\n    return bytes(o)")
    known, high = _timestamp_writer()
    return _build(src, "encode", _long=_remembering_long(), _ts_known=known, _ts_high=high)


# -- decoder ---------------------------------------------------------------------------------

def _emit_decode(src: _Source, schema: Any, namespace: str | None, target: str, lines: list[str],
                 indent: str) -> None:
    """Lines reading one value of the type from `d` at `p` into `target` (p moves on)."""
    schema, namespace = src.normalise(schema, namespace)
    kind = _type_of(schema)
    add = lines.append

    def varint(into: str, timestamps: bool = False) -> None:
        add(f"{indent}b = d[p]; p += 1")
        add(f"{indent}if b < 128: {into} = (b >> 1) ^ -(b & 1)")
        if not timestamps:
            add(f"{indent}else: {into}, p = _read_long(d, p, b)")
            return
        # Two and three bytes (a count, a wait or a handle time in milliseconds) read here; six
        # (a timestamp in milliseconds) from memory if seen before, see _timestamp_reader.
        add(f"{indent}else:")
        add(f"{indent}    c = d[p]")
        add(f"{indent}    if c < 128: n = (b & 127) | c << 7; {into} = (n >> 1) ^ -(n & 1); p += 1")
        add(f"{indent}    else:")
        add(f"{indent}        e = d[p + 1]")
        add(f"{indent}        if e < 128: n = (b & 127) | (c & 127) << 7 | e << 14; {into} = (n >> 1) ^ -(n & 1); p += 2")
        add(f"{indent}        else:")
        add(f"{indent}            h = _ts_known(d[p + 1:p + 5])")
        add(f"{indent}            if h is not None: n = h | (b & 127) | (c & 127) << 7; {into} = (n >> 1) ^ -(n & 1); p += 5")
        add(f"{indent}            else: {into}, p = _ts_read(d, p, b)")

    if kind == "null":
        add(f"{indent}{target} = None")
    elif kind == "boolean":
        add(f"{indent}b = d[p]; p += 1")
        add(f"{indent}if b > 1: raise ValueError('boolean byte ' + str(b))")
        add(f"{indent}{target} = b == 1")
    elif kind in ("int", "long"):
        varint(target, timestamps=kind == "long")
    elif kind == "double":
        add(f"{indent}{target}, = _unpack_d(d, p); p += 8")
    elif kind == "float":
        add(f"{indent}{target}, = _unpack_f(d, p); p += 4")
    elif kind in ("string", "bytes", "fixed"):
        if kind == "fixed":
            add(f"{indent}e = p + {int(schema['size'])}")
        else:  # a length below 64 is one even byte
            add(f"{indent}b = d[p]; p += 1")
            add(f"{indent}if b < 128 and not b & 1: e = p + (b >> 1)")
            add(f"{indent}else:")
            add(f"{indent}    n, p = _read_long(d, p, b) if b >= 128 else ((b >> 1) ^ -(b & 1), p)")
            add(f"{indent}    if n < 0: raise ValueError('negative length ' + str(n))")
            add(f"{indent}    e = p + n")
        add(f"{indent}if e > L: raise ValueError('length runs past the end')")
        add(f"{indent}{target} = d[p:e]{'.decode()' if kind == 'string' else ''}; p = e")
    elif kind == "enum":
        if len(schema["symbols"]) <= 64:  # the index is one byte: look the byte up (a longer
            # spelling of it, a varint with zeros ahead, is read as the C decoder and fastavro do)
            symbols = src.constant({i << 1: sym for i, sym in enumerate(schema["symbols"])}, "_sym")
            add(f"{indent}b = d[p]; p += 1")
            add(f"{indent}if b > 127:")
            add(f"{indent}    b, p = _read_long(d, p, b); b = b << 1 if 0 <= b < 64 else -1")
            add(f"{indent}{target} = {symbols}[b]")
        else:
            symbols = src.constant(tuple(schema["symbols"]), "_sym")
            varint("n")
            add(f"{indent}if not 0 <= n < {len(schema['symbols'])}: raise ValueError('enum index ' + str(n))")
            add(f"{indent}{target} = {symbols}[n]")
    elif kind == "union":
        branches = [src.normalise(b, namespace)[0] for b in schema]
        if len(branches) > 64:
            raise Unsupported("a union of more than 64 types")
        add(f"{indent}b = d[p]; p += 1")  # the index of a union this small is one even byte,
        # unless a writer spent more bytes on it (a varint with zeros ahead): read as the C decoder
        # and fastavro do, then matched as that byte
        add(f"{indent}if b > 127:")
        add(f"{indent}    b, p = _read_long(d, p, b); b = b << 1 if 0 <= b < 64 else -1")
        for i, branch in enumerate(branches):
            add(f"{indent}{'if' if i == 0 else 'elif'} b == {i << 1}:")
            _emit_decode(src, branch, namespace, target, lines, indent + "    ")
        add(f"{indent}else: raise ValueError('union index byte ' + str(b))")
    elif kind in ("array", "map"):
        items = src.fresh("_a")
        count = src.fresh("_n")
        item = src.fresh("_x")
        inner = schema["items"] if kind == "array" else schema["values"]
        least = src.min_size(inner, namespace) + (1 if kind == "map" else 0)
        add(f"{indent}{items} = {'[]' if kind == 'array' else '{}'}")
        add(f"{indent}while True:")
        block = indent + "    "
        lines.append(f"{block}b = d[p]; p += 1")
        lines.append(f"{block}if b < 128: {count} = (b >> 1) ^ -(b & 1)")
        lines.append(f"{block}else: {count}, p = _read_long(d, p, b)")
        lines.append(f"{block}if {count} == 0: break")
        lines.append(f"{block}if {count} < 0:")
        lines.append(f"{block}    {count} = -{count}")
        lines.append(f"{block}    b = d[p]; p += 1")  # the block's size in bytes: not needed
        lines.append(f"{block}    if b >= 128: _, p = _read_long(d, p, b)")
        # Each item takes at least `least` bytes: a count the rest of the record cannot hold is
        # corrupt, and would otherwise spin (or fill memory) on items of null.
        limit = f"(L - p) // {least}" if least else "L"
        lines.append(f"{block}if {count} > {limit}: raise ValueError('block of ' + str({count}) + ' items runs past the end')")
        lines.append(f"{block}for _ in range({count}):")
        body = block + "    "
        if kind == "array":
            _emit_decode(src, inner, namespace, item, lines, body)
            lines.append(f"{body}{items}.append({item})")
        else:
            key = src.fresh("_k")
            _emit_decode(src, "string", namespace, key, lines, body)
            _emit_decode(src, inner, namespace, item, lines, body)
            lines.append(f"{body}{items}[{key}] = {item}")
        add(f"{indent}{target} = {items}")
    elif kind == "record":
        add(f"{indent}{target}, p = {_record_decoder(src, schema, namespace)}(d, p)")
    else:
        raise Unsupported(f"type {schema!r}")


def _record_decoder(src: _Source, schema: dict[str, Any], namespace: str | None,
                    columns: tuple[str, ...] | None = None) -> str:
    """The function reading a record as a dict, or with `columns` as a tuple of those fields
    (None for a field the record lacks)."""
    full = src.names.full(schema["name"], schema.get("namespace", namespace))
    key = "dec:" + full if columns is None else f"row:{full}:{columns}"
    if key in src.records:
        return src.records[key]
    name = src.records[key] = src.fresh("_dec_")
    namespace = full.rpartition(".")[0] or None
    lines = [f"def {name}(d, p):", "    L = len(d)"]
    values: dict[str, str] = {}
    for field in schema["fields"]:
        value = values[field["name"]] = src.fresh("v")
        _emit_decode(src, field["type"], namespace, value, lines, "    ")
    if columns is None:
        lines.append(f"    return {{{', '.join(f'{n!r}: {v}' for n, v in values.items())}}}, p")
    else:  # only names made here go into the source: a column is a field's variable or None
        lines.append(f"    return ({''.join(values.get(c, 'None') + ', ' for c in columns)}), p")
    src.functions.append("\n".join(lines))
    return name


def compile_decoder(schema: dict[str, Any], columns: tuple[str, ...] | None = None) -> Decoder:
    """A function (data, position) -> (record, position after it): the record as a dict, or with
    `columns` as a tuple of those fields in that order (a row, without a dict to build and take
    apart again). Raises IndexError, KeyError, ValueError, UnicodeDecodeError or struct.error on
    bytes that are not a record of the schema."""
    src = _Source()
    src.normalise(schema, None)
    known, read = _timestamp_reader()
    return _build(src, _record_decoder(src, schema, None, columns), _ts_known=known, _ts_read=read)


def _build(src: _Source, entry: str, **runtime: Any) -> Any:
    namespace: dict[str, Any] = {**_RUNTIME, **runtime, **src.constants}
    exec(compile("\n\n".join(src.functions), f"<avro {entry}>", "exec"), namespace)  # noqa: S102
    return namespace[entry]
