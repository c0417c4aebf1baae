"""The responder's reads of the lake, built in one place (the engine seam of
docs/architecture.md): every query the traceback responder runs is a function here, run
through ``tracehop.engine.Engine`` and returning plain rows (dicts of ``MATCH_COLUMNS``).

DuckDB-only, and why: ``regexp_replace(..., 'g')`` is DuckDB's flag syntax (Spark's
``regexp_replace`` replaces every match without a flag). ``calls_matching_many`` registers
the batch as an Arrow table and stages candidates in a session table (a semi-join that reads
only the ``called`` column of the lake, then the exact join on the small set): an engine
provides both (``register_arrow``, ``materialize``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from tracehop.engine import EngineLike, as_engine
from tracehop.errors import StoreError
from tracehop.tracebacks.protocol import MATCH_COLUMNS

_COLUMNS = ", ".join(MATCH_COLUMNS)


def _failed(exc: duckdb.Error) -> StoreError:
    return StoreError(f"lake lookup failed: {str(exc).splitlines()[0]}")


def calls_matching(
    con: EngineLike,
    *,
    lo: datetime,
    hi: datetime,
    caller: tuple[str | None, str],
    called: tuple[str | None, str],
) -> list[dict[str, Any]]:
    """Calls from ``caller`` to ``called`` starting in [lo, hi). Each number is
    ``(e164, digits)``: a number without an E.164 form (a short code, an invalid caller ID)
    matches on the digits of the raw value as the switch wrote it."""
    where = ["day BETWEEN ? AND ?", "start >= ?", "start < ?"]
    params: list[object] = [lo.date(), hi.date(), lo, hi]
    for col, (e164, digits) in (("called", called), ("caller", caller)):
        if e164:
            where.append(f"{col} = ?")
            params.append(e164)
        else:
            where.append(f"{col} IS NULL AND regexp_replace({col}_raw, '[^0-9]', '', 'g') = ?")
            params.append(digits)
    sql = f"SELECT {_COLUMNS} FROM calls WHERE {' AND '.join(where)}"
    try:
        rows = as_engine(con).sql(sql, params)
    except duckdb.Error as exc:
        raise _failed(exc) from exc
    return [dict(zip(MATCH_COLUMNS, r, strict=True)) for r in rows]


def calls_matching_many(
    con: EngineLike,
    batch: Sequence[tuple[str, str, str, datetime, datetime]],
) -> list[tuple[str, dict[str, Any]]]:
    """``(request_id, call)`` for every call matching one of ``batch``'s
    ``(request_id, caller_e164, called_e164, lo, hi)``, in one scan of the lake."""
    if not batch:
        return []
    table = pa.table(
        {
            "request_id": pa.array([r[0] for r in batch], pa.string()),
            "caller": pa.array([r[1] for r in batch], pa.string()),
            "called": pa.array([r[2] for r in batch], pa.string()),
            "lo": pa.array([r[3] for r in batch], pa.timestamp("us", tz="UTC")),
            "hi": pa.array([r[4] for r in batch], pa.timestamp("us", tz="UTC")),
        }
    )
    first = min(r[3] for r in batch).date()
    last = max(r[4] for r in batch).date()
    cols = ", ".join(f"c.{c}" for c in MATCH_COLUMNS)
    engine = as_engine(con)
    engine.register_arrow("th_requests", table)
    try:
        # First the calls to any called number asked about (a semi-join that reads one
        # column of the lake), then the exact join on that small set.
        engine.materialize(
            "th_candidates",
            f"""SELECT {cols} FROM calls c
                WHERE c.day BETWEEN ? AND ?
                  AND c.called IN (SELECT DISTINCT called FROM th_requests)""",
            [first, last],
        )
        found = engine.sql(
            f"""SELECT r.request_id, {cols} FROM th_requests r
                JOIN th_candidates c ON c.called = r.called AND c.caller = r.caller
                 AND c.start >= r.lo AND c.start < r.hi"""
        )
    except duckdb.Error as exc:
        raise _failed(exc) from exc
    finally:
        engine.unregister("th_requests")
        engine.drop("th_candidates")
    return [(rec[0], dict(zip(MATCH_COLUMNS, rec[1:], strict=True))) for rec in found]


def calls_on_days(con: EngineLike, first: date, last: date) -> int:
    """How many calls the lake holds for the UTC days ``first`` to ``last``."""
    try:
        rows = as_engine(con).sql(
            "SELECT count(*) FROM calls WHERE day BETWEEN ? AND ?", [first, last]
        )
    except duckdb.Error as exc:
        raise _failed(exc) from exc
    return int(rows.scalar() or 0)
