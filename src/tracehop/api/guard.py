"""The gate in front of every app tracehop serves (ASGI middleware): who is asking, and how
much they may send, decided before a byte of the body is read.

FastAPI reads and parses a request's body before its dependencies run, so authentication in a
dependency comes too late: an unauthenticated 100 MB POST would be read whole. ``Guard``
runs first: it authenticates from the headers (401/429 at once, body unread), refuses a
declared ``Content-Length`` over the limit (413), then reads the body itself, up to the limit
and within the body deadline (413 / 408), and hands the app the bytes it read. Every refusal
has the one error shape, and every response of 400 or more is reported to ``on_refusal`` (the
node's audit log). docs/security.md.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from tracehop.errors import TracehopError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (bearer token or None, client address) -> the holder (any object the routes read as
# request.state.holder); raises TracehopError (401, 429) to refuse.
Authenticate = Callable[[str | None, str], object]


@dataclass(frozen=True)
class Refusal:
    """A response of 400 or more, as the guard saw it."""

    status: int
    client: str
    method: str
    path: str
    holder: object | None
    error: str


class _TooLarge(Exception):
    pass


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate | None,
        max_body: int,
        body_timeout: float,
        open_paths: tuple[str, ...] = (),
        on_refusal: Callable[[Refusal], None] | None = None,
    ) -> None:
        self.app, self.authenticate = app, authenticate
        self.max_body, self.body_timeout = max_body, body_timeout
        self.open_paths, self.on_refusal = open_paths, on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        holder: object | None = None

        async def refuse(status: int, message: str) -> None:
            await _send_error(send, status, message)
            self._report(scope, client, holder, status, message)

        if self.authenticate is not None and scope["path"] not in self.open_paths:
            token = _bearer(headers.get(b"authorization"))
            try:
                holder = await anyio.to_thread.run_sync(self.authenticate, token, client)
            except TracehopError as exc:
                await refuse(exc.status, exc.message)
                return
            scope.setdefault("state", {})["holder"] = holder
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await refuse(400, "Content-Length is not a number")
                return
            if size > self.max_body:
                await refuse(413, f"request body over {self.max_body} bytes")
                return
        try:
            body = await self._read_body(receive)
        except _TooLarge:
            await refuse(413, f"request body over {self.max_body} bytes")
            return
        except TimeoutError:
            await refuse(408, f"request body not received within {self.body_timeout:g} s")
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect

        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, replay, watch)
        if status >= 400:
            self._report(scope, client, scope.get("state", {}).get("holder"), status, "")

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        with anyio.fail_after(self.body_timeout):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    raise _TooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        return b"".join(chunks)

    def _report(
        self, scope: Scope, client: str, holder: object | None, status: int, error: str
    ) -> None:
        if self.on_refusal is not None:
            method, path = scope.get("method", "?"), scope.get("path", "?")
            self.on_refusal(Refusal(status, client, method, path, holder, error))


def _bearer(value: bytes | None) -> str | None:
    if not value:
        return None
    text = value.decode("latin-1")
    if text[:7].lower() != "bearer ":
        return None
    return text[7:].strip() or None


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"ok": False, "error": message, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
