"""Ingest: CDR files of any layout -> normalised, sorted Parquet in the lake, bad rows to rejects.

The work happens inside DuckDB (vectorised); Python only orchestrates. Each source file is one
atomic unit (see ``lake.py``): all of it lands, or none of it. Its checksum goes in the manifest
so that ingesting the same bytes again adds nothing.
"""

from __future__ import annotations

import glob
import logging
import os
import secrets
import shutil
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

import duckdb

from tracehop.cdr import chunks, pipeline
from tracehop.cdr.called_index import twin_of, write_twin
from tracehop.cdr.clock import check_clock
from tracehop.cdr.detect import detect, for_file
from tracehop.cdr.identity import IngestVerifier
from tracehop.cdr.lake import CALLS, Lake, apply_plan, crash_point, lake_of, recover, write_plan
from tracehop.cdr.layouts import PRESETS, Layout, get_layout
from tracehop.cdr.scan import FileScan, scan_file
from tracehop.cdr.sources import DECOMPRESS_ERRORS, is_compressed, looks_like_cdr, rotation_base
from tracehop.engine import connect
from tracehop.errors import FormatError, InputError
from tracehop.settings import Settings
from tracehop.store.manifest import Manifest, ManifestRow, StoreManifest, open_manifest

if TYPE_CHECKING:
    from tracehop.shaken.verify import Verifier
    from tracehop.store import Store

log = logging.getLogger(__name__)

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
    rows_skipped: int = 0  # lines that are not records (other log lines, a types row)
    rows_merged: int = 0  # SIP transaction rows folded into their call (BYE, 407, ...)
    rows_duplicate: int = 0  # calls the lake already held (from another file), not stored again
    identity_verified: int = 0  # rows whose STIR/SHAKEN Identity header was verified
    identity_failed: dict[str, int] = field(default_factory=dict)  # failures by reason


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


def expand_paths(paths: Iterable[str | Path], *, glob_pattern: str | None = None) -> list[Path]:
    """Files, folders (recursively, CDR-looking files) and glob patterns -> distinct files.

    In a folder, CDR-looking means a name like ``calls.csv``, ``Master.csv.1``,
    ``Master.csv.2023-10-11-00-36-14``, ``acc.log.2.gz`` or ``cdr.tsv.zst``
    (``sources.looks_like_cdr``); ``glob_pattern`` (``--glob``) takes other names instead."""
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
                for f in p.rglob(glob_pattern or "*")
                if f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and (glob_pattern is not None or looks_like_cdr(f.name))
            )
            if not found:
                what = glob_pattern or "*.csv, *.csv.1, *.gz, *.parquet, ..."
                raise InputError(f"{p} holds no CDR files ({what}); name others with --glob")
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
    layout: str | Path | Layout | None = None,
    provider: str | None = None,
    progress: Progress | None = None,
    store: Store | None = None,
    glob_pattern: str | None = None,
    max_line_size: int = pipeline.MAX_LINE_SIZE,
    verifier: Verifier | None = None,
) -> IngestResult:
    """Ingest CDR files into the home's lake. See docs/ingest.md.

    ``format``: ``auto`` (each file's layout recognised from its first lines) or a shipped
    layout's name; ``layout``: a layout file (or a :class:`Layout`) for every file instead.
    ``verifier``: checks the rows' STIR/SHAKEN Identity headers (default: one made from the
    settings when a file has any and trust anchors are set; ``cdr/identity.py``)."""
    started = time.perf_counter()
    chosen: Layout | None = None
    if layout is not None:
        chosen = layout if isinstance(layout, Layout) else get_layout(layout)
    elif format != "auto":
        if format not in PRESETS:
            raise InputError(
                f"unknown format {format!r}: use auto, {', '.join(PRESETS)} "
                "(or --layout FILE for a layout of your own)"
            )
        chosen = PRESETS[format]
    if max_line_size < 1024:
        raise InputError(f"max_line_size must be at least 1024 bytes, not {max_line_size}")
    files = expand_paths(paths, glob_pattern=glob_pattern)
    lake = lake_of(settings)  # its files under <home>/lake or on the object store
    lake.ensure()
    result = IngestResult()
    # A store passed in stays open for the caller; a manifest opened here is closed here
    # (for the default SQLite state DB without SQLAlchemy: store/manifest.py).
    manifest = StoreManifest(store) if store is not None else open_manifest(settings)
    with closing(manifest), lake.ingest_lock():
        recover(lake, manifest.record)
        con = connect(settings, lake=lake)
        verifying = IngestVerifier(settings, verifier)
        try:
            for path in files:
                res = _ingest_one(
                    con,
                    lake,
                    manifest,
                    path,
                    layout=chosen,
                    provider=provider or settings.provider,
                    zone=settings.timezone,
                    progress=progress,
                    max_line_size=max_line_size,
                    verifier=verifying,
                )
                result.files.append(res)
        finally:
            con.close()
            verifying.close()
    result.seconds = time.perf_counter() - started
    return result


