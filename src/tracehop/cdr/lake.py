"""The CDR lake: sorted Parquet under ``lake/calls/day=YYYY-MM-DD/``, rejects beside it, in
``<home>/lake`` or on an object store (``remote``: ``cdr/objectstore.py``; staging, the
lock and the plans stay on local disk).

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracehop.cdr.objectstore import ObjectStore
    from tracehop.settings import Settings

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
    # where calls/ and rejects/ are kept when not under root (TRACEHOP_LAKE_URL)
    remote: ObjectStore | None = None

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
        if self.remote is not None:
            self.remote.check()

    def has_plans(self) -> bool:
        """Whether any staging folder is left (an ingest that a crash interrupted)."""
        return self.staging_dir.exists() and any(self.staging_dir.iterdir())

    @property
    def location(self) -> str:
        """Where the calls are: the lake's folder or its object-store URL."""
        return self.remote.url if self.remote else str(self.root)

    def call_files(self, day: str = "*") -> list[Path] | list[str]:
        """The calls' Parquet files (of one ``day``, YYYY-MM-DD, or all): paths, or
        ``s3://`` URLs for an object-store lake."""
        if self.remote is not None:
            return self.remote.files(CALLS, f"day={day}/*.parquet")
        if not self.calls_dir.exists():
            return []
        return sorted(self.calls_dir.glob(f"day={day}/*.parquet"))

    def by_called_files(self) -> list[Path] | list[str]:
        """The index by called number: each calls file's twin (``cdr/called_index.py``)."""
        if self.remote is not None:
            return self.remote.files(BY_CALLED, "day=*/*.parquet")
        d = self.by_called_dir
        return sorted(d.glob("day=*/*.parquet")) if d.exists() else []

    def reject_files(self) -> list[Path] | list[str]:
        if self.remote is not None:
            return self.remote.files(REJECTS, "*.parquet")
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


def lake_of(settings: Settings) -> Lake:
    """This home's lake: ``<home>/lake``, its files on the object store of the setting
    ``lake_url`` when there is one."""
    remote = None
    if settings.lake_url:
        from tracehop.cdr.objectstore import ObjectStore

        secret = settings.lake_secret.get_secret_value() if settings.lake_secret else None
        remote = ObjectStore(settings.lake_url, endpoint=settings.lake_endpoint,
                             region=settings.lake_region, key_id=settings.lake_key_id,
                             secret=secret)  # fmt: skip
    return Lake(settings.lake_dir, crash_at=settings.crash_at, remote=remote)


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
            if lake.remote is not None:  # an upload, then the staged copy goes
                lake.remote.upload(src, dst_rel)
                src.unlink()
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
            crash_point("moving", lake.crash_at)
        elif not (lake.remote.exists(dst_rel) if lake.remote is not None else dst.exists()):
            raise FileNotFoundError(f"committed ingest lost {src_rel}")
    crash_point("moved", lake.crash_at)
    if lake.remote is None:
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
