"""The query engine: a DuckDB connection with the lake's views (``calls``, ``rejects``,
``customers``) registered. One connection per thread (``con.cursor()``), as dlt does.

Two ways in:

- :func:`connect` and :func:`register_views` give a plain DuckDB connection (ingest, the
  analysts' SQL, complaints and the demo use it).
- :class:`Engine` is the seam the analytics jobs call (``tracehop.detection.queries``): a small
  interface with no DuckDB type in it, so that the Spark engine of DESIGN.md (a later issue)
  is one more class with the same methods over the same Parquet lake. :class:`DuckDBEngine`
  is the only implementation today; :func:`as_engine` wraps a connection from
  ``tracehop.analyst.open_engine``. docs/architecture.md, "The engine seam", lists what each
  method means on DuckDB and what Spark would have to provide.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from tracehop.cdr.lake import Lake, lake_of
from tracehop.settings import Settings, engine_memory_limit, physical_memory
from tracehop.sqltext import lit, lit_list

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

CALLS_SCHEMA = """
    call_id VARCHAR, start TIMESTAMPTZ, duration INTEGER, caller VARCHAR, called VARCHAR,
    caller_raw VARCHAR, called_raw VARCHAR, upstream VARCHAR, downstream VARCHAR,
    disposition VARCHAR, sip_code INTEGER, attest VARCHAR, orig_id VARCHAR, identity VARCHAR,
    identity_status VARCHAR, provider VARCHAR, source_file VARCHAR, source_line BIGINT,
    extra VARCHAR, day DATE"""
REJECTS_SCHEMA = """
    source_file VARCHAR, source_line BIGINT, reason VARCHAR, raw VARCHAR, ingest_id VARCHAR,
    provider VARCHAR, raw_encoding VARCHAR"""
CUSTOMERS_SCHEMA = """
    id VARCHAR, name VARCHAR, kind VARCHAR, country VARCHAR, onboarded DATE, rmd_id VARCHAR,
    notes VARCHAR"""


def connect(settings: Settings, *, lake: Lake | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection configured for tracehop (UTC, limits, spill folder)."""
    lake = lake or lake_of(settings)
    limit = engine_memory_limit(settings.memory_limit, physical_memory())
    config: dict[str, str | int] = {"memory_limit": limit}
    if settings.threads:
        config["threads"] = settings.threads
    con = duckdb.connect(":memory:", config=config)
    tmp = lake.root / "_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = {lit(str(tmp))}")
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB's own progress bar would print into our output (and --json); we draw our own.
    con.execute("SET enable_progress_bar = false")
    if lake.remote is not None:
        # s3:// through pyarrow's S3 client (cdr/objectstore.py): not DuckDB's httpfs, which it
        # would download on first use
        con.register_filesystem(lake.remote.fsspec())
    # Parquet footers read once per connection, not once per query: a lookup through the index
    # by called number checks the statistics of ~500 row groups per file (measured: a single
    # lookup 247 -> 9 ms, a 10-day batch 3.5 -> 0.6 s). Lake files never change in place.
    con.execute("SET parquet_metadata_cache = true")
    # A value shown inside a reject reason: quoted and cut to a readable length.
    # DuckDB-only (CREATE MACRO); used by ingest, which stays on DuckDB (DESIGN.md).
    con.execute("CREATE MACRO th_quote(s) AS '\"' || left(coalesce(s, ''), 80) || '\"'")
    return con


def register_calls(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[str | PathLike[str]],
    *,
    name: str = "calls",
    one_schema: bool = False,
) -> None:
    """(Re)create the ``calls`` view (or ``name``: the index by called number,
    ``cdr/called_index.py``) over these Parquet files of the lake (at least one).

    ``union_by_name`` reconciles files whose columns or types differ (older ingests), at a
    price: every query on the view binds the schemas of all its files (measured on the index
    of a 90-day lake: a single lookup 17-20 ms against 10-11 ms, the view's creation 1.4 s
    against 3 ms, the footers of 489 row groups per file). ``one_schema`` skips it for files
    one writer wrote with fixed types (the index's twins): columns are matched by name and
    cast to the first file's types.

    DuckDB-only: ``SELECT * REPLACE`` turns the hive partition column ``day`` (read as a
    string) into a DATE; ``read_parquet`` takes a list of files."""
    union = "" if one_schema and _typed_as_calls(con, files[0]) else ", union_by_name = true"
    con.execute(
        f"CREATE OR REPLACE VIEW {name} AS SELECT * REPLACE (day::DATE AS day) FROM "
        f"read_parquet({lit_list(files)}, hive_partitioning = true{union})"
    )


def calls_types() -> dict[str, str]:
    """The calls' columns and their DuckDB types (``CALLS_SCHEMA``)."""
    pairs = (c.split() for c in CALLS_SCHEMA.split(","))
    return {name: " ".join(rest) for name, *rest in pairs}


_DESCRIBED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}  # the name DESCRIBE gives a type


