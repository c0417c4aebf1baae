"""The DuckDB side of ingest: one parallel pass from the source file to a staged table, then
sorted Parquet per day and a rejects file.

1. ``stage()``: ``read_csv`` (or ``read_parquet``) -> the preset's mapping -> the shared
   normalisation (``sql.py``) -> table ``staged``, in file order (DuckDB keeps insertion order,
   so ``rowid`` is the row's position among the rows the CSV reader could split).
2. Line numbers: the reader skips the header, blank lines and rows it cannot split (those go to
   its rejects table with their line). Knowing all of them, row k's line is
   ``k + #{skipped lines before it}``, computed in SQL without a second pass over the data.
3. ``write()``: the good rows' Identity headers verified (``identity.py``), then good rows per
   UTC day, sorted by start; bad rows with the line as written.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tracehop.cdr.compile import Compiled, compile_layout
from tracehop.cdr.identity import IDENTITY_COLUMNS, IngestVerifier, verify_lined
from tracehop.cdr.layouts import PRESETS, Layout
from tracehop.cdr.reader import csv_source, parquet_source, read_by_line
from tracehop.cdr.scan import FileScan, scan_file
from tracehop.cdr.sources import read_lines
from tracehop.cdr.sql import normalise_sql, resolve_international
from tracehop.sqltext import lit

log = logging.getLogger(__name__)

# Up to this many skipped lines, each row's line number is one SQL expression; beyond it a
# table of line numbers is joined by position.
INLINE_SKIPS = 64
# Sorted by start: what varies per row. Constants and the default call id are added after the
# sort (an ORDER BY carries every column it outputs through the sort).
SORTED_COLUMNS = (
    "call_id, start, duration, caller, called, caller_raw, called_raw, upstream, downstream, "
    "disposition, sip_code, attest, orig_id, identity, source_line, extra, " + IDENTITY_COLUMNS
)
# A dictionary is kept for columns with few values per row group (upstream, disposition, ...);
# for the others (numbers, call ids, line numbers) DuckDB gives up sooner: same files, less CPU.
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy, DICTIONARY_SIZE_LIMIT 1000"
EPOCH = date(1970, 1, 1)
# Longest line (bytes) read as a record; a longer one is rejected with its number.
MAX_LINE_SIZE = 1 << 20
# DuckDB's reader errors, in the words of docs/ingest.md
READER_ERRORS = {
    "LINE SIZE OVER MAXIMUM": "'line longer than ' || {limit} || ' bytes (max_line_size)'",
    "INVALID UNICODE": "'unreadable row: not UTF-8 text'",
    "INVALID ENCODING": "'unreadable row: not UTF-8 text'",
}


@dataclass
class Staged:
    rows: int  # rows the reader split (good and bad)
    exact_lines: bool
    skipped: int = 0  # rows that are not records (the layout's skip rules)
    not_utf8: int = 0  # rows read with bytes that are not UTF-8 (shown as \xNN)
    earlier: int = 0  # rows of the lines an earlier version of the file held (not read again)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def stage(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    path: Path,
    scan: FileScan,
    *,
    zone: str,
    max_line_size: int = MAX_LINE_SIZE,
    earlier_lines: int = 0,
) -> Staged:
    """Read, map and normalise the file into ``staged``; define view ``lined`` with lines.

    ``earlier_lines``: the file continues an earlier version of it, ingested before, that
    held its first ``earlier_lines`` lines (the file grew, or is a rotated copy). Only
    layouts whose calls span rows (``[legs]``, ``[transactions]``) read it whole: a call
    with a row in those lines was stored with the earlier version and is not stored again
    (its later rows are merged into it), nor are those lines' rejects.

    Fast path: DuckDB's parallel CSV reader. It lets a quoted value run over several lines, so
    its rows map to lines only if every row is one line; the counts prove it (rows + skipped
    lines = lines). Otherwise the file is read again line by line in Python, where a line is
    always one record and a value that does not end on its line is that line's reject.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE parse_rejects (source_line BIGINT, reason VARCHAR)")
    if layout.kind == "parquet":
        rel, cols = parquet_source(con, path)
        compiled = compile_layout(PRESETS["generic"], cols)
        rows = _normalise(con, compiled, rel, zone, ())
        _finish(con, compiled, [], rows)
        return Staged(rows=rows, exact_lines=True)

    con.execute("DROP TABLE IF EXISTS th_rejects")
    con.execute("DROP TABLE IF EXISTS th_scans")
    rel, cols = csv_source(layout, path, max_line_size)
    compiled = compile_layout(layout, cols)
    rows = _normalise(con, compiled, rel, zone, ())
    skipped = _skipped(con, compiled)
    cases = " ".join(
        f"WHEN {lit(k)} THEN {v.format(limit=int(max_line_size))}" for k, v in READER_ERRORS.items()
    )
    con.execute(
        f"""INSERT INTO parse_rejects
           SELECT line, CASE upper(first(error_type)) {cases}
                  ELSE 'unreadable row: ' || lower(replace(first(error_type), '_', ' '))
                  || ' (' || first(error_message) || ')' END
           FROM th_rejects GROUP BY line"""
    ).fetchall()
    reject_lines = [r[0] for r in con.execute("SELECT source_line FROM parse_rejects").fetchall()]
    blanks = scan.blank_lines
    header = [_header_line(blanks)] if layout.header else []
    skips = sorted({*header, *blanks, *reject_lines})
    if len(skips) + rows < scan.lines and not scan.blanks_known:
        # lines unaccounted for: blank lines (skipped by the reader) or values over lines
        blanks = scan_file(path, find_blanks=True).blank_lines
        header = [_header_line(blanks)] if layout.header else []
        skips = sorted({*header, *blanks, *reject_lines})
    not_utf8 = _not_utf8_rows(con)
    if len(skips) + rows == scan.lines and not not_utf8:
        # t[i]: the good lines before the i-th skipped line
        t = [v - i for i, v in enumerate(skips, start=1)]
        before = _rows_within(t, rows, earlier_lines)
        _finish(con, compiled, t, rows, before)
        return _staged(con, compiled, rows, skipped, 0, before, earlier_lines)

    if not_utf8:
        log.info("%s: %d rows are not UTF-8 text; reading it again line by line", path, not_utf8)
    else:
        log.warning(
            "%s: %d lines but %d rows + %d skipped lines: a quoted value runs over lines; "
            "reading it again line by line",
            path,
            scan.lines,
            rows,
            len(skips),
        )
    con.execute("DELETE FROM parse_rejects").fetchall()
    table, bad, not_utf8 = read_by_line(path, layout, cols, max_line_size)
    if bad:
        con.execute(
            "INSERT INTO parse_rejects SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[])",
            [[b[0] for b in bad], [b[1] for b in bad]],
        ).fetchall()
    con.register("th_by_line", table)
    try:
        rows = _normalise(con, compiled, "th_by_line", zone, ("th__line",))
    finally:
        con.unregister("th_by_line")
    skipped = _skipped(con, compiled)
    before = 0
    if earlier_lines:  # the rows are in line order
        before = con.execute(
            "SELECT count(*) FROM staged WHERE th__line <= ?", [earlier_lines]
        ).fetchall()[0][0]
    _finish(con, compiled, None, rows, before)
    return _staged(con, compiled, rows, skipped, not_utf8, before, earlier_lines)


