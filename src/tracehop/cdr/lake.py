"""The CDR lake: sorted Parquet under ``lake/calls/day=YYYY-MM-DD/``, rejects beside it.

Atomic ingest without a transaction log: an ingest writes everything under
``lake/_staging/<ingest_id>/``, then writes ``plan.json`` (renamed into place: the commit point),
then renames each file into the lake and records the manifest row in the state DB. Whoever
takes the lake's ingest lock next (:func:`recover`) finishes a committed plan and deletes an
uncommitted staging folder, so a crash at any point leaves either the whole file or nothing.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import logging
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CALLS = "calls"
REJECTS = "rejects"
STAGING = "_staging"
PLAN = "plan.json"


@dataclass(frozen=True)
class Lake:
    root: Path
    # test hook (setting crash_at): the commit step at which this process kills itself
    crash_at: str | None = None

    @property
    def calls_dir(self) -> Path:
        return self.root / CALLS

    @property
    def rejects_dir(self) -> Path:
        return self.root / REJECTS

    @property
    def staging_dir(self) -> Path:
        return self.root / STAGING

    @property
    def tmp_dir(self) -> Path:
        return self.root / "_tmp"

    def ensure(self) -> None:
        for d in (self.calls_dir, self.rejects_dir, self.staging_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)

    def call_files(self) -> list[Path]:
        return sorted(self.calls_dir.glob("day=*/*.parquet")) if self.calls_dir.exists() else []

    def reject_files(self) -> list[Path]:
        return sorted(self.rejects_dir.glob("*.parquet")) if self.rejects_dir.exists() else []

    @contextmanager
    def ingest_lock(self, *, wait: bool = True) -> Iterator[bool]:
        """Serialise writers of this lake; yields False if ``wait`` is off and it is taken."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".ingest.lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


# --- scanning a source file: checksum, line count, blank lines --------------------------------


@dataclass
class FileScan:
    sha256: str
    size: int
    lines: int  # physical lines of the (decompressed) text
    blank_lines: np.ndarray = field(repr=False)  # 1-based numbers of empty lines
    blanks_known: bool = True  # False when scanned without looking for blank lines
    # Uncompressed files: newlines_at[i] is the number of newlines before byte i * block (the
    # last entry: before the end), so a chunk cut after a newline knows its lines unread.
    block: int = 0
    newlines_at: list[int] | None = field(default=None, repr=False)


def scan_file(path: Path, chunk: int = 16 << 20, *, find_blanks: bool = True) -> FileScan:
    """One pass over a source file: its checksum, its line count and (``find_blanks``) its
    blank lines.

    The CSV reader skips blank lines silently; knowing them lets ingest give every row the
    physical line number it came from. Most CDR files have none, so ingest first scans without
    looking for them and asks again only when the counts show some.
    """
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as fh:
        magic = fh.read(2)
    gz = magic == b"\x1f\x8b"
    blanks: list[np.ndarray] = []
    lines = 0  # newlines seen so far
    tail = b"\n"  # last bytes seen; a virtual newline before line 1
    last_byte = -1
    offset = 0
    newlines_at: list[int] | None = None if gz else []
    # A big uncompressed file is hashed in a second thread (hashlib lets go of the GIL) while
    # this one counts its lines.
    pool = ThreadPoolExecutor(max_workers=1) if not gz and size > chunk else None
    hashing: Future[None] | None = None
    try:
        with path.open("rb") as raw:
            text = gzip.GzipFile(fileobj=_Tee(raw, digest)) if gz else None
            while True:
                buf = text.read(chunk) if text is not None else raw.read(chunk)
                if not buf:
                    break
                if hashing is not None:
                    hashing.result()
                    hashing = None
                if pool is not None:
                    hashing = pool.submit(digest.update, buf)
                elif text is None:
                    digest.update(buf)
                if newlines_at is not None:
                    if len(buf) != chunk and offset + len(buf) != size:  # a short read: no index
                        newlines_at = None
                    else:
                        newlines_at.append(lines)
                if find_blanks:
                    found = _blank_lines(buf, tail, lines)
                    if found.size:
                        blanks.append(found)
                lines += int(np.count_nonzero(np.frombuffer(buf, dtype=np.uint8) == 10))
                tail = (tail + buf[-2:])[-2:]
                last_byte = buf[-1]
                offset += len(buf)
            if hashing is not None:
                hashing.result()
    finally:
        if pool is not None:
            pool.shutdown()
    total_lines = lines + (1 if offset and last_byte != 10 else 0)
    blank_arr = np.concatenate(blanks) if blanks else np.empty(0, dtype=np.int64)
    if newlines_at is not None:
        if offset != size:  # the file changed while read
            newlines_at = None
        else:
            newlines_at.append(lines)
    return FileScan(
        digest.hexdigest(),
        size,
        total_lines,
        blank_arr.astype(np.int64),
        find_blanks,
        block=chunk,
        newlines_at=newlines_at,
    )


