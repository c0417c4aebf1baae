"""The screening HTTP API (``tracehop screen serve --http``), for integrations that cannot speak
SIP redirect: ``POST /api/v1/screen/decide``, ``POST /api/v1/screen/outcome`` (how a call
ended, for short-call share triggers), the rules (``GET``/``POST /api/v1/screen/rules``,
``DELETE /api/v1/screen/rules/{id}``) and Prometheus ``/metrics``. Every route but the
health check asks for ``TRACEHOP_SCREEN_TOKEN`` as a bearer token (the guard refuses before a
byte of the body is read; docs/security.md).

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

import hmac
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tracehop.api.errors import install_error_shape
from tracehop.api.guard import Guard
from tracehop.errors import ConfigError, UnauthorizedError
from tracehop.screening import state
from tracehop.screening.index import make_call
from tracehop.screening.metrics import CONTENT_TYPE
from tracehop.screening.rules import make_rule
from tracehop.screening.service import Service, emergency_of
from tracehop.settings import Settings
from tracehop.times import SYSTEM

OPEN_PATHS = ("/api/v1/health",)
MAX_BODY = 4096  # one call's numbers: nothing bigger is needed


class DecideRequest(BaseModel):
    """One call at setup, as the switch knows it."""

    caller: str = Field(max_length=200, description="Calling number (caller ID), any format.")
    called: str = Field(max_length=200, description="Called number, any format.")
    upstream: str | None = Field(
        default=None, max_length=200, description="The customer or provider it came from."
    )
    call_id: str | None = Field(default=None, max_length=200)


class Outcome(BaseModel):
    """How a call ended (the switch's CDR at hang-up): what short-call share rules count."""

    caller: str = Field(max_length=200)
    called: str = Field(max_length=200)
    upstream: str | None = Field(default=None, max_length=200)
    answered: bool
    duration: float = Field(ge=0, le=86400 * 7, description="Answered seconds.")


class RuleIn(BaseModel):
    """A rule as ``tracehop block add`` takes it (docs/screening.md)."""

    kind: str = Field(max_length=20)
    value: str = Field(default="*", max_length=200)
    reason: str = Field(max_length=2000)
    author: str = Field(max_length=200)
    action: str = Field(default="block", max_length=10)
    sip_code: int | None = None
    mode: str = Field(default="enforce", max_length=10)
    finding: str | None = Field(default=None, max_length=100)
    rate: str | None = Field(default=None, max_length=40)
    subject: str | None = Field(default=None, max_length=20)
    share: float | None = None
    min_answered: int = 100
    window: float = 900.0
    expires_at: datetime | None = None


class DecideAnswer(BaseModel):
    action: str  # allow | block
    sip_code: int | None
    reason: str
    rule_id: int | None
    monitored: list[int]
    cause: str | None = None  # what the caller may be told (the Reason header's text)


def create_screen_app(service: Service, settings: Settings, store: Any) -> FastAPI:
    """The decide API over a serving screener (``screening.service.serving``), and the rules
    in ``store`` (the state DB the screener reads)."""
    if settings.screen_token is None:
        raise ConfigError("the screening API needs TRACEHOP_SCREEN_TOKEN (a bearer token)")
    token = settings.screen_token.get_secret_value().encode()
    screener, metrics = service.screener, service.metrics
    emergency = emergency_of(settings)

    api = FastAPI(title="tracehop screening", version="1")
    install_error_shape(api, name="screening")

    def authenticate(given: str | None, _client: str) -> str:
        if not hmac.compare_digest((given or "").encode(), token):
            raise UnauthorizedError("a valid token is required: Authorization: Bearer <token>")
        return "screen-client"

    api.add_middleware(
        Guard,
        authenticate=authenticate,
        max_body=MAX_BODY,
        body_timeout=settings.http_body_timeout,
        open_paths=OPEN_PATHS,
    )

    @api.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "role": "screening", "rules": len(screener.index.rules)}

    @api.post("/api/v1/screen/decide")
    async def decide(body: DecideRequest) -> DecideAnswer:
        # async: decided on the event loop, no thread hop (a decision takes microseconds)
        call = make_call(body.caller, body.called, body.upstream, body.call_id)
        d = screener.decide(call, source="http")
        return DecideAnswer(**d.as_dict(), cause=d.cause)

    @api.post("/api/v1/screen/outcome")
    async def outcome(body: Outcome) -> dict[str, Any]:
        call = make_call(body.caller, body.called, body.upstream)
        screener.record_outcome(call, answered=body.answered, duration=body.duration)
        return {"ok": True}

    @api.get("/api/v1/screen/rules")
    def rules(include_removed: bool = False) -> list[dict[str, Any]]:
        return [r.as_dict() for r in state.load_rules(store, include_removed=include_removed)]

    @api.post("/api/v1/screen/rules", status_code=201)
    def add_rule(body: RuleIn) -> dict[str, Any]:
        # the same checks as the CLI: emergency numbers refused, provider blocks need their
        # notice (47 CFR 64.1200(k)(4)), clashes refused (409)
        rule = make_rule(
            body.kind,
            body.value,
            reason=body.reason,
            emergency=emergency,
            action=body.action,
            sip_code=body.sip_code,
            mode=body.mode,
            author=body.author,
            finding=body.finding,
            rate=body.rate,
            subject=body.subject,
            share=body.share,
            min_answered=body.min_answered,
            window=body.window,
            expires_at=body.expires_at,
            now=SYSTEM.now(),
        )
        stored = state.add_rule(store, rule)
        screener.reload()  # in force at once for this process
        return stored.as_dict()

    @api.delete("/api/v1/screen/rules/{rule_id}")
    def remove_rule(rule_id: int, author: str) -> dict[str, Any]:
        removed = state.remove_rule(store, rule_id, by=author)
        screener.reload()
        return removed.as_dict()

    @api.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return api
