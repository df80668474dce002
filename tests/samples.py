"""Sample records that fill every field of a schema, for round-trip tests."""

from __future__ import annotations

from typing import Any


def sample(schema: Any, names: dict[str, Any] | None = None, depth: int = 0) -> Any:
    names = {} if names is None else names
    if isinstance(schema, str):
        primitive = {"null": None, "boolean": True, "int": 7, "long": 1_732_000_000_123,
                     "float": 1.5, "double": 0.25, "string": "text-é", "bytes": b"\x00\xff"}
        if schema in primitive:
            return primitive[schema]
        return sample(names[schema], names, depth)
    if isinstance(schema, list):  # union: take the first non-null branch
        branch = next(b for b in schema if b != "null")
        return sample(branch, names, depth)
    kind = schema["type"]
    if kind == "record":
        full = f"{schema.get('namespace', '')}.{schema['name']}".strip(".")
        names[full] = names[schema["name"]] = schema
        return {f["name"]: sample(f["type"], names, depth + 1) for f in schema["fields"]}
    if kind == "enum":
        full = f"{schema.get('namespace', '')}.{schema['name']}".strip(".")
        names[full] = names[schema["name"]] = schema
        return schema["symbols"][0]
    if kind == "array":
        return [sample(schema["items"], names, depth + 1)]
    if kind == "map":
        return {"k": sample(schema["values"], names, depth + 1)}
    return sample(kind, names, depth)
