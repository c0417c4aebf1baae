"""The CLI shell itself: one place turns library errors into ``Error: ...`` (in-process and in a
real process alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

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
