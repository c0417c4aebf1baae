"""One engine for a long-running process (the dashboard and the API), opened once per
version of the lake instead of once per request.

Opening an engine lists the lake's files and registers the views (about 0.9 s on a 10 M-row
lake: docs/performance.md); a server answering many requests opens it when the lake or the
customers change (the ingest manifest's size, the customers' last update). The engine is the
one the setting ``engine`` names (``tracehop.analyst.open_analytics``): on DuckDB each
request gets a cursor of its own (one cursor per thread); on Spark the requests share the
engine (a SparkSession runs queries from several threads), and the process keeps its one
Spark session: nothing starts per request. Results that only change with the lake (the
overview's totals) are kept for the same version (``memo``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from tracehop.engine import DuckDBEngine, Engine
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import Customer, IngestManifest


class SharedEngine:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self._lock = threading.Lock()
        self._version: tuple[Any, ...] | None = None
        self._engine: Engine | None = None
        self._memo: dict[str, Any] = {}

    @property
    def name(self) -> str:
        """Where the lake's reads run: ``duckdb`` or ``spark`` (the setting ``engine``; the
        engine opened never differs from it: ``open_analytics`` does not fall back)."""
        return self._engine.name if self._engine is not None else self.settings.engine

    def version(self) -> tuple[Any, ...]:
        with self.store.session() as s:
            files = s.scalar(select(func.count()).select_from(IngestManifest)) or 0
            last_file = s.scalar(select(func.max(IngestManifest.ingested_at)))
            customers = s.scalar(select(func.count()).select_from(Customer)) or 0
            last_customer = s.scalar(select(func.max(Customer.updated_at)))
        return (files, str(last_file), customers, str(last_customer))

    def _current(self) -> Engine:
        from tracehop.analyst import open_analytics

        version = self.version()
        with self._lock:
            if self._engine is None or version != self._version:
                # an older engine is left to the requests still using it (a DuckDB connection
                # is closed with its last cursor; a Spark engine's views live in a session of
                # their own, `open_analytics`); only new requests see the new one
                self._engine = open_analytics(self.settings, self.store)
                self._version, self._memo = version, {}
            return self._engine

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """The engine for one request: on DuckDB a cursor of its own, closed at the end."""
        with _borrow(self._current()) as engine:
            yield engine

    def memo(self, key: str, compute: Callable[[Engine], Any]) -> Any:
        """``compute(engine)`` once per version of the lake."""
        current = self._current()
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        with _borrow(current) as engine:
            value = compute(engine)
        with self._lock:
            self._memo[key] = value
        return value

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None


@contextmanager
def _borrow(current: Engine) -> Iterator[Engine]:
    """On DuckDB a cursor of its own (closed at the end); on Spark the engine itself."""
    if isinstance(current, DuckDBEngine):
        cursor = DuckDBEngine(current.con.cursor())
        try:
            yield cursor
        finally:
            cursor.close()
    else:
        yield current  # shared: closed only with the server (`close`)
