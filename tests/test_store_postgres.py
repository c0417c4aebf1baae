"""The state DB on a real PostgreSQL server on loopback (TRACEHOP_DATABASE_URL)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.customers import import_customers, list_customers, parse_customers_csv
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.store.db import current_revisions, head_revisions, is_current


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (Debian package ``postgresql``), trust auth on 127.0.0.1."""
    bindir = _pg_bin()
    if bindir is None:
        message = "PostgreSQL server binaries not found (Debian package postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message + ": make test installs it as root")
        pytest.skip(message)
    # Not under pytest's tmp dir: that one is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="tracehop-pg-"))
    data = base / "data"
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(base, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        time.sleep(0.2)
        shutil.rmtree(base, ignore_errors=True)


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
    assert (first.rows_ingested, again.files_skipped) == (4, 1)
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