def record_manifest(store: Store, manifest: dict[str, object]) -> None:
    """Insert a file's manifest row (idempotent: recovery may replay it)."""
    StoreManifest(store).record(manifest)


# Files from this size up to one chunk are read by DuckDB while their checksum is computed
# (below it the checksum takes no noticeable time).
OVERLAP_BYTES = 4 << 20


class _PendingScan:
    """A scan computed in a second thread (hashlib and DuckDB both run without the GIL), for
    a file that may be read before its checksum is known; its fields wait for the scan."""

    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._future = self._pool.submit(scan_file, path, find_blanks=False)

    def result(self) -> FileScan:
        try:
            return self._future.result()
        finally:
            self._pool.shutdown()

    def __getattr__(self, name: str) -> object:
        return getattr(self.result(), name)


def _scan(path: Path, *, versions: bool) -> FileScan | _PendingScan:
    """The file's scan, or one under way when the file can be read at the same time: a plain
    file of one chunk with no earlier ``versions`` (a file of a name ingested before may be
    the same bytes, a file that grew or a rotated copy: its checksum is needed first)."""
    try:
        size = path.stat().st_size
        if OVERLAP_BYTES <= size <= chunks.CHUNK_BYTES and not is_compressed(path) and not versions:
            return _PendingScan(path)
        return scan_file(path, find_blanks=False)
    except (*DECOMPRESS_ERRORS, zlib.error) as exc:
        raise FormatError(f"cannot read {path}: {exc}") from exc


def _already(manifest: Manifest, path: Path, scan: FileScan) -> FileResult | None:
    """The result for a file whose checksum is in the manifest (a re-ingest adds nothing)."""
    seen = manifest.by_checksum(scan.sha256)
    if seen is None:
        return None
    when = seen.ingested_at.strftime("%Y-%m-%d %H:%M UTC")
    return FileResult(
        path=str(path),
        format=seen.format,
        status="skipped",
        ingest_id=seen.ingest_id,
        message=f"already ingested on {when} as {seen.ingest_id} (same checksum)",
    )


