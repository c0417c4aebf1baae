"""Nodes served in this process: the hub's HTTP client reaches each provider's real node app
(``tracehop.api.node``) through its ASGI interface instead of a socket, so what the demo and
the tests exercise is exactly what ``tracehop serve`` serves (routes, auth, errors), only the
TCP hop is skipped.

``InProcessNodes`` is a synchronous ``httpx`` transport (the hub's client is synchronous):
it runs the apps on one event loop in a background thread (an anyio blocking portal) and
hands each request to the app of the host it is addressed to, ``http://<provider>.node``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Self

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from tracehop.api.node import create_node_app
from tracehop.node.service import NodeService

SUFFIX = ".node"


def node_url(provider: str) -> str:
    return f"http://{provider}{SUFFIX}"


class InProcessNodes(httpx.BaseTransport):
    """Routes ``http://<provider>.node/...`` to that provider's ASGI app; a provider listed
    in ``down`` (or without an app) refuses connections like a stopped server. Thread-safe:
    the hub's workers share it."""

    def __init__(self, apps: Mapping[str, Any], down: set[str] | None = None) -> None:
        self.down = set(down or ())
        self._transports = {
            pid: httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            for pid, app in apps.items()
        }
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

    @classmethod
    def serving(cls, services: Mapping[str, NodeService], down: set[str] | None = None) -> Self:
        """Each provider's node service behind its real node app (the services stay open:
        their owner closes them)."""
        apps = {pid: create_node_app(s, close_service=False) for pid, s in services.items()}
        return cls(apps, down)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        provider = request.url.host.removesuffix(SUFFIX)
        transport = self._transports.get(provider)
        if transport is None or provider in self.down or self._portal_cm is None:
            raise httpx.ConnectError("connection refused", request=request)
        body = request.read()

        async def send() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            resp = await transport.handle_async_request(inner)
            content = await resp.aread()
            return resp.status_code, resp.headers.raw, content

        status, headers, content = self._portal.call(send)
        return httpx.Response(status, headers=headers, content=content, request=request)

    def close(self) -> None:
        if self._portal_cm is not None:
            cm, self._portal_cm = self._portal_cm, None
            cm.__exit__(None, None, None)
