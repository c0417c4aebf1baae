"""The responder's reads of the lake, built in one place (the engine seam of
docs/architecture.md): every query the traceback responder runs is a function here, run
through ``tracehop.engine.Engine`` (DuckDB or Spark, the same text: ``SparkEngine``
transpiles it with SQLGlot) and returning plain rows (dicts of ``MATCH_COLUMNS``).

Two relations hold the same calls: ``calls`` (sorted by start) and ``calls_by_called``, the
index by called number (``cdr/called_index.py``: sorted by called, small row groups), over
the days whose index is complete (:func:`use_index`). A lookup reads a day through the index
when it can and from ``calls`` otherwise: the answers are the same (``tests/test_lookups.py``).

``regexp_replace(..., 'g')`` is DuckDB's flag syntax; SQLGlot writes Spark's
``regexp_replace``, which replaces every match.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from tracehop.cdr.called_index import Snapshot, snapshot
from tracehop.cdr.lake import Lake
from tracehop.engine import EngineLike, as_engine
from tracehop.errors import StoreError
from tracehop.tracebacks.protocol import MATCH_COLUMNS

_COLUMNS = ", ".join(MATCH_COLUMNS)
INDEX_VIEW = "calls_by_called"
_DAY = timedelta(days=1)


def _failed(exc: duckdb.Error) -> StoreError:
    return StoreError(f"lake lookup failed: {str(exc).splitlines()[0]}")


def use_index(con: EngineLike, lake: Lake) -> Snapshot:
    """Register the index over the days it covers completely, and ``calls`` again over the
    same listing of the lake (so both views show the same ingests); returns which days are
    indexed."""
    snap = snapshot(lake)
    engine = as_engine(con)
    if snap.calls:
        engine.register_calls(snap.calls)
    if snap.twins:
        engine.register_calls(snap.twins, name=INDEX_VIEW)
    return snap


def _days(lo: datetime, hi: datetime) -> list[date]:
    """The UTC days (the lake's ``day`` partitions) of the calls starting in [lo, hi)."""
    first, last = lo.date(), (hi - timedelta(microseconds=1)).date()
    return [first + k * _DAY for k in range((last - first).days + 1)]


def _relation(days: Sequence[date], indexed: frozenset[date]) -> str:
    return INDEX_VIEW if days and all(d in indexed for d in days) else "calls"


def calls_matching(
    con: EngineLike,
    *,
    lo: datetime,
    hi: datetime,
    caller: tuple[str | None, str],
    called: tuple[str | None, str],
    indexed: frozenset[date] = frozenset(),
) -> list[dict[str, Any]]:
    """Calls from ``caller`` to ``called`` starting in [lo, hi). Each number is
    ``(e164, digits)``: a number without an E.164 form (a short code, an invalid caller ID)
    matches on the digits of the raw value as the switch wrote it. Read through the index
    when every day searched is ``indexed`` and ``called`` has an E.164 form."""
    days = _days(lo, hi)
    relation = _relation(days, indexed) if called[0] else "calls"
    where = ["day BETWEEN ? AND ?", "start >= ?", "start < ?"]
    params: list[object] = [days[0], days[-1], lo, hi]
    for col, (e164, digits) in (("called", called), ("caller", caller)):
        if e164:
            where.append(f"{col} = ?")
            params.append(e164)
        else:
            where.append(f"{col} IS NULL AND regexp_replace({col}_raw, '[^0-9]', '', 'g') = ?")
            params.append(digits)
    sql = f"SELECT {_COLUMNS} FROM {relation} WHERE {' AND '.join(where)}"
    try:
        rows = as_engine(con).sql(sql, params)
    except duckdb.Error as exc:
        raise _failed(exc) from exc
    return [dict(zip(MATCH_COLUMNS, r, strict=True)) for r in rows]


def calls_matching_many(
    con: EngineLike,
    batch: Sequence[tuple[str, str, str, datetime, datetime]],
    *,
    indexed: frozenset[date] = frozenset(),
) -> list[tuple[str, dict[str, Any]]]:
    """``(request_id, call)`` for every call matching one of ``batch``'s
    ``(request_id, caller_e164, called_e164, lo, hi)``, in one statement: each UTC day is
    read with only that day's called numbers (through the index where the day is
    ``indexed``: a few row groups; otherwise the ``called`` column of that day), then the
    exact join with the requests on that small set."""
    if not batch:
        return []
    numbers: dict[date, set[str]] = {}
    for _rid, _caller, called, lo, hi in batch:
        for day in _days(lo, hi):
            numbers.setdefault(day, set()).add(called)
    branches, params = [], []
    for day in sorted(numbers):
        wanted = sorted(numbers[day])
        branches.append(
            f"SELECT {_COLUMNS} FROM {_relation([day], indexed)} "
            f"WHERE day = ? AND called IN ({', '.join('?' * len(wanted))})"
        )
        params += [day, *wanted]
    table = pa.table(
        {
            "request_id": pa.array([r[0] for r in batch], pa.string()),
            "caller": pa.array([r[1] for r in batch], pa.string()),
            "called": pa.array([r[2] for r in batch], pa.string()),
            "lo": pa.array([r[3] for r in batch], pa.timestamp("us", tz="UTC")),
            "hi": pa.array([r[4] for r in batch], pa.timestamp("us", tz="UTC")),
        }
    )
    cols = ", ".join(f"c.{c}" for c in MATCH_COLUMNS)
    engine = as_engine(con)
    engine.register_arrow("th_requests", table)
    try:
        found = engine.sql(
            f"""WITH candidates AS ({" UNION ALL ".join(branches)})
                SELECT r.request_id, {cols} FROM th_requests r
                JOIN candidates c ON c.called = r.called AND c.caller = r.caller
                 AND c.start >= r.lo AND c.start < r.hi""",
            params,
        )
    except duckdb.Error as exc:
        raise _failed(exc) from exc
    finally:
        engine.unregister("th_requests")
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
