"""One error tree for the whole package.

Every error carries an HTTP ``status`` so that the API can turn it into
``{"ok": false, "error": ..., "status": ...}`` and the CLI into ``Error: ...`` with exit 1.
``transient`` marks errors worth retrying (a locked database, a busy file), following dlt.
"""

from __future__ import annotations


class TracehopError(Exception):
    """Base class: a message a person can act on."""

    status: int = 500
    transient: bool = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, object]:
        return {"ok": False, "error": self.message, "status": self.status}


class ConfigError(TracehopError):
    """A setting is missing or wrong."""

    status = 400


class InputError(TracehopError):
    """Input the user gave us cannot be used (bad file, bad option, bad query)."""

    status = 400


class NotFoundError(TracehopError):
    status = 404


class ConflictError(TracehopError):
    """The request clashes with what is stored (e.g. a request id used by someone else)."""

    status = 409


class FormatError(InputError):
    """A CDR file does not match the format it was read as."""


class QueryError(InputError):
    """An analyst's SQL failed or tried to write."""


class StoreError(TracehopError):
    """The state database or the lake could not be used."""

    status = 503
    transient = True


class UnauthorizedError(TracehopError):
    """No valid credentials (a missing, unknown or revoked token)."""

    status = 401


class ForbiddenError(TracehopError):
    """Known, but not allowed to do this (a role without the permission)."""

    status = 403


class RateLimitedError(TracehopError):
    """Too many requests from one token holder or client; try again later."""

    status = 429
    transient = True


class UnanswerableError(TracehopError):
    """A stored request that failed for good: asking again gives the same failure."""

    status = 422


class EngineError(TracehopError):
    """The query engine the settings name cannot run here (Spark without pyspark or Java, a
    session that does not start). Never answered by falling back to another engine."""

    status = 503
