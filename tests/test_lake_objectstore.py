"""The lake on an object store (``TRACEHOP_LAKE_URL=s3://bucket/prefix``): ingest writes its
files there, DuckDB reads them, and the answers are those of the same lake on local disk.

The S3 server is moto's (PyPI ``moto[server]``), a real HTTP server on loopback speaking the
S3 protocol; tracehop talks to it with pyarrow's S3 client, as it would to AWS or MinIO."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from tracehop.analyst import open_analytics, query
from tracehop.cdr.called_index import snapshot
from tracehop.cdr.ingest import ingest
from tracehop.cdr.lake import lake_of
from tracehop.cdr.objectstore import parse_lake_url
from tracehop.errors import EngineError, StoreError
from tracehop.lakeviews import customer_daily, search_calls, totals, traffic_by_day
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store
from tracehop.tracebacks.nodeprocs import free_port
from tracehop.tracebacks.requests import make_request
from tracehop.tracebacks.responder import Responder

KEYS = {"lake_key_id": "tracehop-test", "lake_secret": "tracehop-test-secret"}


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """An S3 server on loopback (moto), its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _bucket(endpoint: str, name: str) -> None:
    from pyarrow.fs import S3FileSystem

    fs = S3FileSystem(access_key=KEYS["lake_key_id"], secret_key=KEYS["lake_secret"],
                      endpoint_override=endpoint.split("://")[1], scheme="http",
                      allow_bucket_creation=True)  # fmt: skip
    fs.create_dir(name)


def _home(tmp_path: Path, s3: str, bucket: str, prefix: str = "lake") -> Settings:
    _bucket(s3, bucket)
    return load_settings(home=tmp_path / "home", lake_url=f"s3://{bucket}/{prefix}",
                         lake_endpoint=s3, **KEYS)  # fmt: skip


def _views(settings: Settings) -> dict[str, Any]:
    with open_store(settings) as store:
        engine = open_analytics(settings, store)
    try:
        return {"totals": totals(engine), "traffic": traffic_by_day(engine, days=60),
                "calls": search_calls(engine, limit=500), "daily": customer_daily(engine, "caprus"),
                "rejects": engine.sql("SELECT source_line, reason FROM rejects ORDER BY 1").rows}  # fmt: skip
    finally:
        engine.close()


def _lookups(settings: Settings) -> list[dict[str, Any]]:
    """Every call of the lake with numbers asked for as a traceback, in one batch (nothing stored)."""
    sql = "select caller, called, start from calls where caller is not null and called is not null"
    rows = query(sql + " order by call_id", settings).rows
    reqs = [make_request(f"r{k}", str(c or "0"), str(d or "0"), s.isoformat())
            for k, (c, d, s) in enumerate(rows)]  # fmt: skip
    with open_store(settings) as store:
        responder = Responder(settings, store)
        try:
            out = [a.to_json() for a in responder.answer_many(reqs)]
        finally:
            responder.close()
    assert {a.pop("engine") for a in out} == {"duckdb"}
    assert any(a.get("upstream") for a in out)
    return out


def test_ingest_writes_to_the_object_store_and_duckdb_reads_it(
    tmp_path: Path, s3: str, data: Path
) -> None:
    remote = _home(tmp_path, s3, "lake-one", "provider/icon")
    local = load_settings(home=tmp_path / "local")
    for settings in (remote, local):
        done = ingest([data / "generic.csv"], settings)
        assert (done.rows_ingested, done.rows_rejected) > (0, 0)
    # the files are on the object store, none in the home's folder
    files = lake_of(remote).call_files()
    assert files and all(f.startswith("s3://lake-one/provider/icon/calls/day=") for f in files)
    days = [f.rsplit("/", 2)[1] for f in files]
    assert [p.parent.name for p in lake_of(local).call_files()] == days
    assert not list((remote.home / "lake").rglob("*.parquet"))
    assert lake_of(remote).reject_files()
    # the same answers as the same lake on local disk
    assert _views(remote) == _views(local)
    assert query("select count(*) from calls", remote).rows == [(done.rows_ingested,)]
    # the index by called number went up with the calls; lookups read it and answer as on disk
    snap = snapshot(lake_of(remote))
    assert snap.indexed and snap.indexed == snap.days
    assert all(t.startswith("s3://lake-one/provider/icon/by_called/day=") for t in snap.twins)
    assert _lookups(remote) == _lookups(local)
    # a second ingest of the same file is a no-op there too
    again = ingest([data / "generic.csv"], remote)
    assert (again.rows_ingested, again.files_skipped) == (0, 1)
    # the same calls in a file of other bytes: read back from the object store, not stored again
    copy = tmp_path / "generic-again.csv"
    copy.write_bytes((data / "generic.csv").read_bytes() + b"\n")
    [file] = ingest([copy], remote).files
    # every good row of generic.csv has its own call id
    assert (file.rows_duplicate, file.rows_ingested) == (done.rows_ingested, 0)
    assert query("select count(*) from calls", remote).rows == [(done.rows_ingested,)]


