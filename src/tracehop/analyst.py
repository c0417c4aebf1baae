"""Read-only SQL for analysts over the views ``calls``, ``rejects`` and ``customers``."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from tracehop.cdr.lake import Lake, lake_of, recover
from tracehop.engine import DuckDBEngine, Engine, connect, register_views
from tracehop.errors import EngineError, QueryError
from tracehop.settings import Settings
from tracehop.sqltext import lit

if TYPE_CHECKING:
    from tracehop.store import Store

# Statement kinds an analyst may run: reading only (the lake and state are not changed).
READ_ONLY = {"SELECT", "EXPLAIN"}


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False  # more rows than max_rows: only the first are here

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def check_read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {_one_line(exc)}") from exc
    if not statements:
        raise QueryError("empty query: give one SELECT statement")
    if len(statements) > 1:
        raise QueryError("give one statement at a time")
    kind = statements[0].type.name
    if kind not in READ_ONLY:
        raise QueryError(
            f"tracehop query is read-only: {kind} statements are not allowed (use SELECT)"
        )
    if kind == "EXPLAIN":
        # EXPLAIN ANALYZE runs the statement it explains: only a plain EXPLAIN of a SELECT.
        inner = statements[0].query.strip()
        words = inner.split(None, 2)
        if len(words) > 1 and words[1].upper() == "ANALYZE":
            raise QueryError("tracehop query is read-only: EXPLAIN ANALYZE is not allowed")
        explained = inner.split(None, 1)[1] if len(words) > 1 else ""
        check_read_only(explained)


def open_engine(
    settings: Settings, store: Store | None = None, *, customers: bool = True
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views over this home's lake and state. Without a
    ``store`` the state DB is opened only if it is needed: for the ``customers`` view
    (``customers=True``) or to finish an ingest a crash interrupted."""
    lake, rows = _lake_and_customers(settings, store, customers=customers)
    con = connect(settings, lake=lake)
    register_views(con, lake, rows)
    return con


def open_analytics(settings: Settings, store: Store | None = None) -> Engine:
    """The :class:`tracehop.engine.Engine` the setting ``engine`` names (``duckdb`` or
    ``spark``), with the views ``calls``, ``rejects`` and ``customers`` over this home's lake
    and state: what the analytics jobs (detection) run on. Spark that cannot run here is a
    :class:`tracehop.errors.EngineError` saying what to install, never DuckDB instead."""
    if settings.engine == "spark":
        from tracehop.spark_engine import SparkEngine, shuffle_partitions, spark_session

        if settings.lake_url:
            # s3a:// needs the hadoop-aws and AWS SDK jars: pyspark ships neither, and
            # fetching them at run time (spark.jars.packages) is not something tracehop does
            raise EngineError(
                f"TRACEHOP_ENGINE=spark cannot read the object-store lake {settings.lake_url}: "
                "pyspark ships no hadoop-aws; use TRACEHOP_ENGINE=duckdb"
            )

        # checked before the state is read
        spark = spark_session(settings.spark_master, settings.spark_memory)
        lake, rows = _lake_and_customers(settings, store, customers=True)
        # a session of its own on the process's one SparkContext (no new JVM, ~0.1 s): its
        # views (`calls`, ...) and cached tables are its own, so a server's dashboard engine
        # and a case investigation in the same process do not replace or drop each other's
        engine = SparkEngine(spark.newSession())
        lake_bytes = sum(os.path.getsize(f) for f in lake.call_files())  # a local lake
        partitions = shuffle_partitions(
            settings.spark_master, lake_bytes, settings.spark_partitions
        )
        if partitions is not None:
            engine.spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
        engine.register_views(lake, rows)
        return engine
    return DuckDBEngine(open_engine(settings, store))


