"""Traceback lookups through the lake's index by called number (``cdr/called_index.py``) and
on both engines: the same answers with and without the index, on DuckDB and on Spark, over a
simulated world; the index kept in step by ingest and rebuilt by ``tracehop lake reindex``,
crash-safe."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import simulated_homes
from tracehop.cdr.called_index import INDEX_COLUMNS, ROW_GROUP_ROWS, snapshot, twin_of
from tracehop.cdr.lake import Lake
from tracehop.cdr.reindex import missing_twins, reindex
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.tracebacks.protocol import MATCH_COLUMNS, HopAnswer, TracebackRequest
from tracehop.tracebacks.requests import make_request
from tracehop.tracebacks.responder import Responder

HOMES = ("transitnet", "manila-link")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    """Two providers of a small simulated world over two days (seed 57), each in its own
    home (the demo's loader: customers imported, CDRs ingested)."""
    return simulated_homes(tmp_path_factory.mktemp("lookups"), HOMES, days=2, scale=0.03)


def requests_for(settings: Settings, n: int = 120, seed: int = 3) -> list[TracebackRequest]:
    """Requests as they come: calls of the lake reported to the minute (numbers written as
    people write them), by date only, with a narrow window, near midnight, with a wrong
    called number, and with a caller ID that has no E.164 form."""
    con = duckdb.connect()
    files = [str(f) for f in Lake(settings.lake_dir).call_files()]
    rows = con.execute(
        "SELECT caller, called, caller_raw, start FROM read_parquet(?) ORDER BY call_id LIMIT 4000",
        [files],
    ).fetchall()
    odd = con.execute(
        "SELECT caller_raw, called, start FROM read_parquet(?) "
        "WHERE caller IS NULL AND caller_raw IS NOT NULL AND called IS NOT NULL LIMIT 5",
        [files],
    ).fetchall()
    con.close()
    rng = random.Random(seed)
    out = []
    for k, (caller, called, _raw, start) in enumerate(rng.sample(rows, n)):
        start = start.astimezone(UTC)
        kind = k % 6
        if kind == 0:
            at = start.strftime("%Y-%m-%dT%H:%MZ")
        elif kind == 1:
            at = start.date().isoformat()
        elif kind == 2:
            at = (start + timedelta(seconds=40)).isoformat()
        elif kind == 3:  # the window crosses midnight
            at = start.replace(hour=23, minute=58).isoformat()
        elif kind == 4:
            called = called[:-1] + str((int(called[-1]) + 1) % 10)
            at = start.isoformat()
        else:
            called = f"({called[2:5]}) {called[5:8]}-{called[8:]}" if called else "911"
            at = start.strftime("%Y-%m-%dT%H:%MZ")
        window = "90s" if k % 7 == 0 else None
        out.append(make_request(f"r{k}", caller or "0", called or "0", at, window=window))
    for k, (raw, called, start) in enumerate(odd):
        out.append(make_request(f"odd{k}", raw, called, start.astimezone(UTC).isoformat()))
    return out


def answers(settings: Settings, reqs: list[TracebackRequest], **kw: Any) -> list[dict]:
    """Each request answered twice, in one batch and one by one (nothing stored)."""
    with open_store(settings) as store:
        responder = Responder(settings, store, **kw)
        try:
            batch = responder.answer_many(reqs)
            single = [responder.answer(r) for r in reqs]
        finally:
            responder.close()
    assert [a.to_json() for a in batch] == [a.to_json() for a in single]
    return [_plain(a) for a in batch]


def _plain(a: HopAnswer) -> dict:
    out = a.to_json()
    out.pop("engine")
    return out


def test_the_index_holds_the_answer_columns() -> None:
    assert set(MATCH_COLUMNS) <= set(INDEX_COLUMNS)
    assert (
        twin_of("calls/day=2025-03-03/part-x.parquet") == "by_called/day=2025-03-03/part-x.parquet"
    )
    with pytest.raises(ValueError, match="not a calls file"):
        twin_of("rejects/part-x.parquet")


def test_ingest_writes_one_sorted_twin_per_calls_file(world: dict[str, Settings]) -> None:
    for settings in world.values():
        lake = Lake(settings.lake_dir)
        snap = snapshot(lake)
        assert len(snap.days) == 2 and snap.indexed == snap.days
        assert len(snap.twins) == len(snap.calls) >= 2
        for twin in snap.twins:
            rel = twin.relative_to(lake.root).as_posix().replace("by_called/", "calls/", 1)
            calls = pq.read_table(lake.root / rel)
            got = pq.read_table(twin)
            assert got.column_names == list(INDEX_COLUMNS)
            assert got.num_rows == calls.num_rows - calls.column("called").null_count > 0
            keys = list(
                zip(got.column("called").to_pylist(), got.column("start").to_pylist(), strict=True)
            )
            assert keys == sorted(keys)
            meta = pq.ParquetFile(twin).metadata
            assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) <= (
                ROW_GROUP_ROWS
            )


