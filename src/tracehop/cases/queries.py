"""The cases' reads of the lake (the engine seam of docs/architecture.md: every aggregate a
case's investigation and reports need is built here and run through ``tracehop.engine``).
Plain SQL that DuckDB and Spark SQL both read; nothing DuckDB-only."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tracehop.engine import EngineLike, as_engine

# A short answered call: under 6 s (DOMAIN.md, the published short-duration indicator).
SHORT_SECONDS = 6


def customer_day(engine: EngineLike, customer: str, day: date) -> dict[str, Any]:
    """One customer's traffic on one UTC day: calls, answered share, short-call share,
    distinct caller IDs and called numbers."""
    # shares as avg of 1/0 integers: a DOUBLE on both engines (Spark's avg of 1.0/0.0, a
    # DECIMAL(2,1), keeps five decimals: 0.54545 where DuckDB gives 0.545454...)
    rows = as_engine(engine).sql(
        f"""SELECT count(*) AS calls,
                   coalesce(avg(CASE WHEN disposition = 'answered' THEN 1 ELSE 0 END), 0),
                   coalesce(avg(CASE WHEN disposition = 'answered' AND duration < {SHORT_SECONDS}
                                     THEN 1 ELSE 0 END), 0),
                   count(DISTINCT coalesce(caller, caller_raw)),
                   count(DISTINCT coalesce(called, called_raw))
            FROM calls WHERE upstream = ? AND day = ?""",
        [customer, day],
    )
    calls, asr, short, callers, called = rows.rows[0]
    return {
        "day": day.isoformat(),
        "calls": int(calls),
        "asr": round(float(asr), 4),
        "short_share": round(float(short), 4),
        "caller_ids": int(callers),
        "called_numbers": int(called),
    }


def daily_calls(
    engine: EngineLike, customers: list[str], first: date, last: date
) -> list[dict[str, Any]]:
    """Calls a day of each customer from ``first`` to ``last`` (for the before/after chart
    of a report): one row per customer and day that had traffic."""
    if not customers:
        return []
    marks = ", ".join("?" for _ in customers)
    rows = as_engine(engine).sql(
        f"""SELECT upstream, day, count(*) AS calls,
                   sum(CASE WHEN disposition = 'blocked' THEN 1 ELSE 0 END) AS blocked
            FROM calls
            WHERE upstream IN ({marks}) AND day BETWEEN ? AND ?
            GROUP BY upstream, day ORDER BY upstream, day""",
        [*customers, first, last + timedelta(days=0)],
    )
    return [
        {
            "customer": u,
            "day": d.isoformat() if hasattr(d, "isoformat") else str(d),
            "calls": int(n),
            "blocked": int(b or 0),
        }
        for u, d, n, b in rows
    ]


def lake_span(engine: EngineLike) -> tuple[date | None, date | None]:
    """The first and last UTC day the lake holds."""
    rows = as_engine(engine).sql("SELECT min(day), max(day) FROM calls")
    lo, hi = rows.rows[0]
    return lo, hi