def _rows_within(t: list[int], rows: int, lines: int) -> int:
    """How many of the reader's rows came from the first ``lines`` lines (row k, 1-based,
    came from line k + #{t_i < k}: see :func:`_define_lines`)."""
    lo, hi = 0, rows if lines > 0 else 0
    while lo < hi:
        mid = (lo + hi) // 2
        if mid + 1 + bisect_left(t, mid + 1) <= lines:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _staged(
    con: duckdb.DuckDBPyConnection,
    compiled: Compiled,
    rows: int,
    skipped: int,
    not_utf8: int,
    before: int,
    earlier_lines: int,
) -> Staged:
    """The stage's counts; the rows and rejects of an earlier version's lines left out."""
    if before:
        con.execute("DELETE FROM parse_rejects WHERE source_line <= ?", [earlier_lines]).fetchall()
        if compiled.skip:
            skipped = con.execute(
                "SELECT count(*) FROM staged WHERE th_skip AND rowid >= ?", [before]
            ).fetchall()[0][0]
    return Staged(rows=rows, exact_lines=True, skipped=skipped, not_utf8=not_utf8, earlier=before)


def _not_utf8_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Rows DuckDB's reader refused as not UTF-8: they are calls all the same (a switch copies
    the bytes of a SIP display name into its CDR), read again by :func:`read_by_line`."""
    kinds = ", ".join(lit(k) for k in READER_ERRORS if k != "LINE SIZE OVER MAXIMUM")
    return int(
        con.execute(
            f"SELECT count(DISTINCT line) FROM th_rejects WHERE upper(error_type) IN ({kinds})"
        ).fetchall()[0][0]
    )


def _skipped(con: duckdb.DuckDBPyConnection, compiled: Compiled) -> int:
    if not compiled.skip:
        return 0
    return con.execute("SELECT count(*) FROM staged WHERE th_skip").fetchall()[0][0]


def _normalise(
    con: duckdb.DuckDBPyConnection,
    compiled: Compiled,
    rel: str,
    zone: str,
    passthrough: tuple[str, ...],
) -> int:
    """Normalise ``rel`` into ``staged``; international numbers are resolved after the
    query, once per distinct number (a Python function inside the query would make DuckDB
    import NumPy and call back into Python from its threads: 0.1-0.25 CPU-s more per 500k
    rows, docs/performance.md "Issue 11, fourth pass")."""
    select = compiled.select
    keep = list(passthrough)
    if compiled.transactions:
        keep += ["method", "leg"]
    if compiled.legs:
        keep += ["th_call", "th_first", "th_other"]
    if compiled.skip:
        keep.append("th_skip")
    if "th__line" in passthrough:
        select += ", th__line"
    sql = normalise_sql(
        f"(SELECT {select} FROM {rel})",
        passthrough=tuple(keep),
        start_alt=compiled.start_alt,
        duration_scale=compiled.duration_scale,
        wide=compiled.wide,
    )
    # Naive timestamps are the switch's local time: read them in its zone (the layout's when it
    # names one: Asterisk with usegmtime=yes writes GMT), store UTC.
    con.execute(f"SET TimeZone = {lit(compiled.zone or zone)}")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {sql}")
    finally:
        con.execute("SET TimeZone = 'UTC'")
    resolve_international(con, "staged", ("caller", "called"))
    return con.execute("SELECT count(*) FROM staged").fetchall()[0][0]


def _finish(
    con: duckdb.DuckDBPyConnection,
    compiled: Compiled,
    t: list[int] | None,
    rows: int,
    before: int = 0,
) -> None:
    """Views ``staged_v`` (with ``rid``, the row's position) and ``lined`` (with its line;
    rows that are not records left out). ``before``: the first rows, stored with an earlier
    version of the file (calls that span rows only)."""
    folded = compiled.transactions or compiled.legs
    if compiled.transactions:
        _pair_transactions(con, skip=compiled.skip, before=before)
    elif compiled.legs:
        _fold_legs(con, skip=compiled.skip, before=before)
    if folded:
        con.execute("CREATE OR REPLACE TEMP VIEW staged_v AS SELECT * FROM staged")
    else:
        con.execute("CREATE OR REPLACE TEMP VIEW staged_v AS SELECT rowid AS rid, * FROM staged")
    where = " WHERE NOT th_skip" if compiled.skip and not folded else ""
    if t is None:  # read line by line: each row carries its line
        con.execute(
            "CREATE OR REPLACE TEMP VIEW lined AS SELECT *, th__line AS source_line "
            f"FROM staged_v{where}"
        )
    else:
        _define_lines(con, t, rows, positional=not folded, where=where)


def _header_line(blanks: Sequence[int]) -> int:
    """The header is the first line that is not blank."""
    first = 1
    blank_set = set(blanks[:1000])
    while first in blank_set:
        first += 1
    return first


def _define_lines(
    con: duckdb.DuckDBPyConnection, t: list[int], rows: int, *, positional: bool, where: str
) -> None:
    """View ``lined``: ``staged_v`` plus ``source_line``. ``t[i]`` is the number of good
    lines before the i-th skipped line, so row k (1-based) came from line k + #{t_i < k}."""
    if len(t) <= INLINE_SKIPS:
        terms = "".join(f" + (rid + 1 > {int(v)})::BIGINT" for v in t)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW lined AS SELECT *, rid + 1{terms} AS source_line "
            f"FROM staged_v{where}"
        )
        return
    # only here: most files have few skipped lines (imports: 0.15 s)
    import numpy as np
    import pyarrow as pa

    k = np.arange(1, rows + 1, dtype=np.int64)
    ts = np.asarray(t, dtype=np.int64)
    lines = pa.table({"rid": k - 1, "source_line": k + np.searchsorted(ts, k, side="left")})
    con.register("th_lines_in", lines)
    con.execute("CREATE OR REPLACE TEMP TABLE th_lines AS SELECT * FROM th_lines_in")
    con.unregister("th_lines_in")
    if positional:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW lined AS SELECT * FROM (SELECT s.*, l.source_line "
            f"FROM staged_v s POSITIONAL JOIN (SELECT source_line FROM th_lines) l){where}"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW lined AS SELECT s.*, l.source_line "
            f"FROM staged_v s JOIN th_lines l ON l.rid = s.rid{where}"
        )


