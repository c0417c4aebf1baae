"""The CLI shell itself: one place turns library errors into ``Error: ...`` (in-process and in a
real process alike), and starting it does not import the engines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracehop.cli import demo as cli_demo
from tracehop.cli import hub as cli_hub
from tracehop.cli import simulate as cli_simulate

DATA = Path(__file__).parent / "data"
# Imported by the commands that use them, never by ``tracehop --help``.
HEAVY = ("duckdb", "sqlalchemy", "alembic", "fastapi", "uvicorn", "pyarrow", "numpy", "httpx")

ERRORS = {
    "unknown time zone": (
        ["ingest", str(DATA / "generic.csv"), "--timezone", "Mars/Olympus"],
        "Error: setting timezone: unknown time zone 'Mars/Olympus': use an IANA name such as "
        "America/New_York",
    ),
    "bad database URL": (
        ["--database-url", "nonsense", "customers", "list"],
        "Error: cannot open the state DB at nonsense: not a database URL: use "
        "sqlite:///path/to/state.db or postgresql+psycopg://user@host/dbname "
        "(--database-url or TRACEHOP_DATABASE_URL)",
    ),
    "missing file": (
        ["ingest", "{tmp}/missing.csv"],
        "Error: no such file or folder: {tmp}/missing.csv",
    ),
    "unknown log level": (
        ["--log-level", "LOUD", "query", "select 1"],
        "Error: unknown log level 'LOUD': use DEBUG, INFO, WARNING or ERROR "
        "(--log-level or TRACEHOP_LOG_LEVEL)",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_error_is_one_line_and_exit_1(cli, tmp_path: Path, case: str) -> None:
    args, message = ERRORS[case]
    args = [a.format(tmp=tmp_path) for a in args]
    message = message.format(tmp=tmp_path)
    assert cli(*args) == (1, "", message + "\n")


@pytest.mark.parametrize("case", ["unknown time zone", "bad database URL", "missing file"])
def test_error_in_a_real_process(cli, tmp_path: Path, case: str) -> None:
    args, message = ERRORS[case]
    proc = cli.run(*[a.format(tmp=tmp_path) for a in args])
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        1,
        "",
        message.format(tmp=tmp_path) + "\n",
    )


def test_ctrl_c_is_exit_130(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import tracehop.analyst

    def interrupted(*_args: object, **_kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tracehop.analyst, "query", interrupted)
    cli.home.mkdir(parents=True, exist_ok=True)  # a home that exists: the query starts
    assert cli("query", "select 1") == (130, "", "Interrupted.\n")


def test_a_bug_is_not_dressed_as_a_user_error(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only library errors become ``Error: ...``; anything else keeps its traceback."""
    import tracehop.analyst

    def broken(*_args: object, **_kw: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(tracehop.analyst, "query", broken)
    cli.home.mkdir(parents=True, exist_ok=True)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        cli("query", "select 1")


def test_cli_import_loads_no_engine() -> None:
    """``import tracehop.cli`` with every command registered (what ``--help`` needs) imports
    none of DuckDB, SQLAlchemy, FastAPI and the rest: they are imported by the commands."""
    code = (
        "import sys, tracehop.cli as c; c._register(); "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == ""


def test_help_loads_no_engine() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tracehop", "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "tracehop [OPTIONS] COMMAND" in proc.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "typer" in imported  # the check reads -X importtime's lines
    assert sorted(imported & set(HEAVY)) == []


def test_option_defaults_match_the_library() -> None:
    """Defaults the CLI names without importing the library modules that own them."""
    from tracehop.demo import DEMO_DAYS, DEMO_SCALE
    from tracehop.simulate import SCENARIOS
    from tracehop.tracebacks.batch import DEFAULT_WORKERS

    assert (cli_demo.DEMO_SCALE, cli_demo.DEMO_DAYS) == (DEMO_SCALE, DEMO_DAYS)
    assert tuple(SCENARIOS) == cli_simulate.SCENARIOS
    assert cli_hub.DEFAULT_WORKERS == DEFAULT_WORKERS


def test_command_summaries_are_one_line() -> None:
    """The commands panel of ``--help`` wraps each summary to the terminal's width, not where
    the docstring's source line ended (Typer's rich mode keeps those line breaks)."""
    import click
    import typer

    from tracehop.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    ctx = click.Context(root)
    seen = 0
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        for sub in (command, *getattr(command, "commands", {}).values()):
            assert sub.short_help and "\n" not in sub.short_help, (name, sub.name)
            assert sub.short_help.rstrip(".") in " ".join((sub.help or "").split())
            seen += 1
    assert seen > 60


def _tracehop(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracehop", *args], capture_output=True, text=True, timeout=120
    )


def test_a_file_given_as_home_is_one_line(tmp_path: Path) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text("start,caller,called,upstream\n")
    for command in (["query", "select 1"], ["ingest", str(calls)]):
        proc = _tracehop("--home", str(calls), *command)
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            1,
            "",
            f"Error: setting home: '{calls}' is a file, not a folder: give the data folder "
            "(created when it does not exist)\n",
        )


def test_a_port_in_use_or_out_of_range_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in (["serve"], ["hub", "serve"]):
            proc = _tracehop("--home", str(tmp_path / "home"), *command, "--port", str(port))
            assert proc.returncode == 1 and "Traceback" not in proc.stderr
            assert proc.stderr == (
                f"Error: cannot listen on 127.0.0.1:{port}: Address already in use (another "
                "server is on it: choose another with --port)\n"
            )
    proc = _tracehop("--home", str(tmp_path / "home"), "serve", "--port", "99999")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "65535" in proc.stderr


def test_reading_a_home_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    """A typo in --home (or TRACEHOP_HOME not set) is said, not answered with an empty home
    made on the spot."""
    typo = tmp_path / "tracehop-hoem"
    for command in (["query", "select 1"], ["case", "list"], ["customers", "list"], ["detect"]):
        proc = _tracehop("--home", str(typo), *command)
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            1,
            "",
            f"Error: no tracehop home at {typo}: give --home or TRACEHOP_HOME the folder you "
            "ingested into (tracehop ingest, customers import and notice import make one)\n",
        ), command
    assert not typo.exists()


def test_a_piped_password_needs_password_stdin(tmp_path: Path) -> None:
    """A password piped to `users add` was read as the first of two prompts and the command
    ended in a bare "Aborted."; it says what to give instead, and --password-stdin reads it."""
    home = str(tmp_path / "home")

    def add(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tracehop", "--home", home, "users", "add", "alice", *extra],
            input="a long enough password\n",
            capture_output=True,
            text=True,
            timeout=120,
        )

    piped = add()
    assert (piped.returncode, piped.stderr) == (
        1,
        "Error: standard input is not a terminal: give the password with --password-stdin "
        "(echo PASSWORD | tracehop users add NAME --password-stdin)\n",
    )
    ok = add("--password-stdin")
    assert ok.returncode == 0 and ok.stdout.startswith("added alice")
