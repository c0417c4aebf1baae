"""The detection package's shape, read from its source with ``ast``: the orchestrator on top,
and every statement on the lake sent from the engine seam (``detection/queries.py``). The
repo-wide rules (no import cycles, sizes, no shells in the library) are in test_layout.py."""

from __future__ import annotations

import ast

import pytest

from codegraph import MODULES, PACKAGE, import_graph

DETECTION = PACKAGE / "detection"
SEAM = "tracehop.detection.queries"
# Engine methods that run SQL or define session tables: only the seam calls them.
ENGINE_CALLS = {"sql", "arrow", "materialize", "view", "drop", "has_table", "register_arrow"}
# Reads the simulator's truth CSVs with a DuckDB of its own (not the lake).
OWN_DUCKDB = {"tracehop.detection.truth"}
DETECTION_MODULES = sorted(m for m in MODULES if m.startswith("tracehop.detection"))


def test_nothing_below_the_orchestrator_imports_it() -> None:
    graph = import_graph()
    run = "tracehop.detection.run"
    users = {m for m in DETECTION_MODULES if run in graph[m]}
    # the tools that replay runs (above it); campaigns, queries, scoring ... never
    assert users == {
        "tracehop.detection.delay",
        "tracehop.detection.evaluate",
        "tracehop.detection.evalfamilies",
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
