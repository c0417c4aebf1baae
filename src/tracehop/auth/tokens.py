"""API tokens in the state DB, each with a role (``roles.py``).

Only a SHA-256 of each token is kept; the token is shown once, when issued. A token is
identified by its own hash (``id``), so a new token under a revoked token's name is somebody
else. Tokens a node issued before roles existed (``HOME/api-tokens.json``) are moved into the
state DB as ``hub`` tokens the first time the home's tokens are used, and keep working.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tracehop.auth.roles import Principal, check_role
from tracehop.errors import InputError, NotFoundError
from tracehop.store import Store
from tracehop.store.models import ApiTokenRow
from tracehop.times import utc

LEGACY_FILE = "api-tokens.json"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(sha256: str) -> str:
    return "tk-" + sha256[:16]


def issue(store: Store, name: str, role: str = "hub", *, now: datetime | None = None) -> str:
    """A new token for ``name`` with ``role``; returns the secret (not stored). An active
    token of the same name is revoked: one active token per name."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InputError("a token needs a name of 1 to 100 characters (who holds it)")
    check_role(role)
    now = now or datetime.now(UTC)
    token = "th_" + secrets.token_urlsafe(32)
    digest = _digest(token)
    with store.session() as s:
        for old in s.scalars(select(ApiTokenRow).where(ApiTokenRow.name == name)):
            if old.revoked_at is None:
                old.revoked_at = now
        s.add(ApiTokenRow(id=token_id(digest), name=name, role=role, sha256=digest,
                          created_at=now, revoked_at=None))  # fmt: skip
    return token


def revoke(store: Store, name_or_id: str, *, now: datetime | None = None) -> int:
    """Revoke the active token(s) with this name or id; how many were revoked."""
    now = now or datetime.now(UTC)
    with store.session() as s:
        rows = [
            r
            for r in s.scalars(select(ApiTokenRow).where(ApiTokenRow.revoked_at.is_(None)))
            if name_or_id in (r.name, r.id)
        ]
        if not rows:
            raise NotFoundError(f"no active token named {name_or_id!r}: `tracehop tokens list`")
        for r in rows:
            r.revoked_at = now
        return len(rows)


def list_tokens(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        return [
            {
                "id": r.id,
                "name": r.name,
                "role": r.role,
                "created_at": utc(r.created_at),
                "revoked": r.revoked_at is not None,
            }
            for r in s.scalars(select(ApiTokenRow).order_by(ApiTokenRow.created_at))
        ]


def verify(store: Store, token: str | None) -> Principal | None:
    """Who holds ``token`` (a valid, unrevoked one), or None."""
    if not token or len(token) > 512:
        return None
    digest = _digest(token)
    with store.session() as s:
        row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.sha256 == digest))
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.sha256, digest):
            return None
        return Principal(name=row.name, id=row.id, role=row.role, kind="token")


def migrate_file_tokens(store: Store, home: Path) -> int:
    """Move ``HOME/api-tokens.json`` (tokens of a node from before roles) into the state DB
    as ``hub`` tokens; the file is renamed ``.migrated``. Returns how many moved."""
    path = Path(home) / LEGACY_FILE
    if not path.exists():
        return 0
    try:
        records = json.loads(path.read_text()).get("tokens", [])
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not readable ({exc}); fix or remove it") from None
    moved = 0
    with store.session() as s:
        known = {r.sha256 for r in s.scalars(select(ApiTokenRow))}
        for r in records:
            if r["sha256"] in known:
                continue
            created = datetime.fromisoformat(r["created_at"])
            s.add(ApiTokenRow(id=token_id(r["sha256"]), name=r["name"], role="hub",
                              sha256=r["sha256"], created_at=utc(created),
                              revoked_at=utc(created) if r.get("revoked") else None))  # fmt: skip
            moved += 1
    path.rename(path.with_name(LEGACY_FILE + ".migrated"))
    return moved
