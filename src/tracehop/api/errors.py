"""One error shape for every HTTP app tracehop serves: ``{"ok": false, "error": "...",
"status": N}``, whatever went wrong (a library error, a body or query parameter that does not
validate, an unknown route or method, an unexpected exception). ``install_error_shape`` is
the one place that sets it up; every app factory calls it."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tracehop.errors import TracehopError

log = logging.getLogger(__name__)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message, "status": status}, status_code=status)


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
    async def _tracehop_error(_request: Request, exc: TracehopError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the %s API", name)
        return error_response(
            500, f"internal error ({exc.__class__.__name__}); see the {name}'s log"
        )
