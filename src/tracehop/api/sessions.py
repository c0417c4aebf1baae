"""Reading a browser's dashboard session from its Cookie header: the one way both apps
(``tracehop serve`` and ``tracehop hub serve``) know a logged-in person."""

from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from tracehop.auth import users
from tracehop.auth.roles import Principal
from tracehop.auth.sessions import COOKIE, read_session
from tracehop.store import Store

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"


def read_browser_session(
    store: Store, key: bytes, cookie_header: str
) -> tuple[Principal, str] | None:
    """(the user, the session's CSRF token), or None without a valid session."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:  # a malformed Cookie header is no session
        return None
    morsel = jar.get(COOKIE)
    session = read_session(key, morsel.value if morsel else None)
    who = users.principal(store, session.user) if session else None
    return (who, session.csrf) if who and session else None
