"""What the routes of the combined app ask: who is asking (the guard put them in
``request.state.holder``) and whether their role allows it (``tracehop.auth.roles``)."""

from collections.abc import Callable

from fastapi import Request

from tracehop.auth.roles import Principal
from tracehop.errors import ForbiddenError, UnauthorizedError


def principal(request: Request) -> Principal:
    holder = getattr(request.state, "holder", None)
    if not isinstance(holder, Principal):
        raise UnauthorizedError("log in, or send a token: Authorization: Bearer <token>")
    return holder


def need(permission: str) -> Callable[[Request], Principal]:
    """A dependency: the principal, if their role has ``permission`` (403 otherwise)."""

    def check(request: Request) -> Principal:
        who = principal(request)
        if not who.can(permission):
            raise ForbiddenError(f"{who.name} (role {who.role}) may not do this ({permission})")
        return who

    return check
