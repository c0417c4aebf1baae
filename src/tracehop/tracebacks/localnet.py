"""Nodes in this process: the hub talks to each provider's node service through an httpx
transport instead of a socket. The demo uses it to run a whole network of nodes and a hub in
one process; the node code answering is the API's own (``tracehop.api.node.NodeService``),
only the HTTP hop is skipped. Real deployments and the end-to-end test use ``tracehop serve``.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from tracehop.analyst import jsonable
from tracehop.api.node import NodeService, RequestBody
from tracehop.errors import TracehopError

SUFFIX = ".node"


def node_url(provider: str) -> str:
    return f"http://{provider}{SUFFIX}"


class LocalNodes(httpx.BaseTransport):
    """Routes ``POST http://<provider>.node/api/v1/tracebacks/requests`` to that provider's
    node service; a provider listed in ``down`` refuses connections like a stopped server."""

    def __init__(self, services: dict[str, NodeService], down: set[str] | None = None) -> None:
        self.services, self.down = services, down or set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        provider = request.url.host.removesuffix(SUFFIX)
        service = self.services.get(provider)
        if service is None or provider in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        try:
            if request.method == "GET" and request.url.path == "/api/v1/health":
                return httpx.Response(200, json={"ok": True, "provider": provider})
            if request.method != "POST" or request.url.path != "/api/v1/tracebacks/requests":
                return _error(404, f"no route {request.method} {request.url.path}")
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            name = service.authenticate(token, "local")
            body = RequestBody.model_validate_json(request.content or b"{}")
            status, data = service.respond(body, token=name, client="local")
            return httpx.Response(status, json=jsonable(data))
        except ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
            return _error(422, f"body is not a traceback request: {first.get('msg')}")
        except TracehopError as exc:
            return _error(exc.status, exc.message)


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"ok": False, "error": message, "status": status})
