"""The query engine: a DuckDB connection with the lake's views (``calls``, ``rejects``,
``customers``) registered. One connection per thread (``con.cursor()``), as dlt does.

Spark is the scale-out engine of DESIGN.md; it reads the same Parquet lake.
"""

from __future__ import annotations

import logging

import duckdb
import pyarrow as pa

from tracehop.cdr.lake import Lake
from tracehop.settings import Settings
from tracehop.sqltext import lit, lit_list

log = logging.getLogger(__name__)

CALLS_SCHEMA = """
    call_id VARCHAR, start TIMESTAMPTZ, duration INTEGER, caller VARCHAR, called VARCHAR,
    caller_raw VARCHAR, called_raw VARCHAR, upstream VARCHAR, downstream VARCHAR,
    disposition VARCHAR, sip_code INTEGER, attest VARCHAR, orig_id VARCHAR, identity VARCHAR,
    identity_status VARCHAR, provider VARCHAR, source_file VARCHAR, source_line BIGINT,
    extra VARCHAR, day DATE"""
REJECTS_SCHEMA = """
    source_file VARCHAR, source_line BIGINT, reason VARCHAR, raw VARCHAR, ingest_id VARCHAR,
    provider VARCHAR"""
CUSTOMERS_SCHEMA = """
    id VARCHAR, name VARCHAR, kind VARCHAR, country VARCHAR, onboarded DATE, rmd_id VARCHAR,
    notes VARCHAR"""


def connect(settings: Settings, *, lake: Lake | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection configured for tracehop (UTC, limits, spill folder)."""
    lake = lake or Lake(settings.lake_dir)
    config: dict[str, str | int] = {"memory_limit": settings.memory_limit}
    if settings.threads:
        config["threads"] = settings.threads
    con = duckdb.connect(":memory:", config=config)
    tmp = lake.root / "_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = {lit(str(tmp))}")
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB's own progress bar would print into our output (and --json); we draw our own.
    con.execute("SET enable_progress_bar = false")
    # A value shown inside a reject reason: quoted and cut to a readable length.
    con.execute("CREATE MACRO th_quote(s) AS '\"' || left(coalesce(s, ''), 80) || '\"'")
    return con


def register_views(
    con: duckdb.DuckDBPyConnection, lake: Lake, customers: list[dict[str, object]] | None = None
) -> None:
    """(Re)create the analyst views over the lake's current files."""
    calls = lake.call_files()
    if calls:
        con.execute(
            "CREATE OR REPLACE VIEW calls AS SELECT * REPLACE (day::DATE AS day) FROM "
            f"read_parquet({lit_list(calls)}, hive_partitioning = true, union_by_name = true)"
        )
    else:
        con.execute(f"CREATE OR REPLACE TABLE _empty_calls ({CALLS_SCHEMA})")
        con.execute("CREATE OR REPLACE VIEW calls AS SELECT * FROM _empty_calls")
    rejects = lake.reject_files()
    if rejects:
        con.execute(
            "CREATE OR REPLACE VIEW rejects AS SELECT * FROM "
            f"read_parquet({lit_list(rejects)}, union_by_name = true)"
        )
    else:
        con.execute(f"CREATE OR REPLACE TABLE _empty_rejects ({REJECTS_SCHEMA})")
        con.execute("CREATE OR REPLACE VIEW rejects AS SELECT * FROM _empty_rejects")
    con.execute(f"CREATE OR REPLACE TABLE _customers ({CUSTOMERS_SCHEMA})")
    if customers:
        table = pa.Table.from_pylist(customers)
        con.register("_customers_in", table)
        con.execute(
            "INSERT INTO _customers SELECT id, name, kind, country, onboarded, rmd_id, notes "
            "FROM _customers_in"
        )
        con.unregister("_customers_in")
    con.execute("CREATE OR REPLACE VIEW customers AS SELECT * FROM _customers")
