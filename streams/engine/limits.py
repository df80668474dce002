"""Size bounds on input records, checked right after decoding.

Every string field of an input may hold at most `max_string_chars` characters (free-text fields,
`TEXT_FIELDS`, `max_text_chars`), every array and map at most `max_array_items` items; the raw
record is refused above `max_record_bytes` before it is decoded at all. Without them one record
with a 600 KB queue name becomes a key in a dozen tables and outputs, and one contact with
40,000 events a state too large to write.

A check is compiled per schema into one boolean expression (a few `len()` calls per event on the
contact path); only a record that fails it is walked again to name the field.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.engine.errors import TooLarge

TEXT_FIELDS = frozenset({"text", "comment", "summary"})
_PRIMITIVE_STRINGS = {"string"}


class Clock:
    """The wall clock, and the newest event time an input may carry: FIRSTLINE_MAX_FUTURE_SKEW_S
    ahead of it (producers' clocks differ a little; an event dated next year is a bug)."""

    def __init__(self, max_future_skew_s: float, now: Callable[[], float] = time.time) -> None:
        self.skew_ms = int(max_future_skew_s * 1000)
        self.now = now

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def max_event_time(self) -> int:
        return int(self.now() * 1000) + self.skew_ms


@dataclass(frozen=True)
class Bounds:
    max_record_bytes: int = 65_536
    max_string_chars: int = 256
    max_text_chars: int = 4_096
    max_array_items: int = 64
    # Internal topics carry what the processors made (a checkpoint's facts for a queue): bounded
    # by what an output may be, not by what an input may be.
    max_internal_bytes: int = 900_000

    @classmethod
    def of(cls, settings: Any) -> "Bounds":
        return cls(settings.max_record_bytes, settings.max_string_chars, settings.max_text_chars,
                   settings.max_array_items, settings.max_output_bytes)

    def record_size(self, value: bytes | None, internal: bool = False) -> None:
        limit = self.max_internal_bytes if internal else self.max_record_bytes
        if value is not None and len(value) > limit:
            setting = "FIRSTLINE_MAX_OUTPUT_BYTES" if internal else "FIRSTLINE_MAX_RECORD_BYTES"
            raise TooLarge(f"record of {len(value)} bytes, more than {setting} ({limit})")

    def checker(self, schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
        """A function that raises TooLarge naming the first field beyond its bound."""
        terms = _terms(schema, "r", self)
        source = "def check(r):\n    if " + (" or ".join(terms) or "False") + ":\n        explain(r)\n"
        scope: dict[str, Any] = {"explain": lambda r: _explain_top(schema, r, self)}
        exec(compile(source, f"<bounds of {schema.get('name')}>", "exec"), scope)  # noqa: S102 - our own text
        return scope["check"]  # type: ignore[no-any-return]


def _branches(avro_type: Any) -> tuple[bool, Any]:
    """(nullable, the non-null type) of a field's type."""
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        return len(rest) < len(avro_type), rest[0] if len(rest) == 1 else None
    return False, avro_type


def _kind(avro_type: Any) -> str:
    if isinstance(avro_type, str):
        return "string" if avro_type in _PRIMITIVE_STRINGS else "other"
    if isinstance(avro_type, dict):
        return avro_type["type"] if avro_type["type"] in ("array", "map", "record") else "other"
    return "other"


def _limit(name: str, bounds: Bounds) -> int:
    return bounds.max_text_chars if name in TEXT_FIELDS else bounds.max_string_chars


def _terms(record: dict[str, Any], var: str, bounds: Bounds) -> list[str]:
    terms = []
    for f in record["fields"]:
        nullable, t = _branches(f["type"])
        kind, name = _kind(t), f["name"]
        value = f"{var}[{name!r}]"
        guard = f"{value} is not None and " if nullable else ""
        if kind == "string":
            terms.append(f"({guard}len({value}) > {_limit(name, bounds)})")
        elif kind == "array":
            items = t["items"]
            inner = ""
            if _kind(items) == "string":
                inner = f" or any(len(x) > {bounds.max_string_chars} for x in {value})"
            elif _kind(items) == "record":
                sub = _terms(items, "x", bounds)
                if sub:
                    inner = f" or any({' or '.join(sub)} for x in {value})"
            terms.append(f"({guard}(len({value}) > {bounds.max_array_items}{inner}))")
        elif kind == "map":
            values = " or any(len(v) > %d for v in %s.values())" % (bounds.max_string_chars, value) \
                if _kind(t["values"]) == "string" else ""
            terms.append(f"({guard}(len({value}) > {bounds.max_array_items} "
                         f"or any(len(k) > {bounds.max_string_chars} for k in {value}){values}))")
        elif kind == "record":
            sub = _terms(t, value, bounds)
            if sub:
                terms.append(f"({guard}({' or '.join(sub)}))")
    return terms


def _explain(record: dict[str, Any], r: dict[str, Any], bounds: Bounds, path: str) -> None:
    for f in record["fields"]:
        _, t = _branches(f["type"])
        name, value = f["name"], r.get(f["name"])
        where = f"{path}{name}"
        if value is None:
            continue
        kind = _kind(t)
        if kind == "string" and len(value) > _limit(name, bounds):
            raise TooLarge(f"{where} has {len(value)} characters, more than {_limit(name, bounds)}")
        if kind in ("array", "map") and len(value) > bounds.max_array_items:
            raise TooLarge(f"{where} has {len(value)} items, more than FIRSTLINE_MAX_ARRAY_ITEMS "
                           f"({bounds.max_array_items})")
        if kind == "array":
            for i, item in enumerate(value):
                if isinstance(item, str) and len(item) > bounds.max_string_chars:
                    raise TooLarge(f"{where}[{i}] has {len(item)} characters, more than {bounds.max_string_chars}")
                if isinstance(item, dict):
                    _explain(t["items"], item, bounds, f"{where}[{i}].")
        if kind == "map":
            for k, v in value.items():
                if len(k) > bounds.max_string_chars or (isinstance(v, str) and len(v) > bounds.max_string_chars):
                    raise TooLarge(f"{where} has a key or value of more than {bounds.max_string_chars} characters")
        if kind == "record":
            _explain(t, value, bounds, f"{where}.")


def _explain_top(record: dict[str, Any], r: dict[str, Any], bounds: Bounds) -> None:
    _explain(record, r, bounds, "")
    raise TooLarge("a field beyond its size bound")  # the compiled check and the walk disagree
