"""The normalisation every CDR format shares, as DuckDB SQL (vectorised, no Python per row).

Input: a relation of *mapped* text columns (see ``formats.py``) plus ``rec`` and ``source_line``.
Output: the canonical columns of DESIGN.md and a ``reason`` that is NULL for a good row and says,
for a bad one, what was wrong with it (the row then goes to the rejects table, never the lake).
"""

from __future__ import annotations

from tracehop.cdr.formats import DISPOSITIONS, _lit
from tracehop.numbers import NUMBER_CHARS, SCHEME, STRIP


def clean_number_sql(col: str) -> str:
    """numbers.clean() in SQL: the user part of a SIP/tel URI, trimmed."""
    s = f"split_part(split_part(trim({col}, {_lit(STRIP)}), '@', 1), ';', 1)"
    s = f"regexp_replace(trim({s}, {_lit(STRIP)}), {_lit(SCHEME)}, '')"
    return f"trim({s}, {_lit(STRIP)})"


def e164_sql(s: str, d: str) -> str:
    """numbers.to_e164() in SQL, given the cleaned text ``s`` and its digits ``d``.

    International numbers (after ``+`` or ``011``, not country code 1) go to the ``th_intl``
    function, which calls ``phonenumbers``; NANP numbers never leave the engine.
    """
    return f"""(CASE
        WHEN {s} IS NULL OR NOT regexp_full_match({s}, '{NUMBER_CHARS}') OR {d} = '' THEN NULL
        WHEN starts_with({s}, '+') AND starts_with({d}, '1')
            THEN CASE WHEN length({d}) = 11 THEN '+' || {d} END
        WHEN starts_with({s}, '+') THEN th_intl({d})
        WHEN starts_with({d}, '0111') THEN CASE WHEN length({d}) = 14 THEN '+' || substr({d}, 4) END
        WHEN starts_with({d}, '011') THEN th_intl(substr({d}, 4))
        WHEN length({d}) = 10 THEN '+1' || {d}
        WHEN length({d}) = 11 AND starts_with({d}, '1') THEN '+' || {d}
        ELSE NULL END)"""


def timestamp_sql(col: str, zone: str) -> str:
    """ISO 8601 with or without zone (naive = ``zone``), or epoch seconds -> TIMESTAMPTZ."""
    s = f"trim({col})"
    zoned = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
    return f"""(CASE
        WHEN {col} IS NULL OR {s} = '' THEN NULL
        WHEN regexp_full_match({s}, '[0-9]{{9,11}}(\\.[0-9]+)?') THEN to_timestamp({s}::DOUBLE)
        WHEN regexp_matches({s}, '{zoned}') THEN try_cast({s} AS TIMESTAMPTZ)
        ELSE timezone({_lit(zone)}, try_cast({s} AS TIMESTAMP))
        END)"""


_DISPOSITION_SYNONYMS: dict[str, str] = {
    "answered": "answered",
    "answer": "answered",
    "completed": "answered",
    "no_answer": "no_answer",
    "no answer": "no_answer",
    "noanswer": "no_answer",
    "no-answer": "no_answer",
    "unanswered": "no_answer",
    "busy": "busy",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "cancel": "cancelled",
    "failed": "failed",
    "failure": "failed",
    "congestion": "failed",
    "blocked": "blocked",
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
    zone: str,
    checksum: str,
    provider: str,
    source: str,
    passthrough: tuple[str, ...] = (),
) -> str:
    """SELECT turning ``mapped`` into canonical columns plus ``reason`` (NULL when good),
    and ``rid`` (the raw row's position) and any ``passthrough`` columns."""
    keep = "".join(f", {c}" for c in passthrough)
    synonyms = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in _DISPOSITION_SYNONYMS.items())
    caller_s = clean_number_sql("caller_raw")
    called_s = clean_number_sql("called_raw")
    return f"""
    WITH a AS (
        SELECT *,
            {timestamp_sql("start_raw", zone)} AS start_ts,
            nullif(trim(duration_raw), '') AS dur_s,
            nullif(trim(sip_code_raw), '') AS code_s,
            nullif(lower(trim(disposition_raw)), '') AS disp_s,
            nullif(upper(trim(attest_raw)), '') AS attest_s,
            {caller_s} AS caller_s,
            {called_s} AS called_s
        FROM {mapped}
    ), b AS (
        SELECT *,
            try_cast(dur_s AS DOUBLE) AS dur_n,
            try_cast(code_s AS INTEGER) AS code_n,
            CASE disp_s {synonyms} ELSE NULL END AS disp_n,
            regexp_replace(caller_s, '[^0-9]', '', 'g') AS caller_d,
            regexp_replace(called_s, '[^0-9]', '', 'g') AS called_d
        FROM a
    ), c AS (
        SELECT *,
            coalesce(disp_n, {disposition_from_code_sql("code_n")},
                     CASE WHEN dur_n > 0 THEN 'answered' WHEN dur_n = 0 THEN 'no_answer' END)
                AS disposition,
            CASE
                WHEN start_ts IS NULL AND nullif(trim(start_raw), '') IS NULL
                    THEN 'missing start time'
                WHEN start_ts IS NULL THEN 'unreadable start time ' || th_quote(start_raw)
                WHEN start_ts < TIMESTAMPTZ '1990-01-01 00:00:00+00'
                  OR start_ts > TIMESTAMPTZ '2100-01-01 00:00:00+00'
                    THEN 'start time out of range ' || th_quote(start_raw)
                WHEN caller_raw IS NULL OR trim(caller_raw, {_lit(STRIP)}) = ''
                    THEN 'missing caller number'
                WHEN called_raw IS NULL OR trim(called_raw, {_lit(STRIP)}) = ''
                    THEN 'missing called number'
                WHEN upstream_raw IS NULL OR trim(upstream_raw) = ''
                    THEN 'missing upstream (the customer or carrier the call came from)'
                WHEN dur_s IS NOT NULL AND (dur_n IS NULL OR isnan(dur_n) OR isinf(dur_n))
                    THEN 'unreadable duration ' || th_quote(duration_raw)
                WHEN dur_n < 0 OR dur_n > 1e7 THEN 'duration out of range ' || th_quote(duration_raw)
                WHEN code_s IS NOT NULL AND (code_n IS NULL OR code_n NOT BETWEEN 100 AND 699)
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
        coalesce(nullif(trim(call_id_raw), ''),
                 'th-' || substr(md5({_lit(checksum)} || ':' || source_line::VARCHAR), 1, 24))
            AS call_id,
        start_ts AS start,
        CASE WHEN disposition = 'answered' THEN round(dur_n)::INTEGER ELSE 0 END AS duration,
        {e164_sql("caller_s", "caller_d")} AS caller,
        {e164_sql("called_s", "called_d")} AS called,
        caller_raw,
        called_raw,
        trim(upstream_raw) AS upstream,
        nullif(trim(downstream_raw), '') AS downstream,
        disposition,
        code_n AS sip_code,
        attest_s AS attest,
        nullif(trim(orig_id_raw), '') AS orig_id,
        nullif(trim(identity_raw), '') AS identity,
        NULL::VARCHAR AS identity_status,
        {_lit(provider)} AS provider,
        {_lit(source)} AS source_file,
        source_line,
        extra,
        reason,
        rid{keep}
    FROM c"""
