"""Every migration goes up and comes down again, on SQLite and on a real PostgreSQL server:
head -> base -> head, each step leaving the tables the models expect."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect

from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.store.db import MIGRATIONS, current_revisions, head_revisions
from tracehop.store.models import Base


def _alembic(store, target: str, direction: str) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, target)


def test_migrations_go_down_and_up_again(
    tmp_path: Path, state_db: Callable[[], str | None]
) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=state_db())
    store = open_store(settings)  # at head
    try:
        tables = set(inspect(store.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert current_revisions(store.engine) == head_revisions()
        _alembic(store, "base", "downgrade")
        left = set(inspect(store.engine).get_table_names()) - {"alembic_version"}
        assert left == set()
        _alembic(store, "head", "upgrade")
        assert set(Base.metadata.tables) <= set(inspect(store.engine).get_table_names())
        assert current_revisions(store.engine) == head_revisions()
    finally:
        store.close()


@pytest.mark.parametrize("step", ["-1", "-2"])
def test_the_last_migrations_come_down_and_go_up(
    tmp_path: Path, state_db: Callable[[], str | None], step: str
) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=state_db())
    with open_store(settings) as store:
        _alembic(store, step, "downgrade")
        assert current_revisions(store.engine) != head_revisions()
    with open_store(settings) as store:  # opening brings it back to head
        assert current_revisions(store.engine) == head_revisions()


_KILLED_MID_MIGRATION = """
import os, signal, sys
from alembic import command
from alembic.config import Config
from tracehop.store.db import MIGRATIONS, _migration_engine, make_engine

own = _migration_engine(make_engine("sqlite:///" + sys.argv[1]))
cfg = Config()
cfg.set_main_option("script_location", str(MIGRATIONS))
with own.begin() as conn:
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")  # every table created, not yet committed
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_first_migration_killed_before_its_commit_leaves_no_half_schema(tmp_path: Path) -> None:
    """SQLite's Python driver commits DDL as it goes; the migration engine makes the whole
    upgrade one transaction, so a process killed in the middle leaves an empty file that the
    next open migrates, not half a schema that it cannot."""
    import signal
    import subprocess
    import sys

    from tracehop.store.db import make_engine

    db = tmp_path / "home" / "state.db"
    db.parent.mkdir()
    done = subprocess.run([sys.executable, "-c", _KILLED_MID_MIGRATION, str(db)], check=False)
    assert done.returncode == -signal.SIGKILL
    engine = make_engine(f"sqlite:///{db}")
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    with open_store(load_settings(home=db.parent)) as store:
        assert current_revisions(store.engine) == head_revisions()
        assert set(Base.metadata.tables) <= set(inspect(store.engine).get_table_names())


def test_0011_adds_a_customers_review_and_takes_it_away(
    tmp_path: Path, state_db: Callable[[], str | None]
) -> None:
    """The review columns come and go; the customer's imported record stays as it was."""
    from datetime import UTC, datetime

    from tracehop.customers import (
        CustomerRecord,
        get_review,
        import_customers,
        list_customers,
        set_review,
    )
    from tracehop.times import FakeClock

    settings = load_settings(home=tmp_path / "home", database_url=state_db())
    rec = CustomerRecord("acme", "Acme Dialers", "call_center", "US", None, notes="imported")
    with open_store(settings) as store:
        import_customers(store, [rec])
        set_review(store, "acme", "documents asked for", by="alice",
                   clock=FakeClock(datetime(2025, 3, 3, tzinfo=UTC)))  # fmt: skip
        _alembic(store, "0010", "downgrade")
        columns = {c["name"] for c in inspect(store.engine).get_columns("customers")}
        assert not columns & {"review_note", "review_since", "review_by"}
        _alembic(store, "0011", "upgrade")
        columns = {c["name"] for c in inspect(store.engine).get_columns("customers")}
        assert {"review_note", "review_since", "review_by"} <= columns
        assert list_customers(store) == [rec] and get_review(store, "acme") is None
