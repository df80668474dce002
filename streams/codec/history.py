"""Released schema versions: `schemas/history/<file stem>/v<N>.avsc`.

A release copies each current schema whose fingerprint is new into the next version slot. Old
producers may keep writing any released version; the codec reads them all, and the tests check
that every current schema stays backward and forward compatible with each of them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from streams.codec.compatibility import check
from streams.codec.registry import SchemaRegistry


def release(directory: Path) -> list[Path]:
    """Freeze every changed schema as its next version; returns the files written."""
    registry = SchemaRegistry.from_directory(directory)
    written = []
    for current in registry.current.values():
        folder = directory / "history" / current.source.stem
        versions = sorted(folder.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
        known = {SchemaRegistry.version_from_file(p).fingerprint for p in versions}
        if current.fingerprint in known:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"v{len(versions) + 1}.avsc"
        shutil.copyfile(current.source, target)
        written.append(target)
    return written


def incompatibilities(directory: Path) -> list[str]:
    """Every (schema, released version) pair that is not fully compatible, described."""
    registry = SchemaRegistry.from_directory(directory)
    problems = []
    for name, current in sorted(registry.current.items()):
        for old in registry.versions_of(name):
            result = check(current, old)
            if not result.full:
                problems.append(f"{name} vs {old.source.relative_to(directory)}: {'; '.join(result.messages)}")
    return problems
