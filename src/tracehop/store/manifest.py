"""The ingest manifest (table ``ingest_manifest``): one row per source file ingested, its
checksum making a re-ingest a no-op. What ingest asks of it, two ways:

- :class:`StoreManifest`, through a :class:`~tracehop.store.Store` (SQLAlchemy: SQLite or
  PostgreSQL), for a caller that holds a store (the server) or any database URL;
- :class:`SqliteManifest`, straight through Python's ``sqlite3`` for the default state DB
  (a ``sqlite:///`` file whose schema is already at the newest revision). A CLI ingest then
  does not import SQLAlchemy and its ORM models (0.3-0.4 CPU-s of a 1.5 s command,
  docs/performance.md, issue 11). It reads and writes the rows exactly as SQLAlchemy does
  (tests/test_manifest.py writes with each and reads with the other); a database that is not
  at the newest revision, or any other URL, goes through :func:`~tracehop.store.open_store`
  (which migrates it).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tracehop.errors import StoreError
from tracehop.store.heads import head_revisions
from tracehop.store.jsontext import json_dumps

if TYPE_CHECKING:
    from tracehop.settings import Settings
    from tracehop.store.db import Store

DATES = ("first_start", "last_start", "ingested_at")
COLUMNS = (
    "checksum",
    "ingest_id",
    "source_path",
    "size_bytes",
    "format",
    "provider",
    "rows_ingested",
    "rows_rejected",
    "first_start",
    "last_start",
    "files",
    "ingested_at",
)


@dataclass(frozen=True)
class ManifestRow:
    """What ingest reads back of a file's manifest row."""

    checksum: str
    ingest_id: str
    format: str
    size_bytes: int
    ingested_at: datetime
    source_path: str = ""


def _like(text: str) -> str:
    """A LIKE pattern (escape ``\\``) for values holding ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Manifest(Protocol):
    def by_checksum(self, checksum: str) -> ManifestRow | None: ...

    def paths_holding(self, text: str) -> list[ManifestRow]:
        """Rows of the files ingested whose path holds ``text`` (a file name: ingest keeps
        those whose name is it or a rotated copy of it, the earlier versions a file may
        continue)."""
        ...

    def record(self, manifest: dict[str, object]) -> None:
        """Insert a file's row (idempotent: recovery may replay it)."""
        ...

    def close(self) -> None: ...


class StoreManifest:
    """The manifest through SQLAlchemy (any state DB). ``owned``: close the store too."""

    def __init__(self, store: Store, *, owned: bool = False) -> None:
        self.store = store
        self.owned = owned

    def by_checksum(self, checksum: str) -> ManifestRow | None:
        from tracehop.store.models import IngestManifest

        with self.store.session() as s:
            row = s.get(IngestManifest, checksum)
            return _row(row) if row is not None else None

    def paths_holding(self, text: str) -> list[ManifestRow]:
        from sqlalchemy import select

        from tracehop.store.models import IngestManifest

        with self.store.session() as s:
            rows = (
                s.execute(
                    select(IngestManifest).where(
                        IngestManifest.source_path.like(_like(text), escape="\\")
                    )
                )
                .scalars()
                .all()
            )
            return [_row(r) for r in rows]

    def record(self, manifest: dict[str, object]) -> None:
        from tracehop.store.models import IngestManifest

        with self.store.session() as s:
            if s.get(IngestManifest, manifest["checksum"]) is not None:
                return
            row = dict(manifest)
            for key in DATES:
                if row.get(key):
                    row[key] = datetime.fromisoformat(str(row[key]))
            s.add(IngestManifest(**row))

    def close(self) -> None:
        if self.owned:
            self.store.close()


def _row(r: object) -> ManifestRow:
    return ManifestRow(
        checksum=r.checksum,  # type: ignore[attr-defined]
        ingest_id=r.ingest_id,  # type: ignore[attr-defined]
        format=r.format,  # type: ignore[attr-defined]
        size_bytes=int(r.size_bytes),  # type: ignore[attr-defined]
        ingested_at=r.ingested_at,  # type: ignore[attr-defined]
        source_path=r.source_path,  # type: ignore[attr-defined]
    )


