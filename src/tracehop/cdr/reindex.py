"""``tracehop lake reindex``: write the index by called number (``called_index.py``) for the
calls files that have no twin: a lake ingested before the index existed, or a twin deleted.

Until then lookups read those days from the calls (the same answers, slower). Crash-safe the
way ingest is (``lake.py``): under the lake's ingest lock, each twin is written under
``_tmp``, fsynced and renamed into place; a crash leaves a day as it was or with its twin, and
the next run removes what a crash left under ``_tmp``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tracehop.cdr.called_index import snapshot, twin_of, write_twin
from tracehop.cdr.lake import Lake, crash_point, fsync_dir, recover
from tracehop.engine import connect
from tracehop.errors import InputError
from tracehop.settings import Settings

if TYPE_CHECKING:
    from tracehop.store import Store

log = logging.getLogger(__name__)

_TMP_PREFIX = "reindex-"


@dataclass
class ReindexResult:
    written: int = 0  # twins written
    days: int = 0  # days indexed after the run
    days_total: int = 0  # days with calls

    def to_dict(self) -> dict[str, int]:
        return {"written": self.written, "days_indexed": self.days, "days": self.days_total}


def missing_twins(lake: Lake) -> list[Path]:
    """The calls files whose twin is not in the lake."""
    have = {f.relative_to(lake.root).as_posix() for f in lake.by_called_files()}
    return [
        f for f in lake.call_files() if twin_of(f.relative_to(lake.root).as_posix()) not in have
    ]


def reindex(
    settings: Settings,
    *,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexResult:
    """Write every missing twin; ``progress(done, total)`` after each file. An ingest a crash
    interrupted is finished first (its manifest row goes to ``store``, opened here when one
    is needed and none is given)."""
    if settings.lake_url:
        # ingest writes each twin with its calls file and uploads both at commit; rebuilding
        # twins in place on an object store is not done (docs/architecture.md)
        raise InputError(
            "tracehop lake reindex works on a local lake; an object-store lake "
            "(TRACEHOP_LAKE_URL) gets its index from ingest"
        )
    lake = Lake(settings.lake_dir, crash_at=settings.crash_at)
    lake.ensure()
    result = ReindexResult()
    with lake.ingest_lock():
        if lake.has_plans():
            _recover(settings, lake, store)
        for old in lake.tmp_dir.glob(_TMP_PREFIX + "*"):
            old.unlink(missing_ok=True)  # a twin a crash left half-written
        todo = missing_twins(lake)
        if progress:
            progress(0, len(todo))
        if todo:
            con = connect(settings, lake=lake)
            try:
                for k, src in enumerate(todo):
                    _write_one(con, lake, src, lake.tmp_dir / f"{_TMP_PREFIX}{k}-{src.name}")
                    result.written += 1
                    if progress:
                        progress(k + 1, len(todo))
            finally:
                con.close()
        snap = snapshot(lake)
        result.days, result.days_total = len(snap.indexed), len(snap.days)
    log.info(
        "reindex: %d twins written, %d of %d days indexed",
        result.written,
        result.days,
        result.days_total,
    )
    return result


def _write_one(con: duckdb.DuckDBPyConnection, lake: Lake, src: Path, tmp: Path) -> None:
    dst = lake.root / twin_of(src.relative_to(lake.root).as_posix())
    write_twin(con, src, tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    crash_point("reindexing", lake.crash_at)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dst)
    fsync_dir(dst.parent)


def _recover(settings: Settings, lake: Lake, store: Store | None) -> None:
    from tracehop.cdr.ingest import record_manifest
    from tracehop.store import open_store

    if store is not None:
        recover(lake, lambda m: record_manifest(store, m))
        return
    with open_store(settings) as own:
        recover(lake, lambda m: record_manifest(own, m))