def test_the_same_answers_with_and_without_the_index(
    world: dict[str, Settings], tmp_path: Path
) -> None:
    kinds = set()
    for settings in world.values():
        reqs = requests_for(settings)
        indexed = answers(settings, reqs)
        assert answers(settings, reqs, use_index=False) == indexed
        kinds |= {a["answer"] for a in indexed}
        found = sum(bool(a["matches"]) for a in indexed)
        assert found >= 0.6 * len(reqs)
        # a lake with one day indexed and one not: each read its own way, the same answers
        lake = Lake(settings.lake_dir)
        first = sorted(lake.by_called_dir.glob("day=*"))[0]
        hidden = tmp_path / settings.provider
        shutil.move(first, hidden)
        try:
            assert len(snapshot(lake).indexed) == 1
            assert answers(settings, reqs) == indexed
        finally:
            shutil.move(hidden, first)
    assert {"received_from", "origin", "not_found"} <= kinds


def test_twins_are_written_in_the_calls_types(world: dict[str, Settings]) -> None:
    from tracehop.engine import _DESCRIBED, calls_types

    want = {c: _DESCRIBED.get(t, t) for c, t in calls_types().items() if c in INDEX_COLUMNS}
    con = duckdb.connect()
    for settings in world.values():
        for twin in snapshot(Lake(settings.lake_dir)).twins:
            got = con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(twin)]
            ).fetchall()
            assert {col: typ for col, typ, *_ in got} == want


def test_twins_of_an_older_writer_are_read_whatever_their_types(tmp_path: Path) -> None:
    """The index's view binds the first file's types (no union_by_name): a first twin whose
    column an older writer left in Parquet's null type is read through union_by_name."""
    from tracehop.engine import register_calls

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cols = (
        "'c1' AS call_id, TIMESTAMPTZ '2026-01-01 10:00:00+00' AS start, '+12025550100' AS called"
    )
    files = []
    for k, identity in enumerate(("NULL", "'eyJ'", "NULL::VARCHAR")):
        path = tmp_path / "by_called" / f"day=2026-01-0{k + 1}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        con.execute(f"COPY (SELECT {cols}, {identity} AS identity) TO '{path}'")
        files.append(path)
    (null_type,) = con.execute(
        "SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet(?)) WHERE column_name = 'identity'",
        [str(files[0])],
    ).fetchone()
    assert null_type == '"NULL"'
    expected = [
        (date_, ident)
        for date_, ident in zip(
            ("2026-01-01", "2026-01-02", "2026-01-03"), (None, "eyJ", None), strict=True
        )
    ]
    for order in (files, files[1:] + files[:1]):  # the odd file first, then last
        register_calls(con, order, name="twins", one_schema=True)
        got = con.execute("SELECT day::VARCHAR, identity FROM twins ORDER BY day").fetchall()
        assert got == expected


