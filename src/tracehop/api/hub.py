"""The hub's read-only JSON API (``tracehop hub serve``): traces, one trace with the nodes'
answers, the per-provider summary and the directory (never tokens).

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

import hmac
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracehop.errors import TracehopError
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.tracebacks.directory import load_directory
from tracehop.tracebacks.hub import get_trace, list_traces, summary


def create_hub_app(settings: Settings, *, token: str | None = None) -> FastAPI:
    """The hub's read-only API: thin routes over ``tracehop.tracebacks.hub``."""
    store = open_store(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        store.close()

    api = FastAPI(title="tracehop hub", version="1", lifespan=lifespan)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"ok": False, "error": message, "status": status}, status_code=status)

    @api.exception_handler(TracehopError)
    async def _tracehop_error(_request: Request, exc: TracehopError) -> JSONResponse:
        return error(exc.status, exc.message)

    @api.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @api.middleware("http")
    async def _auth(request: Request, call_next):  # type: ignore[no-untyped-def]
        if token and request.url.path != "/api/v1/health":
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "a valid token is required: Authorization: Bearer <token>")
        return await call_next(request)

    @api.get("/api/v1/health")
    def health() -> dict:
        return {"ok": True, "role": "hub"}

    @api.get("/api/v1/traces")
    def traces(limit: int = 100) -> list:
        if not 1 <= limit <= 10_000:
            return error(422, "limit must be between 1 and 10000")  # type: ignore[return-value]
        return [t.to_json(raw=False) for t in list_traces(store, limit=limit)]

    @api.get("/api/v1/traces/{trace_id}")
    def one_trace(trace_id: str) -> dict:
        return get_trace(store, trace_id).to_json()

    @api.get("/api/v1/summary")
    def summary_json() -> list:
        return summary(store)

    @api.get("/api/v1/providers")
    def providers() -> list:
        return [p.to_json() for p in load_directory(store).values()]

    return api
