"""The package's import structure, read from the source with ``ast``: the dashboard never
imports the CLI, no modules of ``bingo_core`` import each other in a circle (every
import counts: at the top, inside a function, under ``TYPE_CHECKING``), and an import
inside a function says, in a ``# lazy:`` comment just above it, what start-up it keeps a
library out of."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bingo_core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the package that module ``name`` imports (the submodule, when a
    ``from`` import names one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "bingo_core.scheduler.rows" in graph["bingo_core.scheduler.sync"]
    assert "bingo_core.plugins.listing" in graph["bingo_core.dashboard.views.plugins"]
    # A function-local import counts as well.
    assert "bingo_core.scheduler.rows" in graph["bingo_core.cli.cron_run"]


def test_the_dashboard_imports_nothing_from_the_cli() -> None:
    graph = _graph()
    offenders = {
        module: sorted(m for m in imported if f"{m}.".startswith("bingo_core.cli."))
        for module, imported in graph.items()
        if module.startswith("bingo_core.dashboard")
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_no_import_circle() -> None:
    assert _circles(_graph()) == []


def test_a_circle_would_be_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


#: The mark of the comment that says why an import sits inside a function.
LAZY_MARK = "lazy:"


def _unexplained_local_imports(source: str) -> list[int]:
    """The lines of the imports inside functions of ``source`` without a ``# lazy:``
    comment just above them. Consecutive imports form one group under one comment."""
    lines = source.splitlines()
    found: set[int] = set()
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(node, field, None)
                if not isinstance(block, list):
                    continue
                previous: ast.stmt | None = None
                for stmt in block:
                    is_import = isinstance(stmt, ast.Import | ast.ImportFrom)
                    starts_group = is_import and not isinstance(
                        previous, ast.Import | ast.ImportFrom
                    )
                    if starts_group and not _lazy_comment_above(lines, stmt.lineno):
                        found.add(stmt.lineno)
                    previous = stmt
    return sorted(found)


def _lazy_comment_above(lines: list[str], lineno: int) -> bool:
    """Whether the comment lines right above line ``lineno`` (1-based) hold the mark."""
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        if LAZY_MARK in lines[index]:
            return True
        index -= 1
    return False


def test_every_function_local_import_says_why() -> None:
    offenders = {
        name: lines
        for name, path in _modules().items()
        if (lines := _unexplained_local_imports(path.read_text()))
    }
    assert offenders == {}


def test_an_unexplained_local_import_would_be_found() -> None:
    source = """
import json


def explained() -> None:
    # lazy: keeps a slow library out of the start-up
    import sqlite3

    from os import path


def unexplained() -> None:
    x = 1
    # a comment that does not say why
    import csv
    import zlib

    if x:
        import gzip


async def nested() -> None:
    def inner() -> None:
        import bz2
"""
    assert _unexplained_local_imports(source) == [15, 19, 24]
