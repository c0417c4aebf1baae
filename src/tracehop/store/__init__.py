"""The state DB: SQLAlchemy 2 models, sessions and Alembic migrations."""

from tracehop.store.db import Store, open_store

__all__ = ["Store", "open_store"]
