"""The REST API: thin FastAPI routes over the library (DESIGN.md: library first).

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations, and
``Depends`` on a local function must stay a real object.)

One error shape for every failure: ``{"ok": false, "error": "...", "status": N}``.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracehop.api.node import NodeService, RequestBody
from tracehop.errors import NotFoundError, TracehopError
from tracehop.settings import Settings
from tracehop.store import open_store

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message, "status": status}, status_code=status)


def create_app(
    settings: Settings,
    *,
    known_providers: set[str] | None = None,
    mode: str = "auto",
    rate: float = 50.0,
    business_zone: str = "America/New_York",
) -> FastAPI:
    """A node's API over one home."""
    service = NodeService(
        settings,
        open_store(settings),
        known_providers=known_providers,
        mode=mode,
        rate=rate,
        burst=rate * 2,
        business_zone=business_zone,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="tracehop node",
        version="1",
        description="Answers traceback requests about one call at a time (docs/traceback.md).",
        lifespan=lifespan,
    )
    app.state.node = service

    @app.exception_handler(TracehopError)
    async def _tracehop_error(_request: Request, exc: TracehopError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return _error(422, message)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the node API")
        return _error(500, f"internal error ({exc.__class__.__name__}); see the node's log")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    def token_holder(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> str:
        """Who is asking (a dependency, so a request without a token gets 401 before its body
        is even read)."""
        token = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        client = request.client.host if request.client else "?"
        return service.authenticate(token, client)

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "provider": service.provider, "mode": service.mode}

    @app.post("/api/v1/tracebacks/requests")
    def answer_request(
        request: Request,
        name: Annotated[str, Depends(token_holder)],
        body: Annotated[RequestBody, Body()],
    ) -> JSONResponse:
        client = request.client.host if request.client else "?"
        status, data = service.respond(body, token=name, client=client)
        return JSONResponse(_jsonable(data), status_code=status)

    @app.get("/api/v1/tracebacks/requests/{request_id}")
    def get_answer(request_id: str, name: Annotated[str, Depends(token_holder)]) -> JSONResponse:
        stored = service.stored(request_id, owner=name)
        if stored is None:
            raise NotFoundError(f"no traceback request {request_id!r}")
        if stored["status"] == "pending_review":
            return JSONResponse({"request_id": request_id, "status": "pending_review"}, 202)
        return JSONResponse(_jsonable(stored))

    return app


def _jsonable(data: Any) -> Any:
    from tracehop.analyst import jsonable

    return jsonable(data)


def app_from_env() -> FastAPI:
    """uvicorn factory (``tracehop serve`` passes its options through the environment)."""
    import os

    from tracehop.settings import load_settings
    from tracehop.tracebacks.responder import load_known_providers

    settings = load_settings()
    directory = os.environ.get("TRACEHOP_NODE_DIRECTORY")
    known = load_known_providers(Path(directory)) if directory else None
    return create_app(
        settings,
        known_providers=known,
        mode=os.environ.get("TRACEHOP_NODE_MODE", "auto"),
        rate=float(os.environ.get("TRACEHOP_NODE_RATE", "50")),
    )