def _by_start(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["start"], row["call_id"]


def test_single_lookups_read_from_the_twins_find_what_the_query_finds(
    world: dict[str, Settings],
) -> None:
    from tracehop.analyst import open_analytics
    from tracehop.cdr.called_index import TwinReader
    from tracehop.numbers import to_e164
    from tracehop.tracebacks import lookups
    from tracehop.tracebacks.requests import digits
    from tracehop.tracebacks.responder import search_span

    settings = world["transitnet"]
    reqs = requests_for(settings, n=90)
    engine = open_analytics(settings)
    reader = TwinReader()
    try:
        snap = lookups.use_index(engine, Lake(settings.lake_dir))
        compared = found = odd = 0
        for req in reqs:
            lo, hi = search_span(req)
            caller = (to_e164(req.caller), digits(req.caller))
            called = to_e164(req.called)
            if called is None:
                continue
            direct = lookups.calls_matching_twins(
                reader, snap, lo=lo, hi=hi, caller=caller, called=called
            )
            query = lookups.calls_matching(
                engine, lo=lo, hi=hi, caller=caller, called=(called, ""), indexed=snap.indexed
            )
            if direct is None:  # a day searched is not indexed (the world's last day + 1)
                assert not {lo.date(), hi.date()} <= snap.indexed
                continue
            assert sorted(direct, key=_by_start) == sorted(query, key=_by_start)
            compared += 1
            found += bool(direct)
            odd += caller[0] is None  # a caller ID with no E.164 form: matched on digits
        assert compared >= 50 and found >= 0.6 * compared and odd >= 1
    finally:
        reader.close()
        engine.close()


def test_a_twin_gone_after_the_responder_opened_is_a_one_line_error(
    world: dict[str, Settings], tmp_path: Path
) -> None:
    from tracehop.errors import StoreError

    settings = world["transitnet"]
    home = tmp_path / "home"
    shutil.copytree(settings.home, home)
    copy = settings.replace(home=home)
    req = next(r for r in requests_for(copy, n=30) if isinstance(r.at, datetime))
    with open_store(copy) as store:
        responder = Responder(copy, store)
        try:
            responder.engine  # noqa: B018 - opened: the lake's files listed
            for twin in Lake(copy.lake_dir).by_called_files():
                twin.unlink()
            with pytest.raises(StoreError, match=r"^lake lookup failed: ") as err:
                responder.answer(req)
            assert "\n" not in str(err.value)
        finally:
            responder.close()


def test_the_twin_reader_reads_row_groups_without_statistics(tmp_path: Path) -> None:
    import pyarrow as pa

    from tracehop.cdr.called_index import TwinReader

    n = 5000
    table = pa.table(
        {
            c: [f"+1202555{k:04d}" for k in range(n)]
            if c == "called"
            else [k for k in range(n)]
            if c in ("duration", "source_line")
            else [f"{c}{k}" for k in range(n)]
            for c in INDEX_COLUMNS
            if c != "start"
        }
        | {"start": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * n, pa.timestamp("us", "UTC"))}
    )
    found = {}
    for stats in (True, False):
        path = tmp_path / f"twin-{stats}.parquet"
        pq.write_table(table, path, row_group_size=1000, write_statistics=stats)
        reader = TwinReader()
        try:
            found[stats] = reader.rows([path], "+12025553456")
        finally:
            reader.close()
    assert found[True] == found[False]
    assert [(r["called"], r["call_id"], r["source_line"]) for r in found[True]] == [
        ("+12025553456", "call_id3456", 3456)
    ]


def _older_copy(settings: Settings, tmp_path: Path) -> Settings:
    """A copy of the home whose lake is from before the index (no twins)."""
    home = tmp_path / "home"
    shutil.copytree(settings.home, home)
    older = settings.replace(home=home)
    shutil.rmtree(Lake(older.lake_dir).by_called_dir)
    return older


