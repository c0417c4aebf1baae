"""STIR/SHAKEN test kit: a real HTTP server on loopback that serves certificates (and
misbehaves on request), and helpers to build Identity headers, good and bad."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class CertServer:
    """Serves the files of ``directory`` at ``/NAME`` and any ``routes`` set by a test
    (status, headers, body, delay); counts requests per path."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
        self.hits: Counter[str] = Counter()
        self.headers: dict[str, str] = {}  # added to every file response
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.hits[self.path] += 1
                status, headers, body, delay = server.answer(self.path)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (a timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.block_on_close = False
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes, float]:
        if path in self.routes:
            return self.routes[path]
        name = path.lstrip("/")
        if self.directory is not None and name and "/" not in name and not name.startswith("."):
            file = self.directory / name
            if file.is_file():
                return 200, dict(self.headers), file.read_bytes(), 0.0
        return 404, {}, b"not found", 0.0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{path.lstrip('/')}"

    def __enter__(self) -> CertServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parts(identity: str) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """(header, claims, signature part, the ;params tail) of an Identity header."""
    token, _, params = identity.partition(";")
    h, c, s = token.split(".")
    return json.loads(unb64(h)), json.loads(unb64(c)), s, params


def rebuild(header: dict[str, Any], claims: dict[str, Any], signature: str, params: str) -> str:
    """An Identity header from parts (the signature is kept as it was: tampering)."""
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    c = b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{c}.{signature};{params}"


def tamper(identity: str, **claims: Any) -> str:
    """The same header with some claims changed and the old signature."""
    header, old, signature, params = parts(identity)
    return rebuild(header, {**old, **claims}, signature, params)
