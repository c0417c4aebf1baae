"""The CDR lake: sorted Parquet under ``lake/calls/day=YYYY-MM-DD/``, rejects beside it.

Atomic ingest without a transaction log: an ingest writes everything under
``lake/_staging/<ingest_id>/``, then writes ``plan.json`` (renamed into place: the commit point),
then renames each file into the lake and records the manifest row in the state DB. Whoever
takes the lake's ingest lock next (:func:`recover`) finishes a committed plan and deletes an
uncommitted staging folder, so a crash at any point leaves either the whole file or nothing.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CALLS = "calls"
REJECTS = "rejects"
# The calls again, sorted by called number: one twin per calls file (``called_index.py``).
BY_CALLED = "by_called"
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
    def by_called_dir(self) -> Path:
        return self.root / BY_CALLED

    @property
    def staging_dir(self) -> Path:
        return self.root / STAGING

    @property
    def tmp_dir(self) -> Path:
        return self.root / "_tmp"

    def ensure(self) -> None:
        for d in (self.calls_dir, self.rejects_dir, self.staging_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)

    def has_plans(self) -> bool:
        """Whether any staging folder is left (an ingest that a crash interrupted)."""
        return self.staging_dir.exists() and any(self.staging_dir.iterdir())

    def call_files(self) -> list[Path]:
        return sorted(self.calls_dir.glob("day=*/*.parquet")) if self.calls_dir.exists() else []

    def by_called_files(self) -> list[Path]:
        d = self.by_called_dir
        return sorted(d.glob("day=*/*.parquet")) if d.exists() else []

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
