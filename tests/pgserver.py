"""A throwaway PostgreSQL cluster on loopback for the tests (Debian package ``postgresql``):
initdb in a temporary folder, trust auth on 127.0.0.1, a free port, stopped at the end.
Every test that wants one gets a fresh database of its own (``database()``)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    bindir: Path
    base: Path
    port: int = field(default_factory=free_port)

    @property
    def _as_postgres(self) -> list[str]:
        # initdb refuses to run as root: run the server as the postgres user then
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        data = self.base / "data"
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
        run = self._as_postgres
        subprocess.run(
            [*run, str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*run, str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.base / "log"),
             "-o", options, "-w", "start"],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            [*self._as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"),
             "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)

    def database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


def start_server() -> PostgresServer | None:
    """A started server, or None when the binaries are not installed."""
    bindir = pg_bin()
    if bindir is None:
        return None
    # Not under pytest's tmp dir: that one is private to root, and the server runs as postgres.
    server = PostgresServer(bindir, Path(tempfile.mkdtemp(prefix="tracehop-pg-")))
    server.start()
    return server
