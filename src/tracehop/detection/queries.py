"""Detection's engine seam: every statement detection runs on the lake is built here and run
through :class:`tracehop.engine.Engine` (``sql``, ``materialize``, ``view``, Arrow tables).
No other detection module sends SQL to an engine, so a Spark engine has this one module
(and ``tracehop.engine``) to fill.

The statements, in the order a run makes them (docs/detection.md, "How it works"):

1. :func:`prepare`: the window's calls (:func:`window_where` prunes the lake's ``day``
   partitions) read once per grouping into ``th_uc`` (customer x caller ID, per-call flags
   summed), ``th_ud`` (customer x called number) and ``th_um`` (customer x minute); then
   :func:`classify_callers`: the class of every distinct caller ID into ``th_cls``.
2. :func:`customer_indicators` / :func:`caller_indicators`: the ``indicators.INDICATORS``
   aggregates over ``th_uc`` per customer or per caller ID (:func:`aggregate_sql`), the
   customer extras from ``th_ud`` / ``th_um`` / ``th_seq`` / ``customers``, and the caller IDs
   worth scoring pre-selected in SQL (:func:`candidates_sql`, the rules' own thresholds).
3. :func:`campaign_links`: the keys that link flagged customers into campaigns.
4. :func:`restrict_calls`: the detection-delay replay's narrowed ``calls`` view.

The SQL is written once, in DuckDB's dialect, and runs on both engines: DuckDB as it is,
Spark after SQLGlot transpiles it (``tracehop.spark_engine``: ``starts_with``, ``//``,
``TRY_CAST``, ``::`` casts, ``**``, ``epoch``, ``FILTER``). DuckDB
constructs with no Spark form (``arg_max(x, n, k)``, ``list(... ORDER BY ...)``,
``regexp_full_match``) are replaced by forms both run (``row_number()``, lists put together
in Python, ``translate``); one statement has a form per engine (``_TOP3_CALLED``: DuckDB's
``max(n, 3)`` is 8x faster than the portable ranking), and so do the campaigns' top keys
(``_top_keys``: ``arg_min`` with a heap, twice as fast). Each is said where it is written
(docs/architecture.md, "The engine seam").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from tracehop import nanp
from tracehop.detection.classes import resolve
from tracehop.detection.findings import Window
from tracehop.detection.indicators import (
    EXTRA_INDICATORS,
    FLOOD_MIN_CALLS,
    INDICATORS,
    REFUSED_CODES,
    SHAPE_COLUMNS,
    SHAPE_EDGES,
    TALK_CAP,
    VERIFY_FAILED,
    median_sql,
)
from tracehop.detection.rules import Rule, Threshold
from tracehop.detection.segments import (
    DIMENSIONS,
    POOL_MIN,
    class_group_sql,
    contrast,
    line_sql,
    reuse_sql,
)
from tracehop.engine import Engine, EngineLike, as_engine
from tracehop.numbers import TOLL_FREE_NPAS
from tracehop.sqltext import lit
from tracehop.times import utc_day, utc_iso

# --- the window's calls -----------------------------------------------------------------------


def window_where(window: Window, column: str = "start") -> str:
    """The window as a SQL condition; the bounds are datetimes rendered as literals (a view
    cannot take parameters). The lake's ``day`` partitions (UTC days of ``start``) outside
    the window are pruned. (``TIMESTAMPTZ '...'``: SQLGlot writes Spark's
    ``CAST(... AS TIMESTAMP)``; the literal carries its offset.)"""
    parts = []
    if window.since is not None:
        parts.append(f"{column} >= TIMESTAMPTZ {lit(utc_iso(window.since))}")
        parts.append(f"day >= DATE {lit(utc_day(window.since).isoformat())}")
    if window.until is not None:
        parts.append(f"{column} < TIMESTAMPTZ {lit(utc_iso(window.until))}")
        parts.append(f"day <= DATE {lit(utc_day(window.until).isoformat())}")
    return " AND ".join(parts) or "TRUE"


def _in_list(values: Iterable[object]) -> str:
    return "(" + ", ".join(lit(v) if isinstance(v, str) else str(v) for v in values) + ")"


# th_uc: one row per (upstream, caller) with per-call flags summed. ``cec`` counts calls whose
# caller ID is the called number (that class belongs to the call); ``nc_unanswered`` the
# unanswered calls among the others (for one-ring). The counts are INTEGER (a count per
# customer x caller ID x attestation in one window), the talk seconds BIGINT: at 10 M calls
# th_uc is millions of rows, and BIGINT counts made it spill past the memory limit
# (docs/performance.md, "Issue 14, third pass").
_UC_SELECT = """
SELECT upstream, caller, att,
    count(*)::INTEGER AS n,
    count(*) FILTER (WHERE cec)::INTEGER AS cec,
    count(*) FILTER (WHERE answered)::INTEGER AS answered,
    {shape},
    count(*) FILTER (WHERE disposition = 'failed')::INTEGER AS failed,
    count(*) FILTER (WHERE sip_code IN {refused})::INTEGER AS refused,
    count(*) FILTER (WHERE NOT answered AND NOT cec)::INTEGER AS nc_unanswered,
    -- neighbour spoofing: caller ID shares the called number's NPA-NXX (DOMAIN.md)
    count(*) FILTER (WHERE starts_with(caller, '+1') AND starts_with(called, '+1')
        AND NOT cec AND substr(caller, 1, 8) = substr(called, 1, 8))::INTEGER AS neighbour,
    count(*) FILTER (WHERE attest IS NULL)::INTEGER AS unsigned,
    -- B and C are groups of their own (``att``): no per-call filter to count them
    (CASE WHEN att = 'B' THEN count(*) ELSE 0 END)::INTEGER AS attest_b,
    (CASE WHEN att = 'C' THEN count(*) ELSE 0 END)::INTEGER AS attest_c,
    count(*) FILTER (WHERE lower(identity_status) IN {verify_failed})::INTEGER AS verify_failed,
    coalesce(sum(duration) FILTER (WHERE answered), 0)::BIGINT AS dur,
    coalesce(sum(capped) FILTER (WHERE answered), 0)::BIGINT AS cdur,
    coalesce(sum(capped::DOUBLE * capped) FILTER (WHERE answered), 0) AS cdur2,
    min(start) AS first, max(start) AS last
