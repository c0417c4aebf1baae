"""The hub's read-only JSON API (``tracehop hub serve``): traces, one trace with the nodes'
answers, the per-provider summary and the directory (never tokens).

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query

from tracehop.api.errors import install_error_shape
from tracehop.api.guard import Guard
from tracehop.errors import UnauthorizedError
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.tracebacks.directory import load_directory
from tracehop.tracebacks.traces import get_trace, list_traces, summary

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
        return "hub-reader"

    # read-only routes: no body is needed, so the limit is the smallest the guard allows
    api.add_middleware(
        Guard,
        authenticate=authenticate,
        max_body=1024,
        body_timeout=settings.http_body_timeout,
        open_paths=OPEN_PATHS,
    )

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
        return summary(store)

    @api.get("/api/v1/providers")
    def providers() -> list[dict[str, Any]]:
        return [p.to_json() for p in load_directory(store).values()]

    return api