def _ingest_one(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    manifest: Manifest,
    path: Path,
    *,
    layout: Layout | None,
    provider: str,
    zone: str,
    progress: Progress | None,
    max_line_size: int,
    verifier: IngestVerifier | None = None,
) -> FileResult:
    def step(name: str) -> None:
        if progress:
            progress(name, path)

    step("checksum")
    versions = _versions(manifest, path)
    pending = _scan(path, versions=bool(versions))
    if isinstance(pending, FileScan) and (done := _already(manifest, path, pending)) is not None:
        return done
    why = ""
    if layout is None:
        found = detect(path, max_line_size=max_line_size)
        layout, why = found.layout, found.why
    layout = for_file(layout, path, max_line_size=max_line_size)
    fmt = layout.name
    grown = (
        _earlier_version(path, pending, versions)
        if isinstance(pending, FileScan) and layout.kind == "csv"
        else None
    )
    now = datetime.now(UTC)
    suffix = pending.sha256[:8] if isinstance(pending, FileScan) else secrets.token_hex(4)
    ingest_id = now.strftime("%Y%m%dT%H%M%S%f") + "-" + suffix
    stage = lake.staging_dir / ingest_id
    stage.mkdir(parents=True)
    try:
        written, stats, exact = _write_stage(
            con,
            layout,
            path,
            pending,  # type: ignore[arg-type]  # a _PendingScan waits where a field is read
            grown,
            stage,
            ingest_id=ingest_id,
            provider=provider,
            zone=zone,
            step=step,
            max_line_size=max_line_size,
            verifier=verifier,
            stored=lambda days: [f for day in days for f in lake.call_files(day)],
        )
        if layout.clock:  # times read in the wrong zone are refused before anything is stored
            step("checking the zone")
            calls = [stage / rel for rel in written if rel.startswith(CALLS + "/")]
            rule = layout.rules.get(layout.clock)
            label = rule.fields[0] if rule and rule.fields else None
            check_clock(con, calls, layout.clock, zone, path, label=label)
        scan = pending.result() if isinstance(pending, _PendingScan) else pending
        done = _already(manifest, path, scan)  # the same bytes under another name: read for nothing
        if done is not None:
            _drop_stage(stage)
            return done
    except duckdb.Error as exc:
        _drop_stage(stage)
        raise FormatError(f"cannot ingest {path} as {fmt}: {pipeline.first_line(exc)}") from exc
    except BaseException:
        _drop_stage(stage)
        raise
    step("committing")
    crash_point("staged", lake.crash_at)
    write_plan(
        stage,
        [(rel, rel) for rel in written],
        _manifest(scan, ingest_id, path, fmt, provider, stats, written, now),
    )
    apply_plan(lake, stage, manifest.record)
    return FileResult(
        path=str(path),
        format=fmt,
        status="ingested",
        rows_ingested=int(stats["good"]),  # type: ignore[call-overload]
        rows_rejected=int(stats["bad"]),  # type: ignore[call-overload]
        ingest_id=ingest_id,
        rows_skipped=int(stats["skipped"]),  # type: ignore[call-overload]
        rows_merged=int(stats["merged"]),  # type: ignore[call-overload]
        rows_duplicate=int(stats["duplicates"]),  # type: ignore[call-overload]
        identity_verified=int(stats["identity_verified"]),  # type: ignore[call-overload]
        identity_failed=dict(stats["identity_failed"]),  # type: ignore[call-overload]
        message=f"read as {fmt}"
        + (f" (auto: {why})" if why else "")
        + _continues_note(path, grown)
        + _duplicates_note(stats)
        + ("" if exact else "; some line numbers are approximate")
        + _not_utf8_note(stats)
        + _identity_note(stats),
        line_numbers_exact=exact,
    )


def _manifest(
    scan: FileScan,
    ingest_id: str,
    path: Path,
    fmt: str,
    provider: str,
    stats: dict[str, object],
    written: list[str],
    now: datetime,
) -> dict[str, object]:
    first, last = stats["first"], stats["last"]
    return {
        "checksum": scan.sha256,
        "ingest_id": ingest_id,
        "source_path": str(path.resolve()),
        "size_bytes": scan.size,
        "format": fmt[:20],  # the manifest's column holds 20 characters
        "provider": provider,
        "rows_ingested": stats["good"],
        "rows_rejected": stats["bad"],
        "first_start": first.isoformat() if first else None,  # type: ignore[attr-defined]
        "last_start": last.isoformat() if last else None,  # type: ignore[attr-defined]
        "files": written,
        "ingested_at": now.isoformat(),
    }