CHALLENGES = "(401, 407)"


def _pair_transactions(con: duckdb.DuckDBPyConnection, *, skip: bool, before: int = 0) -> None:
    """SIP transaction rows (Kamailio acc): one call per Call-ID and direction (the From
    tag, which a request keeps when it is sent again with credentials). An INVITE challenged
    with 401/407 and sent again under the same Call-ID folds into the call that followed
    (``auth_challenges`` in ``extra``), never a second call; the BYE row with the same Call-ID
    ends the call (its time minus the INVITE's is the duration).

    Memory: the pairing reads only the columns it decides on (``th_pairs``: row, duration,
    challenges of each row kept); the wide rows (Identity headers of ~500 bytes, numbers as
    written, extra) then go through one join on the row's position, never through a window,
    an aggregate or a sort. Windows over every column held several copies of the rows: a
    2.1 GB acc file with Identity headers ran out of 2.5 GB (docs/performance.md, "Kamailio
    acc files: memory"). ``staged`` gets ``rid`` (the row's position in the file), which the
    line numbers are computed from: its row order does not matter. A Call-ID with a row
    among the first ``before`` rows was stored with an earlier version of the file: none of
    its rows makes a call again."""
    records = "WHERE NOT th_skip" if skip else ""
    stored = (
        f"AND NOT EXISTS (SELECT 1 FROM s o WHERE o.rid < {int(before)} AND o.call_id = i.call_id)"
        if before
        else ""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE th_pairs AS
        WITH s AS (
            SELECT rowid AS rid, call_id, coalesce(leg, '') AS leg, method, sip_code,
                   disposition, start, reason IS NULL AS good
            FROM staged {records}
        ),
        bye AS (
            -- a BYE only ends a call: its From/R-URI users may differ from the INVITE's, so
            -- it needs a Call-ID and a readable time, nothing else
            SELECT call_id, min(start) AS bye_start FROM s
            WHERE method = 'BYE' AND start IS NOT NULL AND call_id IS NOT NULL GROUP BY call_id
        ),
        inv AS (
            SELECT rid, call_id, disposition, start,
                count(*) FILTER (WHERE sip_code IN {CHALLENGES})
                    OVER (PARTITION BY call_id, leg) AS challenges,
                -- the call is the first answered INVITE (a re-INVITE that refreshes the
                -- session later in the dialog keeps the Call-ID and From tag: it must not
                -- move the call's start), else the last attempt (its code is how it ended)
                row_number() OVER (
                    PARTITION BY call_id, leg
                    ORDER BY coalesce(sip_code IN {CHALLENGES}, false),
                             disposition = 'answered' DESC,
                             CASE WHEN disposition = 'answered' THEN start END ASC NULLS LAST,
                             start DESC, rid DESC) AS th_pick
            FROM s WHERE method = 'INVITE' AND good
        )
        SELECT i.rid, i.challenges,
            CASE WHEN i.disposition = 'answered' AND b.bye_start IS NOT NULL
                 THEN greatest(0, round(epoch(b.bye_start) - epoch(i.start)))::INTEGER
                 WHEN i.disposition = 'answered' THEN NULL
                 ELSE 0 END AS duration
        FROM inv i LEFT JOIN bye b ON i.call_id = b.call_id
        WHERE i.th_pick = 1 {stored}
        UNION ALL
        -- rejected rows stay (with their reason), but for rows that are not calls
        SELECT rid, 0, CASE WHEN disposition = 'answered' THEN NULL ELSE 0 END FROM s
        WHERE NOT good AND (method = 'INVITE' OR start IS NULL OR call_id IS NULL)
            AND rid >= {int(before)}"""
    )
    _restage(con, "th_pairs", "p.duration AS duration", ("challenges", "auth_challenges", 0))


def _fold_legs(con: duckdb.DuckDBPyConnection, *, skip: bool, before: int = 0) -> None:
    """Rows that are parts of one call (``[legs]``: Asterisk writes a CDR for each dial
    attempt and each bridge of a call, all with its ``linkedid``, the first channel's
    ``uniqueid``): one call per ``th_call``, never one per row. The call is told by its first
    channel's readable rows (``th_first``; else by any readable row): answered when one of
    them was (the longest answer gives the duration and the downstream), else the earliest;
    it starts at the earliest of them. The other rows are merged into it (counted as
    ``rows_merged``; ``extra.cdrs`` is how many rows the call had). A call none of whose rows
    is readable keeps each row as a reject with its reason. ``staged`` gets ``rid`` (the
    row's position in the file), which the line numbers are computed from. A call with a
    row among the first ``before`` rows was stored with an earlier version of the file: it
    is not stored again."""
    records = "WHERE NOT th_skip" if skip else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE th_legs AS
        WITH r AS (
            SELECT rowid AS rid, th_call, th_first, th_other, start, disposition, duration,
                   reason IS NULL AS good
            FROM staged {records}
        ),
        -- a row another row names (th_other: FreeSWITCH's B leg, named by its A leg's
        -- bleg_uuid) is part of that row's call, which is told by the naming row; two rows
        -- that name each other are one call, told by the lesser id
        named AS (
            SELECT th_other AS leg, min(th_call) AS call FROM r
            WHERE th_other IS NOT NULL AND th_call IS NOT NULL GROUP BY th_other
        ),
        s AS (
            SELECT r.* REPLACE (
                CASE WHEN n.call IS NULL THEN r.th_call
                     WHEN r.th_other = n.call THEN least(r.th_call, n.call)
                     ELSE n.call END AS th_call,
                r.th_first AND (n.call IS NULL OR (r.th_other = n.call AND r.th_call < n.call))
                    AS th_first)
            FROM r LEFT JOIN named n ON n.leg = r.th_call AND n.call <> r.th_call
        ),
        c AS (
            SELECT rid, good,
                row_number() OVER (
                    PARTITION BY th_call
                    ORDER BY good DESC, th_first DESC, disposition = 'answered' DESC,
                             duration DESC NULLS LAST, start, rid) AS th_pick,
                count(*) OVER (PARTITION BY th_call) AS cdrs,
                bool_or(good) OVER (PARTITION BY th_call) AS readable,
                bool_or(good AND th_first) OVER (PARTITION BY th_call) AS first_readable,
                min(start) FILTER (WHERE good AND th_first) OVER (PARTITION BY th_call)
                    AS first_start,
                min(start) FILTER (WHERE good) OVER (PARTITION BY th_call) AS any_start,
                min(rid) OVER (PARTITION BY th_call) AS th_min
            FROM s WHERE th_call IS NOT NULL
        )
        SELECT rid, cdrs,
            CASE WHEN first_readable THEN first_start ELSE any_start END AS start
        FROM c WHERE th_pick = 1 AND good AND th_min >= {int(before)}
        UNION ALL
        SELECT rid, 1, NULL FROM c WHERE NOT readable AND th_min >= {int(before)}
        UNION ALL
        SELECT rid, 1, NULL FROM s WHERE th_call IS NULL AND rid >= {int(before)}"""
    )
    _restage(con, "th_legs", "coalesce(p.start, s.start) AS start", ("cdrs", "cdrs", 1))


def _restage(
    con: duckdb.DuckDBPyConnection, picks: str, replace: str, note: tuple[str, str, int]
) -> None:
    """``staged`` as the rows ``picks`` keeps (joined on the row's position ``rid``, which
    ``staged`` gets), ``replace`` applied (columns of ``s`` and ``p``), and ``note = (column,
    key, above)``: the pick's count noted in ``extra`` under ``key`` when it is above ``above``
    (``auth_challenges``, ``cdrs``). The wide rows go through this one join only."""
    column, key, above = note
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE staged AS
        SELECT p.rid, s.* REPLACE (
            {replace},
            CASE WHEN p.{column} > {int(above)}
                 THEN json_merge_patch(coalesce(s.extra, '{{}}'),
                      json_object({lit(key)}, p.{column}))::VARCHAR
                 ELSE s.extra END AS extra)
        FROM staged s JOIN {picks} p ON p.rid = s.rowid"""
    )
    con.execute(f"DROP TABLE {picks}")


def write(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    out_dir: Path,
    *,
    ingest_id: str,
    checksum: str,
    provider: str,
    source: str,
    part: int = 0,
    line_offset: int = 0,
    raw_lines: bool = True,
    verifier: IngestVerifier | None = None,
    stored: Callable[[list[str]], Sequence[Path | str]] | None = None,
) -> tuple[list[str], dict[str, object]]:
    """Write the staged rows under ``out_dir``; returns the files written (relative) and stats.

    ``path`` is the file the rows were read from (a chunk of the source, see chunks.py); its
    line ``n`` is line ``n + line_offset`` of the source file. ``raw_lines``: rejects keep the
    line as written (not for Parquet sources). ``verifier``: verify the rows' Identity
    headers (``identity.py``); without one ``identity_status`` stays NULL. ``stored``: the
    lake's calls files of these UTC days; a call already in them is not written again
    (:func:`_drop_stored`)."""
    good, bad, first, last, days = _counts(con)
    duplicates = 0
    files = stored(days) if stored is not None and good else []
    if files:
        duplicates = _drop_stored(con, files, provider, first, last)
        if duplicates:
            good, bad, first, last, days = _counts(con)
    verified = verify_lined(con, verifier)
    parse_bad = con.execute("SELECT count(*) FROM parse_rejects").fetchall()[0][0]
    written: list[str] = []
    # A call without a Call-ID gets a stable one: the same file and line give the same id.
    line = f"(source_line + {int(line_offset)})"
    finish = (
        f"coalesce(call_id, 'th-' || substr(md5({lit(checksum)} || ':' || {line}::VARCHAR),"
        " 1, 24)) AS call_id, start, duration, caller, called, caller_raw, called_raw, upstream, "
        "downstream, disposition, sip_code, coalesce(attest, v_attest) AS attest, "
        "coalesce(orig_id, v_origid) AS orig_id, identity, identity_status, "
        f"{lit(provider)} AS provider, {lit(source)} AS source_file, {line} AS source_line, "
        # the exact reason of a failed verification, beside the row's other extras
        "CASE WHEN identity_reason IS NULL THEN extra ELSE json_merge_patch(coalesce(extra, "
        "'{}'), json_object('identity_reason', identity_reason))::VARCHAR END AS extra"
    )
    if good:
        src, where, order = _sorted_good(con, len(days))
        for day in days:
            lo = datetime.fromisoformat(day).replace(tzinfo=UTC)
            hi = lo + timedelta(days=1)
            rel = f"calls/day={day}/part-{ingest_id}-{part:04d}.parquet"
            out = out_dir / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT {finish} FROM (SELECT {SORTED_COLUMNS} FROM {src} WHERE {where}"
                f"start >= {lit(lo.isoformat())}::TIMESTAMPTZ "
                f"AND start < {lit(hi.isoformat())}::TIMESTAMPTZ{order})) "
                f"TO {lit(str(out))} ({PARQUET_OPTIONS})"
            )
            written.append(rel)
    if bad or parse_bad:
        rel = f"rejects/part-{ingest_id}-{part:04d}.parquet"
        out = out_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_rejects(
            con,
            path if raw_lines else None,
            out,
            ingest_id=ingest_id,
            provider=provider,
            source=source,
            line_offset=line_offset,
        )
        written.append(rel)
    stats: dict[str, object] = {
        "good": int(good),
        "bad": int(bad + parse_bad),
        "calls_and_value_bad": int(good + bad + duplicates),
        "duplicates": int(duplicates),
        "first": first,
        "last": last,
        "identity_verified": verified.verified,
        "identity_passed": verified.passed,
        "identity_failed": dict(verified.reasons),
    }
    return written, stats


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, Any, Any, list[str]]:
    """Of ``lined``: good rows, bad rows, the first and last start, the UTC days (ISO)."""
    good, bad, first, last, days = con.execute(
        "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL),"
        " min(start) FILTER (WHERE reason IS NULL), max(start) FILTER (WHERE reason IS NULL),"
        # UTC days as day numbers (cheaper than formatting every start); good rows are 1990-2100
        " list(DISTINCT epoch_us(start) // 86400000000) FILTER (WHERE reason IS NULL)"
        " FROM lined"
    ).fetchall()[0]
    return (
        good,
        bad,
        first,
        last,
        [(EPOCH + timedelta(days=int(n))).isoformat() for n in sorted(days or [])],
    )


def _drop_stored(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Path | str],
    provider: str,
    first: datetime,
    last: datetime,
) -> int:
    """Leave out of ``lined`` the calls the lake already holds: the same call id (as the
    switch wrote it), start, upstream and numbers, from the same provider. Such a call came in
    another file with other bytes (a CDR export for an overlapping range of dates, the same
    calls written again by a switch); storing it again would count it twice in detection
    and answer a traceback with it twice. Rows without a call id of their own (ids made by
    ingest, ``th-...``) are never taken for one another. Only the stored calls of
    [first, last] are read (the calls files are sorted by start). Returns how many."""
    listed = ", ".join(lit(str(f)) for f in files)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE th_stored AS
        SELECT call_id, start, upstream, caller, called
        FROM read_parquet([{listed}], union_by_name = true)
        WHERE start BETWEEN ? AND ? AND provider = ? AND NOT starts_with(call_id, 'th-')""",
        [first, last, provider],
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE th_dup AS
        SELECT DISTINCT l.rid FROM lined l JOIN th_stored s
            ON l.call_id = s.call_id AND l.start = s.start
            AND l.upstream IS NOT DISTINCT FROM s.upstream
            AND l.caller IS NOT DISTINCT FROM s.caller AND l.called IS NOT DISTINCT FROM s.called
        WHERE l.reason IS NULL"""
    )
    found = int(con.execute("SELECT count(*) FROM th_dup").fetchall()[0][0])
    if found:
        con.execute("ALTER VIEW lined RENAME TO lined_all")
        con.execute(
            "CREATE TEMP VIEW lined AS SELECT * FROM lined_all "
            "WHERE rid NOT IN (SELECT rid FROM th_dup)"
        )
    return found


def _sorted_good(con: duckdb.DuckDBPyConnection, n_days: int) -> tuple[str, str, str]:
    """Where each day's COPY reads the good rows: (relation, filter, ORDER BY). One or two
    days: one COPY sorts as it writes; more: sort once into ``good``, each day's COPY then
    reads one zone-mapped slice in its (sorted) insertion order."""
    if n_days <= 2:
        return "lined_v", "reason IS NULL AND ", " ORDER BY start"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE good AS SELECT {SORTED_COLUMNS} FROM lined_v "
        "WHERE reason IS NULL ORDER BY start"
    )
    return "good", "", ""


def _write_rejects(
    con: duckdb.DuckDBPyConnection,
    path: Path | None,
    out: Path,
    *,
    ingest_id: str,
    provider: str,
    source: str,
    line_offset: int,
) -> None:
    """Rejected rows with their line exactly as the file has it (read back by line number):
    ``raw`` is the line's text, or base64 of its bytes when they are not UTF-8
    (``raw_encoding`` says which)."""
    bad = con.execute(
        "SELECT source_line, reason FROM lined WHERE reason IS NOT NULL "
        "UNION ALL SELECT source_line, reason FROM parse_rejects ORDER BY source_line"
    ).fetchall()
    raw = read_lines(path, {line for line, _ in bad}) if path is not None else {}
    # Lists as parameters, not a registered Arrow table: registering imports pandas (0.2 s).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE all_rejects AS SELECT unnest(?::BIGINT[]) AS source_line,"
        " unnest(?::VARCHAR[]) AS reason, unnest(?::VARCHAR[]) AS raw,"
        " unnest(?::VARCHAR[]) AS raw_encoding",
        [
            [line for line, _ in bad],
            [reason for _, reason in bad],
            [raw[line][0] if line in raw else None for line, _ in bad],
            [raw[line][1] if line in raw else None for line, _ in bad],
        ],
    )
    con.execute(
        f"""COPY (
            SELECT {lit(source)} AS source_file, source_line + {int(line_offset)} AS source_line,
                   reason, raw,
                   {lit(ingest_id)} AS ingest_id, {lit(provider)} AS provider, raw_encoding
            FROM all_rejects ORDER BY source_line
        ) TO {lit(str(out))} (FORMAT parquet, COMPRESSION zstd)"""
    )
    con.execute("DROP TABLE all_rejects")
