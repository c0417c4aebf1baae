"""Opening the state DB: a context manager; Alembic runs only when the schema is behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from tracehop.errors import StoreError
from tracehop.settings import Settings
from tracehop.store import Store, open_store
from tracehop.store.db import MIGRATIONS, current_revisions, head_revisions, is_current


def _alembic_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def test_heads_read_from_the_files_match_alembic() -> None:
    assert head_revisions() == _alembic_heads()


def test_store_is_a_context_manager(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[Store] = []
    close = Store.close
    monkeypatch.setattr(Store, "close", lambda self: (closed.append(self), close(self)))
    with open_store(settings) as store:
        assert store.engine.dialect.name == "sqlite"
    assert closed == [store]
    with pytest.raises(ValueError, match="boom"), open_store(settings) as again:
        raise ValueError("boom")
    assert closed == [store, again]  # closed on the way out of an error too


def test_new_home_is_migrated_to_the_head(settings: Settings) -> None:
    with open_store(settings) as store:
        assert current_revisions(store.engine) == head_revisions()
        assert is_current(store.engine)
        assert "hub_origins" in inspect(store.engine).get_table_names()


def test_up_to_date_store_opens_without_alembic(settings: Settings) -> None:
    """The common case (an existing home): one read of alembic_version, no Alembic import."""
    open_store(settings).close()
    code = (
        "import sys; from tracehop.settings import load_settings; "
        "from tracehop.store import open_store; "
        f"open_store(load_settings(home={str(settings.home)!r})).close(); "
        "print('alembic' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


def test_store_behind_the_head_is_upgraded(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    store = open_store(settings)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert current_revisions(store.engine) == frozenset({"0006"})
    assert not is_current(store.engine)
    assert "hub_origins" not in inspect(store.engine).get_table_names()
    store.close()
    with open_store(settings) as store:
        assert current_revisions(store.engine) == head_revisions()
        assert "hub_origins" in inspect(store.engine).get_table_names()


def test_store_from_a_newer_tracehop_is_a_clear_error(settings: Settings) -> None:
    """A revision these migration files do not know: Alembic looks, and it is an error."""
    with open_store(settings) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError) as err:
        open_store(settings)
    db = (settings.home / "state.db").resolve()
    assert err.value.message == (
        f"cannot open the state DB at sqlite:///{db}: Can't locate revision identified by "
        "'9999': was it written by a newer tracehop? Upgrade tracehop to use it"
    )


def test_database_url_that_is_not_one(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url="state.db")
    with pytest.raises(StoreError) as err:
        open_store(settings)
    assert err.value.message == (
        "cannot open the state DB at state.db: not a database URL: use "
        "sqlite:///path/to/state.db or postgresql+psycopg://user@host/dbname "
        "(--database-url or TRACEHOP_DATABASE_URL)"
    )
