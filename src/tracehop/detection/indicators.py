"""Detection indicators over the ``calls`` view, per customer (``upstream``) and per caller ID.

Each indicator is a named, documented entry of :data:`INDICATORS`: a SQL aggregate over the
per-call columns of :func:`call_features_sql` (one row per call in the window, with flags such
as ``short``, ``neighbour`` or the caller-ID class ``cls``). :func:`customer_indicators` runs
all of them in one DuckDB aggregate query (plus two small ones for the peak minute and the
called-number concentration); nothing is computed per row in Python.

The indicators are the "reasonable analytics" the Commission names and providers publish in
their mitigation plans (DOMAIN.md, "What illegal traffic looks like in CDRs"). Thresholds are
not here: they belong to the scoring rules (``scoring.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from tracehop.numbers import TOLL_FREE_NPAS, CallerIdClass, caller_id_class

# Answered calls shorter than this are "short" (DOMAIN.md: share of answered calls under 6 s).
SHORT_SECONDS = 6
# SIP answers that mean a downstream refused the call as unwanted: 403 Forbidden,
# 607 Unwanted (RFC 8197) and 608 Rejected (RFC 8688), as analytics-based blocking returns.
REFUSED_CODES = (403, 607, 608)
# Caller-ID classes that cannot be a real, assigned caller ID (DOMAIN.md "invalid caller IDs";
# 47 CFR 64.1200(k)(2): calls from invalid, unallocated or unused numbers may be blocked).
INVALID_CLASSES = (
    CallerIdClass.INVALID_LENGTH,
    CallerIdClass.INVALID_NPA,
    CallerIdClass.UNASSIGNED_NPA,
    CallerIdClass.N11,
    CallerIdClass.FICTIONAL,
    CallerIdClass.CALLER_EQUALS_CALLED,
)

_TOLL_FREE = ", ".join(f"'{n}'" for n in sorted(TOLL_FREE_NPAS))
_MAP = "th_caller_class_map"


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[since, until)`` in UTC; None means unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    def where(self, column: str = "start") -> str:
        """The window as a SQL condition; the bounds are datetimes rendered as literals
        (a view cannot take parameters)."""
        parts = []
        if self.since is not None:
            parts.append(f"{column} >= TIMESTAMPTZ '{_iso(self.since)}'")
        if self.until is not None:
            parts.append(f"{column} < TIMESTAMPTZ '{_iso(self.until)}'")
        return " AND ".join(parts) or "TRUE"


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat()


def caller_class_sql(caller: str = "caller", called: str = "called", resolved: str = "r") -> str:
    """The caller-ID class of :func:`tracehop.numbers.caller_id_class` as a SQL expression.

    The structural checks (length, 0/1 and N9X codes, N11, 555-01XX, toll-free, caller =
    called) run in SQL; what needs ``phonenumbers`` (is a well-formed NANP number assigned?
    is an international number possible, premium rate?) comes from ``{resolved}.cls``, the
    map that :func:`resolve_caller_classes` builds once per distinct caller.
    """
    n = f"substr({caller}, 3)"
    npa, nxx, line = f"substr({n}, 1, 3)", f"substr({n}, 4, 3)", f"substr({n}, 7)"
    return f"""(CASE
        WHEN {caller} IS NULL OR {caller} = '' THEN 'missing'
        WHEN {called} IS NOT NULL AND {called} <> '' AND {caller} = {called}
            THEN 'caller_equals_called'
        WHEN starts_with({caller}, '+1') THEN CASE
            WHEN length({n}) <> 10 OR NOT regexp_full_match({n}, '[0-9]+') THEN 'invalid_length'
            WHEN substr({npa}, 1, 1) IN ('0', '1') OR substr({nxx}, 1, 1) IN ('0', '1')
                OR substr({npa}, 2, 1) = '9' THEN 'invalid_npa'
            WHEN substr({npa}, 2) = '11' OR substr({nxx}, 2) = '11' THEN 'n11'
            WHEN {nxx} = '555' AND {line} BETWEEN '0100' AND '0199' THEN 'fictional'
            WHEN {npa} IN ({_TOLL_FREE}) THEN 'toll_free'
            ELSE coalesce({resolved}.cls, 'valid') END
        ELSE coalesce({resolved}.cls, 'invalid_length') END)"""


def resolve_caller_classes(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """Register the phonenumbers part of the caller-ID class per distinct caller of
    ``relation`` (well-formed NANP numbers and international ones) as a temp view; return its
    name. One Python call per distinct number, as ``tracehop.cdr.sql.resolve_international``
    does, never one per row."""
    n = "substr(caller, 3)"
    rows = con.execute(
        f"""SELECT DISTINCT caller FROM {relation} WHERE caller IS NOT NULL AND (
            NOT starts_with(caller, '+1') OR (
            length({n}) = 10 AND regexp_full_match({n}, '[2-9][0-8][0-9][2-9][0-9]{{6}}')
            AND substr({n}, 2, 2) <> '11' AND substr({n}, 5, 2) <> '11'
            AND substr({n}, 1, 3) NOT IN ({_TOLL_FREE})))"""
    ).fetchall()
    keys = [r[0] for r in rows]
    classes = [str(caller_id_class(k)) for k in keys]
    table = pa.table(
        {"caller": pa.array(keys, type=pa.string()), "cls": pa.array(classes, type=pa.string())}
    )
    con.register(_MAP, table)
    return _MAP


def call_features_sql(relation: str, resolved: str) -> str:
    """One row per call with the flags the indicators aggregate."""
    cls = caller_class_sql("c.caller", "c.called", "r")
    return f"""
    SELECT c.upstream, c.caller, c.called, c.start, c.duration, c.attest, c.sip_code,
        c.disposition = 'answered' AS answered,
        c.disposition = 'answered' AND c.duration < {SHORT_SECONDS} AS short,
        c.disposition = 'failed' AS failed,
        coalesce(c.sip_code IN {REFUSED_CODES}, FALSE) AS refused,
        {cls} AS cls,
        -- neighbour spoofing: caller ID shares the called number's NPA-NXX (DOMAIN.md)
        coalesce(starts_with(c.caller, '+1') AND starts_with(c.called, '+1')
            AND c.caller <> c.called AND substr(c.caller, 1, 8) = substr(c.called, 1, 8), FALSE)
            AS neighbour,
        c.attest IS NULL AS unsigned,
        coalesce(c.attest = 'C', FALSE) AS attest_c
    FROM {relation} c LEFT JOIN {resolved} r ON r.caller = c.caller"""


@dataclass(frozen=True)
class Indicator:
    """One indicator: its SQL aggregate over the call features, and what it means."""

    name: str
    sql: str
    description: str


def _share(condition: str, over: str = "count(*)") -> str:
    return f"coalesce(count(*) FILTER (WHERE {condition}) / nullif({over}, 0), 0)::DOUBLE"


_INVALID = ", ".join(f"'{c}'" for c in INVALID_CLASSES)

# The per-subject indicators, in the order findings show them. Each aggregates the rows of
# call_features_sql for one customer (or one caller ID) in the window.
INDICATORS: dict[str, Indicator] = {
    i.name: i
    for i in (
        Indicator("calls", "count(*)", "call attempts in the window"),
        Indicator("first_seen", "min(start)", "first attempt in the window"),
        Indicator("last_seen", "max(start)", "last attempt in the window"),
        Indicator(
            "calls_per_hour",
            "count(*) / greatest(epoch(max(start)) - epoch(min(start)), 3600) * 3600",
            "attempts per hour between the first and last attempt (at least one hour)",
        ),
        Indicator(
            "asr",
            _share("answered"),
            "answer-seizure ratio: answered attempts / attempts (published rule: < 50% "
            "after > 120 attempts an hour is suspect)",
        ),
        Indicator(
            "acd",
            "coalesce(avg(duration) FILTER (WHERE answered), 0)::DOUBLE",
            "average call duration of answered calls, seconds",
        ),
        Indicator(
            "talk_per_attempt",
            "coalesce(sum(duration) FILTER (WHERE answered) / count(*), 0)::DOUBLE",
            "answered seconds per attempt (ASR x ACD): how much conversation each attempt buys",
        ),
        Indicator(
            "short_share",
            _share("short", "count(*) FILTER (WHERE answered)"),
            f"share of answered calls shorter than {SHORT_SECONDS} s (published rule: > 20%)",
        ),
        Indicator("failed_share", _share("failed"), "share of attempts that failed"),
        Indicator(
            "refused_share",
            _share("refused"),
            "share of attempts answered 403, 607 or 608 downstream (refused as unwanted)",
        ),
        Indicator("distinct_callers", "count(DISTINCT caller)", "distinct caller IDs"),
        Indicator(
            "caller_rotation",
            "(count(DISTINCT caller) / count(*))::DOUBLE",
            "distinct caller IDs per attempt: near 1 when each call shows a new number",
        ),
        Indicator(
            "invalid_share",
            _share(f"cls IN ({_INVALID})"),
            "share of attempts whose caller ID cannot be real: wrong length, impossible or "
            "unassigned area code or exchange, N11, 555-01XX, caller = called",
        ),
        Indicator(
            "invalid_npa_share",
            _share("cls IN ('invalid_npa', 'unassigned_npa')"),
            "share with an impossible or unassigned NANP area code or exchange",
        ),
        Indicator(
            "invalid_length_share",
            _share("cls = 'invalid_length'"),
            "share with a caller ID of impossible length",
        ),
        Indicator("n11_share", _share("cls = 'n11'"), "share with an N11 area code or exchange"),
        Indicator(
            "fictional_share",
            _share("cls = 'fictional'"),
            "share with a fictional 555-01XX caller ID",
        ),
        Indicator(
            "caller_equals_called_share",
            _share("cls = 'caller_equals_called'"),
            "share where the caller ID is the called number",
        ),
        Indicator(
            "missing_caller_share",
            _share("cls = 'missing'"),
            "share without a caller ID in E.164 form (anonymous, garbage)",
        ),
        Indicator(
            "toll_free_share",
            _share("cls = 'toll_free'"),
            "share with a toll-free number as caller ID (toll-free numbers do not call)",
        ),
        Indicator(
            "toll_free_callers",
            "count(DISTINCT caller) FILTER (WHERE cls = 'toll_free')",
            "distinct toll-free caller IDs (many look-alikes of one line: spoofing)",
        ),
        Indicator(
            "premium_share",
            _share("cls = 'premium_international'"),
            "share with an international premium-rate caller ID",
        ),
        Indicator(
            "one_ring_share",
            _share("cls = 'premium_international' AND NOT answered"),
            "share of unanswered attempts from international premium-rate caller IDs "
            "(one-ring / wangiri: ring once so the victim calls back)",
        ),
        Indicator(
            "neighbour_share",
            _share("neighbour"),
            "share whose caller ID has the called number's NPA-NXX (neighbour spoofing)",
        ),
        Indicator("distinct_called", "count(DISTINCT called)", "distinct called numbers"),
        Indicator("unsigned_share", _share("unsigned"), "share without STIR/SHAKEN attestation"),
        Indicator("attest_c_share", _share("attest_c"), "share with gateway (C) attestation"),
    )
}


# Indicators computed by their own query (window functions); see customer_indicators.
EXTRA_INDICATORS: dict[str, str] = {
    "peak_calls_per_minute": "most attempts in one minute",
    "top3_called_share": "share of attempts to the three most-called numbers (TDoS)",
    "top3_called_calls": "attempts to the three most-called numbers",
    "sequential_share": "share of distinct called numbers that follow another one by exactly "
    "1 (sequential dialling)",
    "customer_age_days": "days from customers.onboarded to the end of the window (new customer)",
    "customer_kind": "customers.kind",
}


def _prepare(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW th_window AS SELECT * FROM calls WHERE {window.where()}"
    )
    resolved = resolve_caller_classes(con, "th_window")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE th_features AS " + call_features_sql("th_window", resolved)
    )
    con.unregister(resolved)


def aggregate(
    con: duckdb.DuckDBPyConnection, key: str, *, min_calls: int = 1
) -> dict[str, dict[str, Any]]:
    """Run every :data:`INDICATORS` aggregate over ``th_features`` grouped by ``key``."""
    select = ",\n".join(f"{i.sql} AS {i.name}" for i in INDICATORS.values())
    cur = con.execute(
        f"SELECT {key} AS subject, {select} FROM th_features WHERE {key} IS NOT NULL "
        f"GROUP BY {key} HAVING count(*) >= ?",
        [min_calls],
    )
    cols = [d[0] for d in cur.description]
    return {r[0]: dict(zip(cols[1:], r[1:], strict=True)) for r in cur.fetchall()}


def _extra(con: duckdb.DuckDBPyConnection, key: str, window: Window) -> dict[str, dict]:
    out: dict[str, dict[str, Any]] = {}

    def put(sql: str) -> None:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        for r in cur.fetchall():
            out.setdefault(r[0], {}).update(dict(zip(cols[1:], r[1:], strict=True)))

    put(
        f"""SELECT {key}, max(n) AS peak_calls_per_minute FROM (
            SELECT {key}, count(*) AS n FROM th_features WHERE {key} IS NOT NULL
            GROUP BY {key}, date_trunc('minute', start)) GROUP BY {key}"""
    )
    put(
        f"""SELECT {key}, (sum(n) FILTER (WHERE rk <= 3) / sum(n))::DOUBLE AS top3_called_share,
                sum(n) FILTER (WHERE rk <= 3)::BIGINT AS top3_called_calls FROM (
            SELECT {key}, n, row_number() OVER (PARTITION BY {key} ORDER BY n DESC) AS rk FROM (
                SELECT {key}, called, count(*) AS n FROM th_features
                WHERE {key} IS NOT NULL AND called IS NOT NULL GROUP BY {key}, called))
            GROUP BY {key}"""
    )
    # Sequential dialling: sort each subject's distinct NANP called numbers; a run of numbers
    # one apart is a dialler walking a block (DOMAIN.md "sequential dialling").
    put(
        f"""SELECT {key}, coalesce(avg(step)::DOUBLE, 0) AS sequential_share FROM (
            SELECT {key}, coalesce(d - lag(d) OVER (PARTITION BY {key} ORDER BY d) = 1, FALSE)::INT AS step
            FROM (SELECT DISTINCT {key}, TRY_CAST(substr(called, 3) AS BIGINT) AS d
                  FROM th_features WHERE {key} IS NOT NULL AND starts_with(called, '+1')))
            GROUP BY {key}"""
    )
    if key == "upstream":
        end = "max(f.start)" if window.until is None else "?"
        params = [] if window.until is None else [window.until]
        cur = con.execute(
            f"""SELECT f.upstream, k.kind, date_diff('day', k.onboarded, ({end})::DATE)
                FROM th_features f LEFT JOIN customers k ON k.id = f.upstream
                WHERE f.upstream IS NOT NULL GROUP BY f.upstream, k.kind, k.onboarded""",
            params,
        )
        for sub, kind, age in cur.fetchall():
            out.setdefault(sub, {}).update({"customer_kind": kind, "customer_age_days": age})
    return out


def customer_indicators(
    con: duckdb.DuckDBPyConnection, window: Window, *, min_calls: int = 1
) -> dict[str, dict[str, Any]]:
    """Every indicator per customer (``upstream``) that sent ``min_calls`` or more in the
    window: ``{customer: {indicator: value}}``."""
    _prepare(con, window)
    return _merge(aggregate(con, "upstream", min_calls=min_calls), _extra(con, "upstream", window))


def caller_indicators(
    con: duckdb.DuckDBPyConnection, window: Window, *, min_calls: int = 1
) -> dict[str, dict[str, Any]]:
    """Every indicator per caller ID with ``min_calls`` or more attempts in the window, plus
    ``customers``: how many customers sent it. Reuses the features of the last
    :func:`customer_indicators` call when ``prepared`` (the same window)."""
    if not _has_features(con):
        _prepare(con, window)
    out = _merge(aggregate(con, "caller", min_calls=min_calls), _extra(con, "caller", window))
    for caller, n, cls in con.execute(
        "SELECT caller, count(DISTINCT upstream), any_value(cls) FROM th_features "
        "WHERE caller IS NOT NULL GROUP BY caller HAVING count(*) >= ?",
        [min_calls],
    ).fetchall():
        out[caller].update({"customers": n, "caller_class": cls})
    return out


def _has_features(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'th_features' AND temporary"
    ).fetchone()
    return bool(row and row[0])


def _merge(base: dict[str, dict], extra: dict[str, dict]) -> dict[str, dict[str, Any]]:
    for subject, values in base.items():
        values.update(extra.get(subject, {}))
    return base


# Named functions for each indicator, for callers that want one value (and for the docs).
def indicator(name: str) -> Callable[[duckdb.DuckDBPyConnection, Window], dict[str, Any]]:
    """A function computing one indicator per customer over a window."""

    def run(con: duckdb.DuckDBPyConnection, window: Window) -> dict[str, Any]:
        return {k: v[name] for k, v in customer_indicators(con, window).items()}

    run.__name__ = name
    run.__doc__ = INDICATORS[name].description if name in INDICATORS else EXTRA_INDICATORS[name]
    return run
