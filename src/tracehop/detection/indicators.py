"""Detection indicators over the ``calls`` view, per customer (``upstream``) and per caller ID.

Each indicator is a named, documented entry of :data:`INDICATORS` (or
:data:`EXTRA_INDICATORS`). They are computed in two steps, all in DuckDB, nothing per row in
Python:

1. :func:`prepare` reads the window's calls **once per grouping** and keeps three small
   tables: ``th_uc`` (one row per customer and caller ID, with per-call flags summed: attempts,
   answered, short, failed, refused, neighbour-spoofed, unsigned, ...), ``th_ud`` (customer and
   called number: attempts) and ``th_um`` (customer and minute: attempts). The caller-ID class
   is computed once per distinct caller ID (``classes.py``), not per call.
2. The indicators are sums over those tables: per customer (:func:`customer_indicators`)
   and per caller ID (:func:`caller_indicators`, grouping ``th_uc`` by caller instead).

The indicators are the "reasonable analytics" the Commission names and providers publish in
their mitigation plans (DOMAIN.md, "What illegal traffic looks like in CDRs"). Thresholds are
not here: they belong to the scoring rules (``scoring.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from tracehop.detection.classes import INVALID_CLASSES, classify_callers
from tracehop.numbers import CallerIdClass

# Answered calls shorter than this are "short" (DOMAIN.md: share of answered calls under 6 s).
SHORT_SECONDS = 6
# Talk per attempt counts each answered call up to this many seconds (capped_talk_*).
TALK_CAP = 300
# SIP answers that mean a downstream refused the call as unwanted: 403 Forbidden,
# 607 Unwanted (RFC 8197) and 608 Rejected (RFC 8688), as analytics-based blocking returns.
REFUSED_CODES = (403, 607, 608)
# identity_status values that mean STIR/SHAKEN verification failed: "failed", "invalid", or the
# verstat value "TN-Validation-Failed" of a verification service (ATIS-1000074, RFC 8224).
# Ingest leaves identity_status empty today; a verification step fills it.
VERIFY_FAILED = ("failed", "tn-validation-failed", "invalid")


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[since, until)`` in UTC; None means unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    def where(self, column: str = "start") -> str:
        """The window as a SQL condition; the bounds are datetimes rendered as literals
        (a view cannot take parameters). The lake's ``day`` partitions (UTC days of
        ``start``) outside the window are pruned."""
        parts = []
        if self.since is not None:
            parts.append(f"{column} >= TIMESTAMPTZ '{_iso(self.since)}'")
            parts.append(f"day >= DATE '{_utc(self.since).date().isoformat()}'")
        if self.until is not None:
            parts.append(f"{column} < TIMESTAMPTZ '{_iso(self.until)}'")
            parts.append(f"day <= DATE '{_utc(self.until).date().isoformat()}'")
        return " AND ".join(parts) or "TRUE"


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


def _iso(t: datetime) -> str:
    return _utc(t).isoformat()


# th_uc: one row per (upstream, caller) with per-call flags summed. ``cec`` counts calls whose
# caller ID is the called number (that class belongs to the call); ``nc_unanswered`` the
# unanswered calls among the others (for one-ring).
_UC_SQL = """
CREATE OR REPLACE TEMP TABLE th_uc AS
SELECT upstream, caller,
    count(*) AS n,
    count(*) FILTER (WHERE cec) AS cec,
    count(*) FILTER (WHERE answered) AS answered,
    count(*) FILTER (WHERE answered AND duration < {short}) AS short,
    count(*) FILTER (WHERE disposition = 'failed') AS failed,
    count(*) FILTER (WHERE sip_code IN {refused}) AS refused,
    count(*) FILTER (WHERE NOT answered AND NOT cec) AS nc_unanswered,
    -- neighbour spoofing: caller ID shares the called number's NPA-NXX (DOMAIN.md)
    count(*) FILTER (WHERE starts_with(caller, '+1') AND starts_with(called, '+1')
        AND NOT cec AND substr(caller, 1, 8) = substr(called, 1, 8)) AS neighbour,
    count(*) FILTER (WHERE attest IS NULL) AS unsigned,
    count(*) FILTER (WHERE attest = 'B') AS attest_b,
    count(*) FILTER (WHERE attest = 'C') AS attest_c,
    count(*) FILTER (WHERE lower(identity_status) IN {verify_failed}) AS verify_failed,
    coalesce(sum(duration) FILTER (WHERE answered), 0)::BIGINT AS dur,
    coalesce(sum(least(duration, {cap})) FILTER (WHERE answered), 0)::BIGINT AS cdur,
    coalesce(sum(least(duration, {cap})::DOUBLE ** 2) FILTER (WHERE answered), 0) AS cdur2,
    min(start) AS first, max(start) AS last