def test_reindex_builds_what_an_older_lake_lacks(
    world: dict[str, Settings], tmp_path: Path
) -> None:
    settings = world["transitnet"]
    reqs = requests_for(settings, n=60)
    before = answers(settings, reqs)
    older = _older_copy(settings, tmp_path)
    home = older.home
    assert snapshot(Lake(older.lake_dir)).indexed == frozenset()
    assert answers(older, reqs) == before  # read from the calls
    from tracehop.cli import _register, app

    _register()
    result = CliRunner().invoke(app, ["--home", str(home), "lake", "reindex", "--json"])
    assert result.exit_code == 0, result.stderr
    n = len(Lake(older.lake_dir).call_files())
    assert json.loads(result.stdout) == {"written": n, "days_indexed": 2, "days": 2}
    assert answers(older, reqs) == before
    again = CliRunner().invoke(app, ["--home", str(home), "lake", "reindex"])
    assert again.exit_code == 0
    assert again.stdout.strip() == "0 index files written; 2 of 2 days indexed by called number"


def test_a_crash_while_reindexing_leaves_the_lake_as_it_was(
    world: dict[str, Settings], tmp_path: Path
) -> None:
    settings = world["manila-link"]
    older = _older_copy(settings, tmp_path)
    home = older.home
    lake = Lake(older.lake_dir)
    reqs = requests_for(settings, n=40)
    before = answers(older, reqs)
    env = {**os.environ, "TRACEHOP_CRASH_AT": "reindexing"}
    if older.database_url:
        env["TRACEHOP_DATABASE_URL"] = older.database_url
    proc = subprocess.run(
        [sys.executable, "-m", "tracehop", "--home", str(home), "lake", "reindex", "--json"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL
    # killed after writing its first twin aside, before renaming it into place
    assert lake.by_called_files() == []
    assert [p.name.startswith("reindex-") for p in lake.tmp_dir.iterdir()] == [True]
    assert snapshot(lake).indexed == frozenset()
    assert answers(older, reqs) == before
    result = reindex(older)
    assert result.written == len(lake.call_files()) and missing_twins(lake) == []
    assert not any(p.name.startswith("reindex-") for p in lake.tmp_dir.iterdir())
    assert answers(older, reqs) == before


def test_answers_say_which_engine_and_store_it(world: dict[str, Settings], tmp_path: Path) -> None:
    from tracehop.cli import _register, app
    from tracehop.tracebacks.answers import stored_answers

    _register()
    settings = world["transitnet"]
    csv_path = tmp_path / "requests.csv"
    req = requests_for(settings, n=6)[0]
    at = req.at.isoformat() if isinstance(req.at, datetime) else str(req.at)
    csv_path.write_text(f"request_id,caller,called,at\nq1,{req.caller},{req.called},{at}\n")
    result = CliRunner().invoke(
        app, ["--home", str(settings.home), "trace", "answer", str(csv_path), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert entry["engine"] == "duckdb" and entry["request_id"] == "q1"
    with open_store(settings) as store:
        stored = {a["request_id"]: a for a in stored_answers(store)}
    assert stored["q1"]["engine"] == "duckdb"


# --- the same answers on Spark ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Any:
    from tracehop.spark_engine import spark_session

    return spark_session("local[2]")


@pytest.mark.spark
@pytest.mark.slow
def test_duckdb_and_spark_give_the_same_answers(spark: Any, world: dict[str, Settings]) -> None:
    for settings in world.values():
        reqs = requests_for(settings, n=48)
        duck = answers(settings.replace(engine="duckdb"), reqs)
        with open_store(settings) as store:
            responder = Responder(settings.replace(engine="spark"), store)
            try:
                batch = responder.answer_many(reqs)
                single = [responder.answer(r) for r in reqs[:12]]
            finally:
                responder.close()
        assert {a.engine for a in batch + single} == {"spark"}
        assert [_plain(a) for a in batch] == duck
        assert [_plain(a) for a in single] == duck[:12]
        assert sum(bool(a["matches"]) for a in duck) >= 0.6 * len(reqs)
