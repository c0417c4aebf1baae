"""The normalisation every CDR format shares, as DuckDB SQL (vectorised, no Python per row).

Input: a relation of *mapped* text columns (see ``formats.py``) plus ``rec`` and ``source_line``.
Output: the canonical columns of DESIGN.md and a ``reason`` that is NULL for a good row and says,
for a bad one, what was wrong with it (the row then goes to the rejects table, never the lake).
"""

from __future__ import annotations

from tracehop.cdr.layouts import DISPOSITIONS
from tracehop.sqltext import lit

# The number rules' character classes, equal to tracehop.numbers' (tests/test_ingest.py checks):
# written here so that ingest does not import phonenumbers and its NANP tables (0.2-0.3 s)
# unless a file has international numbers (then after the query, see resolve_international).
NUMBER_CHARS = r"[0-9+ \t().\-/]*"
STRIP = " \t"
SCHEME = r"^([sS][iI][pP][sS]?|[tT][eE][lL]):"


def clean_number_sql(col: str) -> str:
    """numbers.clean() in SQL: the user part of a SIP/tel URI, trimmed.

    Most values are plain numbers: the URI steps run only when one of ``@ ; :`` is present
    (without them the steps change nothing but the trim).
    """
    strip = lit(STRIP)
    s = f"split_part(split_part(trim({col}, {strip}), '@', 1), ';', 1)"
    s = f"regexp_replace(trim({s}, {strip}), {lit(SCHEME)}, '')"
    return (
        f"(CASE WHEN regexp_matches({col}, '[@;:]') THEN trim({s}, {strip}) "
        f"ELSE trim({col}, {strip}) END)"
    )


INTL_MARK = "?"


def e164_sql(s: str, d: str, ok: str) -> str:
    """numbers.to_e164() in SQL, given the cleaned text ``s``, its digits ``d`` and ``ok``
    (``s`` is written only with NUMBER_CHARS).

    NANP numbers are finished here. An international number (after ``+`` or ``011``, not
    country code 1) comes out as ``?`` and its digits: ``phonenumbers`` answers for it once
    per distinct number after the query (:func:`resolve_international`); calling Python for
    every row would cost more than all the SQL together.
    """
    return f"""(CASE
        WHEN {s} IS NULL OR NOT {ok} OR {d} = '' THEN NULL
        WHEN starts_with({s}, '+') THEN CASE
            WHEN NOT starts_with({d}, '1') THEN '{INTL_MARK}' || {d}
            WHEN length({d}) = 11 THEN '+' || {d} END
        WHEN starts_with({d}, '0111') THEN CASE WHEN length({d}) = 14 THEN '+' || substr({d}, 4) END
        WHEN starts_with({d}, '011') THEN '{INTL_MARK}' || substr({d}, 4)
        WHEN length({d}) = 10 THEN '+1' || {d}
        WHEN length({d}) = 11 AND starts_with({d}, '1') THEN '+' || {d}
        ELSE NULL END)"""


def resolve_international(con, table: str, columns: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """Replace each ``?digits`` value in ``columns`` with its E.164 form (or NULL)."""
    from tracehop.numbers import international_e164

    union = " UNION ".join(
        f"SELECT DISTINCT {c} AS key FROM {table} WHERE starts_with({c}, '{INTL_MARK}')"
        for c in columns
    )
    keys = [r[0] for r in con.execute(union).fetchall()]
    if not keys:
        return
    # Lists as parameters, not a registered Arrow table: registering imports pandas (0.2 s).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE th_intl_map AS "
        "SELECT unnest(?::VARCHAR[]) AS key, unnest(?::VARCHAR[]) AS e164",
        [keys, [international_e164(k[1:]) for k in keys]],
    )
    try:
        for column in columns:
            con.execute(
                f"UPDATE {table} SET {column} = m.e164 FROM th_intl_map m "
                f"WHERE {table}.{column} = m.key"
            ).fetchall()
    finally:
        con.execute("DROP TABLE th_intl_map")


FAST_NUMBER = "\\+?[0-9]+"


