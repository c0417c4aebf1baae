"""``tracehop serve``: one app over a home, for people and machines.

- the node's traceback endpoints (``POST/GET /api/v1/tracebacks/requests``) for tokens whose
  role may send them (``hub``, and people with ``analyst``/``admin``);
- the JSON API (``/api/v1/...``, ``tracehop.api.data``) and the OpenAPI page at ``/docs``;
- the dashboard (``tracehop.web``), with its stylesheet and script from ``/static``.

One guard in front of it all (``api.guard``): a bearer token or a dashboard session, checked
before a byte of a body is read; a browser without a session is sent to ``/login``, an API
client gets 401; a session changes nothing without its CSRF token. Every write (POST, PUT,
PATCH, DELETE) is audited in the state DB: who, when, what, and its status; refusals also
go to the node's audit log.

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from tracehop.api.data import data_router
from tracehop.api.deps import need
from tracehop.api.errors import install_error_shape
from tracehop.api.guard import UNSAFE, Guard, Refusal
from tracehop.api.node import node_router, node_service
from tracehop.api.rules import rules_router
from tracehop.api.sessions import STATIC, read_browser_session
from tracehop.auth import tokens
from tracehop.auth.roles import Principal
from tracehop.auth.sessions import session_key
from tracehop.errors import RateLimitedError, StoreError, UnauthorizedError
from tracehop.settings import Settings
from tracehop.shared_engine import SharedEngine
from tracehop.store.models import AuditRow
from tracehop.times import SYSTEM, Clock
from tracehop.web.pages import web_router

OPEN_PATHS = ("/api/v1/health", "/login", "/docs", "/docs/oauth2-redirect", "/openapi.json")


def _shaken(settings: Settings) -> APIRouter:
    """``POST /api/v1/shaken/verify`` with the home's trust anchors and certificate cache;
    without trust anchors (``TRACEHOP_SHAKEN_TRUST``) the route says what to set (503)."""
    from tracehop.api.shaken import shaken_router
    from tracehop.shaken.verify import Verifier

    if settings.shaken_trust is not None:
        return shaken_router(Verifier.from_settings(settings))
    router = APIRouter(tags=["shaken"])

    @router.post("/api/v1/shaken/verify")
    def verify() -> None:
        raise StoreError(
            "no STIR/SHAKEN trust anchors configured: set TRACEHOP_SHAKEN_TRUST to the STI-PA's "
            "list of approved CAs (a PEM file or folder) and restart"
        )

    return router


def create_app(settings: Settings, *, clock: Clock = SYSTEM) -> FastAPI:
    """The whole of tracehop's HTTP surface over one home."""
    service = node_service(settings, clock=clock)
    store = service.store
    key = session_key(settings)
    shared = SharedEngine(settings, store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        shared.close()
        service.close()

    app = FastAPI(
        title="tracehop",
        version="1",
        description="Traceback, detection, cases and the dashboard of one provider (docs/api.md).",
        lifespan=lifespan,
    )
    app.state.node = service
    install_error_shape(app, name="tracehop")

    def authenticate(token: str | None, client: str) -> Principal:
        who = tokens.verify(store, token)
        if who is None:
            raise UnauthorizedError("log in, or send a token: Authorization: Bearer <token>")
        if not service.limiter.take(who.id):
            raise RateLimitedError(
                f"too many requests from {who.name}: at most {service.rate:g} a second"
            )
        return who

    def sessions(cookie_header: str) -> tuple[Principal, str] | None:
        return read_browser_session(store, key, cookie_header)

    def refused(r: Refusal) -> None:
        holder = r.holder if isinstance(r.holder, Principal) else None
        service.refused(status=r.status, client=r.client, holder=holder,
                        what=f"{r.method} {r.path}", error=r.error)  # fmt: skip

    def audit(r: Refusal) -> None:
        if r.method not in UNSAFE or not isinstance(r.holder, Principal):
            return
        with store.session() as s:
            s.add(AuditRow(at=clock.now(), who=r.holder.name, role=r.holder.role,
                           action=f"{r.method} {r.path}", target=None, detail=None,
                           status=r.status))  # fmt: skip

    app.add_middleware(
        Guard,
        authenticate=authenticate,
        sessions=sessions,
        login_path="/login",
        # a notice's PDF may be large; everything else is small (the node's requests above all)
        max_body=lambda path: (
            20 * 1024 * 1024 if path == "/api/v1/notices" else settings.max_request_bytes
        ),
        body_timeout=settings.http_body_timeout,
        open_paths=OPEN_PATHS,
        open_prefixes=("/static/",),
        on_refusal=refused,
        on_response=audit,
    )
    app.include_router(node_router(service))
    app.include_router(_shaken(settings), dependencies=[Depends(need("decide"))])
    app.include_router(data_router(settings, store, shared, clock=clock))
    app.include_router(rules_router(settings, store, clock=clock))
    app.include_router(web_router(settings, store, shared, key, clock=clock))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