def _lake_and_customers(
    settings: Settings, store: Store | None, *, customers: bool
) -> tuple[Lake, list[dict[str, object]] | None]:
    """This home's lake, an ingest a crash interrupted finished or discarded first, and the
    customers (when asked) as rows for the ``customers`` view."""
    lake = lake_of(settings)
    with _state(settings, store) as state:
        with lake.ingest_lock(wait=False) as free:
            if free and lake.has_plans():  # finish or discard what a crash interrupted
                from tracehop.cdr.ingest import record_manifest

                db = state()
                recover(lake, lambda m: record_manifest(db, m))
        rows = None
        if customers:
            from tracehop.customers import list_customers

            rows = [c.as_row() for c in list_customers(state())]
    return lake, rows


@contextmanager
def _state(settings: Settings, store: Store | None) -> Iterator[Callable[[], Store]]:
    """A way to get the state DB: ``store`` if given, else one opened on first use and
    closed at the end (opening it costs SQLAlchemy's import: a query of the lake only needs
    none)."""
    opened: list[Store] = []

    def get() -> Store:
        if store is not None:
            return store
        if not opened:
            from tracehop.store import open_store

            opened.append(open_store(settings))
        return opened[0]

    try:
        yield get
    finally:
        for s in opened:
            s.close()


def query(
    sql: str,
    settings: Settings,
    *,
    store: Store | None = None,
    timeout: float | None = None,
    max_rows: int | None = None,
) -> QueryResult:
    """Run one read-only SQL statement in the sandbox; rows come back as Python values.

    The sandbox (docs/security.md): the statement can read the lake and nothing else on
    this machine (DuckDB's external access is off but for the lake's folder), fetch or load
    no extension, change no setting, and is stopped after ``timeout`` seconds (default the
    setting ``query_timeout``). ``max_rows`` keeps only the first rows (``truncated`` says
    so). The state DB is opened only when the statement reads the ``customers`` view."""
    check_read_only(sql)
    names = _table_names(sql)
    con = open_engine(settings, store, customers="customers" in names)
    limit = settings.query_timeout if timeout is None else timeout
    timer = threading.Timer(limit, con.interrupt)
    try:
        _lock_down(con, lake_of(settings))
        timer.start()
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(max_rows + 1) if max_rows is not None else cur.fetchall()
        except duckdb.InterruptException:
            raise QueryError(
                f"the query was stopped after {limit:g} s (setting query_timeout)"
            ) from None
        except duckdb.Error as exc:
            raise QueryError(f"SQL error: {_one_line(exc)}") from exc
    finally:
        timer.cancel()
        con.close()
    truncated = max_rows is not None and len(rows) > max_rows
    return QueryResult(columns=columns, rows=rows[:max_rows] if truncated else rows,
                       truncated=truncated)  # fmt: skip


def _table_names(sql: str) -> set[str]:
    """The tables and views a statement names (parsed, not run), lower case."""
    con = duckdb.connect(":memory:", config=_NO_EXTENSIONS)
    try:
        return {n.lower().rsplit(".", 1)[-1] for n in con.get_table_names(sql)}
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {_one_line(exc)}") from exc
    finally:
        con.close()


_NO_EXTENSIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def _lock_down(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Analysts' SQL reads the lake's folder and no other file, fetches and loads no
    extension, and cannot change any of this (the configuration is locked last)."""
    for name, value in _NO_EXTENSIONS.items():
        con.execute(f"SET {name} = {str(value).lower()}")
    folders = [str(lake.root.resolve()) + "/"]
    if lake.remote is not None:
        folders.append(lake.remote.url_of(""))  # s3://bucket/prefix/
    con.execute(f"SET allowed_directories = [{', '.join(lit(f) for f in folders)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _one_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return " ".join(lines[:2]) if lines else exc.__class__.__name__


_PLAIN = frozenset({str, int, float, bool})


def jsonable(value: Any) -> Any:
    """JSON form of a DuckDB value: timestamps in ISO 8601 (UTC), decimals as numbers."""
    if value is None or type(value) in _PLAIN:  # most values: nothing to check
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value
