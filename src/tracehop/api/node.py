"""The node's HTTP surface: thin routes over ``tracehop.node.service.NodeService``.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations, and
``Depends`` on a local function must stay a real object.)
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from tracehop.analyst import jsonable
from tracehop.api.deps import need
from tracehop.api.errors import install_error_shape
from tracehop.api.guard import Guard, Refusal
from tracehop.auth.roles import Principal
from tracehop.errors import NotFoundError
from tracehop.node.service import NodeService, RequestBody
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.times import SYSTEM, Clock
from tracehop.tracebacks.requests import load_known_providers

OPEN_PATHS = ("/api/v1/health",)


def node_service(settings: Settings, *, clock: Clock = SYSTEM) -> NodeService:
    """The node service of one home, as ``tracehop serve`` runs it (the directory of known
    providers from ``settings.node_directory``)."""
    directory = settings.node_directory
    known = load_known_providers(directory) if directory is not None else None
    return NodeService(
        settings, open_store(settings), known_providers=known, clock=clock, own_store=True
    )


def create_node_app(service: NodeService, *, close_service: bool = True) -> FastAPI:
    """A node's API over ``service``; the app closes the service when it shuts down unless
    ``close_service`` is false (the caller keeps it)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_service:
            service.close()

    app = FastAPI(
        title="tracehop node",
        version="1",
        description="Answers traceback requests about one call at a time (docs/traceback.md).",
        lifespan=lifespan,
    )
    app.state.node = service
    install_error_shape(app, name="node")
    settings = service.settings

    def refused(r: Refusal) -> None:
        holder = r.holder if isinstance(r.holder, Principal) else None
        what = f"{r.method} {r.path}"
        service.refused(status=r.status, client=r.client, holder=holder, what=what, error=r.error)

    # who is asking and how much they send, decided before the body is read (api.guard)
    app.add_middleware(
        Guard,
        authenticate=service.authenticate,
        max_body=settings.max_request_bytes,
        body_timeout=settings.http_body_timeout,
        open_paths=OPEN_PATHS,
        on_refusal=refused,
    )

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "provider": service.provider, "mode": service.mode}

    app.include_router(node_router(service))
    return app


def node_router(service: NodeService) -> APIRouter:
    """The traceback request endpoints: for holders whose role may send them (the guard in
    front of the app authenticated the request before its body was read)."""
    router = APIRouter()
    traceback = Annotated[Principal, Depends(need("traceback"))]

    @router.post("/api/v1/tracebacks/requests")
    def answer_request(
        request: Request, holder: traceback, body: Annotated[RequestBody, Body()]
    ) -> JSONResponse:
        client = request.client.host if request.client else "?"
        status, data = service.respond(body, holder=holder, client=client)
        return JSONResponse(jsonable(data), status_code=status)

    @router.get("/api/v1/tracebacks/requests/{request_id}")
    def get_answer(request_id: str, holder: traceback) -> JSONResponse:
        stored = service.stored(request_id, owner=holder.id)
        if stored is None:
            raise NotFoundError(f"no traceback request {request_id!r}")
        if stored["status"] == "pending_review":
            return JSONResponse({"request_id": request_id, "status": "pending_review"}, 202)
        return JSONResponse(jsonable(stored))

    return router
