"""The DuckDB side of ingest: one parallel pass from the source file to a staged table, then
sorted Parquet per day and a rejects file.

1. ``stage()``: ``read_csv`` (or ``read_parquet``) -> the preset's mapping -> the shared
   normalisation (``sql.py``) -> table ``staged``, in file order (DuckDB keeps insertion order,
   so ``rowid`` is the row's position among the rows the CSV reader could split).
2. Line numbers: the reader skips the header, blank lines and rows it cannot split (those go to
   its rejects table with their line). Knowing all of them, row k's line is
   ``k + #{skipped lines before it}``, computed in SQL without a second pass over the data.
3. ``write()``: good rows per UTC day, sorted by start; bad rows with the line as written.
"""

from __future__ import annotations

import csv
import gzip
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tracehop.cdr import formats
from tracehop.cdr.formats import PRESETS, Preset, q
from tracehop.cdr.scan import FileScan, scan_file
from tracehop.cdr.sql import normalise_sql, resolve_international
from tracehop.errors import FormatError
from tracehop.sqltext import lit

log = logging.getLogger(__name__)

# Up to this many skipped lines, each row's line number is one SQL expression; beyond it a
# table of line numbers is joined by position.
INLINE_SKIPS = 64
# Sorted by start: what varies per row. Constants and the default call id are added after the
# sort (an ORDER BY carries every column it outputs through the sort).
SORTED_COLUMNS = (
    "call_id, start, duration, caller, called, caller_raw, called_raw, upstream, downstream, "
    "disposition, sip_code, attest, orig_id, identity, source_line, extra"
)
INTL_COLUMNS = ("caller", "called")
# A dictionary is kept for columns with few values per row group (upstream, disposition, ...);
# for the others (numbers, call ids, line numbers) DuckDB gives up sooner: same files, less CPU.
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy, DICTIONARY_SIZE_LIMIT 1000"
EPOCH = date(1970, 1, 1)


@dataclass
class Staged:
    rows: int  # rows the reader split (good and bad)
    exact_lines: bool


def csv_source(
    preset: Preset, path: Path, *, columns_from: Path | None = None
) -> tuple[str, list[str]]:
    """The ``read_csv`` call for a CDR file, and its column names."""
    cols = formats.columns_for(preset, columns_from or path)
    cols = [c if c else f"column{i}" for i, c in enumerate(cols)]
    columns = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in cols) + "}"
    # blank lines before the header are skipped, or the reader would take one for the header
    skip = formats.header_line(path) - 1 if preset.header else 0
    options = (
        f"columns = {columns}, header = {'true' if preset.header else 'false'}, "
        f"skip = {skip}, delim = ',', "
        "quote = '\"', escape = '\"', auto_detect = false, strict_mode = false, "
        "store_rejects = true, rejects_table = 'th_rejects', rejects_scan = 'th_scans', "
        "max_line_size = 1048576, encoding = 'utf-8', compression = 'auto'"
    )
    return f"read_csv({lit(str(path))}, {options})", cols