# SQLAlchemy's SQLite DATETIME text (its default storage format; the zone is not kept, and
# every time ingest stores is UTC) and its JSON (``store.jsontext``, as the engines write it).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def _sqlite_datetime(value: object) -> str | None:
    if not value:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=None).strftime(_SQLITE_DATETIME)


class SqliteManifest:
    """The manifest in a SQLite state DB through ``sqlite3``, with the pragmas the store
    sets on every connection (``store/db.py``): WAL, a 15 s busy timeout, foreign keys."""

    def __init__(self, path: Path) -> None:
        try:
            # autocommit; ``record`` takes its own write transaction (BEGIN IMMEDIATE)
            self.con = sqlite3.connect(path, timeout=15, isolation_level=None)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA busy_timeout=15000")
            self.con.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the state DB at {path}: {_why(exc)}") from exc

    def is_current(self) -> bool:
        """True when the schema is at the newest revision (as ``db.is_current``)."""
        heads = head_revisions()
        try:
            rows = self.con.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error:
            return False
        return heads is not None and frozenset(str(r[0]) for r in rows) == heads

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self.con.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"state DB error: {_why(exc)}") from exc

    def by_checksum(self, checksum: str) -> ManifestRow | None:
        rows = self._query(
            "SELECT checksum, ingest_id, format, size_bytes, ingested_at FROM ingest_manifest "
            "WHERE checksum = ?",
            (checksum,),
        )
        return _sqlite_row(rows[0]) if rows else None

    def paths_holding(self, text: str) -> list[ManifestRow]:
        rows = self._query(
            "SELECT checksum, ingest_id, format, size_bytes, ingested_at, source_path "
            "FROM ingest_manifest WHERE source_path LIKE ? ESCAPE '\\'",
            (_like(text),),
        )
        return [_sqlite_row(r) for r in rows]

    def record(self, manifest: dict[str, object]) -> None:
        values = dict(manifest)
        for key in DATES:
            values[key] = _sqlite_datetime(values.get(key))
        values["files"] = json_dumps(values["files"])
        try:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                seen = self.con.execute(
                    "SELECT 1 FROM ingest_manifest WHERE checksum = ?", (values["checksum"],)
                ).fetchone()
                if seen is None:
                    self.con.execute(
                        f"INSERT INTO ingest_manifest ({', '.join(COLUMNS)}) "
                        f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                        tuple(values[c] for c in COLUMNS),
                    )
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"state DB error: {_why(exc)}") from exc

    def close(self) -> None:
        self.con.close()


def _sqlite_row(r: tuple[object, ...]) -> ManifestRow:
    return ManifestRow(
        checksum=str(r[0]),
        ingest_id=str(r[1]),
        format=str(r[2]),
        size_bytes=int(r[3]),  # type: ignore[call-overload]
        ingested_at=datetime.fromisoformat(str(r[4])),
        source_path=str(r[5]) if len(r) > 5 else "",
    )


def _why(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def sqlite_file(url: str) -> Path | None:
    """The database file of a plain ``sqlite:///PATH`` URL (no driver, no query options)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix) :]
    if not path or path == ":memory:":
        return None
    return Path(path)


def open_manifest(settings: Settings) -> Manifest:
    """The manifest of the home's state DB: through ``sqlite3`` when it is an existing SQLite
    file at the newest revision, otherwise through a store opened here (created or migrated
    as ``open_store`` does); closed by the caller."""
    path = sqlite_file(settings.db_url)
    if path is not None and path.is_file():
        fast = SqliteManifest(path)
        if fast.is_current():
            return fast
        fast.close()
    from tracehop.store.db import open_store

    return StoreManifest(open_store(settings), owned=True)
