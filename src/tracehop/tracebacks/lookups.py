"""The responder's reads of the lake, built in one place (the engine seam of
docs/architecture.md): every query the traceback responder runs is a function here, run
through ``tracehop.engine.Engine`` (DuckDB or Spark, the same text: ``SparkEngine``
transpiles it with SQLGlot) and returning plain rows (dicts of ``MATCH_COLUMNS``).

Two relations hold the same calls: ``calls`` (sorted by start) and ``calls_by_called``, the
index by called number (``cdr/called_index.py``: sorted by called, small row groups), over
the days whose index is complete (:func:`use_index`). A lookup reads a day through the index
when it can and from ``calls`` otherwise: the answers are the same (``tests/test_lookups.py``).
One read bypasses the engine: a single lookup on a local lake with DuckDB reads the twins
with pyarrow (:func:`calls_matching_twins`, ``called_index.TwinReader``), the same filters
applied in Python, because a query's own cost there was most of the lookup.

``regexp_replace(..., 'g')`` is DuckDB's flag syntax; SQLGlot writes Spark's
``regexp_replace``, which replaces every match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from tracehop.cdr.called_index import Snapshot, TwinReader, snapshot
from tracehop.cdr.lake import Lake
from tracehop.engine import EngineLike, as_engine
from tracehop.errors import StoreError
from tracehop.tracebacks.protocol import MATCH_COLUMNS

_COLUMNS = ", ".join(MATCH_COLUMNS)
INDEX_VIEW = "calls_by_called"
_DAY = timedelta(days=1)
_DIGITS = re.compile("[^0-9]")  # regexp_replace(..., '[^0-9]', '', 'g') of the SQL


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
        engine.register_calls(snap.twins, name=INDEX_VIEW, one_schema=True)
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


def calls_matching_twins(
    reader: TwinReader,
    snap: Snapshot,
    *,
    lo: datetime,
    hi: datetime,
    caller: tuple[str | None, str],
    called: str,
) -> list[dict[str, Any]] | None:
    """What :func:`calls_matching` returns for an E.164 ``called``, read straight from the
    twins (``TwinReader``, a local lake): the same filters, applied here. ``None`` when a
    day searched is not indexed (ask :func:`calls_matching`)."""
    days = _days(lo, hi)
    if not all(d in snap.indexed for d in days):
        return None
    e164, digits = caller
    try:
        rows = reader.rows(snap.twins_of(days), called)
    except (OSError, pa.ArrowException) as exc:  # a twin gone or unreadable
        raise StoreError(f"lake lookup failed: {str(exc).splitlines()[0]}") from exc
    out = []
    for row in rows:
        if not lo <= row["start"] < hi:
            continue
        if e164 and row["caller"] != e164:
            continue
        # a caller ID with no E.164 form matches on the digits the switch wrote
        raw = row["caller_raw"]
        if not e164 and (
            row["caller"] is not None or raw is None or _DIGITS.sub("", raw) != digits
        ):
            continue
        out.append({c: row[c] for c in MATCH_COLUMNS})
    return out


def calls_matching_many(
    con: EngineLike,
    batch: Sequence[tuple[str, str, str, datetime, datetime]],
    *,
    indexed: frozenset[date] = frozenset(),
) -> list[tuple[str, dict[str, Any]]]:
    """``(request_id, call)`` for every call matching one of ``batch``'s
    ``(request_id, caller_e164, called_e164, lo, hi)``, in one statement: each UTC day is
    read with only that day's called numbers (through the index where the day is
    ``indexed``: a few row groups; otherwise the ``called`` column of that day). The few
    rows found are matched to the requests here, in Python: handing the requests to the
    engine as a table cost more than the match (DuckDB's ``register`` imported pandas, 1.3 s;
    Spark builds a DataFrame), docs/performance.md "Traceback lookup"."""
    if not batch:
        return []
    numbers: dict[date, set[str]] = {}
    wanted: dict[tuple[str, str], list[tuple[str, datetime, datetime]]] = {}
    for rid, caller, called, lo, hi in batch:
        wanted.setdefault((called, caller), []).append((rid, lo, hi))
        for day in _days(lo, hi):
            numbers.setdefault(day, set()).add(called)
    branches, params = [], []
    for day in sorted(numbers):
        called = sorted(numbers[day])
        branches.append(
            f"SELECT {_COLUMNS} FROM {_relation([day], indexed)} "
            f"WHERE day = ? AND called IN ({', '.join('?' * len(called))})"
        )
        params += [day, *called]
    try:
        found = as_engine(con).sql(" UNION ALL ".join(branches), params)
    except duckdb.Error as exc:
        raise _failed(exc) from exc
    at_start, at_caller, at_called = (
        MATCH_COLUMNS.index("start"),
        MATCH_COLUMNS.index("caller"),
        MATCH_COLUMNS.index("called"),
    )
    out = []
    for rec in found:
        start = rec[at_start]
        for rid, lo, hi in wanted.get((rec[at_called], rec[at_caller]), ()):
            if lo <= start < hi:
                out.append((rid, dict(zip(MATCH_COLUMNS, rec, strict=True))))
    return out


def calls_on_days(con: EngineLike, first: date, last: date) -> int:
    """How many calls the lake holds for the UTC days ``first`` to ``last``."""
    try:
        rows = as_engine(con).sql(
            "SELECT count(*) FROM calls WHERE day BETWEEN ? AND ?", [first, last]
        )
    except duckdb.Error as exc:
        raise _failed(exc) from exc
    return int(rows.scalar() or 0)
