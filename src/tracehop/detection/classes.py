"""Caller-ID validity classes in SQL, once per distinct caller ID.

:func:`tracehop.numbers.caller_id_class` written as DuckDB SQL. The structural checks
(length, 0/1 and N9X codes, N11, 555-01XX, toll-free) run as a ``CASE``; whether a
well-formed NANP number is assigned comes from the NPA-NXX table of :mod:`tracehop.nanp`
(phonenumbers' metadata, precomputed per prefix) joined in SQL; what still needs
``phonenumbers`` (international numbers: possible? premium rate?; the few NPA-NXX whose
validity depends on the line number) is resolved once per distinct number in Python.

"caller = called" is a property of a call, not of a caller ID: the aggregates count it per
call (``cec``) and it takes precedence over the caller's class, as in ``caller_id_class``.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from tracehop import nanp
from tracehop.numbers import TOLL_FREE_NPAS, CallerIdClass, caller_id_class

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
TOLL_FREE_SQL = ", ".join(f"'{n}'" for n in sorted(TOLL_FREE_NPAS))
_NANP_TABLE = "th_nanp_valid"
_RESOLVED = "th_caller_resolved"


def caller_class_sql(caller: str = "caller", resolved: str = "r", nanp_ok: str = "v") -> str:
    """The caller-ID class of ``caller`` (without the caller = called case) as SQL.

    ``{resolved}.cls`` is the class resolved in Python (international numbers, mixed NPA-NXX),
    ``{nanp_ok}.prefix`` is non-NULL when the number's NPA-NXX is assigned."""
    n = f"substr({caller}, 3)"
    npa, nxx, line = f"substr({n}, 1, 3)", f"substr({n}, 4, 3)", f"substr({n}, 7)"
    return f"""(CASE
        WHEN {caller} IS NULL OR {caller} = '' THEN 'missing'
        WHEN starts_with({caller}, '+1') THEN CASE
            WHEN length({n}) <> 10 OR NOT regexp_full_match({n}, '[0-9]+') THEN 'invalid_length'
            WHEN substr({npa}, 1, 1) IN ('0', '1') OR substr({nxx}, 1, 1) IN ('0', '1')
                OR substr({npa}, 2, 1) = '9' THEN 'invalid_npa'
            WHEN substr({npa}, 2) = '11' OR substr({nxx}, 2) = '11' THEN 'n11'
            WHEN {nxx} = '555' AND {line} BETWEEN '0100' AND '0199' THEN 'fictional'
            WHEN {npa} IN ({TOLL_FREE_SQL}) THEN 'toll_free'
            WHEN {resolved}.cls IS NOT NULL THEN {resolved}.cls
            WHEN {nanp_ok}.prefix IS NOT NULL THEN 'valid'
            ELSE 'unassigned_npa' END
        ELSE coalesce({resolved}.cls, 'invalid_length') END)"""


def _register_nanp(con: duckdb.DuckDBPyConnection) -> None:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [_NANP_TABLE]
    ).fetchall()[0][0]
    if not exists:
        con.register("th_nanp_arrow", pa.table({"prefix": pa.array(nanp.valid_prefixes())}))
        con.execute(f"CREATE TEMP TABLE {_NANP_TABLE} AS SELECT prefix FROM th_nanp_arrow")
        con.unregister("th_nanp_arrow")


def classify_callers(con: duckdb.DuckDBPyConnection, callers: str, target: str) -> None:
    """Create temp table ``target(caller, cls)``: the class of every distinct caller ID of
    the relation ``callers`` (a column ``caller``)."""
    _register_nanp(con)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE th_distinct_callers AS "
        f"SELECT DISTINCT caller FROM {callers} WHERE caller IS NOT NULL"
    )
    # Python only for what the SQL and the NPA-NXX table cannot say: international numbers
    # and the NPA-NXX whose validity depends on the line number.
    mixed = sorted(nanp.mixed_prefixes())
    mixed_sql = ", ".join(str(p) for p in mixed) or "NULL"
    rows = con.execute(
        f"""SELECT caller FROM th_distinct_callers WHERE NOT starts_with(caller, '+1')
            OR (length(caller) = 12 AND TRY_CAST(substr(caller, 3, 6) AS INTEGER)
                IN ({mixed_sql}))"""
    ).fetchall()
    keys = [r[0] for r in rows]
    table = pa.table(
        {
            "caller": pa.array(keys, type=pa.string()),
            "cls": pa.array([str(caller_id_class(k)) for k in keys], type=pa.string()),
        }
    )
    con.register(_RESOLVED, table)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {target} AS
                SELECT d.caller, {caller_class_sql("d.caller", "r", "v")} AS cls
                FROM th_distinct_callers d
                LEFT JOIN {_RESOLVED} r ON r.caller = d.caller
                LEFT JOIN {_NANP_TABLE} v ON starts_with(d.caller, '+1')
                    AND length(d.caller) = 12
                    AND v.prefix = TRY_CAST(substr(d.caller, 3, 6) AS INTEGER)"""
        )
    finally:
        con.unregister(_RESOLVED)
        con.execute("DROP TABLE IF EXISTS th_distinct_callers")
