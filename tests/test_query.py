"""tracehop query: read-only SQL over calls, rejects and customers; JSON and CSV contracts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.errors import QueryError
from tracehop.settings import Settings


def test_empty_home_has_the_views(settings: Settings) -> None:
    assert query("select count(*) as n from calls", settings).records() == [{"n": 0}]
    cols = query("select * from calls limit 0", settings).columns
    assert cols[:4] == ["call_id", "start", "duration", "caller"]
    assert query("select count(*) as n from rejects", settings).records() == [{"n": 0}]
    assert query("select count(*) as n from customers", settings).records() == [{"n": 0}]


@pytest.mark.parametrize(
    "sql",
    [
        "delete from calls",
        "create table x as select 1",
        "copy (select 1) to 'x.csv'",
        "attach 'x.db'",
        "install httpfs",
        "set threads = 1",
        "select 1; select 2",
        "explain analyze copy (select 42) to 'x.csv'",
        "explain analyze create table x as select 1",
        "explain copy (select 42) to 'x.csv'",
    ],
)
def test_read_only(settings: Settings, sql: str) -> None:
    with pytest.raises(QueryError):
        query(sql, settings)


def test_plain_explain_of_a_select_is_allowed(settings: Settings) -> None:
    plan = query("explain select count(*) from calls", settings)
    assert plan.rows and "explain" in " ".join(plan.columns).lower()


def test_no_extension_loading(settings: Settings) -> None:
    with pytest.raises(QueryError):
        query("select * from sqlite_scan('state.db', 'customers')", settings)


def test_sql_error_is_one_line(settings: Settings) -> None:
    with pytest.raises(QueryError) as info:
        query("select nope from calls", settings)
    assert info.value.message.startswith("SQL error:")


def test_cli_json_contract(cli, data: Path) -> None:
    code, out, _ = cli("ingest", str(data / "generic.csv"), "--json")
    assert code == 0
    summary = json.loads(out)
    assert {
        k: summary[k] for k in ("files", "rows_ingested", "rows_rejected", "files_skipped")
    } == {
        "files": 1,
        "rows_ingested": 6,
        "rows_rejected": 5,
        "files_skipped": 0,
    }
    assert cli.json("query", "select count(*) as n from calls", "--json") == [{"n": 6}]
    got = cli.json(
        "query", "select call_id, start, duration from calls order by start limit 1", "--json"
    )
    assert got == [{"call_id": "g-3", "start": "2021-02-07T05:15:05Z", "duration": 4}]


def test_cli_csv(cli, data: Path) -> None:
    cli("ingest", str(data / "asterisk.csv"))
    code, out, _ = cli(
        "query", "select upstream, count(*) as n from calls group by 1 order by 1", "--csv"
    )
    assert code == 0
    assert out.splitlines() == ["upstream,n", "bigfoot,1", "caprus,3"]


def test_cli_errors_through_the_shell(cli, data: Path) -> None:
    """A real process: one-line error on stderr, exit code 1."""
    cli.home.mkdir(parents=True, exist_ok=True)
    proc = cli.run("query", "drop table calls")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "Error: tracehop query is read-only: DROP statements are not allowed (use SELECT)"
    ]
    proc = cli.run("ingest", "missing.csv")
    assert (proc.returncode, proc.stderr.strip()) == (
        1,
        "Error: no such file or folder: missing.csv",
    )
    proc = cli.run("ingest", str(data / "generic.csv"), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["rows_ingested"] == 6
    proc = cli.run("ingest", str(data / "generic.csv"))
    assert proc.returncode == 0 and "skipped" in proc.stdout and "already ingested" in proc.stdout


def test_bad_setting_is_a_clear_error(cli) -> None:
    proc = cli.run("query", "select 1", env={"TRACEHOP_TIMEZONE": "Mars/Olympus"})
    assert proc.returncode == 1
    assert "unknown time zone 'Mars/Olympus'" in proc.stderr
