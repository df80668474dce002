"""The shape of the house: no import cycle inside streams/, the engine below everything it runs,
and every private name of faust, mode and aiokafka the engine uses listed and present."""

from __future__ import annotations

import ast
import re

import pytest

from streams.engine import compat
from streams.settings import REPO_ROOT

ROOT = REPO_ROOT / "streams"


def imports() -> dict[str, set[str]]:
    """Module -> the streams modules it imports (at any level of the file)."""
    modules = {}
    for f in ROOT.rglob("*.py"):
        name = ".".join(f.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = f
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for m, f in modules.items():
        for node in ast.walk(ast.parse(f.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            edges[m].update(n for n in names if n in modules and n != m)
    return edges


def test_no_import_cycle_inside_streams() -> None:
    edges = imports()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_engine_imports_no_processor_sink_view_or_app() -> None:
    above = ("streams.processors", "streams.sinks", "streams.web", "streams.app", "streams.cli",
             "streams.simulator", "streams.reports")
    for m, targets in imports().items():
        if m.startswith("streams.engine"):
            assert not [t for t in targets if t.startswith(above)], m


def test_pure_logic_has_no_kafka() -> None:
    for name in ("contact_lifecycle", "queue_facts", "queue_windows", "minute_deltas", "watermarks",
                 "live_queues", "state_expiry"):
        text = (ROOT / "processors" / f"{name}.py").read_text()
        assert not re.search(r"^(from|import) (faust|aiokafka|kafka|mode)\b", text, re.M), name


def test_every_private_name_the_engine_needs_is_present() -> None:
    assert compat.missing() == []
    compat.check()


def test_a_missing_private_name_fails_with_the_package_and_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = compat.PrivateName("faust-streaming", "faust.transport.consumer:Consumer", "_no_such_name", "test")
    monkeypatch.setattr(compat, "NAMES", compat.NAMES + (gone,))
    with pytest.raises(compat.IncompatibleDependency, match=r"faust-streaming 0\.15\.\d+: .*_no_such_name"):
        compat.check()


def test_the_engine_uses_no_private_name_of_its_dependencies_that_compat_does_not_list() -> None:
    listed = {n.name for n in compat.NAMES}
    used: set[str] = set()
    own: set[str] = set()
    for f in (ROOT / "engine").glob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                used.add(node.attr)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                own.add(node.name)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Attribute):
                own.add(node.target.attr)
    # names the engine's own classes define (their state and helpers) are not borrowed
    own -= listed
    assert sorted(used - own - listed) == []


def test_pinned_exactly() -> None:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    for package in ("faust-streaming", "mode-streaming", "aiokafka"):
        assert re.search(rf'"{package}==[\d.]+"', text), package
