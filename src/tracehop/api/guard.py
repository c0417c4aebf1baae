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

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote

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
# (the Cookie header) -> (holder, the session's CSRF token), or None without a valid session
SessionReader = Callable[[str], "tuple[object, str] | None"]
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


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
        max_body: int | Callable[[str], int],
        body_timeout: float,
        open_paths: tuple[str, ...] = (),
        open_prefixes: tuple[str, ...] = (),
        on_refusal: Callable[[Refusal], None] | None = None,
        sessions: SessionReader | None = None,
        login_path: str | None = None,
        on_response: Callable[[Refusal], None] | None = None,
    ) -> None:
        self.app, self.authenticate = app, authenticate
        self.max_body, self.body_timeout = max_body, body_timeout
        self.open_paths, self.on_refusal = open_paths, on_refusal
        self.open_prefixes, self.sessions, self.login_path = open_prefixes, sessions, login_path
        self.on_response = on_response

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

        path = scope["path"]
        csrf: str | None = None  # set when the holder comes from a browser session
        if (
            self.authenticate is not None
            and path not in self.open_paths
            and not path.startswith(self.open_prefixes or ("\0",))
        ):
            token = _bearer(headers.get(b"authorization"))
            if token is None and self.sessions is not None:
                found = await anyio.to_thread.run_sync(
                    self.sessions, headers.get(b"cookie", b"").decode("latin-1")
                )
                if found is not None:
                    holder, csrf = found
                    scope.setdefault("state", {})["csrf"] = csrf
            if holder is None:
                if token is None and self.login_path and not path.startswith("/api/"):
                    await _redirect(send, f"{self.login_path}?next={quote(path)}")
                    return
                try:
                    holder = await anyio.to_thread.run_sync(self.authenticate, token, client)
                except TracehopError as exc:
                    await refuse(exc.status, exc.message)
                    return
            scope.setdefault("state", {})["holder"] = holder
        limit = self.max_body(path) if callable(self.max_body) else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await refuse(400, "Content-Length is not a number")
                return
            if size > limit:
                await refuse(413, f"request body over {limit} bytes")
                return
        try:
            body = await self._read_body(receive, limit)
        except _TooLarge:
            await refuse(413, f"request body over {limit} bytes")
            return
        except TimeoutError:
            await refuse(408, f"request body not received within {self.body_timeout:g} s")
            return

        if csrf is not None and scope.get("method") in UNSAFE:
            # a browser session changes nothing without its CSRF token (a cookie alone can be
            # sent by another site): the X-CSRF-Token header or the form's csrf field
            given = headers.get(b"x-csrf-token", b"").decode("latin-1") or _form_field(
                headers, body, "csrf"
            )
            if not given or not hmac.compare_digest(given, csrf):
                await refuse(403, "missing or wrong CSRF token: reload the page and try again")
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
        final = scope.get("state", {}).get("holder")
        if status >= 400:
            self._report(scope, client, final, status, "")
        if self.on_response is not None:
            method = scope.get("method", "?")
            self.on_response(Refusal(status, client, method, path, final, ""))

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        with anyio.fail_after(self.body_timeout):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
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


def _form_field(headers: dict[bytes, bytes], body: bytes, name: str) -> str:
    """A field of an urlencoded form body ('' when absent or not a form)."""
    kind = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return ""
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(name)
    return values[0] if values else ""


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b""})


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
