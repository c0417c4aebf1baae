"""Shared fixtures: a fresh home, the sample CDR files, a CLI runner, a CDR file maker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from typer.testing import CliRunner

from pgserver import PostgresServer, start_server
from tracehop.settings import Settings, load_settings

# No per-example time limit: Hypothesis's default deadline (200 ms) is a timing assertion, and
# a shared 2-core machine makes a Fernet or Parquet example take longer than that now and then.
hypothesis_settings.register_profile("tracehop", deadline=None)
hypothesis_settings.load_profile("tracehop")

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
# Modules that build whole simulated worlds, kill real processes or start many servers: part of
# `make test`, left out of the quick loop (`make test-fast`).
SLOW_MODULES = {
    "test_crash.py",
    "test_demo.py",
    "test_detection.py",
    "test_detection_delay.py",
    "test_detection_evaluate.py",
    "test_hub_e2e.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


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

    def __init__(self, home: Path, database_url: str | None = None) -> None:
        self.home = home
        self.database_url = database_url  # a home whose state DB is elsewhere (PostgreSQL)

    def _where(self) -> list[str]:
        url = ["--database-url", self.database_url] if self.database_url else []
        return ["--home", str(self.home), *url]

    def __call__(self, *args: str) -> tuple[int, str, str]:
        """(exit code, stdout, stderr): library errors are turned into ``Error: ...`` by the
        CLI itself (``tracehop.cli.TracehopGroup``); anything else is a bug and is raised."""
        from tracehop.cli import _register, app

        _register()
        result = CliRunner().invoke(app, [*self._where(), *args])
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
            [sys.executable, "-m", "tracehop", *self._where(), *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=300,
        )


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


# --- a simulated network of real nodes, shared by the hub tests --------------------------------


@dataclass
class SimNet:
    """Seed 1, scale 0.05, one day, default scenario: every provider's home (its CDRs and
    customers loaded), served by its real node app in this process
    (``tracehop.api.inprocess``), with a token issued to the hub in ``nodes_csv`` for each
    consortium member. ``down`` are the world's non-responsive providers."""

    world: Path
    base: Path
    directory: list[dict[str, str]]
    nodes: dict[str, Any]
    services: dict[str, Any]
    down: set[str]
    nodes_csv: Path
    known: set[str]

    def hub_store(
        self, home: Path, *, nodes_csv: Path | None = None, database_url: str | None = None
    ) -> Any:
        """A new hub home at ``home`` (its state DB at ``database_url``, default its SQLite
        file) with the directory, the nodes file and the number blocks."""
        from tracehop.store import open_store
        from tracehop.tracebacks.directory import import_blocks, import_directory

        store = open_store(load_settings(home=home, database_url=database_url))
        import_directory(store, self.world / "directory.csv", nodes_csv or self.nodes_csv)
        import_blocks(store, self.world / "number_blocks.csv")
        return store

    def hub(self, store: Any, **kw: Any) -> Any:
        """A hub on ``store`` that reaches the nodes in this process (``kw``: e.g. a clock)."""
        from tracehop.api.inprocess import InProcessNodes
        from tracehop.tracebacks.hub import Hub

        return Hub(store, transport=InProcessNodes.serving(self.services, self.down), **kw)


def simulated_homes(
    out: Path, providers: tuple[str, ...], *, seed: int = 57, days: int = 1, scale: float = 0.05
) -> dict[str, Settings]:
    """Some providers of a small simulated world under ``out``: the world in ``out/world``,
    each provider in its own home in ``out/homes`` (the demo's loader: customers imported,
    CDRs ingested), by provider id."""
    from tracehop.csvfiles import read_rows
    from tracehop.demo import load_homes
    from tracehop.simulate import simulate

    simulate(out / "world", seed=seed, days=days, scale=scale)
    directory = [r for r in read_rows(out / "world" / "directory.csv") if r["id"] in providers]
    nodes, _ = load_homes(out / "world", out / "homes", directory)
    for node in nodes.values():
        node.close()
    return {pid: node.settings for pid, node in nodes.items()}


@pytest.fixture(scope="session")
def sim_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimNet]:
    from tracehop.csvfiles import read_rows
    from tracehop.demo import load_homes, serve_nodes
    from tracehop.simulate import simulate
    from tracehop.tracebacks.requests import load_known_providers

    base = tmp_path_factory.mktemp("simnet")
    world = base / "world"
    simulate(world, seed=1, days=1, scale=0.05)
    directory = read_rows(world / "directory.csv")
    nodes, _ = load_homes(world, base / "homes", directory)
    nodes_csv = base / "nodes.csv"
    services, down = serve_nodes(world, nodes, nodes_csv, consortium_only=True)
    known = load_known_providers(world / "directory.csv")
    yield SimNet(world, base, directory, nodes, services, down, nodes_csv, known)
    for service in services.values():
        service.close()
    for node in nodes.values():
        node.close()


# --- PostgreSQL for the state DB ----------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server per test process (tests/pgserver.py)."""
    server = start_server()
    if server is None:
        message = "PostgreSQL server binaries not found (Debian package postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message + ": make test installs it as root")
        pytest.skip(message)
    yield server
    server.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def state_db(request: pytest.FixtureRequest) -> Callable[[], str | None]:
    """Run a module's state-DB tests on both engines: call it for the ``database_url`` of a
    new home (None: the home's own SQLite file; else a fresh PostgreSQL database)."""
    if request.param == "sqlite":
        return lambda: None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database


def _settings(where: Path | Settings) -> Settings:
    return where if isinstance(where, Settings) else load_settings(home=where)


def issue_token(where: Path | Settings, name: str = "hub", role: str = "hub") -> str:
    """A token issued in a home's state DB (what ``tracehop tokens issue`` does)."""
    from tracehop.auth import tokens
    from tracehop.store import open_store

    with open_store(_settings(where)) as store:
        return tokens.issue(store, name, role)


def revoke_token(where: Path | Settings, name: str) -> None:
    from tracehop.auth import tokens
    from tracehop.store import open_store

    with open_store(_settings(where)) as store:
        tokens.revoke(store, name)


@pytest.fixture
def provider_home(tmp_path: Path, data: Path, state_db) -> Settings:  # type: ignore[no-untyped-def]
    """A provider whose customers include four named in the fixture letter, with calls; its
    state DB on SQLite and on PostgreSQL (``state_db``: each test using it runs on both)."""
    from tracehop.cdr.ingest import ingest
    from tracehop.customers import import_customers, parse_customers_csv
    from tracehop.store import open_store

    settings = load_settings(home=tmp_path / "home", provider="icon", provider_name="Icon Global",
                             database_url=state_db())  # fmt: skip
    ingest([data / "generic.csv"], settings)
    with open_store(settings) as store:
        import_customers(store, parse_customers_csv(data / "customers.csv"))
    return settings
