"""Identifiers built from several field values, so that no two different tuples of values give
the same identifier.

Joined with "|", a queue `qa|VOICE|rb` in region `rc` and a queue `qa` in region `rb|VOICE|rc`
would share a statistics id. Each part is escaped ("\\" -> "\\\\", "|" -> "\\|") before joining:
the escaping is injective and leaves no unescaped "|" inside a part, so the join is too. Values
without "|" or "\\" (every real queue, region and contact id) keep the identifiers they had.
"""

from __future__ import annotations

from functools import lru_cache


def escape(part: str) -> str:
    if "|" in part or "\\" in part:
        return part.replace("\\", "\\\\").replace("|", "\\|")
    return part


def join_id(*parts: object) -> str:
    return "|".join([escape(p if isinstance(p, str) else str(p)) for p in parts])


@lru_cache(maxsize=1 << 16)
def id_prefix(*parts: str) -> str:
    """`join_id(*parts)` and a separator, remembered: the statistics build a key per fact from
    the same few queue, channel and region names, followed by a number."""
    return join_id(*parts) + "|"


def unescape(part: str) -> str:
    """The value `escape` was given."""
    if "\\" not in part:
        return part
    out, i = [], 0
    while i < len(part):
        if part[i] == "\\" and i + 1 < len(part):
            i += 1
        out.append(part[i])
        i += 1
    return "".join(out)
