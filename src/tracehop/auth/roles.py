"""Roles and what they may do, as data (issue 16).

- ``admin``: everything, including users and tokens;
- ``analyst``: read everything, act on cases and rules, confirm traceback answers;
- ``viewer``: read;
- ``hub``: only the traceback request endpoint (what the Consortium's hub calls);
- ``screen``: only the screening decision endpoint (what a switch or SBC calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from tracehop.errors import InputError

ROLES = ("admin", "analyst", "viewer", "hub", "screen")
# read: pages and GET endpoints; act: cases, rules, confirmations; admin: users and tokens;
# traceback: POST/GET a traceback request; decide: ask for a screening decision.
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "act", "admin", "traceback", "decide"}),
    "analyst": frozenset({"read", "act", "traceback", "decide"}),
    "viewer": frozenset({"read"}),
    "hub": frozenset({"traceback"}),
    "screen": frozenset({"decide"}),
}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (``kind`` user) or a token (``kind`` token), with a role. ``id``
    identifies the token itself (a new token under an old name is somebody else)."""

    name: str
    id: str
    role: str
    kind: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())