def parquet_source(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, list[str]]:
    """A Parquet file with canonical columns, every column as text (checked like CSV)."""
    try:
        names = [
            r[0]
            for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})"
            ).fetchall()
        ]
    except duckdb.Error as exc:
        raise FormatError(f"{path} is not a readable Parquet file: {first_line(exc)}") from exc
    missing = [c for c in formats.GENERIC_REQUIRED if c not in names]
    if missing:
        raise FormatError(f"{path}: Parquet file lacks canonical columns {', '.join(missing)}")
    wanted = [c for c in names if c in formats.GENERIC_REQUIRED + formats.GENERIC_OPTIONAL]

    def text(c: str) -> str:
        # A lake export has the numbers as written in caller_raw/called_raw: prefer those.
        if c in ("caller", "called") and f"{c}_raw" in names:
            return f"CAST(coalesce({q(c + '_raw')}, {q(c)}) AS VARCHAR)"
        return f"CAST({q(c)} AS VARCHAR)"

    casts = ", ".join(f"{text(c)} AS {q(c)}" for c in wanted)
    return f"(SELECT {casts} FROM read_parquet({lit(str(path))}))", wanted


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def stage(
    con: duckdb.DuckDBPyConnection,
    preset: Preset,
    path: Path,
    scan: FileScan,
    *,
    zone: str,
) -> Staged:
    """Read, map and normalise the file into ``staged``; define view ``lined`` with lines.

    Fast path: DuckDB's parallel CSV reader. It lets a quoted value run over several lines, so
    its rows map to lines only if every row is one line; the counts prove it (rows + skipped
    lines = lines). Otherwise the file is read again line by line in Python, where a line is
    always one record and a value that does not end on its line is that line's reject.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE parse_rejects (source_line BIGINT, reason VARCHAR, raw VARCHAR)"
    )
    passthrough: tuple[str, ...] = ("method",) if preset.transactions else ()
    if preset.name == "parquet":
        rel, cols = parquet_source(con, path)
        rows = _normalise(con, PRESETS["generic"], rel, cols, zone, passthrough)
        _finish(con, preset, np.empty(0, dtype=np.int64), rows)
        return Staged(rows=rows, exact_lines=True)

    con.execute("DROP TABLE IF EXISTS th_rejects")
    con.execute("DROP TABLE IF EXISTS th_scans")
    rel, cols = csv_source(preset, path)
    rows = _normalise(con, preset, rel, cols, zone, passthrough)
    con.execute(
        """INSERT INTO parse_rejects
           SELECT line, 'unreadable row: ' || lower(replace(first(error_type), '_', ' '))
                  || ' (' || first(error_message) || ')', trim(first(csv_line), E'\\r\\n')
           FROM th_rejects GROUP BY line"""
    ).fetchall()
    reject_lines = np.array(
        [r[0] for r in con.execute("SELECT source_line FROM parse_rejects").fetchall()],
        dtype=np.int64,
    )
    blanks = scan.blank_lines
    header = [_header_line(blanks)] if preset.header else []
    skips = np.unique(np.concatenate([np.array(header, dtype=np.int64), blanks, reject_lines]))
    if len(skips) + rows < scan.lines and not scan.blanks_known:
        # lines unaccounted for: blank lines (skipped by the reader) or values over lines
        blanks = scan_file(path, find_blanks=True).blank_lines
        header = [_header_line(blanks)] if preset.header else []
        skips = np.unique(np.concatenate([np.array(header, dtype=np.int64), blanks, reject_lines]))
    if len(skips) + rows == scan.lines:
        _finish(con, preset, skips - np.arange(1, len(skips) + 1), rows)
        return Staged(rows=rows, exact_lines=True)

    log.warning(
        "%s: %d lines but %d rows + %d skipped lines: a quoted value runs over lines; "
        "reading it again line by line",
        path,
        scan.lines,
        rows,
        len(skips),
    )
    con.execute("DELETE FROM parse_rejects").fetchall()
    table = _read_by_line(con, path, cols, header=preset.header)
    con.register("th_by_line", table)
    try:
        rows = _normalise(con, preset, "th_by_line", cols, zone, (*passthrough, "th__line"))
    finally:
        con.unregister("th_by_line")
    _finish(con, preset, None, rows)
    return Staged(rows=rows, exact_lines=True)


def _normalise(
    con: duckdb.DuckDBPyConnection,
    preset: Preset,
    rel: str,
    cols: list[str],
    zone: str,
    passthrough: tuple[str, ...],
) -> int:
    select = preset.select(cols)
    if preset.transactions:
        select += ", upper(trim(method)) AS method"
    if "th__line" in passthrough:
        select += ", th__line"
    sql = normalise_sql(f"(SELECT {select} FROM {rel})", passthrough=passthrough)
    # Naive timestamps are the switch's local time: read them in its zone, store UTC.
    con.execute(f"SET TimeZone = {lit(zone)}")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {sql}")
    finally:
        con.execute("SET TimeZone = 'UTC'")
    resolve_international(con, "staged", INTL_COLUMNS)
    return con.execute("SELECT count(*) FROM staged").fetchall()[0][0]


def _finish(
    con: duckdb.DuckDBPyConnection, preset: Preset, t: np.ndarray | None, rows: int
) -> None:
    """Views ``staged_v`` (with ``rid``, the row's position) and ``lined`` (with its line)."""
    if preset.transactions:
        con.execute("CREATE OR REPLACE TEMP TABLE staged AS SELECT rowid AS rid, * FROM staged")
        _pair_transactions(con)
        con.execute("CREATE OR REPLACE TEMP VIEW staged_v AS SELECT * FROM staged")
    else:
        con.execute("CREATE OR REPLACE TEMP VIEW staged_v AS SELECT rowid AS rid, * FROM staged")
    if t is None:  # read line by line: each row carries its line
        con.execute(
            "CREATE OR REPLACE TEMP VIEW lined AS SELECT *, th__line AS source_line FROM staged_v"
        )
    else:
        _define_lines(con, t, rows, positional=not preset.transactions)


def _read_by_line(
    con: duckdb.DuckDBPyConnection, path: Path, cols: list[str], *, header: bool
) -> pa.Table:
    """Parse each physical line on its own (a record never spans lines); unreadable lines go
    to ``parse_rejects`` with their number and text."""
    values: list[list[str | None]] = [[] for _ in cols]
    numbers: list[int] = []
    bad: list[tuple[int, str, str]] = []
    seen_header = not header
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rb") as src:
        for number, raw in enumerate(src, start=1):
            data = raw.rstrip(b"\r\n")
            if not data:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(
                    (number, "unreadable row: not UTF-8 text", data.decode("utf-8", "replace"))
                )
                continue
            if not seen_header:
                seen_header = True
                continue
            try:
                fields = next(csv.reader([text], strict=True))
            except csv.Error as exc:
                bad.append(
                    (number, f"unreadable row: {exc} (a quoted value must end on its line)", text)
                )
                continue
            if len(fields) != len(cols):
                bad.append(
                    (
                        number,
                        f"unreadable row: expected {len(cols)} fields, found {len(fields)}",
                        text,
                    )
                )
                continue
            numbers.append(number)
            for i, value in enumerate(fields):
                values[i].append(value if value != "" else None)
    if bad:
        rejected = pa.table(
            {
                "source_line": pa.array([b[0] for b in bad], type=pa.int64()),
                "reason": pa.array([b[1] for b in bad], type=pa.string()),
                "raw": pa.array([b[2] for b in bad], type=pa.string()),
            }
        )
        con.register("th_bad_lines", rejected)
        con.execute("INSERT INTO parse_rejects SELECT * FROM th_bad_lines").fetchall()
        con.unregister("th_bad_lines")
    arrays = {c: pa.array(v, type=pa.string()) for c, v in zip(cols, values, strict=True)}
    return pa.table({**arrays, "th__line": pa.array(numbers, type=pa.int64())})


def _header_line(blanks: np.ndarray) -> int:
    """The header is the first line that is not blank."""
    first = 1
    blank_set = set(blanks[:1000].tolist())
    while first in blank_set:
        first += 1
    return first


def _define_lines(
    con: duckdb.DuckDBPyConnection, t: np.ndarray, rows: int, *, positional: bool
) -> None:
    """View ``lined``: ``staged_v`` plus ``source_line``. ``t[i]`` is the number of good
    lines before the i-th skipped line, so row k (1-based) came from line k + #{t_i < k}."""
    if len(t) <= INLINE_SKIPS:
        terms = "".join(f" + (rid + 1 > {int(v)})::BIGINT" for v in t)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW lined AS SELECT *, rid + 1{terms} AS source_line "
            "FROM staged_v"
        )
        return
    k = np.arange(1, rows + 1, dtype=np.int64)
    lines = pa.table({"rid": k - 1, "source_line": k + np.searchsorted(t, k, side="left")})
    con.register("th_lines_in", lines)
    con.execute("CREATE OR REPLACE TEMP TABLE th_lines AS SELECT * FROM th_lines_in")
    con.unregister("th_lines_in")
    if positional:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW lined AS SELECT s.*, l.source_line "
            "FROM staged_v s POSITIONAL JOIN (SELECT source_line FROM th_lines) l"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW lined AS SELECT s.*, l.source_line "
            "FROM staged_v s JOIN th_lines l ON l.rid = s.rid"
        )


