"""Reading a CDR file as its layout says: the raw column names, the DuckDB source of the
fast path, Parquet with canonical columns, and the slow path that reads line by line.

The fast path is DuckDB's parallel CSV reader with explicit text columns. When its row count
shows that a quoted value ran over lines, the file is read again here, one physical line per
record, so that such a line is rejected on its own and every other line keeps its number.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tracehop.cdr.compile import KEYVALUE_COLUMN, WIDE, q, read_csv_sql, wide_reason
from tracehop.cdr.detect import normalise_header, split_line
from tracehop.cdr.layouts import Layout
from tracehop.cdr.sources import first_lines, open_binary
from tracehop.errors import FormatError
from tracehop.sqltext import lit

if TYPE_CHECKING:
    import pyarrow as pa

# Canonical names a Parquet file (a lake export) may carry.
PARQUET_REQUIRED = ("start", "caller", "called", "upstream")
PARQUET_OPTIONAL = (
    "call_id",
    "duration",
    "downstream",
    "disposition",
    "sip_code",
    "attest",
    "orig_id",
    "identity",
)


def header_line(path: Path, max_line_size: int) -> int:
    """The 1-based number of the first non-blank line (where a header is)."""
    lines = first_lines(path, 1, max_line_size)
    return lines[0][0] if lines else 1


def columns_for(layout: Layout, path: Path, max_line_size: int) -> list[str]:
    """The raw column names of ``path`` read as ``layout``; checks the header or width."""
    if layout.kind == "keyvalue":
        return [KEYVALUE_COLUMN]
    lines = first_lines(path, 2 if not layout.header else 1, max_line_size)
    if not lines:
        raise FormatError(f"{path} is empty: no CDR rows to ingest")
    number, data = lines[0]
    if data is None:
        if layout.header:
            raise FormatError(
                f"{path}: the header (line {number}) is longer than {max_line_size} bytes"
            )
        data = next((d for _, d in lines[1:] if d is not None), None)
        if data is None:
            return [*layout.orders()[0], WIDE]
    row = split_line(data.decode("utf-8", errors="replace"), layout)
    if layout.header:
        cols = normalise_header(row)
        missing = [c for c in layout.required if c not in cols]
        if missing:
            raise FormatError(
                f"{path} is not a {layout.name} CDR file: header lacks "
                f"{', '.join(missing)} (found: {', '.join(cols[:12])})"
            )
        dupes = sorted({c for c in cols if c and cols.count(c) > 1})
        if dupes:
            raise FormatError(f"{path}: header names {', '.join(dupes)} more than once")
        for need in ("start", "caller", "called", "upstream"):
            rule = layout.rules[need]
            names = list(rule.names())
            if rule.value is None and names and not set(names) & set(cols):
                raise FormatError(
                    f"{path} is not a {layout.name} CDR file: the header has no "
                    f"{' or '.join(names)} for {need} (found: {', '.join(cols[:12])})"
                )
        return [*(c if c else f"column{i}" for i, c in enumerate(cols)), WIDE]
    if layout.trailing_delimiter and len(row) > 1 and not row[-1].strip():
        row = row[:-1]  # the delimiter ending every record is no field (Sansay VSX)
    if layout.any_width and len(row) <= len(layout.columns):
        return [*layout.orders()[0], WIDE]  # record types and releases of other widths
    for order in layout.orders():
        if len(order) == len(row):
            # writers that leave trailing groups out may do so row by row (OpenSIPS' acc with
            # the cdr flag: a failed call has no duration): every row in the widest order,
            # and one column more to catch a row wider than that (compile.WIDE)
            return [*layout.orders()[0], WIDE]
    widths = "/".join(str(w) for w in layout.widths())
    raise FormatError(
        f"{path} is not a {layout.name} CDR file: its first row has {len(row)} fields, "
        f"expected {widths}"
    )


def csv_source(layout: Layout, path: Path, max_line_size: int) -> tuple[str, list[str]]:
    """The ``read_csv`` call for a CDR file, and its column names."""
    cols = columns_for(layout, path, max_line_size)
    # blank lines before the header are skipped, or the reader would take one for the header
    skip = header_line(path, max_line_size) - 1 if layout.header else 0
    if backslash_escaped(layout):
        return _escaped_source(layout, path, cols, max_line_size), cols
    return read_csv_sql(layout, path, cols, skip=skip, max_line_size=max_line_size), cols


def backslash_escaped(layout: Layout) -> bool:
    """Unquoted values where a delimiter inside a value is written after a backslash
    (BroadWorks: ``Smith\\, John``), which DuckDB's reader does not take outside quotes."""
    return layout.kind == "csv" and not layout.quote and layout.escape == "\\" and not layout.header


