"""The detection package's shape, read from its source with ``ast``: no import cycle through a
detection module (lazy imports inside functions count), every statement on the lake sent from
the engine seam (``detection/queries.py``), no typer in the library, and the size limits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "tracehop"
DETECTION = PACKAGE / "detection"
SEAM = "tracehop.detection.queries"
# Engine methods that run SQL or define session tables: only the seam calls them.
ENGINE_CALLS = {"sql", "arrow", "materialize", "view", "drop", "has_table", "register_arrow"}
# Reads the simulator's truth CSVs with a DuckDB of its own (not the lake).
OWN_DUCKDB = {"tracehop.detection.truth"}
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 120


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
DETECTION_MODULES = sorted(m for m in MODULES if m.startswith("tracehop.detection"))


def imports(name: str) -> set[str]:
    """The tracehop modules ``name`` imports anywhere in its source (top level, inside
    functions, under ``TYPE_CHECKING``); ``from package import module`` names the module."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m in MODULES and m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph() -> dict[str, set[str]]:
    # A package's __init__ is left out as a target: importing a.b runs a/__init__ first, but
    # that is not a cycle of the code (tracehop/__init__ imports lazily, detection's not at all).
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    return {m: imports(m) - packages for m in MODULES}


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_through_detection() -> None:
    graph = import_graph()
    assert "tracehop.detection.findings" in graph["tracehop.detection.run"]
    bad = [c for c in cycles(graph) if any(m.startswith("tracehop.detection") for m in c)]
    assert bad == []


def test_nothing_below_the_orchestrator_imports_it() -> None:
    graph = import_graph()
    run = "tracehop.detection.run"
    users = {m for m in DETECTION_MODULES if run in graph[m]}
    # the tools that replay runs (above it); campaigns, queries, scoring ... never
    assert users == {
        "tracehop.detection.delay",
        "tracehop.detection.evaluate",
        "tracehop.detection.watch",
    }


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    return [
        (n.func.attr, n)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    ]


@pytest.mark.parametrize("name", DETECTION_MODULES)
def test_sql_goes_through_the_seam(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    calls = _calls(tree)
    engine_calls = sorted({attr for attr, _ in calls if attr in ENGINE_CALLS})
    # SQL text handed to a DB-API / DuckDB execute (SQLAlchemy statements are objects)
    sql_text = [
        c.lineno
        for attr, c in calls
        if attr in ("execute", "executemany")
        and c.args
        and isinstance(c.args[0], ast.Constant | ast.JoinedStr | ast.BinOp)
    ]
    uses_duckdb = "duckdb" in {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    } | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    if name == SEAM:
        assert engine_calls and not sql_text and not uses_duckdb
    elif name in OWN_DUCKDB:
        assert not engine_calls and sql_text
    else:
        assert (engine_calls, sql_text, uses_duckdb) == ([], [], False)


@pytest.mark.parametrize("name", [*DETECTION_MODULES, "tracehop.engine", "tracehop.nanp"])
def test_the_library_never_imports_typer(name: str) -> None:
    """Nor argparse: commands are Typer commands in tracehop.cli (one CLI style)."""
    source = MODULES[name].read_text()
    tree = ast.parse(source)
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {n for n in names if n.split(".")[0] in ("typer", "fastapi", "argparse")}


SIZED = [
    *DETECTION_MODULES,
    "tracehop.engine",
    "tracehop.nanp",
    "tracehop.cli.evaluate",
]


@pytest.mark.parametrize("name", SIZED)
def test_module_and_function_sizes(name: str) -> None:
    source = MODULES[name].read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long = [
        (n.name, n.end_lineno - n.lineno + 1)
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        and n.end_lineno is not None
        and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