def _pair_transactions(con: duckdb.DuckDBPyConnection) -> None:
    """Kamailio acc: one INVITE row per call; its BYE row (same Call-ID) ends the call."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE staged AS
        WITH bye AS (
            -- a BYE only ends a call: its From/R-URI users may differ from the INVITE's, so
            -- it needs a Call-ID and a readable time, nothing else
            SELECT call_id, min(start) AS bye_start FROM staged
            WHERE method = 'BYE' AND start IS NOT NULL AND call_id IS NOT NULL GROUP BY call_id
        )
        SELECT s.* REPLACE (
            CASE WHEN s.disposition = 'answered' AND b.bye_start IS NOT NULL
                 THEN greatest(0, round(epoch(b.bye_start) - epoch(s.start)))::INTEGER
                 WHEN s.disposition = 'answered' THEN NULL
                 ELSE 0 END AS duration)
        FROM staged s LEFT JOIN bye b ON s.method = 'INVITE' AND s.call_id = b.call_id
        WHERE s.method = 'INVITE'
           OR (s.reason IS NOT NULL AND (s.start IS NULL OR s.call_id IS NULL))
        ORDER BY s.rid"""
    )


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
) -> tuple[list[str], dict[str, object]]:
    """Write the staged rows under ``out_dir``; returns the files written (relative) and stats.

    ``path`` is the file the rows were read from (a chunk of the source, see chunks.py); its
    line ``n`` is line ``n + line_offset`` of the source file."""
    good, bad, first, last, days = con.execute(
        "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL),"
        " min(start) FILTER (WHERE reason IS NULL), max(start) FILTER (WHERE reason IS NULL),"
        # UTC days as day numbers (cheaper than formatting every start); good rows are 1990-2100
        " list(DISTINCT epoch_us(start) // 86400000000) FILTER (WHERE reason IS NULL)"
        " FROM staged_v"
    ).fetchall()[0]
    days = [(EPOCH + timedelta(days=int(n))).isoformat() for n in sorted(days or [])]
    parse_bad = con.execute("SELECT count(*) FROM parse_rejects").fetchall()[0][0]
    written: list[str] = []
    # A call without a Call-ID gets a stable one: the same file and line give the same id.
    line = f"(source_line + {int(line_offset)})"
    finish = (
        f"coalesce(call_id, 'th-' || substr(md5({lit(checksum)} || ':' || {line}::VARCHAR),"
        " 1, 24)) AS call_id, start, duration, caller, called, caller_raw, called_raw, upstream, "
        "downstream, disposition, sip_code, attest, orig_id, identity, "
        f"NULL::VARCHAR AS identity_status, {lit(provider)} AS provider, "
        f"{lit(source)} AS source_file, {line} AS source_line, extra"
    )
    if good:
        src, where = "lined", "reason IS NULL AND "
        if len(days) > 2:
            # Sort once; each day's COPY then reads one zone-mapped slice.
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE good AS SELECT {SORTED_COLUMNS} FROM lined "
                "WHERE reason IS NULL ORDER BY start"
            )
            src, where = "good", ""
        for day in days:
            lo = datetime.fromisoformat(day).replace(tzinfo=UTC)
            hi = lo + timedelta(days=1)
            rel = f"calls/day={day}/part-{ingest_id}-{part:04d}.parquet"
            out = out_dir / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT {finish} FROM (SELECT {SORTED_COLUMNS} FROM {src} WHERE {where}"
                f"start >= {lit(lo.isoformat())}::TIMESTAMPTZ "
                f"AND start < {lit(hi.isoformat())}::TIMESTAMPTZ ORDER BY start)) "
                f"TO {lit(str(out))} ({PARQUET_OPTIONS})"
            )
            written.append(rel)
    if bad or parse_bad:
        rel = f"rejects/part-{ingest_id}-{part:04d}.parquet"
        out = out_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        _write_rejects(
            con,
            path,
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
        "first": first,
        "last": last,
    }
    return written, stats