def test_a_crash_between_two_uploads_is_finished_by_the_next_reader(
    tmp_path: Path, s3: str
) -> None:
    settings = _home(tmp_path, s3, "lake-crash")
    cdr = tmp_path / "three-days.csv"
    cdr.write_text("call_id,start,caller,called,upstream,duration\n" + "".join(
        f"c{i},2021-04-0{1 + i % 3}T10:{i % 60:02d}:00Z,2025550{i % 100:03d},2125550100,cust,30\n"
        for i in range(300)))  # fmt: skip
    env = {**os.environ, "TRACEHOP_CRASH_AT": "moving", "TRACEHOP_LAKE_URL": settings.lake_url,
           "TRACEHOP_LAKE_ENDPOINT": s3, "TRACEHOP_LAKE_KEY_ID": KEYS["lake_key_id"],
           "TRACEHOP_LAKE_SECRET": KEYS["lake_secret"]}  # fmt: skip
    child = subprocess.run(
        [sys.executable, "-m", "tracehop", "--home", str(settings.home), "ingest", str(cdr)],
        env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -9  # killed after its first upload
    assert len(lake_of(settings).call_files()) == 1  # one day of three on the store
    # the next reader takes the lock, finishes the committed plan, and sees every call
    assert query("select count(*), count(DISTINCT day) from calls", settings).rows == [(300, 3)]
    assert len(lake_of(settings).call_files()) == 3
    assert not any((settings.home / "lake" / "_staging").iterdir())


def test_a_missing_bucket_is_refused_before_anything_is_staged(
    tmp_path: Path, s3: str, data: Path
) -> None:
    settings = load_settings(home=tmp_path / "home", lake_url="s3://no-such-bucket/x",
                             lake_endpoint=s3, **KEYS)  # fmt: skip
    with pytest.raises(StoreError) as caught:
        ingest([data / "generic.csv"], settings)
    assert (
        str(caught.value)
        == "the object-store lake s3://no-such-bucket/x: no bucket 'no-such-bucket'"
    )
    assert not any((settings.home / "lake" / "_staging").iterdir())


def test_spark_and_bad_urls_are_one_line_errors(tmp_path: Path) -> None:
    on_s3 = load_settings(home=tmp_path / "h", lake_url="s3://bucket/x", engine="spark")
    with pytest.raises(EngineError, match="cannot read the object-store lake s3://bucket/x: "):
        open_analytics(on_s3)
    from tracehop.cli import _register, app

    _register()
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "h"), "detect", "--json"],
        env={"TRACEHOP_LAKE_URL": "ftp://bucket/x"},
    )  # fmt: skip
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "Error: setting lake_url: 'ftp://bucket/x' is not an object-store lake: give "
        "s3://bucket or s3://bucket/prefix\n"
    )


URLS = st.from_regex(r"s3://[a-z0-9.-]{0,66}(/[A-Za-z0-9=._*-]{0,6}){0,3}/?", fullmatch=True)


@given(st.one_of(st.text(max_size=80), URLS))
def test_lake_urls_parse_or_say_what_to_give(text: str) -> None:
    try:
        bucket, prefix = parse_lake_url(text)
    except ValueError as exc:
        assert "give s3://bucket or s3://bucket/prefix" in str(exc)
        return
    assert text.strip().rstrip("/") == f"s3://{bucket}" + (f"/{prefix}" if prefix else "")
    assert 3 <= len(bucket) <= 63 and "//" not in prefix


@pytest.mark.parametrize(
    ("url", "parsed"),
    [("s3://my-bucket", ("my-bucket", "")), ("s3://b.c1/a/b=1/", ("b.c1", "a/b=1"))],
)
def test_lake_urls(url: str, parsed: tuple[str, str]) -> None:
    assert parse_lake_url(url) == parsed
