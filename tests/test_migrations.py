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