def _write_rejects(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    out: Path,
    *,
    ingest_id: str,
    provider: str,
    source: str,
    line_offset: int,
) -> None:
    """Rejected rows with their line exactly as the file has it (read back by line number)."""
    bad = con.execute(
        "SELECT source_line, reason FROM lined WHERE reason IS NOT NULL ORDER BY source_line"
    ).fetchall()
    raw = read_lines(path, {line for line, _ in bad})
    # Lists as parameters, not a registered Arrow table: registering imports pandas (0.2 s).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE value_rejects AS SELECT unnest(?::BIGINT[]) AS source_line,"
        " unnest(?::VARCHAR[]) AS reason, unnest(?::VARCHAR[]) AS raw",
        [
            [line for line, _ in bad],
            [reason for _, reason in bad],
            [raw.get(line) for line, _ in bad],
        ],
    )
    con.execute(
        f"""COPY (
            SELECT {lit(source)} AS source_file, source_line + {int(line_offset)} AS source_line,
                   reason, raw,
                   {lit(ingest_id)} AS ingest_id, {lit(provider)} AS provider
            FROM (SELECT * FROM value_rejects UNION ALL SELECT * FROM parse_rejects)
            ORDER BY source_line
        ) TO {lit(str(out))} (FORMAT parquet, COMPRESSION zstd)"""
    )
    con.execute("DROP TABLE value_rejects")


def read_lines(path: Path, wanted: set[int]) -> dict[int, str]:
    """The text of the given (1-based) physical lines of a file, gzip or not."""
    if not wanted:
        return {}
    last = max(wanted)
    out: dict[int, str] = {}
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if number in wanted:
                out[number] = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
            if number >= last:
                break
    return out
