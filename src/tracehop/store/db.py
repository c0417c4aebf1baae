"""Opening the state DB: SQLite (WAL) by default, PostgreSQL through TRACEHOP_DATABASE_URL.

The schema is owned by Alembic: opening a store brings it to the newest revision, so the
server, the CLI and screening processes can share one database file or server.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tracehop.errors import StoreError
from tracehop.settings import Settings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]
    settings: Settings | None = None  # the home it was opened for (keys kept beside it)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except SQLAlchemyError as exc:
                session.rollback()
                raise StoreError(f"state DB error: {exc.__class__.__name__}: {exc}") from exc
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside one writer (server, CLI and screening share the file).
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


# Alembic's environment is module-global: two threads migrating at once trip over each other.
_MIGRATE_LOCK = threading.Lock()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; one process at a time (a server and a CLI, or
    several node processes, may open a new home together)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATE_LOCK, _process_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _process_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock file beside a SQLite database (nothing to do for a server DB)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_store(settings: Settings) -> Store:
    """Open (and create or upgrade) the state DB named by the settings."""
    url = settings.db_url
    if url.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
    try:
        engine = make_engine(url)
        migrate(engine)
    except (OperationalError, SQLAlchemyError) as exc:
        raise StoreError(
            f"cannot open the state DB at {_redact(url)}: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    return Store(
        engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), settings=settings
    )


def _redact(url: str) -> str:
    """Hide a password in a database URL before showing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
