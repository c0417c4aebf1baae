"""Ingest: CDR files of any preset -> normalised, sorted Parquet in the lake, bad rows to rejects.

The work happens inside DuckDB (vectorised); Python only orchestrates. Each source file is one
atomic unit (see ``lake.py``): all of it lands, or none of it. Its checksum goes in the manifest
so that ingesting the same bytes again adds nothing.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from sqlalchemy import select

from tracehop.cdr import formats
from tracehop.cdr.formats import PRESETS, Preset, q
from tracehop.cdr.lake import Lake, apply_plan, recover, scan_file, write_plan
from tracehop.cdr.sql import normalise_sql
from tracehop.engine import connect
from tracehop.errors import FormatError, InputError
from tracehop.settings import Settings
from tracehop.store import Store, open_store
from tracehop.store.models import IngestManifest

log = logging.getLogger(__name__)

OUT_COLUMNS = (
    "call_id, start, duration, caller, called, caller_raw, called_raw, upstream, downstream, "
    "disposition, sip_code, attest, orig_id, identity, identity_status, provider, source_file, "
    "source_line, extra"
)
SOURCE_SUFFIXES = {".csv", ".txt", ".log", ".gz", ".parquet", ".tsv"}
# Up to this many skipped lines (header, blanks, unreadable rows) the line number of each row
# is computed by one SQL expression; beyond it, in numpy and joined by position.
INLINE_SKIPS = 64

Progress = Callable[[str, Path], None]


@dataclass
class FileResult:
    path: str
    format: str
    status: str  # "ingested" | "skipped"
    rows_ingested: int = 0
    rows_rejected: int = 0
    ingest_id: str | None = None
    message: str = ""
    line_numbers_exact: bool = True


@dataclass
class IngestResult:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_ingested(self) -> int:
        return sum(f.rows_ingested for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.status == "skipped")

    def to_dict(self) -> dict[str, object]:
        return {
            "files": len(self.files),
            "rows_ingested": self.rows_ingested,
            "rows_rejected": self.rows_rejected,
            "files_skipped": self.files_skipped,
            "seconds": round(self.seconds, 3),
            "details": [asdict(f) for f in self.files],
        }


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files, folders (recursively, CDR-looking files) and glob patterns -> distinct files."""
    out: list[Path] = []
    for item in paths:
        text = str(item)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"no file matches {text}")
            out.extend(m for m in matches if m.is_file())
            continue
        p = Path(text)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and (f.suffix.lower() in SOURCE_SUFFIXES)
            )
            if not found:
                raise InputError(f"{p} holds no CDR files (*.csv, *.gz, *.parquet, ...)")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif p.exists():
            raise InputError(f"{p} is not a regular file")
        else:
            raise InputError(f"no such file or folder: {p}")
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def ingest(
    paths: Iterable[str | Path],
    settings: Settings,
    *,
    format: str = "auto",
    provider: str | None = None,
    progress: Progress | None = None,
    store: Store | None = None,
) -> IngestResult:
    """Ingest CDR files into the home's lake. See docs/ingest.md."""
    started = time.perf_counter()
    if format != "auto" and format not in PRESETS:
        raise InputError(f"unknown format {format!r}: use auto, {', '.join(PRESETS)}")
    files = expand_paths(paths)
    lake = Lake(settings.lake_dir)
    lake.ensure()
    own_store = store is None
    store = store or open_store(settings)
    result = IngestResult()
    try:
        with lake.ingest_lock():
            recover(lake, lambda m: record_manifest(store, m))
            con = connect(settings, lake=lake)
            try:
                for path in files:
                    res = _ingest_one(
                        con,
                        lake,
                        store,
                        path,
                        format=format,
                        provider=provider or settings.provider,
                        zone=settings.timezone,
                        progress=progress,
                    )
                    result.files.append(res)
            finally:
                con.close()
    finally:
        if own_store:
            store.close()
    result.seconds = time.perf_counter() - started
    return result