def _write_stage(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    path: Path,
    scan: FileScan,
    grown: ManifestRow | None,
    stage: Path,
    *,
    ingest_id: str,
    provider: str,
    zone: str,
    step: Callable[[str], None],
    max_line_size: int,
    verifier: IngestVerifier | None = None,
    stored: Callable[[list[str]], Sequence[Path | str]] | None = None,
) -> tuple[list[str], dict[str, object], bool]:
    """Read the file (in chunks when large; only its appended lines when it grew) and write
    its Parquet files into ``stage``, fsynced: (files, stats, line numbers exact).
    ``stored``: the lake's calls files of some UTC days (calls already there are not written
    again)."""
    chunk_dir = stage / "chunks"
    written: list[str] = []
    stats: dict[str, object] = dict.fromkeys(
        ("good", "bad", "skipped", "merged", "not_utf8", "duplicates"), 0
    )
    stats.update(first=None, last=None, identity_verified=0, identity_passed=0, identity_failed={})
    exact = True
    header = layout.header
    try:
        # SIP transaction rows are paired, and a call's rows ([legs]) folded, across the
        # whole file; Parquet is read as is.
        chunkable = layout.kind != "parquet" and not (layout.transactions or layout.legs)
        base_offset = earlier = 0
        if grown is not None and not chunkable:
            # a call's rows may lie on both sides of where the earlier version ended: the
            # whole text is read, and calls with a row in the earlier lines are not stored
            # again (pipeline.stage's ``earlier_lines``)
            earlier = chunks.lines_before(path, grown.size_bytes, header)
            grown = None
        if grown is not None:  # only the lines appended since the earlier version
            tail, base_offset = chunks.tail_file(path, grown.size_bytes, chunk_dir, header)
            parts = chunks.split(tail.path, tail.scan, chunk_dir, header=header)
        elif isinstance(scan, _PendingScan):  # one chunk (see _scan): read while it is hashed
            parts = chunks.whole(path, scan)  # type: ignore[arg-type]
        elif chunkable:
            parts = chunks.split(path, scan, chunk_dir, header=header)
        elif layout.kind != "parquet" and is_compressed(path):
            # one chunk: the decompressed text (every reader then sees plain text)
            parts = chunks.split(path, scan, chunk_dir, header=header, chunk_bytes=1 << 62)
        else:
            parts = chunks.whole(path, scan)
        for k, chunk in enumerate(parts):
            chunk.line_offset += base_offset
            step("reading" if k == 0 else f"reading part {k + 1}")
            staged = pipeline.stage(
                con,
                layout,
                chunk.path,
                chunk.scan,
                zone=zone,
                max_line_size=max_line_size,
                earlier_lines=earlier,
            )
            exact = exact and staged.exact_lines
            step("writing")
            files, part_stats = pipeline.write(
                con,
                chunk.path,
                stage,
                ingest_id=ingest_id,
                checksum=scan.sha256,
                provider=provider,
                source=str(path),
                part=k,
                line_offset=chunk.line_offset,
                raw_lines=layout.kind != "parquet",
                verifier=verifier,
                stored=stored,
            )
            part_stats["skipped"] = staged.skipped
            part_stats["not_utf8"] = staged.not_utf8
            # rows read that are neither calls, rejects nor skipped: transaction rows folded
            # (the rows of an earlier version's lines are none of these: stored before)
            part_stats["merged"] = (
                staged.rows
                - staged.skipped
                - staged.earlier
                - part_stats.pop("calls_and_value_bad")  # type: ignore[operator]
            )
            written += files
            _merge_stats(stats, part_stats)
            _drop_work_tables(con)
        shutil.rmtree(chunk_dir, ignore_errors=True)
        # each calls file's twin sorted by called number, in the same stage: committed and
        # moved by the same plan (called_index.py)
        calls = [rel for rel in written if rel.startswith(CALLS + "/")]
        if calls:
            step("indexing")
        for rel in calls:
            write_twin(con, stage / rel, stage / twin_of(rel))
            written.append(twin_of(rel))
        for rel in written:
            _fsync_file(stage / rel)
    finally:
        _drop_work_tables(con)
    return written, stats, exact


def _versions(manifest: Manifest, path: Path) -> list[ManifestRow]:
    """Files ingested before under this file's name or a rotated copy of it, in any folder
    (``Master.csv``, ``Master.csv.1``, ``Master.csv.2023-10-11-00-36-14.gz``): the earlier
    versions this file may continue."""
    base = rotation_base(path.name)
    return [
        r
        for r in manifest.paths_holding(base)
        if rotation_base(PurePath(r.source_path).name) == base
    ]


