"""The state DB: SQLAlchemy 2 models, sessions and Alembic migrations.

``Store`` and ``open_store`` are loaded on first use, so that a module of this package that
needs no SQLAlchemy (``heads``, ``manifest``'s SQLite path) can be imported without it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracehop.store.db import Store, open_store

__all__ = ["Store", "open_store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tracehop.store import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