def _typed_as_calls(con: duckdb.DuckDBPyConnection, file: str | PathLike[str]) -> bool:
    """Whether this file's columns have the calls' types (one footer read). Without
    ``union_by_name`` every file of a view is read in the first file's types: a column that
    an older writer left all NULL (Parquet's null type) in the first file would fail the
    others."""
    want = {c: _DESCRIBED.get(t, t) for c, t in calls_types().items()}
    described = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({lit(str(file))}, hive_partitioning = false)"
    ).fetchall()
    return all(want.get(col) == typ for col, typ, *_ in described)


def register_views(
    con: duckdb.DuckDBPyConnection, lake: Lake, customers: list[dict[str, object]] | None = None
) -> None:
    """(Re)create the analyst views over the lake's current files."""
    calls = lake.call_files()
    if calls:
        register_calls(con, calls)
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
        import pyarrow as pa  # only here: a query without customers need not load it

        table = pa.Table.from_pylist(customers)
        con.register("_customers_in", table)
        con.execute(
            "INSERT INTO _customers SELECT id, name, kind, country, onboarded, rmd_id, notes "
            "FROM _customers_in"
        )
        con.unregister("_customers_in")
    con.execute("CREATE OR REPLACE VIEW customers AS SELECT * FROM _customers")


# --- the seam ---------------------------------------------------------------------------------


@dataclass
class Rows:
    """A query's result: column names and rows of Python values."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def scalar(self) -> Any:
        """The first column of the first row."""
        return self.rows[0][0]


class Engine(Protocol):
    """What an analytics job asks of a query engine. SQL text is in DuckDB's dialect (the
    job modules name the statements that are DuckDB-only); names are session-local: a
    materialized table or registered Arrow table is seen by this engine only."""

    name: str

    def sql(self, text: str, params: Sequence[Any] = ()) -> Rows:
        """Run a query (``?`` parameters) and return its rows."""
        ...

    def arrow(self, text: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a query and return an Arrow table."""
        ...

    def materialize(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        """Keep the result of ``select`` as the session table ``name`` (replaced if it exists)."""
        ...

    def view(self, name: str, select: str) -> None:
        """(Re)define the session view ``name`` as ``select`` (no parameters)."""
        ...

    def drop(self, name: str) -> None:
        """Drop the session table ``name`` if it exists."""
        ...

    def has_table(self, name: str) -> bool:
        """Whether the session table ``name`` exists."""
        ...

    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as ``name`` until :meth:`unregister`."""
        ...

    def unregister(self, name: str) -> None: ...

    def register_views(self, lake: Lake, customers: list[dict[str, object]] | None = None) -> None:
        """(Re)create the views ``calls``, ``rejects`` and ``customers`` over the lake."""
        ...

    def register_calls(
        self,
        files: Sequence[str | PathLike[str]],
        *,
        name: str = "calls",
        one_schema: bool = False,
    ) -> None:
        """(Re)create the ``calls`` view over these Parquet files of the lake only (``name``:
        a view of that name over files laid out as the calls are, the index by called
        number's twins; ``one_schema``: the files were written with one schema, so the
        engine need not reconcile them, see :func:`register_calls`)."""
        ...

    def close(self) -> None: ...


class DuckDBEngine:
    """:class:`Engine` on a DuckDB connection (``con`` stays reachable for DuckDB-only code)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def _execute(self, text: str, params: Sequence[Any]) -> duckdb.DuckDBPyConnection:
        return self.con.execute(text, list(params)) if params else self.con.execute(text)

    def sql(self, text: str, params: Sequence[Any] = ()) -> Rows:
        cur = self._execute(text, params)
        columns = [d[0] for d in cur.description or ()]
        return Rows(columns, cur.fetchall())

    def arrow(self, text: str, params: Sequence[Any] = ()) -> pa.Table:
        # con.sql(...).to_arrow_table(): a DB-API result would copy the rows once more.
        return self.con.sql(text, params=list(params) or None).to_arrow_table()

    def materialize(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        self._execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}", params)

    def view(self, name: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")

    def drop(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def has_table(self, name: str) -> bool:
        found = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [name]
        ).fetchall()
        return bool(found[0][0])

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)  # scanned in place, not copied

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def register_views(self, lake: Lake, customers: list[dict[str, object]] | None = None) -> None:
        register_views(self.con, lake, customers)

    def register_calls(
        self,
        files: Sequence[str | PathLike[str]],
        *,
        name: str = "calls",
        one_schema: bool = False,
    ) -> None:
        register_calls(self.con, files, name=name, one_schema=one_schema)

    def close(self) -> None:
        self.con.close()


# What the detection functions take: an engine, or a DuckDB connection they wrap.
EngineLike = Engine | duckdb.DuckDBPyConnection


def as_engine(con: EngineLike) -> Engine:
    """An :class:`Engine` for a DuckDB connection (an engine is returned as it is)."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return DuckDBEngine(con)
    return con