def _escaped_source(layout: Layout, path: Path, cols: list[str], max_line_size: int) -> str:
    """Each line read whole and split here: an escaped delimiter first set aside (a unit
    separator, which CDR text does not hold), the fields split, then put back."""
    whole = replace(layout, kind="keyvalue", nulls=())
    lines = read_csv_sql(whole, path, [KEYVALUE_COLUMN], skip=0, max_line_size=max_line_size)
    held, delim = lit("\x1f"), lit(layout.delimiter)
    escaped = lit("\\" + layout.delimiter)
    # an empty value, or one the layout says means none (read.null), is no value
    none = ", ".join(lit(v) for v in ("", *layout.nulls))
    parts = (
        f"list_transform(string_split(replace({q(KEYVALUE_COLUMN)}, {escaped}, {held}), {delim}),"
        f" lambda x: CASE WHEN replace(x, {held}, {delim}) IN ({none}) THEN NULL"
        f" ELSE replace(x, {held}, {delim}) END)"
    )
    real = [c for c in cols if c != WIDE]
    fields = [f"th_p[{i}] AS {q(c)}" for i, c in enumerate(real, start=1)]
    if WIDE in cols:
        fields.append(
            f"CASE WHEN len(th_p) > {len(real)} THEN th_p[{len(real) + 1}] END AS {q(WIDE)}"
        )
    return f"(SELECT {', '.join(fields)} FROM (SELECT {parts} AS th_p FROM {lines}))"


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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormatError(f"{path} is not a readable Parquet file: {first}") from exc
    missing = [c for c in PARQUET_REQUIRED if c not in names]
    if missing:
        raise FormatError(f"{path}: Parquet file lacks canonical columns {', '.join(missing)}")
    wanted = [c for c in names if c in PARQUET_REQUIRED + PARQUET_OPTIONAL]

    def text(c: str) -> str:
        # A lake export has the numbers as written in caller_raw/called_raw: prefer those.
        if c in ("caller", "called") and f"{c}_raw" in names:
            return f"CAST(coalesce({q(c + '_raw')}, {q(c)}) AS VARCHAR)"
        return f"CAST({q(c)} AS VARCHAR)"

    casts = ", ".join(f"{text(c)} AS {q(c)}" for c in wanted)
    return f"(SELECT {casts} FROM read_parquet({lit(str(path))}))", wanted


def _split_strict(text: str, layout: Layout) -> list[str]:
    """One line as its layout's CSV dialect; csv.Error when a quoted value does not end on
    its line."""
    if layout.kind == "keyvalue":
        return [text]
    quote = layout.quote or None
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(
        [text],
        delimiter=layout.delimiter,
        quotechar=quote,
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        skipinitialspace=True,
        # an unquoted layout whose escape is a backslash: "\\," is a delimiter in a value
        escapechar=layout.escape if not quote and layout.escape == "\\" else None,
        strict=True,
    )
    return next(reader)


def read_by_line(
    path: Path, layout: Layout, cols: list[str], max_line_size: int
) -> tuple[pa.Table, list[tuple[int, str]], int]:
    """Each physical line parsed on its own (a record never spans lines): the rows with their
    line numbers (``th__line``), the unreadable lines as (line, reason), and how many rows had
    bytes that are not UTF-8 (read with ``\\xNN`` in their place)."""
    values: list[list[str | None]] = [[] for _ in cols]
    numbers: list[int] = []
    bad: list[tuple[int, str]] = []
    not_utf8 = 0
    nulls = set(layout.nulls)  # as DuckDB's nullstr on the fast path
    # as the fast path: a shorter row's missing fields are empty, a wider one is rejected
    widest = len(cols) - 1 if WIDE in cols else len(cols)
    seen_header = not layout.header
    with open_binary(path) as src:
        number = 0
        while True:
            raw = src.readline(max_line_size + 2)
            if not raw:
                break
            number += 1
            if not raw.endswith(b"\n") and len(raw) > max_line_size:
                while raw and not raw.endswith(b"\n"):
                    raw = src.readline(1 << 20)
                bad.append((number, f"line longer than {max_line_size} bytes (max_line_size)"))
                continue
            data = raw.rstrip(b"\r\n")
            if not data:
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                # A switch copies bytes it was given (a SIP display name in another charset)
                # into its CDR: the row is still a call. The bytes that are not UTF-8 are read
                # as \xNN, so the values show exactly what the file had.
                text = data.decode("utf-8", errors="backslashreplace")
                not_utf8 += 1
            if not seen_header:
                seen_header = True
                continue
            try:
                fields = _split_strict(text, layout)
            except csv.Error as exc:
                bad.append((number, f"unreadable row: {exc} (a quoted value must end on its line)"))
                continue
            if len(fields) > widest:
                if any(f != "" for f in fields[widest:]):
                    bad.append((number, wide_reason(layout, widest)))
                    continue
                fields = fields[:widest]  # a trailing delimiter: no field after it
            fields += [""] * (len(cols) - len(fields))
            numbers.append(number)
            for i, value in enumerate(fields):
                values[i].append(value if value != "" and value not in nulls else None)
    import pyarrow as pa  # the slow path only

    arrays = {c: pa.array(v, type=pa.string()) for c, v in zip(cols, values, strict=True)}
    table = pa.table({**arrays, "th__line": pa.array(numbers, type=pa.int64())})
    return table, bad, not_utf8
