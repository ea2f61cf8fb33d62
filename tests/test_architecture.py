"""The shape of the code: lep_core has no import cycle and no UI import; no loose module at its top level.

The import graph is read from the source (every `import` and `from ... import`, at module level or inside a function,
since a lazy import that closes a cycle is still a cycle), not by importing anything.
"""

from __future__ import annotations

import ast
import graphlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL_MODULES = {"__init__.py", "errors.py"}  # errors: the exception types every package raises


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for file in (ROOT / package).rglob("*.py"):
        name = ".".join(file.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = file
    return found


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module (or package) a dotted import name lands in: `lep_core.a.b.c` -> `lep_core.a.b` when c is a name."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(package: str = "lep_core") -> dict[str, set[str]]:
    """module -> the modules of `package` it imports. Importing `a.b.c` also runs `a.b`'s __init__: an edge too."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        here = name if file.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
        deps: set[str] = set()
        for target in targets:
            owner = _owner(target, modules) if target.startswith(package) else None
            while owner and owner != package:  # the module and every package __init__ above it
                deps.add(owner)
                owner = owner.rpartition(".")[0]
        deps.discard(name)
        graph[name] = {d for d in deps if not name.startswith(d + ".")}  # a module's own parents are not a cycle
    return graph


def test_graph_sees_imports():
    """The graph is not empty by accident: known edges are in it."""
    graph = import_graph()
    assert "lep_core.recipes.spec" in graph["lep_core.recipes.check"]
    assert "lep_core.workspace.store" in graph["lep_core.recipes.run"]
    assert "lep_core.training.job" in graph["lep_core.recipes.run"]  # a lazy import inside a function counts


def test_cycle_is_found_when_there_is_one(tmp_path, monkeypatch):
    """The check can fail: a two-module package that imports itself in a circle is reported."""
    pkg = tmp_path / "circle"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from circle.b import g\n")
    (pkg / "b.py").write_text("def g():\n    from circle import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(graphlib.CycleError):
        tuple(graphlib.TopologicalSorter(import_graph("circle")).static_order())


def test_no_import_cycle_in_lep_core():
    try:
        tuple(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as err:
        pytest.fail("import cycle in lep_core: " + " -> ".join(err.args[1]))


def test_lep_core_never_imports_the_ui():
    """Only `lep app` (lep_core/cli/app.py) starts the app, importing it inside the command, never at import time."""
    for name, file in _modules("lep_core").items():
        if name == "lep_core.cli.app":
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in {"gradio", "lep_studio"} for n in names), file


def test_no_loose_modules_at_the_top_of_lep_core():
    """Modules live in packages named for what they hold (issue 20); only the package marker and errors stay on top."""
    loose = {f.name for f in (ROOT / "lep_core").glob("*.py")} - TOP_LEVEL_MODULES
    assert not loose, f"move these into a package: {sorted(loose)}"
    for package in (p for p in (ROOT / "lep_core").iterdir() if p.is_dir() and p.name != "__pycache__"):
        init = package / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), \
            f"{package.name}/__init__.py needs a one-line docstring saying what the package holds"
