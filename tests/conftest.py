"""Shared fixtures: a fresh home, the sample CDR files, a CLI runner, a CDR file maker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracehop.settings import Settings, load_settings

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings(home=home)


@pytest.fixture
def data() -> Path:
    return DATA


@pytest.fixture
def write_cdr(tmp_path: Path) -> Callable[..., Path]:
    """Write lines (or bytes) to a CDR file under tmp_path and return its path."""

    def make(name: str, content: str | bytes | list[str]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, list):
            content = "\n".join(content) + "\n"
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        return path

    return make


class Cli:
    """Runs ``tracehop`` in-process (fast) or as a real subprocess (exit codes, stderr)."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str) -> tuple[int, str, str]:
        """(exit code, stdout, stderr): library errors are turned into ``Error: ...`` by the
        CLI itself (``tracehop.cli.TracehopGroup``); anything else is a bug and is raised."""
        from tracehop.cli import _register, app

        _register()
        result = CliRunner().invoke(app, ["--home", str(self.home), *args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str) -> object:
        code, out, err = self(*args)
        assert code == 0, err
        return json.loads(out)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "tracehop", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=300,
        )


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)
