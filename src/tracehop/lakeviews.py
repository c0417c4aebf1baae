"""The dashboard's and the API's reads of the lake, built in one place (the engine seam of
docs/architecture.md): calls searched by number, customer and time; traffic a day by
disposition; one customer's indicators a day. Plain SQL that DuckDB and Spark SQL both read,
run through ``tracehop.engine``; every value is a bound parameter.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from tracehop.engine import EngineLike, as_engine
from tracehop.numbers import to_e164

CALL_COLUMNS = (
    "call_id", "start", "caller", "called", "caller_raw", "called_raw", "upstream",
    "downstream", "disposition", "duration", "sip_code", "attest", "orig_id",
    "identity_status", "source_file", "source_line",
)  # fmt: skip
MAX_PAGE = 1000
SHORT_SECONDS = 6  # DOMAIN.md: the published short-duration indicator


def search_calls(
    engine: EngineLike,
    *,
    caller: str | None = None,
    called: str | None = None,
    upstream: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Calls matching every filter given, newest first: ``{"calls": [...], "total": n}``.
    Numbers are matched in E.164 when they have one, else on the raw value."""
    where, params = ["TRUE"], []
    for col, value in (("caller", caller), ("called", called)):
        if value:
            e164 = to_e164(value)
            where.append(f"{col} = ?" if e164 else f"{col}_raw = ?")
            params.append(e164 or value.strip())
    if upstream:
        where.append("upstream = ?")
        params.append(upstream)
    if since is not None:
        where += ["start >= ?", "day >= ?"]
        params += [since, since.date()]
    if until is not None:
        where += ["start < ?", "day <= ?"]
        params += [until, until.date()]
    cond = " AND ".join(where)
    e = as_engine(engine)
    total = int(e.sql(f"SELECT count(*) FROM calls WHERE {cond}", params).scalar())
    want = max(1, min(limit, MAX_PAGE))
    skip = max(0, offset)
    last = e.sql(f"SELECT max(day) FROM calls WHERE {cond}", params).scalar()
    # Newest first without sorting the whole lake: the last day's files first, then a wider
    # span of days only when that day does not hold the page (day partitions are pruned).
    for span in (0, 6, 30, None):
        recent = "TRUE" if span is None or last is None else "day >= ? - CAST(? AS INTEGER)"
        extra = [] if span is None or last is None else [last, span]
        rows = e.sql(
            f"SELECT {', '.join(CALL_COLUMNS)} FROM calls WHERE {cond} AND {recent} "
            "ORDER BY start DESC, call_id LIMIT ? OFFSET ?",
            [*params, *extra, want, skip],
        )
        if len(rows) == want or span is None or len(rows) + skip >= total:
            break
    return {"calls": [dict(zip(CALL_COLUMNS, r, strict=True)) for r in rows], "total": total}


def traffic_by_day(engine: EngineLike, *, days: int = 14) -> list[dict[str, Any]]:
    """Calls a day by disposition over the lake's last ``days`` days."""
    e = as_engine(engine)
    last = e.sql("SELECT max(day) FROM calls").scalar()
    if last is None:
        return []
    rows = e.sql(
        "SELECT day, disposition, count(*) FROM calls WHERE day > ? - CAST(? AS INTEGER) "
        "GROUP BY day, disposition ORDER BY day, disposition",
        [last, days],
    )
    return [
        {"day": _iso(d), "disposition": disp or "unknown", "calls": int(n)} for d, disp, n in rows
    ]


def customer_daily(engine: EngineLike, customer: str) -> list[dict[str, Any]]:
    """One customer's indicators a day: calls, answered share, short answered share, distinct
    caller IDs, blocked calls."""
    # shares as avg of 1/0 integers: a DOUBLE on both engines (Spark's avg of 1.0/0.0, a
    # DECIMAL(2,1), keeps five decimals: 0.54545 where DuckDB gives 0.545454...)
    rows = as_engine(engine).sql(
        f"""SELECT day, count(*),
                   avg(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END),
                   avg(CASE WHEN disposition = 'answered' AND duration < {SHORT_SECONDS}
                            THEN 1 ELSE 0 END),
                   count(DISTINCT coalesce(caller, caller_raw)),
                   sum(CASE WHEN disposition = 'blocked' THEN 1 ELSE 0 END)
            FROM calls WHERE upstream = ? GROUP BY day ORDER BY day""",
        [customer],
    )
    return [
        {"day": _iso(d), "calls": int(n), "asr": round(float(a or 0), 4),
         "short_share": round(float(s or 0), 4), "caller_ids": int(c), "blocked": int(b or 0)}
        for d, n, a, s, c, b in rows
    ]  # fmt: skip


def totals(engine: EngineLike) -> dict[str, Any]:
    """The lake at a glance: calls, customers, first and last day, blocked calls."""
    e = as_engine(engine)
    n, customers, first, last, blocked = e.sql(
        "SELECT count(*), count(DISTINCT upstream), min(day), max(day), "
        "sum(CASE WHEN disposition = 'blocked' THEN 1 ELSE 0 END) FROM calls"
    ).rows[0]
    return {"calls": int(n), "customers": int(customers), "first_day": _iso(first),
            "last_day": _iso(last), "blocked": int(blocked or 0)}  # fmt: skip


def _iso(d: date | str | None) -> str | None:
    if d is None:
        return None
    return d.isoformat() if isinstance(d, date) else str(d)
