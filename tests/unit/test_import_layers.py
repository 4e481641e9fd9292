"""Imports point one way: no cycles among rebuild-env's modules, and the library never
imports the commands or the CLI.

The graph is read from the source (an AST walk), counting imports inside functions (they
run too, only later) but not ``if TYPE_CHECKING:`` blocks (they never run). Importing a
submodule also runs its package's ``__init__``; that edge is not counted, as a package
that re-exports its submodules would otherwise always be a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import rebuild_env

PACKAGE = Path(rebuild_env.__file__).parent
ROOT = "rebuild_env"
UPPER = ("rebuild_env.cli", "rebuild_env.__main__", "rebuild_env.commands")
"""The layers only the CLI (and the public API) may import."""
PUBLIC_API = "rebuild_env"
NOT_IMPORTED = ("rebuild_env.verify.probe",)
"""Run as a script inside environments as old as Python 3.6: never imported by the host."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _edges(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = package
            for _ in range(node.level - 1 if node.level else 0):
                base = base.rpartition(".")[0]
            module = node.module or ""
            base = (f"{base}.{module}" if module else base) if node.level else module
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        found.update(t for t in targets if t in known and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the rebuild-env modules it imports (at import time or in a function)."""
    modules = _modules()
    known = set(modules)
    return {name: _edges(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _upper(name: str) -> bool:
    return any(name == u or name.startswith(f"{u}.") for u in UPPER)


def test_no_import_cycles() -> None:
    assert _cycles(import_graph()) == []


def test_the_library_never_imports_commands_or_the_cli() -> None:
    graph = import_graph()
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if not _upper(name) and name != PUBLIC_API
        for target in targets
        if _upper(target)
    )
    assert upward == []


def test_the_graph_sees_function_level_imports() -> None:
    """The walk must count an import inside a function (a cycle can hide there)."""
    graph = import_graph()
    assert "rebuild_env.verify.store" in graph["rebuild_env.cli"] or any(
        t.startswith("rebuild_env.commands") for t in graph["rebuild_env.cli"]
    )
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


@pytest.mark.parametrize("module", sorted(set(_modules()) - set(NOT_IMPORTED)), ids=lambda m: m)
def test_each_module_imports_alone(module: str) -> None:
    """Each module imports in a fresh interpreter, pulling in no command or CLI module
    unless it is one (a library module that needs ``cli`` is imported upward)."""
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('rebuild_env'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    if not _upper(module) and module != PUBLIC_API:
        assert [m for m in loaded if _upper(m)] == []


def test_pack_never_imports_the_rebuild_flow() -> None:
    """``pack`` plans as a rebuild would (``planning``) but needs none of its building:
    ``rebuild`` imports ``pack`` (``--offline``), never the other way round."""
    graph = import_graph()
    pack = {name for name in graph if name.startswith("rebuild_env.pack")}
    assert sorted(m for m in pack if "rebuild_env.rebuild" in graph[m]) == []