FROM (
    SELECT upstream, caller, called, start, duration, disposition, sip_code, attest,
        identity_status, {att} AS att, least(duration, {cap}) AS capped,
        disposition = 'answered' AS answered,
        coalesce(caller <> '' AND caller = called, FALSE) AS cec
    FROM calls WHERE {where})
GROUP BY upstream, caller, att
"""
# The attestation a th_uc row is grouped by: A, B, C, or '' (unsigned, or a value that is not
# an attestation level). One row per caller ID and attest segment, so counting rows counts
# caller IDs in the attest segments.
ATT_SQL = "CASE WHEN attest IN ('A', 'B', 'C') THEN attest ELSE '' END"
_UD_SELECT = """
SELECT upstream, called, count(*)::INTEGER AS n FROM calls
WHERE {where} AND upstream IS NOT NULL AND called IS NOT NULL GROUP BY upstream, called
"""
# The minute (and the flood's hour) as a number of the epoch: the same UTC buckets as
# date_trunc, which on TIMESTAMPTZ goes through the time-zone calendar for every row (1.9 ->
# 0.3 CPU s for the 10 M calls of docs/performance.md, "Issue 14, fourth pass").
_UM_SELECT = """
SELECT upstream, floor(epoch(start) / 60) AS minute, count(*) AS n FROM calls
WHERE {where} AND upstream IS NOT NULL GROUP BY upstream, minute
"""


def prepare(engine: EngineLike, window: Window, *, dno: Iterable[str] | None = None) -> None:
    """Aggregate the window's calls into ``th_uc`` / ``th_ud`` / ``th_um``; classify every
    distinct caller ID and label each ``th_uc`` row with its class and its segments
    (:func:`label_rows`). ``dno``: Do-Not-Originate numbers, the ``class=dno`` segment
    (:func:`register_dno`)."""
    engine = as_engine(engine)
    if dno is not None:
        register_dno(engine, dno)
    where = window_where(window)
    shape = ",\n    ".join(
        f"count(*) FILTER (WHERE answered AND duration < {edge})::INTEGER AS {col}"
        for edge, col in zip(SHAPE_EDGES, SHAPE_COLUMNS, strict=True)
    )
    uc = _UC_SELECT.format(
        shape=shape,
        cap=TALK_CAP,
        refused=_in_list(REFUSED_CODES),
        verify_failed=_in_list(VERIFY_FAILED),
        where=where,
        att=ATT_SQL,
    )
    engine.materialize("th_ucall", uc)
    engine.materialize("th_ud", _UD_SELECT.format(where=where))
    engine.materialize("th_um", _UM_SELECT.format(where=where))
    classify_callers(engine, "th_ucall", "th_cls")
    label_rows(engine)
    engine.drop("th_ucall")
    engine.drop("th_cls")


def label_rows(engine: Engine) -> None:
    """``th_uc``: the rows of ``th_ucall`` (customer x caller ID x attestation) with their
    caller class ``cls`` and their segment in every dimension (``segments.py``), in one pass:
    every later aggregate (indicators, segments, caller IDs) reads them without a join.
    What is judged per caller ID (reuse, line, neighbour pattern) comes from a per-caller
    ``GROUP BY`` joined back, not from window functions over millions of tiny partitions;
    ``first_row`` marks one row per caller ID, so a sum of it counts caller IDs exactly in
    the segments that are the same for all of a caller ID's rows (all but attest and
    rotated, where a row is a caller ID); ``caller_calls`` is the caller ID's attempts over
    all its rows (the campaign keys read it on the ``first_row`` rows, no second
    ``GROUP BY``). The attest and reuse segments follow from ``att`` and ``caller_calls``
    and are not stored (:data:`DERIVED_LABELS`, where the segments are read: two string
    columns less to write, docs/performance.md, "Issue 14, fifth pass"). The pools
    (``pool=dense``) are counted on the per-caller rows, so the labelled rows are read
    once. Rows without a customer or a caller ID are kept for the indicators; the segments
    leave them out."""
    dno = engine.has_table(_DNO_TABLE)

    def block(caller: str) -> str:  # the thousands-block (NPA-NXX-X) of a NANP caller ID
        return (
            f"CASE WHEN starts_with({caller}, '+1') AND length({caller}) = 12 "
            f"THEN substr({caller}, 1, 9) END"
        )

    join_dno = f"LEFT JOIN {_DNO_TABLE} d ON d.caller = u.caller" if dno else ""
    engine.materialize(
        "th_uc",
        f"""WITH per_caller AS (
               SELECT upstream, caller, sum(n)::INTEGER AS cn, sum(answered) AS ca,
                   sum(neighbour) AS cnb, min(att) AS first_att
               FROM th_ucall WHERE upstream IS NOT NULL AND caller IS NOT NULL
               GROUP BY upstream, caller),
           pools AS (
               SELECT upstream, {block("caller")} AS block FROM per_caller
               WHERE {reuse_sql("cn")} <> 'steady'
               GROUP BY upstream, block HAVING block IS NOT NULL AND count(*) >= {POOL_MIN}),
           callers AS (
               SELECT t.*, CASE WHEN p.block IS NOT NULL THEN 'dense' END AS pool
               FROM per_caller t LEFT JOIN pools p
                 ON p.upstream = t.upstream AND p.block = {block("t.caller")}
                 AND {reuse_sql("t.cn")} <> 'steady')
           SELECT u.*, k.cls,
               (u.att = t.first_att)::INTEGER AS first_row, t.cn AS caller_calls,
               {class_group_sql(dno)} AS cls_group,
               CASE WHEN 2 * t.cnb >= t.cn AND t.cnb > 0 THEN 'neighbour'
                    ELSE 'other' END AS pattern,
               {line_sql("t.cn", "t.ca")} AS line,
               t.pool
           FROM th_ucall u
               LEFT JOIN callers t ON t.upstream = u.upstream AND t.caller = u.caller
               LEFT JOIN th_cls k ON k.caller = u.caller {join_dno}""",
    )


# The segments of a th_uc row that follow from its own columns, computed where they are read
# (``SELECT *, {DERIVED_LABELS} FROM th_uc``) rather than stored by label_rows.
DERIVED_LABELS = (
    "CASE WHEN att <> '' THEN att ELSE 'unsigned' END AS att_seg, "
    f"{reuse_sql('caller_calls')} AS reuse"
)


# --- caller-ID classes ------------------------------------------------------------------------

TOLL_FREE_SQL = ", ".join(lit(n) for n in sorted(TOLL_FREE_NPAS))
_NANP_TABLE = "th_nanp_valid"
_RESOLVED = "th_caller_resolved"


def caller_class_sql(caller: str = "caller", resolved: str = "r", nanp_ok: str = "v") -> str:
    """The caller-ID class of ``caller`` (without the caller = called case) as SQL:
    :func:`tracehop.numbers.caller_id_class` written as a ``CASE``.

    ``{resolved}.cls`` is the class resolved in Python (international numbers, mixed NPA-NXX),
    ``{nanp_ok}.prefix`` is non-NULL when the number's NPA-NXX is assigned.
    "Digits only" is ``translate`` deleting the digits (both engines; DuckDB's
    ``regexp_full_match`` has no Spark name)."""
    n = f"substr({caller}, 3)"
    npa, nxx, line = f"substr({n}, 1, 3)", f"substr({n}, 4, 3)", f"substr({n}, 7)"
    return f"""(CASE
        WHEN {caller} IS NULL OR {caller} = '' THEN 'missing'
        WHEN starts_with({caller}, '+1') THEN CASE
            WHEN length({n}) <> 10 OR translate({n}, '0123456789', '') <> '' THEN 'invalid_length'
            WHEN substr({npa}, 1, 1) IN ('0', '1') OR substr({nxx}, 1, 1) IN ('0', '1')
                OR substr({npa}, 2, 1) = '9' THEN 'invalid_npa'
            WHEN substr({npa}, 2) = '11' OR substr({nxx}, 2) = '11' THEN 'n11'
            WHEN {nxx} = '555' AND {line} BETWEEN '0100' AND '0199' THEN 'fictional'
            WHEN {npa} IN ({TOLL_FREE_SQL}) THEN 'toll_free'
            WHEN {resolved}.cls IS NOT NULL THEN {resolved}.cls
            WHEN {nanp_ok}.prefix IS NOT NULL THEN 'valid'
            ELSE 'unassigned_npa' END
        ELSE coalesce({resolved}.cls, 'invalid_length') END)"""


def _load_nanp(engine: Engine) -> None:
    """The assigned NPA-NXX prefixes (``tracehop.nanp``) as a session table, once per engine."""
    if not engine.has_table(_NANP_TABLE):
        engine.register_arrow(
            "th_nanp_arrow", pa.table({"prefix": pa.array(nanp.valid_prefixes())})
        )
        engine.materialize(_NANP_TABLE, "SELECT prefix FROM th_nanp_arrow")
        engine.unregister("th_nanp_arrow")


def classify_callers(engine: EngineLike, callers: str, target: str) -> None:
    """Create the session table ``target(caller, cls)``: the class of every distinct caller
    ID of the relation ``callers`` (a column ``caller``)."""
    engine = as_engine(engine)
    _load_nanp(engine)
    engine.materialize(
        "th_distinct_callers", f"SELECT DISTINCT caller FROM {callers} WHERE caller IS NOT NULL"
    )
    # Python only for what the SQL and the NPA-NXX table cannot say: international numbers
    # and the NPA-NXX whose validity depends on the line number.
    mixed = sorted(nanp.mixed_prefixes())
    mixed_sql = ", ".join(str(p) for p in mixed) or "NULL"
    rows = engine.sql(
        f"""SELECT caller FROM th_distinct_callers WHERE NOT starts_with(caller, '+1')
            OR (length(caller) = 12 AND TRY_CAST(substr(caller, 3, 6) AS INTEGER)
                IN ({mixed_sql}))"""
    )
    engine.register_arrow(_RESOLVED, resolve([r[0] for r in rows]))
    try:
        engine.materialize(
            target,
            f"""SELECT d.caller, {caller_class_sql("d.caller", "r", "v")} AS cls
                FROM th_distinct_callers d
                LEFT JOIN {_RESOLVED} r ON r.caller = d.caller
                LEFT JOIN {_NANP_TABLE} v ON starts_with(d.caller, '+1')
                    AND length(d.caller) = 12
                    AND v.prefix = TRY_CAST(substr(d.caller, 3, 6) AS INTEGER)""",
        )
    finally:
        engine.unregister(_RESOLVED)
        engine.drop("th_distinct_callers")


# --- indicators per subject -------------------------------------------------------------------


def aggregate_sql(
    key: str, where: str = "TRUE", *, names: Iterable[str] | None = None, rows: str = "TRUE"
) -> str:
    """The :data:`INDICATORS` aggregates (all, or ``names``) over the ``th_uc`` rows matching
    ``rows`` (joined with the caller classes), grouped by ``key`` (``upstream`` or
    ``caller``) and filtered by ``where`` on the indicator values (e.g. ``calls >= 30``)."""
    chosen = [INDICATORS[n] for n in names] if names is not None else INDICATORS.values()
    select = ",\n".join(
        f"{(i.per_customer if key == 'upstream' else None) or i.sql} AS {i.name}" for i in chosen
    )
    extra = (
        ", count(DISTINCT upstream) AS customers, any_value(cls) AS caller_class"
        if key == "caller" and names is None
        else ""
    )
    return (
        f"SELECT * FROM (SELECT u.{key} AS subject, {select}{extra} FROM th_uc u "
        f"WHERE u.{key} IS NOT NULL AND {rows} GROUP BY u.{key}) WHERE {where}"
    )


def _by_subject(engine: Engine, sql: str, params: Sequence[Any] = ()) -> dict[str, dict]:
    """``{first column: {other column: value}}``."""
    result = engine.sql(sql, params)
    cols = result.columns
    return {r[0]: dict(zip(cols[1:], r[1:], strict=True)) for r in result}


# The one statement written per engine (docs/architecture.md, "The engine seam"): DuckDB's
# top-k aggregate max(n, 3) has no Spark form, and the portable row_number() ranking sorts
# every customer's called numbers: 8x slower on DuckDB (0.25 s against 0.03 s for the 964,000
# customer x called-number rows of a 1 M-call lake). Same values (tests/test_engine_spark.py).
_TOP3_CALLED = {
    "duckdb": """SELECT upstream, count(*) AS distinct_called,
               list_sum(max(n, 3))::BIGINT AS top3_called_calls,
               (list_sum(max(n, 3)) / sum(n))::DOUBLE AS top3_called_share
           FROM th_ud GROUP BY upstream""",
    "spark": """SELECT upstream, count(*) AS distinct_called,
               sum(CASE WHEN r <= 3 THEN n ELSE 0 END)::BIGINT AS top3_called_calls,
               (sum(CASE WHEN r <= 3 THEN n ELSE 0 END) / sum(n))::DOUBLE AS top3_called_share
           FROM (SELECT upstream, n,
                     row_number() OVER (PARTITION BY upstream ORDER BY n DESC) AS r
                 FROM th_ud)
           GROUP BY upstream""",
}


# th_seq: per customer and NPA-NXX block of its distinct NANP called numbers (th_ud), how many
# numbers, how many of them follow a number called too (number - 1), and their attempts;
# ``d``: each customer's distinct NANP called numbers as integers (th_ud has each once).
_SEQ_NUMBERS = """d AS (SELECT upstream, TRY_CAST(substr(called, 3) AS BIGINT) AS d, n
           FROM th_ud WHERE starts_with(called, '+1') AND length(called) = 12)"""
_SEQ_JOIN = f"""WITH {_SEQ_NUMBERS}
      SELECT d.upstream, d.d // 10000 AS block, count(*) AS numbers,
          count(p.d) AS sequential, sum(d.n) AS calls
      FROM d LEFT JOIN d p ON p.upstream = d.upstream AND p.d = d.d - 1
      WHERE d.d IS NOT NULL GROUP BY d.upstream, block"""
# The same on DuckDB without the self-join of 8 M rows: a bitmap of each block's 10,000 numbers
# (bitstring_agg; bit i is number block * 10,000 + i), the numbers whose predecessor is set
# counted as the bits set in both the bitmap and itself shifted by one, plus the block's first
# number when the previous block's last is set. A set, where the join counts rows: it is exact
# when no two rows of a customer have the same number (``exact``: as many bits as numbers, none
# negative), which holds for the lake's E.164 called numbers; else the join runs
# (docs/performance.md, "Issue 14, fifth pass": 2.7 -> 1.7 CPU s at 10 M calls). DuckDB-only
# (bitstring_agg and BIT operators have no Spark form).
_SEQ_BITS = f"""WITH {_SEQ_NUMBERS},
      b AS (SELECT upstream, d // 10000 AS block, count(*) AS numbers, sum(n) AS calls,
                bitstring_agg((d % 10000)::INTEGER, 0, 9999) FILTER (WHERE d >= 0) AS bits,
                min(d) >= 0 AS positive
            FROM d WHERE d IS NOT NULL GROUP BY upstream, block)
      SELECT b.upstream, b.block, b.numbers,
          (bit_count(b.bits & (b.bits >> 1))
           + CASE WHEN get_bit(b.bits, 0) = 1 AND get_bit(p.bits, 9999) = 1 THEN 1 ELSE 0 END)
              ::BIGINT AS sequential,
          b.calls, coalesce(b.positive AND bit_count(b.bits) = b.numbers, FALSE) AS exact
      FROM b LEFT JOIN b p ON p.upstream = b.upstream AND p.block = b.block - 1"""


def _sequential_blocks(engine: Engine) -> None:
    """``th_seq`` from ``th_ud`` (the bitmap form on DuckDB when it is exact, else the join)."""
    if engine.name == "duckdb":
        engine.materialize("th_seq", _SEQ_BITS)
        if not engine.sql("SELECT count(*) FROM th_seq WHERE NOT exact").scalar():
            return
    engine.materialize("th_seq", _SEQ_JOIN)


def _customer_extra(engine: Engine, window: Window, base: dict[str, dict]) -> dict[str, dict]:
    out: dict[str, dict[str, Any]] = {}

    def put(sql: str) -> None:
        for subject, values in _by_subject(engine, sql).items():
            out.setdefault(subject, {}).update(values)

    put("SELECT upstream, max(n) AS peak_calls_per_minute FROM th_um GROUP BY upstream")
    # Concentration on a few called numbers (TDoS): the three largest counts.
    put(_TOP3_CALLED.get(engine.name, _TOP3_CALLED["spark"]))
    # A flood on one number (TDoS, "tens or hundreds of calls ... in rapid succession"): the
    # most attempts to one called number in one clock hour. Only numbers called FLOOD_MIN_CALLS
    # times in the window can reach it, so the calls are read again for those alone.
    put(
        f"""SELECT c.upstream, max(c.n)::BIGINT AS top_called_per_hour FROM (
               SELECT k.upstream, k.called, floor(epoch(k.start) / 3600) AS hour,
                   count(*) AS n
               FROM calls k JOIN (SELECT upstream, called FROM th_ud
                                  WHERE n >= {FLOOD_MIN_CALLS}) f
                   ON f.upstream = k.upstream AND f.called = k.called
               WHERE {window_where(window)}
               GROUP BY k.upstream, k.called, hour) c
           GROUP BY c.upstream"""
    )
    # Sequential dialling: of each customer's distinct NANP called numbers (+1 and ten
    # digits; th_ud has each once), the share whose predecessor (number - 1) was called too:
    # a dialler walking a block (DOMAIN.md).
    # Kept per NPA-NXX block in th_seq (campaigns link customers that walk the same ranges).
    _sequential_blocks(engine)
    # Random dialling into a block of 10,000 numbers calls a number's predecessor too with
    # probability 1 - (1 - 1/10,000)^calls: the excess over that is dialling in sequence.
    put(
        """SELECT upstream, (sum(sequential) / sum(numbers))::DOUBLE AS sequential_share,
               greatest(sum(sequential) - sum(numbers * (1 - exp(-calls / 10000.0))), 0)
                   ::DOUBLE AS sequential_excess
           FROM th_seq GROUP BY upstream"""
    )
    # Know-your-customer facts: kind and age (days onboarded before the window's end).
    known = {r[0]: r[1:] for r in engine.sql("SELECT id, kind, onboarded FROM customers")}
    for cid, values in base.items():
        kind, onboarded = known.get(cid, (None, None))
        end = window.until or values.get("last_seen")
        age = (utc_day(end) - onboarded).days if onboarded and end else None
        out.setdefault(cid, {}).update({"customer_kind": kind, "customer_age_days": age})
        # no number called FLOOD_MIN_CALLS times: no flood, 0 (indicators.py says so)
        out[cid].setdefault("top_called_per_hour", 0)
    return out


def customer_indicators(
    engine: EngineLike, window: Window, *, min_calls: int = 1, prepared: bool = False
) -> dict[str, dict[str, Any]]:
    """Every indicator per customer (``upstream``) that sent ``min_calls`` or more in the
    window: ``{customer: {indicator: value}}``. ``prepared``: :func:`prepare` already ran
    for this window on ``engine``."""
    engine = as_engine(engine)
    if not prepared:
        prepare(engine, window)
    base = _by_subject(engine, aggregate_sql("upstream", "calls >= ?"), [min_calls])
    extra = _customer_extra(engine, window, base)
    for subject, values in base.items():
        values.update(extra.get(subject, {}))
    return base


def caller_indicators(
    engine: EngineLike,
    window: Window,
    *,
    min_calls: int = 1,
    prepared: bool = False,
    where: str = "TRUE",
) -> dict[str, dict[str, Any]]:
    """The :data:`INDICATORS` per caller ID with ``min_calls`` or more attempts in the
    window, plus ``customers`` (how many customers sent it) and ``caller_class``. ``where``
    is a further SQL condition on the aggregates (:func:`candidates_sql`), so that only
    caller IDs a rule can flag come back to Python."""
    engine = as_engine(engine)
    if not prepared:
        prepare(engine, window)
    cond = f"calls >= {int(min_calls)} AND ({where})"
    if where == "TRUE":
        return _by_subject(engine, aggregate_sql("caller", cond))
    # Two passes: the indicators the condition reads, for every caller ID, select the
    # candidates; then every indicator for the candidates only.
    used = ["calls"] + [n for n in INDICATORS if n != "calls" and re.search(rf"\b{n}\b", where)]
    engine.materialize(
        "th_candidates",
        "SELECT subject AS caller FROM (" + aggregate_sql("caller", cond, names=used) + ")",
    )
    return _by_subject(
        engine, aggregate_sql("caller", rows="u.caller IN (SELECT caller FROM th_candidates)")
    )


def indicator(name: str) -> Callable[[EngineLike, Window], dict[str, Any]]:
    """A function computing one indicator per customer over a window."""

    def run(engine: EngineLike, window: Window) -> dict[str, Any]:
        return {k: v[name] for k, v in customer_indicators(engine, window).items()}

    run.__name__ = name
    run.__doc__ = INDICATORS[name].description if name in INDICATORS else EXTRA_INDICATORS[name]
    return run


# The counts of :func:`tracehop.detection.scoring.derive` as SQL over the indicator columns.
DERIVED_SQL = {
    "answered_calls": "round(asr * calls)",
    "invalid_calls": "round(invalid_share * calls)",
    "neighbour_calls": "round(neighbour_share * calls)",
    "one_ring_calls": "round(one_ring_share * calls)",
    "verify_failed_calls": "round(verify_failed_share * calls)",
    "sequential_numbers": "round(sequential_share * distinct_called)",
}


def candidates_sql(rules: tuple[Rule, ...]) -> str:
    """A SQL condition over the indicator columns that holds when any strong rule of
    ``rules`` can fire: the subjects worth scoring in Python (the rest score 0)."""

    def cond(t: Threshold) -> str:
        return f"coalesce({DERIVED_SQL.get(t.indicator, t.indicator)} {t.op} {t.value!r}, FALSE)"

    ors = []
    for rule in rules:
        if rule.weak is not None or rule.exempt_kinds:
            continue
        ands = [cond(t) for t in rule.thresholds]
        for choice in rule.choices:
            options = [" AND ".join(cond(t) for t in ts) for _, ts in choice.options]
            ands.append("(" + " OR ".join(f"({o})" for o in options) + ")")
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors) or "FALSE"


# --- segments ---------------------------------------------------------------------------------

_DNO_TABLE = "th_dno"


def lake_span(engine: Engine) -> tuple[Any, Any]:
    """The first and last call start in the lake (None, None when it holds none)."""
    first, last = next(iter(engine.sql("SELECT min(start), max(start) FROM calls")))
    return first, last


def register_dno(engine: EngineLike, numbers: Iterable[str]) -> None:
    """The Do-Not-Originate list (E.164 numbers) as the session table ``th_dno``: its caller
    IDs are the ``class=dno`` segment of the next :func:`segment_indicators`."""
    engine = as_engine(engine)
    table = pa.table({"caller": pa.array(sorted(set(numbers)), type=pa.string())})
    engine.register_arrow("th_dno_arrow", table)
    engine.materialize(_DNO_TABLE, "SELECT caller FROM th_dno_arrow")
    engine.unregister("th_dno_arrow")


def segment_indicators(engine: EngineLike) -> dict[str, dict[str, dict[str, Any]]]:
    """Every customer's segments (``segments.py``) with their counts and answered-call shape:
    ``{customer: {"class=impossible": {...}, ...}}``. Needs :func:`prepare`, which labelled
    each ``th_uc`` row with its segments (:func:`label_rows`); one ``GROUPING SETS``
    aggregate gives every dimension."""
    engine = as_engine(engine)
    shape = median_sql("answered", SHAPE_COLUMNS)
    rows = engine.sql(
        f"""SELECT upstream, dim, value, calls,
               CASE WHEN dim IN ('attest', 'rotated') THEN row_count ELSE firsts END AS callers,
               answered, unanswered_nc,
               answered / calls AS asr,
               coalesce(short / nullif(answered, 0), 0) AS short_share,
               coalesce(a10 / nullif(answered, 0), 0) AS under10_share,
               coalesce(a30 / nullif(answered, 0), 0) AS under30_share,
               {shape} AS median_answered
           FROM (
               SELECT upstream,
                   CASE WHEN grouping(cls_group) = 0 THEN 'class'
                        WHEN grouping(pattern) = 0 THEN 'pattern'
                        WHEN grouping(att_seg) = 0 THEN 'attest'
                        WHEN grouping(reuse) = 0 THEN 'reuse'
                        WHEN grouping(rotated) = 0 THEN 'rotated'
                        WHEN grouping(line) = 0 THEN 'line'
                        WHEN grouping(pool) = 0 THEN 'pool' ELSE 'cli' END AS dim,
                   coalesce(cls_group, pattern, att_seg, reuse, rotated, line, pool, cli)
                       AS value,
                   sum(n)::BIGINT AS calls, count(*) AS row_count, sum(first_row) AS firsts,
                   sum(answered)::BIGINT AS answered,
                   sum(nc_unanswered)::BIGINT AS unanswered_nc,
                   {", ".join(f"sum({c})::DOUBLE AS {c}" for c in SHAPE_COLUMNS)}
               FROM (SELECT *, CASE WHEN reuse <> 'steady' THEN att_seg END AS rotated,
                         CASE WHEN cls_group = 'impossible' OR (cls_group = 'toll_free'
                              AND reuse <> 'steady') THEN 'unreal' END AS cli
                     FROM (SELECT *, {DERIVED_LABELS} FROM th_uc
                           WHERE upstream IS NOT NULL AND caller IS NOT NULL))
               GROUP BY GROUPING SETS ((upstream, cls_group), (upstream, pattern),
                                       (upstream, att_seg), (upstream, reuse),
                                       (upstream, rotated), (upstream, line),
                                       (upstream, pool), (upstream, cli)))
           WHERE value IS NOT NULL AND value <> 'other'"""
    )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    cols = rows.columns
    for r in rows:
        v = dict(zip(cols, r, strict=True))
        if v["value"] not in DIMENSIONS[v["dim"]]:
            continue
        out.setdefault(v.pop("upstream"), {})[f"{v.pop('dim')}={v.pop('value')}"] = v
    return {customer: contrast(segs) for customer, segs in out.items()}


def segment_examples(
    engine: EngineLike, wanted: list[tuple[str, str]], window: Window, per_segment: int = 3
) -> dict[tuple[str, str], list[str]]:
    """Example call ids for ``(customer, segment name)`` pairs: the first call id of the
    segment's most-used caller IDs (``per_segment`` of them). Needs
    :func:`segment_indicators` of the window. The call ids are looked up in the window's
    calls for those few caller IDs only (carrying a call id through every aggregate row
    cost a third of the whole run on a large lake)."""
    if not wanted:
        return {}
    engine = as_engine(engine)
    dims = {"class": "cls_group", "pattern": "pattern", "attest": "att_seg", "reuse": "reuse",
            "line": "line", "pool": "pool"}  # fmt: skip
    engine.register_arrow(
        "th_want",
        pa.table(
            {
                "upstream": pa.array([w[0] for w in wanted], type=pa.string()),
                "dim": pa.array([w[1].split("=", 1)[0] for w in wanted], type=pa.string()),
                "value": pa.array([w[1].split("=", 1)[1] for w in wanted], type=pa.string()),
            }
        ),
    )
    try:
        match = " OR ".join(f"(w.dim = '{d}' AND w.value = s.{c})" for d, c in dims.items())
        match += " OR (w.dim = 'rotated' AND w.value = s.att_seg AND s.reuse <> 'steady')"
        match += (
            " OR (w.dim = 'cli' AND (s.cls_group = 'impossible'"
            " OR (s.cls_group = 'toll_free' AND s.reuse <> 'steady')))"
        )
        rows_in = (
            f"FROM (SELECT *, {DERIVED_LABELS} FROM th_uc) s JOIN th_want w "
            f"ON w.upstream = s.upstream "
            f"AND s.caller IS NOT NULL AND ({match})"
        )
        if engine.name == "duckdb":
            # A heap per segment (arg_min over (-n, caller, att), k of them, in that order)
            # instead of ranking every matching row: the same picks, 1.2 -> 0.6 CPU s at
            # 10 M calls (docs/performance.md, "Issue 14, fifth pass"). DuckDB-only.
            picks = f"""SELECT upstream, dim, value, top.caller, top.att, k FROM (
                   SELECT upstream, dim, value, unnest(tops) AS top,
                       unnest(range(1, len(tops) + 1)) AS k FROM (
                       SELECT s.upstream, w.dim, w.value,
                           arg_min({{'caller': s.caller, 'att': s.att}},
                                   (-s.n, s.caller, s.att), {int(per_segment)}) AS tops
                       {rows_in} GROUP BY ALL))"""
        else:
            picks = f"""SELECT upstream, dim, value, caller, att, k FROM (
                   SELECT s.upstream, w.dim, w.value, s.caller, s.att, row_number() OVER (
                       PARTITION BY s.upstream, w.dim, w.value ORDER BY s.n DESC, s.caller,
                       s.att) AS k
                   {rows_in})
               WHERE k <= {int(per_segment)}"""
        engine.materialize("th_picks", picks)
        rows = engine.sql(
            f"""SELECT p.upstream, p.dim || '=' || p.value, e.ex
               FROM th_picks p JOIN (
                   SELECT upstream, caller, {ATT_SQL} AS att, min(call_id) AS ex
                   FROM calls
                   WHERE {window_where(window)}
                       AND caller IN (SELECT DISTINCT caller FROM th_picks)
                   GROUP BY ALL) e
                 ON e.upstream = p.upstream AND e.caller = p.caller AND e.att = p.att
               ORDER BY p.upstream, p.dim, p.value, p.k"""
        )
    finally:
        engine.unregister("th_want")
        engine.drop("th_picks")
    out: dict[tuple[str, str], list[str]] = {}
    for upstream, segment, ex in rows:
        out.setdefault((upstream, segment), []).append(ex)
    return out


# --- campaigns --------------------------------------------------------------------------------


def _top_keys(engine: str, table: str, column: str, prefix: str, k: int) -> str:
    """Each customer's ``k`` keys of ``table`` with the most attempts ``n`` (ties broken by
    md5 of customer and key, the same on both engines), as rows ``(upstream, key, 1)``. One
    form per engine: DuckDB's ``arg_min(x, (-n, md5), k)`` keeps a heap per customer (over
    the rows that reach the customer's k-th largest count) and is twice as fast as ranking
    every row, which is the form Spark has."""
    key = f"{lit(prefix)} || {column}" if prefix else column
    if engine == "duckdb":
        # Only rows with at least the customer's k-th largest count can be among its top k:
        # the md5 tie-break is computed for those alone (it was most of the statement's
        # time over every flagged customer's millions of called numbers); the same keys.
        return (
            f"SELECT upstream, {lit(prefix)} || unnest(arg_min({column}, "
            f"(-n, md5(upstream || {column})), {k})) AS key, 1 AS weight "
            f"FROM (SELECT t.upstream, t.{column}, t.n FROM {table} t JOIN ("
            f"SELECT upstream, list_min(max(n, {k})) AS kth FROM {table} GROUP BY upstream"
            f") f ON f.upstream = t.upstream WHERE t.n >= f.kth) GROUP BY upstream"
        )
    return (
        f"SELECT upstream, {key} AS key, 1 AS weight FROM (SELECT upstream, {column}, "
        f"row_number() OVER (PARTITION BY upstream ORDER BY n DESC, md5(upstream || {column})) "
        f"AS r FROM {table}) WHERE r <= {k}"
    )


def campaign_links(
    engine: EngineLike,
    names: list[str],
    window: Window,
    *,
    top_callers: int,
    min_sequential: int,
    min_shared: int,
) -> list[tuple[str, str, int, list[str]]]:
    """Pairs of the flagged customers ``names`` that share ``min_shared`` keys or more:
    ``(a, b, shared, examples)`` with ``a < b`` and up to five example keys. The keys (rules
    in ``campaigns.py``): each customer's ``top_callers`` most-used caller IDs, its three
    most-called numbers (``called:``), NPA-NXX blocks where it dialled ``min_sequential``
    numbers right after their predecessor (``range:``), and its STIR/SHAKEN origination
    identifiers (``orig_id:``, weighing ``min_shared`` each). Needs :func:`prepare` and
    :func:`customer_indicators` (``th_seq``) of the window."""
    engine = as_engine(engine)
    engine.register_arrow("th_flagged", pa.table({"name": pa.array(names, type=pa.string())}))
    try:
        # Written for both engines but the top keys (``_top_keys``: a form each), the five
        # example keys ranked in SQL and put in lists here
        # (list(... ORDER BY ...) has none either: collect_list drops the order). Ties are
        # broken by md5 of customer and key (the same on both engines): by the key alone,
        # two customers that each called 36 numbers once would both pick the same lowest
        # three and share them as "most-called" numbers.
        rows = engine.sql(
            f"""WITH uc AS (
                  SELECT upstream, caller, caller_calls AS n FROM th_uc
                  WHERE first_row = 1 AND upstream IN (SELECT name FROM th_flagged)
                    AND caller IS NOT NULL AND caller <> ''),
                ud AS (
                  SELECT upstream, called, n FROM th_ud
                  WHERE upstream IN (SELECT name FROM th_flagged)),
                k AS (
                  {_top_keys(engine.name, "uc", "caller", "", int(top_callers))}
                  UNION ALL
                  {_top_keys(engine.name, "ud", "called", "called:", 3)}
                  UNION ALL
                  -- called-number ranges walked in sequence: NPA-NXX blocks where the
                  -- customer called min_sequential numbers whose predecessor it called
                  SELECT upstream, 'range:+1' || block::VARCHAR, 1 FROM th_seq
                  WHERE upstream IN (SELECT name FROM th_flagged)
                    AND sequential >= {int(min_sequential)}
                  UNION ALL
                  SELECT DISTINCT upstream, 'orig_id:' || orig_id, {int(min_shared)} FROM calls
                  WHERE {window_where(window)} AND orig_id IS NOT NULL AND orig_id <> ''
                    AND upstream IN (SELECT name FROM th_flagged)),
                pairs AS (
                  SELECT a.upstream AS a, b.upstream AS b, a.key, a.weight,
                      sum(a.weight) OVER (PARTITION BY a.upstream, b.upstream) AS shared,
                      row_number() OVER (PARTITION BY a.upstream, b.upstream
                                         ORDER BY a.weight DESC, a.key) AS r
                  FROM k a JOIN k b ON a.key = b.key AND a.upstream < b.upstream)
                SELECT a, b, shared, key FROM pairs
                WHERE shared >= {int(min_shared)} AND r <= 5
                ORDER BY a, b, r"""
        )
    finally:
        engine.unregister("th_flagged")
    links: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for a, b, shared, key in rows:
        links.setdefault((a, b), (int(shared), []))[1].append(key)
    return [(a, b, n, examples) for (a, b), (n, examples) in links.items()]


# --- the detection-delay replay ---------------------------------------------------------------


def restrict_calls(engine: EngineLike, customer: str, since: datetime) -> None:
    """Narrow the ``calls`` view to ``customer``'s calls from ``since`` on (kept as the
    session table ``th_delay_calls``): the delay replay runs many windows over them."""
    engine = as_engine(engine)
    engine.materialize(
        "th_delay_calls",
        "SELECT * FROM calls WHERE upstream = ? AND start >= ?",
        [customer, since],
    )
    engine.view("calls", "SELECT * FROM th_delay_calls")
