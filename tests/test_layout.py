"""The shape of the code, kept by tests (issue 9): no import cycles, modules and functions of a
size a person can read, and a library that never loads its shells."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from codegraph import MODULES, cycles, import_graph

MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 120
SHELLS = ("fastapi", "uvicorn", "starlette", "typer", "argparse")


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_a_module_that_imports_it() -> None:
    """Anywhere in the package, lazy imports inside functions and TYPE_CHECKING ones included."""
    graph = import_graph()
    assert "tracehop.tracebacks.traces" in graph["tracehop.tracebacks.shortcut"]
    assert cycles(graph) == []


def test_modules_and_functions_stay_readable() -> None:
    long_modules, long_functions = [], []
    for name, path in MODULES.items():
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {n} lines")
    assert long_modules == []
    assert long_functions == []


@pytest.mark.parametrize("module", ["tracehop", "tracehop.demo", "tracehop.node.service"])
def test_the_library_does_not_load_its_shells(module: str) -> None:
    code = f"import sys, {module}; print(' '.join(m for m in {SHELLS[:4]!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_only_shells_import_the_web_and_cli_frameworks() -> None:
    """Library modules never import FastAPI, Starlette, uvicorn or Typer, even lazily; only
    ``tracehop.api`` and ``tracehop.cli`` do. Nor argparse: one CLI style, Typer's."""
    offenders = []
    for name, path in MODULES.items():
        if name.startswith(("tracehop.api", "tracehop.cli", "tracehop.web")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for n in names:
                if n.split(".")[0] in SHELLS:
                    offenders.append(f"{name} imports {n}")
    assert offenders == []
