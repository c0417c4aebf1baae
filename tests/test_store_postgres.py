"""The state DB on a real PostgreSQL server on loopback (TRACEHOP_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgserver import PostgresServer
from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.customers import import_customers, list_customers, parse_customers_csv
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.store.db import current_revisions, head_revisions, is_current


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A fresh database on the session's throwaway PostgreSQL server (tests/pgserver.py)."""
    return postgres.database()


def test_store_on_postgres(postgres_url: str, tmp_path: Path, data: Path) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=postgres_url)
    store = open_store(settings)
    assert store.engine.dialect.name == "postgresql"
    result = import_customers(store, parse_customers_csv(data / "customers.csv"))
    assert result.created == 4
    assert [c.id for c in list_customers(store)] == ["bigfoot", "caprus", "pulse", "yodel"]
    store.close()
    first = ingest([data / "kamailio.csv"], settings)
    again = ingest([data / "kamailio.csv"], settings)
    assert (first.rows_ingested, again.files_skipped) == (5, 1)
    assert query("select count(*) as n from customers", settings).records() == [{"n": 4}]
    # migrations ran once and are recorded; a later open only reads alembic_version
    with open_store(settings) as store:
        with store.engine.connect() as conn:
            version = conn.exec_driver_sql("select version_num from alembic_version").scalar()
        assert is_current(store.engine)
        assert current_revisions(store.engine) == head_revisions() == {version}
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from tracehop.store.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert version == ScriptDirectory.from_config(cfg).get_current_head()  # every migration ran
