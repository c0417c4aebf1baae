"""The lake's index by called number: a sorted copy of what a traceback answer reads.

For every calls file ``calls/day=D/part-X.parquet`` the lake holds a twin
``by_called/day=D/part-X.parquet``: the same calls (those with an E.164 ``called``), only the
columns a traceback answer shows (``INDEX_COLUMNS``), sorted by ``called, start`` and written
in small row groups. A lookup by called number then reads a few row groups of the day's twins
(Parquet min/max statistics prune the rest) instead of the ``called`` column of every row: a
batch spread over 90 days touches every row group of the start-sorted calls
(docs/performance.md, "Traceback lookup").

Kept in step with the calls:

- ingest writes each twin into the same stage as its calls file, and the same plan moves
  both (``lake.py``): a crash leaves both or neither;
- a day is read through the index only when its twins are exactly its calls files
  (:func:`snapshot`); any other day is read from the calls, with the same answers, slower;
- ``reindex.py`` (``tracehop lake reindex``) writes the twins a lake ingested before the
  index lacks, one file at a time, each written aside and renamed into place.

DuckDB-only (ingest's side): ``COPY ... TO`` with ``ROW_GROUP_SIZE``. Every engine reads the
twins as plain Parquet (``Engine.register_calls(..., name="calls_by_called")``); a single
lookup on a local lake reads them with pyarrow (:class:`TwinReader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tracehop.cdr.lake import BY_CALLED, CALLS, Lake
from tracehop.engine import calls_types
from tracehop.sqltext import lit

# What an answer shows (tracebacks.protocol.MATCH_COLUMNS) and what a lookup filters on
# (caller_raw: a caller ID with no E.164 form matches on its digits).
INDEX_COLUMNS = (
    "call_id",
    "start",
    "caller",
    "called",
    "caller_raw",
    "upstream",
    "downstream",
    "disposition",
    "duration",
    "attest",
    "orig_id",
    "identity",
    "identity_status",
    "source_file",
    "source_line",
)
# Rows per row group: the unit Parquet statistics prune. Measured on a day of 1 M calls and a
# batch's 111 numbers of that day (2 cores, loaded): 122,880 rows (DuckDB's default) 114 ms,
# 16,384 74 ms, 4,096 66 ms, 2,048 44 ms (97 of 489 row groups read); DuckDB writes no
# smaller group, and pyarrow's smaller ones were slower (more groups to check per query).
ROW_GROUP_ROWS = 2048
TWIN_OPTIONS = f"FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {ROW_GROUP_ROWS}"


def twin_of(rel: str) -> str:
    """The twin of a calls file, relative to the lake: ``calls/day=D/x`` -> ``by_called/day=D/x``."""
    head, sep, rest = rel.partition("/")
    if head != CALLS or not sep:
        raise ValueError(f"not a calls file of the lake: {rel}")
    return f"{BY_CALLED}/{rest}"


def write_twin(con: duckdb.DuckDBPyConnection, src: Path, dst: Path) -> None:
    """Write ``src``'s twin to ``dst`` (read back from the file just written: the twin holds
    exactly the rows of its calls file)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Every column in the calls' type (never Parquet's null type for a column all NULL in
    # this file): the lookups read the twins as files of one schema (engine.register_calls).
    types = calls_types()
    cols = ", ".join(f"CAST({c} AS {types[c]}) AS {c}" for c in INDEX_COLUMNS)
    con.execute(
        f"COPY (SELECT {cols} FROM read_parquet({lit(str(src))}) "
        f"WHERE called IS NOT NULL ORDER BY called, start) TO {lit(str(dst))} ({TWIN_OPTIONS})"
    )


def _day(path: Path | str) -> date:
    """The ``day=`` partition of a lake file: a local path or an object-store URL."""
    return date.fromisoformat(PurePosixPath(str(path)).parent.name.removeprefix("day="))


def _name(path: Path | str) -> str:
    return PurePosixPath(str(path)).name


@dataclass(frozen=True)
class Snapshot:
    """The lake's calls files and the twins of the days read through the index."""

    calls: list[Path] | list[str]
    twins: list[Path] | list[str]  # of the indexed days only
    indexed: frozenset[date]
    days: frozenset[date] = field(default_factory=frozenset)  # every day with calls

    def twins_of(self, days: Sequence[date]) -> list[Path] | list[str]:
        """The twins of these days (indexed days only)."""
        wanted = set(days)
        return [t for t in self.twins if _day(t) in wanted]  # type: ignore[return-value]

    @property
    def missing(self) -> int:
        """Days with calls that are not indexed."""
        return len(self.days - self.indexed)


def snapshot(lake: Lake) -> Snapshot:
    """The calls files now, and which days have exactly one twin per calls file. (The calls
    are listed first: an ingest that lands between the two listings leaves its day without
    all its twins in this snapshot, so that day is read from the calls.)"""
    calls = lake.call_files()
    twins = lake.by_called_files()
    names: dict[date, set[str]] = {}
    for f in calls:
        names.setdefault(_day(f), set()).add(_name(f))
    twin_names: dict[date, set[str]] = {}
    for f in twins:
        twin_names.setdefault(_day(f), set()).add(_name(f))
    indexed = frozenset(d for d, n in names.items() if twin_names.get(d) == n)
    return Snapshot(
        calls=calls,
        twins=[t for t in twins if _day(t) in indexed],
        indexed=indexed,
        days=frozenset(names),
    )


class TwinReader:
    """Reads a single lookup's rows straight from the twins of a local lake: the row groups
    whose ``called`` range holds the number (from each footer's statistics, parsed once per
    file), ``INDEX_COLUMNS`` only. The same rows a query on the index returns, without a
    query engine's per-query cost: DuckDB's grows with the file's row groups times the
    columns read (measured on a 90-day lake, 489 row groups per file: 9-13 ms a lookup
    against about 1.3 ms here). A batch is left to the engine, which reads ~100 row groups
    a day faster than this does (docs/performance.md, "Traceback lookup")."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[pq.ParquetFile, list[tuple[object, object]]]] = {}

    def _open(self, path: str) -> tuple[pq.ParquetFile, list[tuple[object, object]]]:
        if path not in self._files:
            file = pq.ParquetFile(path)
            meta, at = file.metadata, file.schema_arrow.get_field_index("called")
            bounds = []
            for i in range(meta.num_row_groups):
                stats = meta.row_group(i).column(at).statistics
                known = stats is not None and stats.has_min_max
                if known and isinstance(stats.min, str) and isinstance(stats.max, str):
                    bounds.append((stats.min, stats.max))
                else:  # no usable statistics: the row group is always read
                    bounds.append((None, None))
            self._files[path] = (file, bounds)
        return self._files[path]

    def rows(self, paths: Sequence[Path | str], called: str) -> list[dict[str, Any]]:
        """The rows of these twins whose ``called`` is ``called`` (dicts of INDEX_COLUMNS)."""
        out: list[dict[str, Any]] = []
        for path in paths:
            file, bounds = self._open(str(path))
            groups = [
                i
                for i, (lo, hi) in enumerate(bounds)
                if lo is None or lo <= called <= hi  # type: ignore[operator]
            ]
            if groups:
                table = file.read_row_groups(groups, columns=list(INDEX_COLUMNS))
                out += table.filter(pc.equal(table["called"], called)).to_pylist()
        return out

    def close(self) -> None:
        for file, _bounds in self._files.values():
            file.close()
        self._files.clear()
