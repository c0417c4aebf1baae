"""Detection indicators, per customer (``upstream``) and per caller ID: what each one is.

Each indicator is a named, documented entry of :data:`INDICATORS` (or
:data:`EXTRA_INDICATORS`): its name, its meaning and its SQL aggregate over the rows of
``th_uc`` (one row per customer and caller ID, per-call flags summed) joined with the caller
ID's class ``cls``. The statements that read the lake, build ``th_uc`` and compute these
aggregates per customer or per caller ID are in ``queries.py`` (the engine seam:
``queries.customer_indicators`` / ``queries.caller_indicators``); this module runs nothing.

The aggregates are written in DuckDB's dialect with nothing DuckDB-only in them:
``count(*) FILTER (WHERE ...)``, ``::DOUBLE`` casts, ``**`` and ``epoch()`` have direct
Spark SQL forms (SQLGlot writes ``FILTER``, ``CAST``, ``POWER`` and ``UNIX_TIMESTAMP``).

The indicators are the "reasonable analytics" the Commission names and providers publish in
their mitigation plans (DOMAIN.md, "What illegal traffic looks like in CDRs"). Thresholds are
not here: they belong to the scoring rules (``scoring.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tracehop.detection.classes import INVALID_CLASSES
from tracehop.detection.findings import Window as Window  # re-exported: its old home
from tracehop.numbers import CallerIdClass

# Answered calls shorter than this are "short" (DOMAIN.md: share of answered calls under 6 s).
SHORT_SECONDS = 6
# The answered-call shape: answered calls are counted under each of these durations (seconds)
# per customer and caller ID (``th_uc``: ``short`` for 6 s, ``a10`` ... ``a300``), which gives
# the shares under 10 and 30 s and the median answered duration (interpolated in its bucket).
SHAPE_EDGES = (SHORT_SECONDS, 10, 30, 60, 120, 300)
SHAPE_COLUMNS = ("short", "a10", "a30", "a60", "a120", "a300")
# Talk per attempt counts each answered call up to this many seconds (capped_talk_*).
TALK_CAP = 300
# A called number is judged for a flood (TDoS) once it received this many attempts in the
# window (one a minute for an hour).
FLOOD_MIN_CALLS = 60
# SIP answers that mean a downstream refused the call as unwanted: 403 Forbidden,
# 607 Unwanted (RFC 8197) and 608 Rejected (RFC 8688), as analytics-based blocking returns.
REFUSED_CODES = (403, 607, 608)
# identity_status values that mean STIR/SHAKEN verification failed: "failed", "invalid", or the
# verstat value "TN-Validation-Failed" of a verification service (ATIS-1000074, RFC 8224).
# Ingest leaves identity_status empty today; a verification step fills it.
VERIFY_FAILED = ("failed", "tn-validation-failed", "invalid")


@dataclass(frozen=True)
class Indicator:
    """One indicator: its SQL aggregate over ``th_uc`` rows joined with their caller class
    ``cls``, and what it means."""

    name: str
    sql: str
    description: str
    # The same value per customer from th_uc's ``first_row`` (one row per customer and caller
    # ID), where ``sql`` counts distinct caller IDs: a sum instead of a hash set of every
    # caller ID per customer (docs/performance.md, "Issue 14, fifth pass").
    per_customer: str | None = None


def _share(part: str, over: str = "sum(n)") -> str:
    return f"coalesce(sum({part}) / nullif({over}, 0), 0)::DOUBLE"


def _class_calls(*classes: str) -> str:
    """Calls (other than caller = called) whose caller ID is of one of ``classes``."""
    names = ", ".join(f"'{c}'" for c in classes)
    return f"CASE WHEN cls IN ({names}) THEN n - cec ELSE 0 END"


def median_sql(answered: str = "sum(answered)", cum: tuple[str, ...] | None = None) -> str:
    """The median answered duration from the cumulative counts under ``SHAPE_EDGES`` (``cum``:
    SQL for each, default ``sum(short)`` ... ``sum(a300)``), interpolated linearly inside its
    bucket; 300 s when more than half last longer; 0 without answered calls."""
    cum = cum or tuple(f"sum({c})" for c in SHAPE_COLUMNS)
    half = f"({answered}) / 2.0"
    parts = []
    lo_edge, lo_count = "0", "0"
    for edge, count in zip(SHAPE_EDGES, cum, strict=True):
        width = f"({edge} - {lo_edge})"
        frac = f"({half} - {lo_count}) / nullif(({count}) - {lo_count}, 0)"
        parts.append(f"WHEN ({count}) >= {half} THEN {lo_edge} + {width} * coalesce({frac}, 0)")
        lo_edge, lo_count = str(edge), f"({count})"
    return (
        f"(CASE WHEN coalesce({answered}, 0) = 0 THEN 0 "
        + " ".join(parts)
        + f" ELSE {SHAPE_EDGES[-1]} END)::DOUBLE"
    )


# A customer's distinct caller IDs: th_uc marks one row of each (customer, caller ID) with
# first_row = 1 (queries.label_rows; NULL where the caller ID is NULL, as count(DISTINCT)
# leaves NULL out).
_DISTINCT_CALLERS = "coalesce(sum(first_row), 0)"

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
            "short_share",
            _share("short", "sum(answered)"),
            f"share of answered calls shorter than {SHORT_SECONDS} s (published rule: > 20%)",
        ),
        Indicator(
            "under10_share",
            _share("a10", "sum(answered)"),
            "share of answered calls shorter than 10 s (the answered-call shape: robocalls "
            "are hung up on, or say nothing, within seconds)",
        ),
        Indicator(
            "under30_share",
            _share("a30", "sum(answered)"),
            "share of answered calls shorter than 30 s (over half: the median answered call "
            "is shorter than a recorded message)",
        ),
        Indicator(
            "median_answered",
            median_sql(),
            "median answered duration, seconds (interpolated in its bucket: 0-6, 6-10, 10-30, "
            "30-60, 60-120, 120-300 s; 300 when longer)",
        ),
        Indicator("failed_share", _share("failed"), "share of attempts that failed"),
        Indicator(
            "refused_share",
            _share("refused"),
            "share of attempts answered 403, 607 or 608 downstream (refused as unwanted)",
        ),
        Indicator(
            "distinct_callers",
            "count(DISTINCT caller)",
            "distinct caller IDs",
            per_customer=f"{_DISTINCT_CALLERS}::BIGINT",
        ),
        Indicator(
            "caller_rotation",
            "coalesce(count(DISTINCT caller) / nullif(sum(n), 0), 0)::DOUBLE",
            "distinct caller IDs per attempt: near 1 when each call shows a new number",
            per_customer=f"coalesce({_DISTINCT_CALLERS} / nullif(sum(n), 0), 0)::DOUBLE",
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
            "count(DISTINCT caller) FILTER (WHERE cls = 'toll_free' AND n > cec)",
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


# Customer indicators computed from th_ud / th_um / customers (queries.customer_indicators).
EXTRA_INDICATORS: dict[str, str] = {
    "peak_calls_per_minute": "most attempts in one minute",
    "distinct_called": "distinct called numbers",
    "top3_called_share": "share of attempts to the three most-called numbers (TDoS)",
    "top3_called_calls": "attempts to the three most-called numbers",
    "top_called_per_hour": "the most attempts to one called number in one clock hour (TDoS); "
    f"0 when no number was called {FLOOD_MIN_CALLS} times in the window",
    "sequential_share": "share of distinct called numbers that follow another one by exactly "
    "1 (sequential dialling)",
    "sequential_excess": "called numbers whose predecessor was called too, beyond what as many "
    "random calls into the same NPA-NXX blocks give (numbers x (1 - e^(-calls / 10,000)) a "
    "block)",
    "customer_age_days": "days from customers.onboarded to the end of the window (new customer)",
    "customer_kind": "customers.kind",
}