def record_manifest(store: Store, manifest: dict[str, object]) -> None:
    """Insert a file's manifest row (idempotent: recovery may replay it)."""
    with store.session() as s:
        if s.get(IngestManifest, manifest["checksum"]) is not None:
            return
        row = dict(manifest)
        for key in ("first_start", "last_start", "ingested_at"):
            if row.get(key):
                row[key] = datetime.fromisoformat(str(row[key]))
        s.add(IngestManifest(**row))


def _ingest_one(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    store: Store,
    path: Path,
    *,
    format: str,
    provider: str,
    zone: str,
    progress: Progress | None,
) -> FileResult:
    def step(name: str) -> None:
        if progress:
            progress(name, path)

    step("checksum")
    scan = scan_file(path)
    with store.session() as s:
        seen = s.execute(
            select(IngestManifest).where(IngestManifest.checksum == scan.sha256)
        ).scalar_one_or_none()
    fmt = format if format != "auto" else formats.detect(path)
    if seen is not None:
        when = seen.ingested_at.strftime("%Y-%m-%d %H:%M UTC")
        return FileResult(
            path=str(path),
            format=seen.format,
            status="skipped",
            ingest_id=seen.ingest_id,
            message=f"already ingested on {when} as {seen.ingest_id} (same checksum)",
        )
    preset = PRESETS[fmt]
    now = datetime.now(UTC)
    ingest_id = now.strftime("%Y%m%dT%H%M%S%f") + "-" + scan.sha256[:8]
    stage = lake.staging_dir / ingest_id
    stage.mkdir(parents=True)
    source = str(path)
    try:
        step("reading")
        exact = _load_raw(con, preset, path, scan)
        step("normalising")
        _stage_rows(con, preset, zone=zone, checksum=scan.sha256, provider=provider, source=source)
        step("writing")
        moves, stats = _write_stage(con, preset, stage, ingest_id, provider, source)
    except duckdb.Error as exc:
        _drop_stage(stage)
        raise FormatError(f"cannot ingest {path} as {fmt}: {_first_line(exc)}") from exc
    except BaseException:
        _drop_stage(stage)
        raise
    finally:
        for t in ("raw_t", "staged", "parse_rejects", "good"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    manifest = {
        "checksum": scan.sha256,
        "ingest_id": ingest_id,
        "source_path": str(path.resolve()),
        "size_bytes": scan.size,
        "format": fmt,
        "provider": provider,
        "rows_ingested": stats["good"],
        "rows_rejected": stats["bad"],
        "first_start": stats["first"],
        "last_start": stats["last"],
        "files": [dst for _src, dst in moves],
        "ingested_at": now.isoformat(),
    }
    step("committing")
    write_plan(stage, moves, manifest)
    apply_plan(lake, stage, lambda m: record_manifest(store, m))
    return FileResult(
        path=source,
        format=fmt,
        status="ingested",
        rows_ingested=int(stats["good"]),
        rows_rejected=int(stats["bad"]),
        ingest_id=ingest_id,
        message=f"read as {fmt}" + ("" if exact else "; some line numbers are approximate"),
        line_numbers_exact=exact,
    )


def _drop_stage(stage: Path) -> None:
    import shutil

    shutil.rmtree(stage, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load_raw(con: duckdb.DuckDBPyConnection, preset: Preset, path: Path, scan) -> bool:  # type: ignore[no-untyped-def]
    """Read the file's raw text columns into ``raw_t`` (file order) with ``source_line``;
    unreadable lines into ``parse_rejects``. Returns whether line numbers are exact."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE parse_rejects "
        "(source_line BIGINT, reason VARCHAR, raw VARCHAR)"
    )
    if preset.name == "parquet":
        return _load_parquet(con, path)
    cols = formats.columns_for(preset, path)
    cols = [c if c else f"column{i}" for i, c in enumerate(cols)]
    columns = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in cols) + "}"
    options = (
        f"columns = {columns}, header = {'true' if preset.header else 'false'}, delim = ',', "
        "quote = '\"', escape = '\"', auto_detect = false, strict_mode = false, "
        "store_rejects = true, rejects_table = 'th_rejects', rejects_scan = 'th_scans', "
        "max_line_size = 1048576, encoding = 'utf-8', compression = 'auto'"
    )
    con.execute("DROP TABLE IF EXISTS th_rejects")
    con.execute("DROP TABLE IF EXISTS th_scans")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE raw_t AS SELECT * FROM read_csv({_lit(str(path))}, {options})"
    )
    con.execute(
        """INSERT INTO parse_rejects
           SELECT line, 'unreadable row: ' || lower(replace(first(error_type), '_', ' ')) || ' ('
                  || first(error_message) || ')', trim(first(csv_line), E'\\r\\n')
           FROM th_rejects GROUP BY line"""
    )
    reject_lines = np.array(
        [r[0] for r in con.execute("SELECT source_line FROM parse_rejects").fetchall()],
        dtype=np.int64,
    )
    n = con.execute("SELECT count(*) FROM raw_t").fetchone()[0]
    blanks = scan.blank_lines
    header: list[int] = []
    if preset.header:
        # the header is the first line that is not blank
        first = 1
        blank_set = set(blanks[:1000].tolist())
        while first in blank_set:
            first += 1
        header = [first]
    skips = np.unique(np.concatenate([np.array(header, dtype=np.int64), blanks, reject_lines]))
    exact = len(skips) + n == scan.lines
    if not exact:
        log.warning(
            "%s: %d lines but %d rows + %d skipped; rows span lines (quoted newlines?), "
            "so line numbers are approximate",
            path,
            scan.lines,
            n,
            len(skips),
        )
    t = skips - np.arange(1, len(skips) + 1)  # good lines before each skipped line
    _add_source_line(con, t, n)
    return exact


def _add_source_line(con: duckdb.DuckDBPyConnection, t: np.ndarray, n: int) -> None:
    """Row k (1-based, file order) came from line k + #{t_i < k}."""
    if len(t) <= INLINE_SKIPS:
        terms = " + ".join(f"(rowid + 1 > {int(v)})::BIGINT" for v in t) or "0"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE raw_t AS "
            f"SELECT rowid AS th__rid, rowid + 1 + {terms} AS th__line, * FROM raw_t"
        )
        return
    k = np.arange(1, n + 1, dtype=np.int64)
    lines = pa.table({"th__line": k + np.searchsorted(t, k, side="left")})
    con.register("th_lines", lines)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw_t AS SELECT r.rowid AS th__rid, l.th__line, r.* "
        "FROM raw_t r POSITIONAL JOIN th_lines l"
    )
    con.unregister("th_lines")


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    try:
        names = [
            r[0]
            for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({_lit(str(path))})"
            ).fetchall()
        ]
    except duckdb.Error as exc:
        raise FormatError(f"{path} is not a readable Parquet file: {_first_line(exc)}") from exc
    missing = [c for c in formats.GENERIC_REQUIRED if c not in names]
    if missing:
        raise FormatError(f"{path}: Parquet file lacks canonical columns {', '.join(missing)}")
    wanted = [c for c in names if c in formats.GENERIC_REQUIRED + formats.GENERIC_OPTIONAL]
    casts = ", ".join(f"CAST({q(c)} AS VARCHAR) AS {q(c)}" for c in wanted)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw_t AS SELECT file_row_number AS th__rid, "
        f"file_row_number + 1 AS th__line, {casts} "
        f"FROM read_parquet({_lit(str(path))}, file_row_number = true)"
    )
    return True