def number_columns_sql(raw: str, name: str) -> tuple[str, str, str]:
    """Three projection layers giving ``{name}_s`` (cleaned), ``{name}_d`` (digits) and
    ``{name}_ok`` (written only with NUMBER_CHARS). Each layer reads the one before, so nothing
    is computed twice or for rows that do not need it.

    ``{name}_k`` sorts values by the work they need: 1, digits with at most a leading ``+`` (most
    switch output: the value is its own cleaned text, its digits a slice of it); 2, only
    NUMBER_CHARS (no URI: cleaning is a trim, no second check); 3, anything else (the URI steps
    and the check); 0, NULL. For kind 2, ``{name}_s`` keeps trailing blanks (the trim is costly
    and they change neither the digits, nor the leading ``+``, nor whether it is empty).
    """
    first = f"""CASE WHEN regexp_full_match({raw}, '{FAST_NUMBER}') THEN 1
            WHEN regexp_full_match({raw}, '{NUMBER_CHARS}') THEN 2
            WHEN {raw} IS NULL THEN 0 ELSE 3 END AS {name}_k"""
    blank = " OR ".join(f"starts_with({raw}, {lit(c)})" for c in STRIP)
    second = f"""CASE {name}_k WHEN 1 THEN {raw}
            WHEN 2 THEN CASE WHEN {blank} THEN ltrim({raw}, {lit(STRIP)}) ELSE {raw} END
            WHEN 3 THEN {clean_number_sql(raw)} END AS {name}_s"""
    third = f"""CASE WHEN {name}_k = 1 THEN
                 CASE WHEN starts_with({name}_s, '+') THEN substr({name}_s, 2) ELSE {name}_s END
                 ELSE regexp_replace({name}_s, '[^0-9]', '', 'g') END AS {name}_d,
            CASE WHEN {name}_k = 3 THEN regexp_full_match({name}_s, '{NUMBER_CHARS}')
                 ELSE {name}_k > 0 END AS {name}_ok"""
    return first, second, third


def timestamp_sql(col: str) -> str:
    """ISO 8601 with or without zone, or epoch seconds -> TIMESTAMPTZ.

    Naive timestamps are read in the session's TimeZone, which ingest sets to the switch's
    zone (``--timezone``, UTC by default) while it normalises, then back to UTC. DuckDB's cast
    also reads ``2020/2/10 22:41`` or ``2020-2-10``: only text shaped ``YYYY-MM-DD...`` is
    cast, other shapes are read only where the layout names their format (``start_alt``).
    One CASE, so that the epoch test runs only for values that are not ISO-shaped (a
    ``coalesce`` would run it for every row: 0.3 CPU-s per 1 M rows).
    """
    s = f"trim({col})"
    return f"""(CASE
        WHEN {col} LIKE '____-__-__%' THEN try_cast({col} AS TIMESTAMPTZ)
        WHEN regexp_full_match({s}, '[0-9]{{9,11}}(\\.[0-9]+)?') THEN to_timestamp({s}::DOUBLE)
        WHEN {s} LIKE '____-__-__%' THEN try_cast({s} AS TIMESTAMPTZ)
        END)"""


# The canonical names first: a CASE tries its WHENs in order, and most files use them.
_DISPOSITION_SYNONYMS: dict[str, str] = {
    **{d: d for d in DISPOSITIONS},
    "answer": "answered",
    "completed": "answered",
    "no answer": "no_answer",
    "noanswer": "no_answer",
    "no-answer": "no_answer",
    "unanswered": "no_answer",
    "canceled": "cancelled",
    "cancel": "cancelled",
    "failure": "failed",
    "congestion": "failed",
    "rejected": "blocked",
}
assert set(_DISPOSITION_SYNONYMS.values()) == set(DISPOSITIONS)


def disposition_from_code_sql(code: str) -> str:
    """How a call ended, from its final SIP response code."""
    return f"""(CASE
        WHEN {code} IS NULL THEN NULL
        WHEN {code} BETWEEN 200 AND 299 THEN 'answered'
        WHEN {code} IN (486, 600) THEN 'busy'
        WHEN {code} = 487 THEN 'cancelled'
        WHEN {code} IN (408, 480) THEN 'no_answer'
        WHEN {code} IN (603, 607, 608) THEN 'blocked'
        ELSE 'failed' END)"""


