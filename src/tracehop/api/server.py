"""Serving an app on a socket (uvicorn) with the limits of docs/security.md: a client has
``http_header_timeout`` seconds to send a request's headers (uvicorn has no such timeout: a
client that connects and sends nothing, or trickles its headers, would hold a connection
forever), idle keep-alive connections close after ``http_idle_timeout``, at most
``http_max_connections`` are served at once, and headers are capped in size."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from tracehop.errors import ConfigError
from tracehop.settings import Settings

MAX_HEADER_BYTES = 16 * 1024


def _protocol(header_timeout: float) -> type[H11Protocol]:
    class Protocol(H11Protocol):
        """uvicorn's h11 protocol, with a deadline for each request's headers."""

        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this connection has its own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(header_timeout, self._deadline)

        def _deadline(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()  # no complete request headers in time

    return Protocol


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for :func:`serve`; a ConfigError that says why not (a
    port in use, an address this machine does not have) instead of uvicorn's log line."""
    try:
        family, kind, proto, _name, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        hint = " (another server is on it: choose another with --port)" if (
            exc.errno == errno.EADDRINUSE) else ""  # fmt: skip
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    return sock


def serve(
    app: Any, *, host: str, port: int, settings: Settings, sock: socket.socket | None = None
) -> None:
    """Run ``app`` until interrupted, on ``sock`` (from :func:`bind`) or a socket bound now."""
    sock = sock or bind(host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=_protocol(settings.http_header_timeout),
        timeout_keep_alive=settings.http_idle_timeout,
        limit_concurrency=settings.http_max_connections,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    uvicorn.Server(config).run(sockets=[sock])
