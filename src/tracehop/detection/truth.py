"""The simulator's ground truth, as the evaluation tools (``evaluate.py``, ``delay.py``) read it.

These are local CSV files written by ``tracehop simulate`` (``truth/calls.csv``: one row per
call, millions at scale 1), not the CDR lake, so they are not read through the engine seam:
an in-memory DuckDB of their own reads them in seconds. DuckDB-only on purpose: evaluation
runs on one machine next to the simulator; a Spark deployment has no truth to read.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb


def campaign_call_times(world: Path) -> dict[str, list[datetime]]:
    """Each campaign's call start times (sorted, UTC) from ``truth/calls.csv``."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            "SELECT campaign, list(start::TIMESTAMPTZ ORDER BY start::TIMESTAMPTZ) "
            "FROM read_csv(?, header = true, all_varchar = true) "
            "WHERE campaign IS NOT NULL AND campaign <> '' GROUP BY campaign",
            [str(world / "truth" / "calls.csv")],
        ).fetchall()
    finally:
        con.close()
    return {c: [t.astimezone(UTC) for t in ts] for c, ts in rows}


def call_counts(world: Path) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """Calls per truth customer, and campaign calls per (upstream, provider) hop."""
    p = str(world / "truth" / "calls.csv")
    with duckdb.connect() as con:
        con.execute(
            "CREATE TEMP TABLE t AS FROM read_csv(?, header = true, all_varchar = true)", [p]
        )
        per_customer = con.execute("SELECT customer, count(*) FROM t GROUP BY 1").fetchall()
        hops = con.execute(
            "SELECT p[i], p[i + 1], count(*) FROM (SELECT string_split(path, '>') AS p FROM t "
            "WHERE coalesce(campaign, '') <> ''), range(1, len(p)) AS r(i) GROUP BY 1, 2"
        ).fetchall()
    return Counter(dict(per_customer)), Counter({(a, b): n for a, b, n in hops})