def normalise_sql(
    mapped: str,
    *,
    passthrough: tuple[str, ...] = (),
    start_alt: bool = False,
    duration_scale: float = 1.0,
    wide: str | None = None,
) -> str:
    """SELECT turning ``mapped`` into canonical columns (but ``source_line``, which ingest adds
    once it knows which lines the reader skipped) plus ``reason`` (NULL when the row is good)
    and any ``passthrough`` columns.

    ``start_alt``: ``mapped`` also has ``start_alt`` (the time read with one of the layout's
    own formats) and ``start_fmt`` (which one): used when the text is not ISO 8601 or epoch
    seconds, and the format is recorded in ``extra`` as ``start_format``. ``duration_scale``:
    0.001 for a layout whose durations are milliseconds. ``wide``: ``mapped`` has ``th_wide``
    (the row had more fields than the layout), rejected with this reason. International
    numbers come out as ``?digits`` for :func:`resolve_international`."""
    keep = "".join(f", {c}" for c in passthrough)
    start = timestamp_sql("start_raw")
    if start_alt:
        start = f"coalesce({start}, start_alt)"
        extra = (
            "CASE WHEN start_alt IS NOT NULL AND start_ts = start_alt AND start_fmt IS NOT NULL "
            "THEN json_merge_patch(coalesce(extra, '{}'), json_object('start_format', start_fmt))"
            "::VARCHAR ELSE extra END"
        )
    else:
        extra = "extra"
    duration = "try_cast(duration_raw AS DOUBLE)"
    if duration_scale != 1.0:
        # divided, not multiplied by the scale: 9650 cs / 100 is exactly 96.5 (rounded up like
        # every half second), 9650 * 0.01 is not
        duration = f"({duration} / {round(1 / duration_scale)!r})"
    canonical = " ".join(f"WHEN {lit(d)} THEN {lit(d)}" for d in DISPOSITIONS)
    synonyms = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in _DISPOSITION_SYNONYMS.items())
    caller_1, caller_2, caller_3 = number_columns_sql("caller_raw", "caller")
    called_1, called_2, called_3 = number_columns_sql("called_raw", "called")
    # Casts tolerate surrounding blanks, so values are trimmed only where a check needs it.
    return f"""
    WITH a AS (
        SELECT *,
            {start} AS start_ts,
            {duration} AS dur_n,
            try_cast(sip_code_raw AS INTEGER) AS code_n,
            -- values already canonical (most switch output) skip lower/trim: for them the
            -- result is the value itself. A CASE, not IN (...): DuckDB turns an IN list
            -- into a join, which loses the file order the line numbers depend on.
            CASE disposition_raw {canonical}
                 ELSE CASE WHEN disposition_raw IS NOT NULL
                      THEN nullif(lower(trim(disposition_raw)), '') END END AS disp_s,
            CASE attest_raw WHEN 'A' THEN 'A' WHEN 'B' THEN 'B' WHEN 'C' THEN 'C'
                 ELSE CASE WHEN attest_raw IS NOT NULL
                      THEN nullif(upper(trim(attest_raw)), '') END END AS attest_s,
            trim(upstream_raw) AS upstream,
            {caller_1},
            {called_1}
        FROM {mapped}
    ), b AS (
        SELECT *,
            CASE disp_s {synonyms} ELSE NULL END AS disp_n,
            {caller_2},
            {called_2}
        FROM a
    ), c AS (
        SELECT *,
            {caller_3},
            {called_3},
            coalesce(disp_n, {disposition_from_code_sql("code_n")},
                     CASE WHEN dur_n > 0 THEN 'answered' WHEN dur_n = 0 THEN 'no_answer' END)
                AS disposition,
            CASE {f"WHEN th_wide THEN {lit(wide)}" if wide else ""}
                WHEN start_ts IS NULL AND (start_raw IS NULL OR trim(start_raw) = '')
                    THEN 'missing start time'
                WHEN start_ts IS NULL THEN 'unreadable start time ' || th_quote(start_raw)
                WHEN start_ts < TIMESTAMPTZ '1990-01-01 00:00:00+00'
                  OR start_ts > TIMESTAMPTZ '2100-01-01 00:00:00+00'
                    THEN 'start time out of range ' || th_quote(start_raw)
                -- no caller number is a call all the same (withheld, or a robocaller's
                -- empty caller ID): kept, its caller-ID class is "missing"
                WHEN called_s IS NULL OR called_s = '' THEN 'missing called number'
                WHEN upstream IS NULL OR upstream = ''
                    THEN 'missing upstream (the customer or carrier the call came from)'
                WHEN dur_n IS NULL AND duration_raw IS NOT NULL AND trim(duration_raw) <> ''
                    THEN 'unreadable duration ' || th_quote(duration_raw)
                -- NaN sorts above every number in DuckDB: one test for NaN, inf and range
                WHEN NOT (dur_n BETWEEN 0 AND 1e7)
                    THEN 'duration out of range ' || th_quote(duration_raw)
                WHEN (code_n IS NULL AND sip_code_raw IS NOT NULL AND trim(sip_code_raw) <> '')
                  OR code_n NOT BETWEEN 100 AND 699
                    THEN 'unreadable SIP code ' || th_quote(sip_code_raw)
                WHEN disp_s IS NOT NULL AND disp_n IS NULL
                    THEN 'unknown disposition ' || th_quote(disposition_raw)
                        || ' (answered, no_answer, busy, cancelled, failed, blocked)'
                WHEN attest_s IS NOT NULL AND attest_s NOT IN ('A', 'B', 'C')
                    THEN 'attestation must be A, B or C, not ' || th_quote(attest_raw)
                ELSE NULL END AS reason
        FROM b
    )
    SELECT
        nullif(trim(call_id_raw), '') AS call_id,
        start_ts AS start,
        -- a row whose duration is out of range is rejected (reason): it must not fail the
        -- file on the cast (a skipped row too: every row is cast before rows are dropped)
        CASE WHEN disposition = 'answered' AND dur_n BETWEEN 0 AND 1e7
             THEN round(dur_n)::INTEGER ELSE 0 END AS duration,
        {e164_sql("caller_s", "caller_d", "caller_ok")} AS caller,
        {e164_sql("called_s", "called_d", "called_ok")} AS called,
        caller_raw,
        called_raw,
        upstream,
        nullif(trim(downstream_raw), '') AS downstream,
        disposition,
        code_n AS sip_code,
        attest_s AS attest,
        nullif(trim(orig_id_raw), '') AS orig_id,
        nullif(trim(identity_raw), '') AS identity,
        {extra} AS extra,
        reason{keep}
    FROM c"""