def _raw_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in con.execute("DESCRIBE raw_t").fetchall()
        if r[0] not in ("th__rid", "th__line")
    ]


def _stage_rows(
    con: duckdb.DuckDBPyConnection,
    preset: Preset,
    *,
    zone: str,
    checksum: str,
    provider: str,
    source: str,
) -> None:
    cols = _raw_columns(con)
    select = (preset.select if preset.name != "parquet" else PRESETS["generic"].select)(cols)
    passthrough: tuple[str, ...] = ()
    if preset.transactions:
        select += ", upper(trim(method)) AS method"
        passthrough = ("method",)
    mapped = f"(SELECT th__rid AS rid, th__line AS source_line, {select} FROM raw_t)"
    sql = normalise_sql(
        mapped,
        zone=zone,
        checksum=checksum,
        provider=provider,
        source=source,
        passthrough=passthrough,
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {sql}")
    if preset.transactions:
        _pair_transactions(con)


def _pair_transactions(con: duckdb.DuckDBPyConnection) -> None:
    """Kamailio acc: one INVITE row per call; its BYE row (same Call-ID) ends the call."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE staged AS
        WITH bye AS (
            SELECT call_id, min(start) AS bye_start FROM staged
            WHERE method = 'BYE' AND reason IS NULL GROUP BY call_id
        )
        SELECT s.* REPLACE (
            CASE WHEN s.disposition = 'answered' AND b.bye_start IS NOT NULL
                 THEN greatest(0, round(epoch(b.bye_start) - epoch(s.start)))::INTEGER
                 WHEN s.disposition = 'answered' THEN NULL
                 ELSE 0 END AS duration)
        FROM staged s LEFT JOIN bye b ON s.method = 'INVITE' AND s.call_id = b.call_id
        WHERE s.method = 'INVITE' OR s.reason IS NOT NULL"""
    )


