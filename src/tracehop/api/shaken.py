"""``POST /api/v1/shaken/verify``: verify one Identity header over HTTP (docs/shaken.md).

A router factory over one :class:`tracehop.shaken.verify.Verifier` (its certificate cache is
shared by every request). A failed verification is an answer, not an error: 200 with
``"valid": false``, the reason and the SIP code; a request that does not validate is 422 in the
one error shape (``api.errors.install_error_shape`` on the app that mounts this router)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracehop.shaken.passport import MAX_IDENTITY_BYTES
from tracehop.shaken.verify import Verifier


class VerifyRequest(BaseModel):
    """An Identity header and what to check it against."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    identity: str | None = Field(
        default=None,
        max_length=MAX_IDENTITY_BYTES,
        description="The Identity header value; missing or empty: 428.",
    )
    from_: str | None = Field(
        default=None, alias="from", max_length=256, description="The SIP From number."
    )
    to: str | None = Field(default=None, max_length=256, description="The SIP To number.")
    at: datetime | None = Field(
        default=None, description="Judge as of this time (the call's); default now (UTC)."
    )


def shaken_router(verifier: Verifier) -> APIRouter:
    """The STIR/SHAKEN routes, verifying with ``verifier``."""
    router = APIRouter(tags=["shaken"])

    # A plain def: FastAPI runs it on its thread pool (a certificate fetch may block). The
    # result is already JSON-ready: a JSONResponse skips FastAPI's response encoding.
    @router.post("/api/v1/shaken/verify", response_class=JSONResponse)
    def verify(body: VerifyRequest) -> JSONResponse:
        result = verifier.verify(body.identity, orig=body.from_, dest=body.to, at=body.at)
        return JSONResponse(result.to_json())

    return router
