"""The newest Alembic revision(s) of the state DB's schema, read from the migration files
without importing Alembic or SQLAlchemy (a short command checks it on every start)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"

_ASSIGN = re.compile(r"""^(revision|down_revision)\b[^=\n]*=\s*(.+?)\s*$""", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")


@functools.cache
def head_revisions() -> frozenset[str] | None:
    """The newest revision(s) of the migration files, read from their ``revision`` and
    ``down_revision`` lines without importing Alembic; None when a file does not read plainly
    (then Alembic decides, as it always may)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(m.groups() for m in _ASSIGN.finditer(path.read_text(encoding="utf-8")))
        rev = _QUOTED.fullmatch(found.get("revision", ""))
        if rev is None or "down_revision" not in found:
            return None
        revisions.add(rev.group(1))
        down = found["down_revision"]
        if down != "None":
            named = _QUOTED.findall(down)
            if not named:
                return None
            parents.update(named)
    heads = frozenset(revisions - parents)
    return heads or None
