"""One error shape for every HTTP app tracehop serves: ``{"ok": false, "error": "...",
"status": N}``, whatever went wrong (a library error, a body or query parameter that does not
validate, an unknown route or method, an unexpected exception). ``install_error_shape`` is
the one place that sets it up; every app factory calls it. A person's browser asking for a
page (not under ``/api/``, HTML accepted) gets the same message and status as a page with a
way back to the dashboard, not JSON."""

import html
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracehop.errors import TracehopError

log = logging.getLogger(__name__)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message, "status": status}, status_code=status)


def error_page(status: int, message: str) -> HTMLResponse:
    """The error as a page: its status and message, and links back."""
    text = html.escape(message)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{status}: tracehop</title>"
        '<link rel="stylesheet" href="/static/app.css"></head><body><main>'
        f"<h1>{status}</h1><p>{text}</p>"
        '<p><a href="/">Overview</a> &middot; <a href="/customers">Customers</a> &middot; '
        '<a href="/cases">Cases</a></p></main></body></html>'
    )
    return HTMLResponse(body, status_code=status)


def _answer(request: Request, status: int, message: str) -> JSONResponse | HTMLResponse:
    page = not request.url.path.startswith("/api/")
    if page and "text/html" in request.headers.get("accept", ""):
        return error_page(status, message)
    return error_response(status, message)


def validation_message(exc: RequestValidationError) -> str:
    """The first problem, said as ``where: what`` (``query.limit: Input should be a valid
    integer``; ``body`` is left out of body field paths)."""
    errors = exc.errors()
    first = errors[0] if errors else {"msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    msg = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def install_error_shape(app: FastAPI, *, name: str) -> None:
    """Handlers that give every failure of ``app`` the one error shape. ``name`` says whose
    log to look in for unexpected errors."""

    @app.exception_handler(TracehopError)
    async def _tracehop_error(request: Request, exc: TracehopError) -> JSONResponse | HTMLResponse:
        return _answer(request, exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse | HTMLResponse:
        return _answer(request, 422, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse | HTMLResponse:
        return _answer(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
        log.exception("unexpected error in the %s API", name)
        return _answer(
            request, 500, f"internal error ({exc.__class__.__name__}); see the {name}'s log"
        )
