"""People who use the dashboard: a name, a role, a password hashed with Argon2id
(argon2-cffi: the algorithm OWASP recommends first for password storage)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tracehop.auth.roles import Principal, check_role
from tracehop.errors import InputError, NotFoundError, UnauthorizedError
from tracehop.store import Store
from tracehop.store.models import UserRow
from tracehop.times import utc

MIN_PASSWORD = 12


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def add_user(
    store: Store, name: str, role: str, password: str, *, now: datetime | None = None
) -> None:
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise InputError("a user name is 1 to 100 characters, without spaces")
    check_role(role)
    if role in ("hub", "screen"):
        raise InputError(f"{role} is a role for machines: issue a token (tracehop tokens issue)")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"a password needs at least {MIN_PASSWORD} characters")
    with store.session() as s:
        if s.get(UserRow, name) is not None:
            raise InputError(f"user {name!r} exists: remove it first or choose another name")
        s.add(UserRow(name=name, role=role, password_hash=_hasher().hash(password),
                      created_at=now or datetime.now(UTC), disabled=False))  # fmt: skip


def remove_user(store: Store, name: str) -> None:
    with store.session() as s:
        row = s.get(UserRow, name)
        if row is None:
            raise NotFoundError(f"no user {name!r}: `tracehop users list`")
        s.delete(row)


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        return [{"name": u.name, "role": u.role, "created_at": utc(u.created_at),
                 "disabled": u.disabled} for u in s.scalars(select(UserRow).order_by(UserRow.name))]  # fmt: skip


def login(store: Store, name: str, password: str) -> Principal:
    """The user, if the password is theirs; one message for every failure (no user, wrong
    password, disabled), so it does not tell which names exist."""
    from argon2.exceptions import VerificationError

    with store.session() as s:
        row = s.get(UserRow, name)
        ok = False
        if row is not None and not row.disabled:
            try:
                ok = _hasher().verify(row.password_hash, password)
            except VerificationError:
                ok = False
        else:
            _hasher().hash(password)  # the same work either way
        if not ok or row is None:
            raise UnauthorizedError("wrong user name or password")
        return Principal(name=row.name, id="user:" + row.name, role=row.role, kind="user")


def principal(store: Store, name: str) -> Principal | None:
    """A user by name (for a session), or None when removed or disabled since."""
    with store.session() as s:
        row = s.get(UserRow, name)
        if row is None or row.disabled:
            return None
        return Principal(name=row.name, id="user:" + row.name, role=row.role, kind="user")