def _blank_lines(buf: bytes, tail: bytes, lines_before: int, few: int = 64) -> np.ndarray:
    """1-based numbers of the empty lines ("" or "\r") that end in ``buf``.

    CDR files rarely have any: ``bytes.find`` (C speed) finds them, and only a chunk with many
    falls back to numpy over every newline.
    """
    window = tail + buf
    ends: list[int] = []
    for pattern in (b"\n\n", b"\n\r\n"):
        i = window.find(pattern)
        while i != -1:
            end = i + len(pattern) - 1  # the blank line's own newline
            if end >= len(tail):
                ends.append(end - len(tail))
                if len(ends) > few:
                    return _blank_lines_numpy(window, len(tail), lines_before)
            i = window.find(pattern, i + 1)
    ends.sort()
    numbers = []
    counted, pos = 0, 0
    for end in ends:
        counted += buf.count(b"\n", pos, end + 1)
        pos = end + 1
        numbers.append(lines_before + counted)
    return np.array(numbers, dtype=np.int64)


def _blank_lines_numpy(window: bytes, skip: int, lines_before: int) -> np.ndarray:
    arr = np.frombuffer(window, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    gap = np.diff(nl)
    blank = gap == 1
    two = np.flatnonzero(gap == 2)
    blank[two] = arr[nl[two + 1] - 1] == 13
    ends = nl[1:][blank]  # positions of blank lines' newlines in window
    ends = ends[ends >= skip] - skip
    # line number = newlines in buf up to and including the end, plus those before
    buf_nl = nl[nl >= skip] - skip
    return (np.searchsorted(buf_nl, ends, side="right") + lines_before).astype(np.int64)


class _Tee:
    """A read-only file wrapper that hashes what is read through it (for gzip input)."""

    def __init__(self, raw, digest) -> None:  # type: ignore[no-untyped-def]
        self.raw, self.digest = raw, digest

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        return data

    def readable(self) -> bool:
        return True


# --- staging, commit, recovery -----------------------------------------------------------------


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_plan(stage: Path, moves: list[tuple[str, str]], manifest: dict[str, object]) -> None:
    """The commit point: after this rename the ingest will be completed, whatever happens."""
    # the staged files' folder entries must be durable before the plan that names them
    for folder in sorted({(stage / src).parent for src, _dst in moves}, reverse=True):
        fsync_dir(folder)
    tmp = stage / (PLAN + ".tmp")
    with tmp.open("w") as fh:
        json.dump({"moves": moves, "manifest": manifest}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, stage / PLAN)
    fsync_dir(stage)


def crash_point(name: str, crash_at: str | None) -> None:
    """Test hook: with the setting ``crash_at`` (``TRACEHOP_CRASH_AT``) equal to ``name`` this
    process kills itself (SIGKILL) here, so the crash tests can stop a real ingest exactly
    between two steps of the commit."""
    if crash_at == name:
        os.kill(os.getpid(), signal.SIGKILL)


def apply_plan(lake: Lake, stage: Path, record: Callable[[dict[str, object]], None]) -> None:
    """Move a committed stage's files into the lake, record its manifest row, drop the stage."""
    plan = json.loads((stage / PLAN).read_text())
    crash_point("committed", lake.crash_at)
    for src_rel, dst_rel in plan["moves"]:
        src, dst = stage / src_rel, lake.root / dst_rel
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            crash_point("moving", lake.crash_at)
        elif not dst.exists():
            raise FileNotFoundError(f"committed ingest lost {src_rel}")
    crash_point("moved", lake.crash_at)
    for folder in sorted({(lake.root / dst).parent for _src, dst in plan["moves"]}):
        fsync_dir(folder)  # the renames are durable before the manifest says "ingested"
    record(plan["manifest"])
    shutil.rmtree(stage, ignore_errors=True)


def recover(lake: Lake, record: Callable[[dict[str, object]], None]) -> int:
    """Finish committed stages and delete uncommitted ones. Call with the ingest lock held."""
    if not lake.staging_dir.exists():
        return 0
    done = 0
    for stage in sorted(p for p in lake.staging_dir.iterdir() if p.is_dir()):
        if (stage / PLAN).exists():
            log.warning("completing interrupted ingest %s", stage.name)
            apply_plan(lake, stage, record)
            done += 1
        else:
            log.warning("discarding unfinished ingest %s", stage.name)
            shutil.rmtree(stage, ignore_errors=True)
    return done