def _earlier_version(path: Path, scan: FileScan, versions: list[ManifestRow]) -> ManifestRow | None:
    """The longest earlier version that this file's text begins with, byte for byte: the
    same file grown since (switches append to their CDR file: Asterisk's Master.csv), or a
    rotated copy of a file ingested while it was still being written (logrotate renames
    Master.csv to Master.csv.1, FreeSWITCH to Master.csv.<time>, and may compress it). Only
    the lines after it are new; reading it all again would store its calls twice."""
    limit = None if is_compressed(path) else scan.size  # a compressed file's text is longer
    sizes = {
        r.size_bytes
        for r in versions
        if r.checksum != scan.sha256 and (limit is None or r.size_bytes < limit)
    }
    if not sizes:
        return None
    digests = chunks.prefix_digests(path, sizes)
    for row in sorted(versions, key=lambda r: -r.size_bytes):
        if digests.get(row.size_bytes) == row.checksum:
            return row
    return None


def _continues_note(path: Path, grown: ManifestRow | None) -> str:
    if grown is None:
        return ""
    if grown.source_path == str(path.resolve()):
        return f"; only the lines appended since {grown.ingest_id} (the file grew)"
    earlier = PurePath(grown.source_path)
    name = earlier.name if earlier.parent == PurePath(path.resolve()).parent else str(earlier)
    return (
        f"; only the lines after those of {name}, ingested as {grown.ingest_id} "
        "(a rotated copy of it: its calls are not stored twice)"
    )


def _merge_stats(total: dict[str, object], part: dict[str, object]) -> None:
    total["good"] = int(total["good"]) + int(part["good"])  # type: ignore[call-overload]
    for key in (
        "bad",
        "skipped",
        "merged",
        "not_utf8",
        "duplicates",
        "identity_verified",
        "identity_passed",
    ):
        total[key] = int(total[key]) + int(part[key])  # type: ignore[call-overload]
    failed: dict[str, int] = total["identity_failed"]  # type: ignore[assignment]
    for reason, n in part["identity_failed"].items():  # type: ignore[attr-defined]
        failed[reason] = failed.get(reason, 0) + n
    for key, pick in (("first", min), ("last", max)):
        values = [v for v in (total[key], part[key]) if v is not None]
        total[key] = pick(values) if values else None  # type: ignore[type-var]


def _duplicates_note(stats: dict[str, object]) -> str:
    n = int(stats["duplicates"])  # type: ignore[call-overload]
    if not n:
        return ""
    return (
        f"; {n:,} {'call was' if n == 1 else 'calls were'} already in the lake (the same call "
        "id, start, upstream and numbers, from another file) and not stored again"
    )


def _not_utf8_note(stats: dict[str, object]) -> str:
    n = int(stats["not_utf8"])  # type: ignore[call-overload]
    if not n:
        return ""
    return f"; {n} row{'s' if n > 1 else ''} had bytes that are not UTF-8 (read as \\xNN)"


def _identity_note(stats: dict[str, object]) -> str:
    verified = int(stats["identity_verified"])  # type: ignore[call-overload]
    if not verified:
        return ""
    failed: dict[str, int] = stats["identity_failed"]  # type: ignore[assignment]
    why = ", ".join(f"{r} {n}" for r, n in sorted(failed.items(), key=lambda kv: -kv[1]))
    return f"; {verified} Identity headers verified, {sum(failed.values())} failed" + (
        f" ({why})" if why else ""
    )


def _drop_work_tables(con: duckdb.DuckDBPyConnection) -> None:
    for view in ("lined_v", "lined", "lined_all", "staged_v"):
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for t in (
        "staged",
        "parse_rejects",
        "good",
        "th_lines",
        "th_rejects",
        "th_scans",
        "th_identity",
        "th_pairs",
        "th_stored",
        "th_dup",
    ):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def _drop_stage(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
