"""Browser sessions for the dashboard: a signed cookie (itsdangerous) that names the user and
carries the session's CSRF token; the key lives in the home (``HOME/session-secret.key``,
0600, made on first use) unless the setting ``session_key`` gives it.

A session is checked against the state DB on every request (a removed or disabled user is
logged out at once) and expires after ``MAX_AGE``. Forms and scripts that change anything
send the CSRF token back (a form field or the ``X-CSRF-Token`` header): a cookie alone,
which another site can make a browser send, changes nothing.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tracehop.settings import Settings, ensure_home

COOKIE = "th_session"
MAX_AGE = 12 * 3600  # a working day
KEY_FILE = "session-secret.key"


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str


def session_key(settings: Settings) -> bytes:
    if settings.session_key is not None:
        return settings.session_key.get_secret_value().encode()
    path = ensure_home(settings.home) / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return Path(path).read_text().strip().encode()


def _serializer(key: bytes):  # type: ignore[no-untyped-def]
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(key, salt="tracehop-session")


def new_session(key: bytes, user: str) -> tuple[str, Session]:
    """The cookie value for a user who just logged in, and the session it holds."""
    session = Session(user=user, csrf=secrets.token_urlsafe(24))
    return _serializer(key).dumps({"u": session.user, "c": session.csrf}), session


def read_session(key: bytes, cookie: str | None) -> Session | None:
    """The session a cookie holds, or None (missing, forged, expired)."""
    if not cookie:
        return None
    from itsdangerous import BadSignature

    try:
        data = _serializer(key).loads(cookie, max_age=MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), str):
        return None
    return Session(user=data["u"], csrf=str(data.get("c", "")))


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given or "")