FROM (
    SELECT upstream, caller, called, start, duration, disposition, sip_code, attest,
        identity_status, disposition = 'answered' AS answered,
        coalesce(caller <> '' AND caller = called, FALSE) AS cec
    FROM calls WHERE {where})
GROUP BY upstream, caller
"""
_UD_SQL = """
CREATE OR REPLACE TEMP TABLE th_ud AS
SELECT upstream, called, count(*) AS n FROM calls
WHERE {where} AND upstream IS NOT NULL AND called IS NOT NULL GROUP BY upstream, called
"""
_UM_SQL = """
CREATE OR REPLACE TEMP TABLE th_um AS
SELECT upstream, date_trunc('minute', start) AS minute, count(*) AS n FROM calls
WHERE {where} AND upstream IS NOT NULL GROUP BY upstream, minute
"""


def prepare(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    """Aggregate the window's calls into ``th_uc`` / ``th_ud`` / ``th_um`` and classify
    every distinct caller ID into ``th_cls``."""
    where = window.where()
    con.execute(
        _UC_SQL.format(
            short=SHORT_SECONDS,
            cap=TALK_CAP,
            refused=REFUSED_CODES,
            verify_failed=VERIFY_FAILED,
            where=where,
        )
    )
    con.execute(_UD_SQL.format(where=where))
    con.execute(_UM_SQL.format(where=where))
    classify_callers(con, "th_uc", "th_cls")


@dataclass(frozen=True)
class Indicator:
    """One indicator: its SQL aggregate over ``th_uc`` rows joined with their caller class
    ``cls``, and what it means."""

    name: str
    sql: str
    description: str


def _share(part: str, over: str = "sum(n)") -> str:
    return f"coalesce(sum({part}) / nullif({over}, 0), 0)::DOUBLE"


# A steady line: one caller ID with many attempts, most of them answered (notification calls).
STEADY_MIN_CALLS = 20
STEADY_MIN_ASR = 0.5  # the published ASR line: at 50% or more, completion is not suspect
_STEADY = f"(n >= {STEADY_MIN_CALLS} AND answered >= {STEADY_MIN_ASR} * n)"


def _other_share(part: str) -> str:
    """``part`` per attempt over the calls from caller IDs other than steady lines."""
    return (
        f"coalesce(sum({part}) FILTER (WHERE NOT {_STEADY}) / "
        f"nullif(sum(n) FILTER (WHERE NOT {_STEADY}), 0), 0)::DOUBLE"
    )


def _class_calls(*classes: str) -> str:
    """Calls (other than caller = called) whose caller ID is of one of ``classes``."""
    names = ", ".join(f"'{c}'" for c in classes)
    return f"CASE WHEN cls IN ({names}) THEN n - cec ELSE 0 END"


_INVALID_CALLER = [str(c) for c in INVALID_CLASSES if c != CallerIdClass.CALLER_EQUALS_CALLED]

# The per-subject indicators, in the order findings show them.
INDICATORS: dict[str, Indicator] = {
    i.name: i
    for i in (
        Indicator("calls", "sum(n)::BIGINT", "call attempts in the window"),
        Indicator("first_seen", "min(first)", "first attempt in the window"),
        Indicator("last_seen", "max(last)", "last attempt in the window"),
        Indicator(
            "calls_per_hour",
            "(sum(n) / greatest(epoch(max(last)) - epoch(min(first)), 3600) * 3600)::DOUBLE",
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
            "coalesce(sum(dur) / nullif(sum(answered), 0), 0)::DOUBLE",
            "average call duration of answered calls, seconds",
        ),
        Indicator(
            "talk_per_attempt",
            _share("dur"),
            "answered seconds per attempt (ASR x ACD): how much conversation each attempt buys",
        ),
        Indicator(
            "capped_talk_per_attempt",
            _share("cdur"),
            f"answered seconds per attempt, each call counted up to {TALK_CAP} s: robust to "
            "the few very long calls that decide a plain average",
        ),
        Indicator(
            "capped_talk_upper",
            f"coalesce({_share('cdur')} + 2 * sqrt(greatest({_share('cdur2')} "
            f"- ({_share('cdur')}) ** 2, 0) / sum(n)), 0)::DOUBLE",
            "upper confidence bound (two standard errors, about 97.5%) of "
            "capped_talk_per_attempt: what it could still be, given how few attempts were seen",
        ),
        Indicator(
            "steady_line_calls",
            f"coalesce(sum(n) FILTER (WHERE {_STEADY}), 0)::BIGINT",
            f"attempts from steady lines: caller IDs with {STEADY_MIN_CALLS} or more attempts "
            f"answered {STEADY_MIN_ASR:.0%} of the time or more (notification lines: reminders, "
            "alerts); the *_other_lines indicators leave them out",
        ),
        Indicator(
            "calls_other_lines",
            f"coalesce(sum(n) FILTER (WHERE NOT {_STEADY}), 0)::BIGINT",
            "attempts from caller IDs other than steady lines",
        ),
        Indicator(
            "asr_other_lines",
            _other_share("answered"),
            "ASR of the attempts from caller IDs other than steady lines",
        ),
        Indicator(
            "capped_talk_upper_other_lines",
            f"coalesce({_other_share('cdur')} + 2 * sqrt(greatest({_other_share('cdur2')} "
            f"- ({_other_share('cdur')}) ** 2, 0) / sum(n) FILTER (WHERE NOT {_STEADY})), 0)"
            "::DOUBLE",
            "capped_talk_upper of the attempts from caller IDs other than steady lines: a "
            "carrier that mixes its customers' notification calls (answered, very short) with "
            "call-center calls (long, rarely answered) does not look like a robocaller",
        ),
        Indicator(
            "short_share",
            _share("short", "sum(answered)"),
            f"share of answered calls shorter than {SHORT_SECONDS} s (published rule: > 20%)",
        ),
        Indicator("failed_share", _share("failed"), "share of attempts that failed"),
        Indicator(
            "refused_share",
            _share("refused"),
            "share of attempts answered 403, 607 or 608 downstream (refused as unwanted)",
        ),
        Indicator("distinct_callers", "count(caller)", "distinct caller IDs"),
        Indicator(
            "caller_rotation",
            "coalesce(count(caller) / nullif(sum(n), 0), 0)::DOUBLE",
            "distinct caller IDs per attempt: near 1 when each call shows a new number",
        ),
        Indicator(
            "invalid_share",
            _share("cec + " + _class_calls(*_INVALID_CALLER)),
            "share of attempts whose caller ID cannot be real: wrong length, impossible or "
            "unassigned area code or exchange, N11, 555-01XX, caller = called",
        ),
        Indicator(
            "invalid_npa_share",
            _share(_class_calls("invalid_npa", "unassigned_npa")),
            "share with an impossible or unassigned NANP area code or exchange",
        ),
        Indicator(
            "invalid_length_share",
            _share(_class_calls("invalid_length")),
            "share with a caller ID of impossible length",
        ),
        Indicator(
            "n11_share", _share(_class_calls("n11")), "share with an N11 area code or exchange"
        ),
        Indicator(
            "fictional_share",
            _share(_class_calls("fictional")),
            "share with a fictional 555-01XX caller ID",
        ),
        Indicator(
            "caller_equals_called_share",
            _share("cec"),
            "share where the caller ID is the called number",
        ),
        Indicator(
            "missing_caller_share",
            _share("CASE WHEN caller IS NULL OR caller = '' THEN n ELSE 0 END"),
            "share without a caller ID in E.164 form (anonymous, garbage)",
        ),
        Indicator(
            "toll_free_share",
            _share(_class_calls("toll_free")),
            "share with a toll-free number as caller ID (toll-free numbers do not call)",
        ),
        Indicator(
            "toll_free_callers",
            "count(*) FILTER (WHERE cls = 'toll_free' AND n > cec)",
            "distinct toll-free caller IDs (many look-alikes of one line: spoofing)",
        ),
        Indicator(
            "premium_share",
            _share(_class_calls("premium_international")),
            "share with an international premium-rate caller ID",
        ),
        Indicator(
            "one_ring_share",
            _share("CASE WHEN cls = 'premium_international' THEN nc_unanswered ELSE 0 END"),
            "share of unanswered attempts from international premium-rate caller IDs "
            "(one-ring / wangiri: ring once so the victim calls back)",
        ),
        Indicator(
            "neighbour_share",
            _share("neighbour"),
            "share whose caller ID has the called number's NPA-NXX (neighbour spoofing)",
        ),
        Indicator("unsigned_share", _share("unsigned"), "share without STIR/SHAKEN attestation"),
        Indicator("attest_b_share", _share("attest_b"), "share with partial (B) attestation"),
        Indicator("attest_c_share", _share("attest_c"), "share with gateway (C) attestation"),
        Indicator(
            "verify_failed_share",
            _share("verify_failed"),
            "share whose STIR/SHAKEN verification failed (identity_status)",
        ),
    )
}


# Customer indicators computed from th_ud / th_um / customers (see customer_indicators).
EXTRA_INDICATORS: dict[str, str] = {
    "peak_calls_per_minute": "most attempts in one minute",
    "distinct_called": "distinct called numbers",
    "top3_called_share": "share of attempts to the three most-called numbers (TDoS)",
    "top3_called_calls": "attempts to the three most-called numbers",
    "sequential_share": "share of distinct called numbers that follow another one by exactly "
    "1 (sequential dialling)",
    "customer_age_days": "days from customers.onboarded to the end of the window (new customer)",
    "customer_kind": "customers.kind",
}


def aggregate_sql(
    key: str, where: str = "TRUE", *, names: Iterable[str] | None = None, rows: str = "TRUE"
) -> str:
    """The :data:`INDICATORS` aggregates (all, or ``names``) over the ``th_uc`` rows matching
    ``rows`` (joined with the caller classes), grouped by ``key`` (``upstream`` or
    ``caller``) and filtered by ``where`` on the indicator values (e.g. ``calls >= 30``)."""
    chosen = [INDICATORS[n] for n in names] if names is not None else INDICATORS.values()
    select = ",\n".join(f"{i.sql} AS {i.name}" for i in chosen)
    extra = (
        ", count(upstream) AS customers, any_value(cls) AS caller_class"
        if key == "caller" and names is None
        else ""
    )
    return (
        f"SELECT * FROM (SELECT u.{key} AS subject, {select}{extra} FROM th_uc u "
        f"LEFT JOIN th_cls k USING (caller) "
        f"WHERE u.{key} IS NOT NULL AND {rows} GROUP BY u.{key}) WHERE {where}"
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return {r[0]: dict(zip(cols[1:], r[1:], strict=True)) for r in cur.fetchall()}


def _customer_extra(
    con: duckdb.DuckDBPyConnection, window: Window, base: dict[str, dict]
) -> dict[str, dict]:
    out: dict[str, dict[str, Any]] = {}

    def put(sql: str, params: list | None = None) -> None:
        for subject, values in _rows(con, sql, params).items():
            out.setdefault(subject, {}).update(values)

    put("SELECT upstream, max(n) AS peak_calls_per_minute FROM th_um GROUP BY upstream")
    # Concentration on a few called numbers (TDoS): the three largest counts, no sort.
    put(
        """SELECT upstream, count(*) AS distinct_called,
               list_sum(max(n, 3))::BIGINT AS top3_called_calls,
               (list_sum(max(n, 3)) / sum(n))::DOUBLE AS top3_called_share
           FROM th_ud GROUP BY upstream"""
    )
    # Sequential dialling: of each customer's distinct NANP called numbers (+1 and ten
    # digits; th_ud has each once), the share whose predecessor (number - 1) was called too:
    # a dialler walking a block (DOMAIN.md).
    # Kept per NPA-NXX block in th_seq (campaigns link customers that walk the same ranges).
    con.execute(
        """CREATE OR REPLACE TEMP TABLE th_seq AS
           WITH d AS (SELECT upstream, TRY_CAST(substr(called, 3) AS BIGINT) AS d FROM th_ud
                      WHERE starts_with(called, '+1') AND length(called) = 12)
           SELECT d.upstream, d.d // 10000 AS block, count(*) AS numbers,
               count(p.d) AS sequential
           FROM d LEFT JOIN d p ON p.upstream = d.upstream AND p.d = d.d - 1
           WHERE d.d IS NOT NULL GROUP BY d.upstream, block"""
    )
    put(
        """SELECT upstream, (sum(sequential) / sum(numbers))::DOUBLE AS sequential_share
           FROM th_seq GROUP BY upstream"""
    )
    # Know-your-customer facts: kind and age (days onboarded before the window's end).
    known = {
        r[0]: r[1:] for r in con.execute("SELECT id, kind, onboarded FROM customers").fetchall()
    }
    for cid, values in base.items():
        kind, onboarded = known.get(cid, (None, None))
        end = window.until or values.get("last_seen")
        age = (_utc(end).date() - onboarded).days if onboarded and end else None
        out.setdefault(cid, {}).update({"customer_kind": kind, "customer_age_days": age})
    return out


def customer_indicators(
    con: duckdb.DuckDBPyConnection, window: Window, *, min_calls: int = 1, prepared: bool = False
) -> dict[str, dict[str, Any]]:
    """Every indicator per customer (``upstream``) that sent ``min_calls`` or more in the
    window: ``{customer: {indicator: value}}``. ``prepared``: :func:`prepare` already ran
    for this window on ``con``."""
    if not prepared:
        prepare(con, window)
    base = _rows(con, aggregate_sql("upstream", "calls >= ?"), [min_calls])
    extra = _customer_extra(con, window, base)
    for subject, values in base.items():
        values.update(extra.get(subject, {}))
    return base


def caller_indicators(
    con: duckdb.DuckDBPyConnection,
    window: Window,
    *,
    min_calls: int = 1,
    prepared: bool = False,
    where: str = "TRUE",
) -> dict[str, dict[str, Any]]:
    """The :data:`INDICATORS` per caller ID with ``min_calls`` or more attempts in the
    window, plus ``customers`` (how many customers sent it) and ``caller_class``. ``where``
    is a further SQL condition on the aggregates (``scoring.candidates_sql``), so that only
    caller IDs a rule can flag come back to Python."""
    if not prepared:
        prepare(con, window)
    cond = f"calls >= {int(min_calls)} AND ({where})"
    if where == "TRUE":
        return _rows(con, aggregate_sql("caller", cond))
    # Two passes: the indicators the condition reads, for every caller ID, select the
    # candidates; then every indicator for the candidates only.
    used = ["calls"] + [n for n in INDICATORS if n != "calls" and re.search(rf"\b{n}\b", where)]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE th_candidates AS SELECT subject AS caller FROM ("
        + aggregate_sql("caller", cond, names=used)
        + ")"
    )
    return _rows(
        con, aggregate_sql("caller", rows="u.caller IN (SELECT caller FROM th_candidates)")
    )


# Named functions for each indicator, for callers that want one value (and for the docs).
def indicator(name: str) -> Callable[[duckdb.DuckDBPyConnection, Window], dict[str, Any]]:
    """A function computing one indicator per customer over a window."""

    def run(con: duckdb.DuckDBPyConnection, window: Window) -> dict[str, Any]:
        return {k: v[name] for k, v in customer_indicators(con, window).items()}

    run.__name__ = name
    run.__doc__ = INDICATORS[name].description if name in INDICATORS else EXTRA_INDICATORS[name]
    return run
