"""Opening the state DB: SQLite (WAL) by default, PostgreSQL through TRACEHOP_DATABASE_URL.

The schema is owned by Alembic: opening a store brings it to the newest revision, so the
server, the CLI and screening processes can share one database file or server. Opening a
database that is already at the newest revision (nearly every time) only reads its
``alembic_version`` row: Alembic itself is imported and run only when there is work to do,
which keeps a short CLI command short (docs/performance.md, "CLI startup").
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from tracehop.errors import StoreError
from tracehop.settings import Settings, ensure_home
from tracehop.store.heads import MIGRATIONS, head_revisions
from tracehop.store.jsontext import json_dumps, json_loads

log = logging.getLogger(__name__)


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

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside one writer (server, CLI and screening share the file).
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_own_transactions(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _migration_engine(engine: Engine) -> Engine:
    """The engine a migration runs on. Python's sqlite3 commits DDL as it goes (a CREATE
    TABLE runs outside any transaction), so a process killed during the first migration left
    half a schema behind. For SQLite the migration gets its own engine that takes transactions
    into its own hands (SQLAlchemy's "pysqlite transactional DDL" recipe): the driver opens
    none and BEGIN IMMEDIATE is sent when SQLAlchemy starts one, so a migration is all or
    nothing. Only here: everyday sessions keep the driver's default."""
    if engine.dialect.name != "sqlite":
        return engine
    own = create_engine(engine.url, connect_args={"timeout": 15}, poolclass=NullPool, **_JSON)
    event.listen(own, "connect", _sqlite_pragmas)
    event.listen(own, "connect", _sqlite_own_transactions)
    event.listen(own, "begin", _sqlite_begin)
    return own


_JSON = {"json_serializer": json_dumps, "json_deserializer": json_loads}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15}, **_JSON)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **_JSON)


# Alembic's environment is module-global: two threads migrating at once trip over each other.
_MIGRATE_LOCK = threading.Lock()


def current_revisions(engine: Engine) -> frozenset[str] | None:
    """The revision(s) the database is at; None when it has no ``alembic_version`` table.
    Connection errors are raised (the caller turns them into a StoreError)."""
    with engine.connect() as conn:
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
        except DBAPIError:
            conn.rollback()
            return None
    return frozenset(str(r[0]) for r in rows)


def is_current(engine: Engine) -> bool:
    """True when the schema is at the newest revision: nothing for Alembic to do."""
    heads = head_revisions()
    return heads is not None and current_revisions(engine) == heads


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; one process at a time (a server and a CLI, or
    several node processes, may open a new home together)."""
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    own = _migration_engine(engine)
    try:
        with _MIGRATE_LOCK, _process_lock(engine), own.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except CommandError as exc:  # e.g. a revision these files do not know
                url = engine.url.render_as_string(hide_password=True)
                raise StoreError(
                    f"cannot open the state DB at {url}: {exc}: was it written by a newer "
                    "tracehop? Upgrade tracehop to use it"
                ) from exc
    finally:
        if own is not engine:
            own.dispose()


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
    try:
        make_url(url)
    except ArgumentError:
        raise StoreError(
            f"cannot open the state DB at {_redact(url)}: not a database URL: use "
            "sqlite:///path/to/state.db or postgresql+psycopg://user@host/dbname "
            "(--database-url or TRACEHOP_DATABASE_URL)"
        ) from None
    if url.startswith("sqlite"):
        ensure_home(settings.home)
    engine = None
    try:
        engine = make_engine(url)
        if not is_current(engine):
            migrate(engine)
    except (OperationalError, SQLAlchemyError) as exc:
        if engine is not None:
            engine.dispose()
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
