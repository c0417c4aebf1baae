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


def scan_file(path: Path, chunk: int = 16 << 20) -> FileScan:
    """One pass over a source file: its checksum, and where its lines and blank lines are.

    The CSV reader skips blank lines silently; knowing them lets ingest give every row the
    physical line number it came from.
    """
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as fh:
        magic = fh.read(2)
    gz = magic == b"\x1f\x8b"
    blanks: list[np.ndarray] = []
    lines = 0  # newlines seen so far
    prev_nl = -1  # global offset of the previous newline
    prev_byte = -1  # last byte of the previous chunk
    offset = 0
    last_byte = -1
    with path.open("rb") as raw:
        text = gzip.GzipFile(fileobj=_Tee(raw, digest)) if gz else None
        while True:
            buf = text.read(chunk) if text is not None else raw.read(chunk)
            if not buf:
                break
            if text is None:
                digest.update(buf)
            arr = np.frombuffer(buf, dtype=np.uint8)
            nl = np.flatnonzero(arr == 10)
            if nl.size:
                pos = nl + offset
                prevs = np.concatenate(([prev_nl], pos[:-1]))
                gap = pos - prevs
                blank = gap == 1
                # "\r\n" alone on a line: the byte before the newline is CR.
                two = np.flatnonzero(gap == 2)
                if two.size:
                    before = nl[two] - 1
                    cr = np.empty(two.size, dtype=bool)
                    inside = before >= 0
                    cr[inside] = arr[before[inside]] == 13
                    cr[~inside] = prev_byte == 13
                    blank[two] = cr
                idx = np.flatnonzero(blank)
                if idx.size:
                    blanks.append(idx + lines + 1)
                lines += nl.size
                prev_nl = int(pos[-1])
            prev_byte = int(arr[-1])
            last_byte = prev_byte
            offset += len(buf)
    total_lines = lines + (1 if offset and last_byte != 10 else 0)
    blank_arr = np.concatenate(blanks) if blanks else np.empty(0, dtype=np.int64)
    return FileScan(digest.hexdigest(), size, total_lines, blank_arr.astype(np.int64))


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
    tmp = stage / (PLAN + ".tmp")
    with tmp.open("w") as fh:
        json.dump({"moves": moves, "manifest": manifest}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, stage / PLAN)
    fsync_dir(stage)


def crash_point(name: str) -> None:
    """Test hook: ``TRACEHOP_CRASH_AT=<name>`` kills this process (SIGKILL) at that point, so
    the crash tests can stop a real ingest exactly between two steps of the commit."""
    if os.environ.get("TRACEHOP_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def apply_plan(lake: Lake, stage: Path, record: Callable[[dict[str, object]], None]) -> None:
    """Move a committed stage's files into the lake, record its manifest row, drop the stage."""
    plan = json.loads((stage / PLAN).read_text())
    crash_point("committed")
    for src_rel, dst_rel in plan["moves"]:
        src, dst = stage / src_rel, lake.root / dst_rel
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            crash_point("moving")
        elif not dst.exists():
            raise FileNotFoundError(f"committed ingest lost {src_rel}")
    crash_point("moved")
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
