"""API tokens a node's operator issues to the hub (and to nobody else).

Only a SHA-256 of each token is kept, in ``HOME/api-tokens.json`` (written atomically); the
token itself is shown once, when issued.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tracehop.errors import InputError, NotFoundError
from tracehop.settings import ensure_home

FILE = "api-tokens.json"


@dataclass
class TokenRecord:
    name: str
    sha256: str
    created_at: str
    revoked: bool = False

    @property
    def id(self) -> str:
        """Who the token is, for ownership and audit: derived from the token itself, so a new
        token issued under a revoked token's name is somebody else (it reads none of the
        revoked token's requests)."""
        return "tk-" + self.sha256[:16]


@dataclass(frozen=True)
class Holder:
    """The holder of a valid token: its name (who it was issued to) and its id."""

    name: str
    id: str


def _path(home: Path) -> Path:
    return home / FILE


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load(home: Path) -> list[TokenRecord]:
    path = _path(home)
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    return [TokenRecord(**t) for t in data.get("tokens", [])]


def _save(home: Path, records: list[TokenRecord]) -> None:
    ensure_home(home)
    tmp = _path(home).with_suffix(".tmp")
    tmp.write_text(json.dumps({"tokens": [asdict(r) for r in records]}, indent=1))
    os.chmod(tmp, 0o600)
    os.replace(tmp, _path(home))


def issue(home: Path, name: str) -> str:
    """A new token for ``name`` (e.g. the hub); returns the secret, which is not stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InputError("a token needs a name of 1 to 100 characters (who holds it)")
    records = [r for r in load(home) if not (r.name == name and not r.revoked)]
    token = "th_" + secrets.token_urlsafe(32)
    records.append(TokenRecord(name=name, sha256=_digest(token), created_at=_now()))
    _save(home, records)
    return token


def revoke(home: Path, name: str) -> None:
    records = load(home)
    hit = [r for r in records if r.name == name and not r.revoked]
    if not hit:
        raise NotFoundError(f"no active token named {name!r}")
    for r in hit:
        r.revoked = True
    _save(home, records)


def verify(records: list[TokenRecord], token: str | None) -> Holder | None:
    """Who holds the token (a valid, unrevoked one), or None."""
    if not token or len(token) > 512:
        return None
    digest = _digest(token)
    for r in records:
        if not r.revoked and hmac.compare_digest(r.sha256, digest):
            return Holder(r.name, r.id)
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
