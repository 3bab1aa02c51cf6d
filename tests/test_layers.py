"""The pipeline's import direction: no module imports from a stage above its own.

Stages, lowest first: `router.domain` (catalogue, units, calendars) → `matching` (the core, which
knows nothing of the router) → `router.fix` (wire and session) → `router.orders` (flow, risk,
routing) → `router.records` (post-trade: journal, ledger, obligations) → `router.ops` (metrics,
admin, console) → the shell (`router`'s top-level modules: cli, service, config, app, demo).
Imports are read with `ast`, so a lazy import inside a function counts as much as one at the top.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RANK = {"router.domain": 0, "matching": 1, "router.fix": 2, "router.orders": 3, "router.records": 4,
        "router.ops": 5, "router": 6}


def stage(module: str) -> str | None:
    """The stage a dotted module name belongs to (the longest matching prefix), or None if not ours."""
    best = None
    for name in RANK:
        if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best)):
            best = name
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in the file, relative imports resolved against its package."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return _imports_of(path, package)


def _imports_of(path: Path, package: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            # `from router import ops` names a subpackage, not a symbol of router/__init__.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if stage(f"{base}.{alias.name}") != stage(base)]
    return found


SOURCES = sorted(p for d in ("router", "matching") for p in (ROOT / d).rglob("*.py"))


def test_the_stages_hold_modules():
    names = {stage(module_name(p)) for p in SOURCES}
    assert {"router.domain", "matching", "router.fix", "router.orders", "router.ops", "router"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_stage(path):
    own = stage(module_name(path))
    upward = [f"line {line}: {name} ({stage(name)})" for line, name in imported_modules(path)
              if stage(name) is not None and RANK[stage(name)] > RANK[own]]
    assert not upward, f"{path.relative_to(ROOT)} ({own}) imports from a higher stage: {upward}"


def test_the_check_catches_an_upward_import(tmp_path):
    """The rule itself: a domain module importing the order flow (absolutely or relatively) is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("from router.orders.flow import OrderFlow\nimport router.ops.metrics\n", encoding="utf-8")
    tree_names = [name for _, name in _imports_of(probe, package="router.domain")]
    assert [RANK[stage(n)] for n in tree_names] == [RANK["router.orders"], RANK["router.ops"]]
    assert all(RANK[stage(n)] > RANK["router.domain"] for n in tree_names)


def test_top_level_of_router_stays_small():
    modules = [p for p in (ROOT / "router").glob("*.py")]
    assert len(modules) <= 8, sorted(p.name for p in modules)
