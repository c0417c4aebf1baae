"""Read-only SQL for analysts over the views ``calls``, ``rejects`` and ``customers``."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import duckdb

from tracehop.cdr.lake import Lake, recover
from tracehop.customers import list_customers
from tracehop.engine import connect, register_views
from tracehop.errors import QueryError
from tracehop.settings import Settings
from tracehop.store import Store, open_store

# Statement kinds an analyst may run: reading only (the lake and state are not changed).
READ_ONLY = {"SELECT", "EXPLAIN"}


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

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


def open_engine(settings: Settings, store: Store) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views over this home's lake and state."""
    lake = Lake(settings.lake_dir)
    with lake.ingest_lock(wait=False) as free:
        if free:  # finish or discard any ingest a crash interrupted
            from tracehop.cdr.ingest import record_manifest

            recover(lake, lambda m: record_manifest(store, m))
    con = connect(settings, lake=lake)
    register_views(con, lake, [c.as_row() for c in list_customers(store)])
    return con


def query(sql: str, settings: Settings, *, store: Store | None = None) -> QueryResult:
    """Run one read-only SQL statement; rows come back as Python values."""
    check_read_only(sql)
    # A store passed in stays open for the caller; one opened here is closed here.
    with nullcontext(store) if store is not None else open_store(settings) as store:
        con = open_engine(settings, store)
        # Analysts' SQL may not fetch or load extensions, nor change the engine's settings.
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET lock_configuration = true")
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"SQL error: {_one_line(exc)}") from exc
        finally:
            con.close()
    return QueryResult(columns=columns, rows=rows)


def _one_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return " ".join(lines[:2]) if lines else exc.__class__.__name__


def jsonable(value: Any) -> Any:
    """JSON form of a DuckDB value: timestamps in ISO 8601 (UTC), decimals as numbers."""
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
