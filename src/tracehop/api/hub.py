"""The hub's app (``tracehop hub serve``): a read-only JSON API (traces, one trace with the
nodes' answers, campaigns, the per-provider summary and scorecards, the directory, never
tokens) and pages for people (traces drawn as chains, campaigns, scorecards, the
non-responsive list), who log in with a user of the hub's home (``tracehop users add``).

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.staticfiles import StaticFiles

from tracehop.api.errors import install_error_shape
from tracehop.api.guard import Guard
from tracehop.api.sessions import STATIC, read_browser_session
from tracehop.auth.roles import Principal
from tracehop.auth.sessions import session_key
from tracehop.errors import UnauthorizedError
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.tracebacks.campaigns import find_campaigns, summary_with_campaigns
from tracehop.tracebacks.directory import load_directory
from tracehop.tracebacks.scorecards import non_responsive, scorecards
from tracehop.tracebacks.traces import get_trace, list_traces
from tracehop.web.hub_pages import hub_router

OPEN_PATHS = ("/api/v1/health",)


def create_hub_app(settings: Settings) -> FastAPI:
    """The hub's read-only API over the state DB of ``settings``; every route but the health
    check asks for ``settings.hub_token`` when one is set."""
    store = open_store(settings)
    token = settings.hub_token.get_secret_value() if settings.hub_token else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    api = FastAPI(title="tracehop hub", version="1", lifespan=lifespan)
    install_error_shape(api, name="hub")

    def authenticate(given: str | None, _client: str) -> str:
        if token and not hmac.compare_digest((given or "").encode(), token.encode()):
            raise UnauthorizedError("a valid token is required: Authorization: Bearer <token>")
        return Principal(name="hub-reader", id="hub-token", role="viewer", kind="token")

    key = session_key(settings)

    def sessions(cookie_header: str) -> tuple[Principal, str] | None:
        return read_browser_session(store, key, cookie_header)

    # read-only routes and a login form: small bodies only
    api.add_middleware(
        Guard,
        authenticate=authenticate,
        sessions=sessions,
        login_path="/login",
        max_body=4096,
        body_timeout=settings.http_body_timeout,
        open_paths=(*OPEN_PATHS, "/login"),
        open_prefixes=("/static/",),
    )
    api.include_router(hub_router(settings, store, key))
    api.mount("/static", StaticFiles(directory=STATIC), name="static")

    @api.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "role": "hub"}

    @api.get("/api/v1/traces")
    def traces(limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[dict[str, Any]]:
        return [t.to_json(raw=False) for t in list_traces(store, limit=limit)]

    @api.get("/api/v1/traces/{trace_id}")
    def one_trace(trace_id: str) -> dict[str, Any]:
        return get_trace(store, trace_id).to_json()

    @api.get("/api/v1/summary")
    def summary_json() -> list[dict[str, Any]]:
        return summary_with_campaigns(store)

    @api.get("/api/v1/scorecards")
    def scorecards_json() -> dict[str, Any]:
        return {"providers": scorecards(store), "non_responsive": non_responsive(store)}

    @api.get("/api/v1/campaigns")
    def campaigns(min_traces: Annotated[int, Query(ge=2, le=10_000)] = 2) -> dict[str, Any]:
        """The traces grouped into campaigns across providers (``tracehop hub campaigns
        --json``)."""
        return find_campaigns(store, min_traces=min_traces).to_json()

    @api.get("/api/v1/providers")
    def providers() -> list[dict[str, Any]]:
        return [p.to_json() for p in load_directory(store).values()]

    return api
