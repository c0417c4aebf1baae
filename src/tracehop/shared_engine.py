"""One engine for a long-running process (the dashboard and the API), opened once per
version of the lake instead of once per request.

Opening an engine lists the lake's files and registers the views (about 0.9 s on a 10 M-row
lake: docs/performance.md); a server answering many requests opens it when the lake or the
customers change (the ingest manifest's size, the customers' last update) and gives each
request a cursor of its own (DuckDB: one cursor per thread). Results that only change with
the lake (the overview's totals) are kept for the same version (``memo``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import duckdb
from sqlalchemy import func, select

from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import Customer, IngestManifest


class SharedEngine:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self._lock = threading.Lock()
        self._version: tuple[Any, ...] | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._memo: dict[str, Any] = {}

    def version(self) -> tuple[Any, ...]:
        with self.store.session() as s:
            files = s.scalar(select(func.count()).select_from(IngestManifest)) or 0
            last_file = s.scalar(select(func.max(IngestManifest.ingested_at)))
            customers = s.scalar(select(func.count()).select_from(Customer)) or 0
            last_customer = s.scalar(select(func.max(Customer.updated_at)))
        return (files, str(last_file), customers, str(last_customer))

    def _current(self) -> duckdb.DuckDBPyConnection:
        from tracehop.analyst import open_engine

        version = self.version()
        with self._lock:
            if self._con is None or version != self._version:
                # an older connection is left to the cursors still using it (closed when they
                # are); only new requests see the new one
                self._con = open_engine(self.settings, self.store)
                self._version, self._memo = version, {}
            return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one request (close it when done)."""
        return self._current().cursor()

    def memo(self, key: str, compute: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """``compute(cursor)`` once per version of the lake."""
        con = self._current()
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        cur = con.cursor()
        try:
            value = compute(cur)
        finally:
            cur.close()
        with self._lock:
            self._memo[key] = value
        return value

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