def _write_stage(
    con: duckdb.DuckDBPyConnection,
    preset: Preset,
    stage: Path,
    ingest_id: str,
    provider: str,
    source: str,
) -> tuple[list[tuple[str, str]], dict[str, object]]:
    good, bad, first, last = con.execute(
        "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL),"
        " min(start) FILTER (WHERE reason IS NULL), max(start) FILTER (WHERE reason IS NULL)"
        " FROM staged"
    ).fetchone()
    parse_bad = con.execute("SELECT count(*) FROM parse_rejects").fetchone()[0]
    moves: list[tuple[str, str]] = []
    if good:
        days = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT strftime(start, '%Y-%m-%d') AS d FROM staged "
                "WHERE reason IS NULL ORDER BY d"
            ).fetchall()
        ]
        source_rel = "staged"
        if len(days) > 2:
            # Sort once; each day's COPY then reads one zone-mapped slice.
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE good AS SELECT {OUT_COLUMNS} FROM staged "
                "WHERE reason IS NULL ORDER BY start"
            )
            source_rel = "good"
        for day in days:
            lo = datetime.fromisoformat(day).replace(tzinfo=UTC)
            hi = lo + timedelta(days=1)
            rel = f"calls/day={day}/part-{ingest_id}.parquet"
            out = stage / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            where = "reason IS NULL AND " if source_rel == "staged" else ""
            con.execute(
                f"COPY (SELECT {OUT_COLUMNS} FROM {source_rel} WHERE {where}"
                f"start >= {_lit(lo.isoformat())}::TIMESTAMPTZ "
                f"AND start < {_lit(hi.isoformat())}::TIMESTAMPTZ ORDER BY start) "
                f"TO {_lit(str(out))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)"
            )
            moves.append((rel, rel))
    if bad or parse_bad:
        raw_cols = _raw_columns(con)
        raw_expr = "concat_ws(',', " + ", ".join(f"coalesce(r.{q(c)}, '')" for c in raw_cols) + ")"
        rel = f"rejects/part-{ingest_id}.parquet"
        out = stage / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"""COPY (
                SELECT {_lit(source)} AS source_file, source_line, reason, raw,
                       {_lit(ingest_id)} AS ingest_id, {_lit(provider)} AS provider
                FROM (
                    SELECT s.source_line, s.reason, {raw_expr} AS raw
                    FROM staged s JOIN raw_t r ON r.th__rid = s.rid
                    WHERE s.reason IS NOT NULL
                    UNION ALL
                    SELECT source_line, reason, raw FROM parse_rejects
                ) ORDER BY source_line
            ) TO {_lit(str(out))} (FORMAT parquet, COMPRESSION zstd)"""
        )
        moves.append((rel, rel))
    for _src, _dst in moves:
        _fsync_file(stage / _src)
    stats: dict[str, object] = {
        "good": good,
        "bad": bad + parse_bad,
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
    }
    return moves, stats


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
