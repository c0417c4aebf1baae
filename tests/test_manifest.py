"""The ingest manifest both ways (store/manifest.py): through SQLAlchemy (SQLite and
PostgreSQL) and, for the default SQLite state DB, through sqlite3: same rows, same answers."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracehop.settings import Settings, load_settings
from tracehop.store import open_store
from tracehop.store.db import MIGRATIONS
from tracehop.store.manifest import (
    SqliteManifest,
    StoreManifest,
    open_manifest,
    sqlite_file,
)


def _row(checksum: str, size: int, path: str = "/cdr/Master.csv") -> dict[str, object]:
    return {
        "checksum": checksum,
        "ingest_id": "20261130T120000000000-" + checksum[:8],
        "source_path": path,
        "size_bytes": size,
        "format": "asterisk",
        "provider": "self",
        "rows_ingested": 10,
        "rows_rejected": 1,
        "first_start": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC).isoformat(),
        "last_start": None,
        "files": ["calls/day=2026-01-02/a.parquet", "rejects/b.parquet"],
        "ingested_at": datetime(2026, 11, 30, 12, 0, 1, 250000, tzinfo=UTC).isoformat(),
    }


@pytest.fixture
def manifests(tmp_path: Path, state_db) -> tuple[Settings, StoreManifest]:  # type: ignore[no-untyped-def]
    settings = load_settings(home=tmp_path / "home", database_url=state_db())
    return settings, StoreManifest(open_store(settings), owned=True)


def test_store_manifest_answers(manifests: tuple[Settings, StoreManifest]) -> None:
    _, book = manifests
    try:
        book.record(_row("a" * 64, 100))
        book.record(_row("a" * 64, 100))  # replayed by recovery: nothing added
        book.record(_row("b" * 64, 300))
        book.record(_row("c" * 64, 50, path="/cdr/other.csv"))
        book.record(_row("e" * 64, 70, path="/old/Master.csv.1"))
        book.record(_row("f" * 64, 80, path="/cdr/a_b%.csv"))
        holding = sorted(r.source_path for r in book.paths_holding("Master.csv"))
        assert holding == ["/cdr/Master.csv", "/cdr/Master.csv", "/old/Master.csv.1"]
        assert book.paths_holding("none.csv") == []
        # LIKE's wildcards in a name are its own characters
        assert [r.checksum for r in book.paths_holding("a_b%.csv")] == ["f" * 64]
        assert book.paths_holding("axb%.csv") == [] and book.paths_holding("a_bx.csv") == []
        seen = book.by_checksum("a" * 64)
        assert seen is not None
        assert (seen.ingest_id, seen.format, seen.size_bytes) == (
            "20261130T120000000000-aaaaaaaa",
            "asterisk",
            100,
        )
        assert seen.ingested_at.replace(tzinfo=None) == datetime(2026, 11, 30, 12, 0, 1, 250000)
        assert book.by_checksum("d" * 64) is None
        found = {r.checksum: r for r in book.paths_holding("/cdr/Master.csv")}
        assert sorted(found) == ["a" * 64, "b" * 64]
        assert (found["b" * 64].size_bytes, found["b" * 64].source_path) == (300, "/cdr/Master.csv")
    finally:
        book.close()


def test_sqlite_manifest_reads_and_writes_as_sqlalchemy_does(settings: Settings) -> None:
    """Rows written by either are read the same by both, and stored as the same text."""
    open_store(settings).close()
    path = sqlite_file(settings.db_url)
    assert path is not None and path.is_file()
    store = open_store(settings)
    slow, fast = StoreManifest(store), SqliteManifest(path)
    try:
        assert fast.is_current()
        slow.record(_row("a" * 64, 100))
        fast.record(_row("b" * 64, 300))
        fast.record(_row("b" * 64, 300))  # idempotent
        for book in (slow, fast):
            rows = sorted(book.paths_holding("Master.csv"), key=lambda r: r.checksum)
            assert [(r.checksum, r.size_bytes, r.source_path) for r in rows] == [
                ("a" * 64, 100, "/cdr/Master.csv"),
                ("b" * 64, 300, "/cdr/Master.csv"),
            ]
            got = book.by_checksum("b" * 64)
            assert got is not None and got.size_bytes == 300
            assert got.ingested_at.replace(tzinfo=None) == datetime(2026, 11, 30, 12, 0, 1, 250000)
        raw = fast.con.execute(
            "SELECT size_bytes, first_start, last_start, files, ingested_at FROM ingest_manifest "
            "ORDER BY checksum"
        ).fetchall()
        assert raw[0][1:] == raw[1][1:]  # the same text from SQLAlchemy and from sqlite3
        assert raw[1] == (
            300,
            "2026-01-02 03:04:05.006000",
            None,
            '["calls/day=2026-01-02/a.parquet","rejects/b.parquet"]',
            "2026-11-30 12:00:01.250000",
        )
        from tracehop.store.models import IngestManifest

        with store.session() as s:  # the ORM reads the sqlite3 row as its own
            orm = s.get(IngestManifest, "b" * 64)
            assert orm is not None and orm.files == [
                "calls/day=2026-01-02/a.parquet",
                "rejects/b.parquet",
            ]
            assert orm.first_start is not None and orm.first_start.microsecond == 6000
    finally:
        fast.close()
        store.close()


def test_open_manifest_takes_sqlite3_only_for_a_current_sqlite_file(
    settings: Settings, tmp_path: Path
) -> None:
    from alembic import command
    from alembic.config import Config

    first = open_manifest(settings)  # a new home: created and migrated through the store
    assert isinstance(first, StoreManifest)
    first.close()
    again = open_manifest(settings)
    assert isinstance(again, SqliteManifest)
    again.close()
    store = open_store(settings)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    store.close()
    behind = open_manifest(settings)  # behind the head: migrated through the store
    assert isinstance(behind, StoreManifest)
    behind.close()
    assert isinstance(open_manifest(settings), SqliteManifest)
    pg = load_settings(home=tmp_path / "pg", database_url="postgresql+psycopg://u@127.0.0.1:1/x")
    assert sqlite_file(pg.db_url) is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("sqlite:////tmp/state.db?mode=ro") is None
    assert sqlite_file("sqlite:////tmp/state.db") == Path("/tmp/state.db")


def test_cli_ingest_into_an_existing_home_does_not_load_sqlalchemy(
    settings: Settings, tmp_path: Path
) -> None:
    """The manifest of an existing SQLite home is read through sqlite3; the command module
    alone is registered (tracehop.cli.main)."""
    csv = tmp_path / "calls.csv"
    csv.write_text(
        "call_id,start,caller,called,upstream\nc1,2026-01-01T00:00:00Z,2025550100,2125550100,u\n"
    )
    open_store(settings).close()
    code = (
        "import sys; from tracehop.cli import main; "
        f"sys.argv = ['tracehop', '--home', {str(settings.home)!r}, 'ingest', {str(csv)!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('sqlalchemy', 'tracehop.cli.hub', 'tracehop.cli.block') "
        "if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert '"rows_ingested": 1' in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    with open_store(settings) as store, store.session() as s:
        from tracehop.store.models import IngestManifest

        (row,) = s.query(IngestManifest).all()
        assert row.rows_ingested == 1 and row.source_path == str(csv.resolve())
