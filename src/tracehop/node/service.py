"""The node's service: a provider's traceback responder behind authentication, a rate
limit, the audit log and (optionally) a person's review.

``POST /api/v1/tracebacks/requests`` (``tracehop.api.node``) answers one request about one
call (never bulk CDRs), for holders of a token the operator issued. Every request is stored
before it is answered (with its 24-hour due time, 47 CFR 64.1200(n)(1)), rate-limited per
token, and written to the audit log.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from tracehop.auth import tokens
from tracehop.auth.roles import Principal
from tracehop.errors import (
    ConfigError,
    ForbiddenError,
    RateLimitedError,
    TracehopError,
    UnanswerableError,
    UnauthorizedError,
)
from tracehop.node.audit import AuditLog
from tracehop.node.ratelimit import RateLimiter
from tracehop.settings import NODE_MODES, Settings
from tracehop.store import Store
from tracehop.store.models import IngestManifest
from tracehop.times import SYSTEM, Clock
from tracehop.tracebacks.answers import (
    record_answers,
    record_failure,
    record_requests,
    stored_answer,
)
from tracehop.tracebacks.protocol import HopAnswer, TracebackRequest
from tracehop.tracebacks.requests import make_request
from tracehop.tracebacks.responder import Responder

log = logging.getLogger(__name__)


class RequestBody(BaseModel):
    """A traceback request as the hub sends it (times in UTC; ``at`` may be a date)."""

    request_id: str = Field(min_length=1, max_length=200)
    caller: str = Field(min_length=1, max_length=100)
    called: str = Field(min_length=1, max_length=100)
    at: str = Field(min_length=1, max_length=64)
    window: str | None = Field(default=None, max_length=20)
    description: str = Field(default="", max_length=2000)


class NodeService:
    """One home's responder, shared by the API's worker threads.

    ``settings`` give the mode (``node_mode``: auto or review), the rate limit per token
    (``node_rate``) and the business time zone of the 24-hour rule; ``clock`` is the real one
    unless a test passes a ``FakeClock``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        known_providers: set[str] | None = None,
        clock: Clock = SYSTEM,
        own_store: bool = False,
    ) -> None:
        if settings.node_mode not in NODE_MODES:
            raise ConfigError(f"node mode must be auto or review, not {settings.node_mode!r}")
        self.settings, self.store, self.clock = settings, store, clock
        self.known = known_providers
        self.mode, self.zone, self.rate = (
            settings.node_mode,
            settings.business_timezone,
            settings.node_rate,
        )
        self.limiter = RateLimiter(self.rate, clock=clock)
        # audit lines about refused requests: a burst of 20 a client, then 5 a second
        self.audit_limiter = RateLimiter(5.0, 20.0, clock=clock)
        self._suppressed: dict[str, int] = {}
        self._lock_audit = threading.Lock()
        self.auditlog = AuditLog(Path(settings.home) / "audit.log", clock=clock)
        self._own_store = own_store
        tokens.migrate_file_tokens(store, Path(settings.home))  # tokens from before roles
        self._lock = threading.Lock()
        self._responder: Responder | None = None
        self._lake_version: int | None = None

    @property
    def provider(self) -> str:
        return self.settings.provider

    def authenticate(self, token: str | None, client: str) -> Principal:
        """Who holds the token; 401, 403 or 429 (``TracehopError``) otherwise. Refusals are
        audited by ``refused`` (the HTTP shell reports every response of 400 or more)."""
        holder = tokens.verify(self.store, token)
        if holder is None:
            raise UnauthorizedError("a valid token is required: Authorization: Bearer <token>")
        if not holder.can("traceback"):
            raise ForbiddenError(
                f"the token of {holder.name} (role {holder.role}) may not send traceback requests"
            )
        if not self.limiter.take(holder.id):
            raise RateLimitedError(
                f"too many requests from {holder.name}: at most {self.rate:g} a second"
            )
        return holder

    def refused(
        self, *, status: int, client: str, holder: Principal | None, what: str, error: str
    ) -> None:
        """Audit a refused or failed request. A client that floods gets at most a few lines a
        second; what was left out is counted in the next line written for it."""
        key = "audit:" + client
        with self._lock_audit:
            if not self.audit_limiter.take(key):
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            suppressed = self._suppressed.pop(key, 0)
        fields: dict[str, Any] = {"event": "refused", "status": status, "client": client,
                                  "request": what}  # fmt: skip
        if holder is not None:
            fields.update(token=holder.name, token_id=holder.id)
        if error:
            fields["error"] = error
        if suppressed:
            fields["suppressed_before"] = suppressed
        self.audit(**fields)
        if status == 401:
            log.warning("traceback request without a valid token from %s", client)

    def answer(
        self, request: TracebackRequest, *, holder: Principal, client: str
    ) -> HopAnswer | dict[str, Any] | None:
        """Store, answer, store the answer. A request already answered for this requester gets
        the stored answer again (a retry must not undo a person's confirmation); in review
        mode the answer waits for a person (None)."""
        received = self.clock.now()
        with self._lock:
            stored = self.stored(request.request_id, owner=holder.id)
            if stored is not None and stored["status"] == "failed":
                raise UnanswerableError(
                    f"traceback request {request.request_id!r} could not be answered: "
                    f"{stored['reason']}"
                )
            if stored is not None and stored["status"] in ("answered", "pending_review"):
                self.audit(event="repeated", token=holder.name, token_id=holder.id,
                           client=client, request_id=request.request_id)  # fmt: skip
                return None if stored["status"] == "pending_review" else stored
            times = record_requests(
                self.store,
                [request],
                received_at=received,
                business_zone=self.zone,
                owner=holder.id,
            )
            ans = self._answer_or_fail(request)
            ans.received_at, ans.due_at = times[request.request_id]
            if self.mode == "review":
                ans.needs_review = True
            # one transaction: a reader never sees a review-first answer before a person does
            record_answers(
                self.store,
                [ans],
                status="pending_review" if self.mode == "review" else None,
                now=self.clock.now(),
            )
        self.audit(
            event="answered" if self.mode == "auto" else "queued",
            token=holder.name,
            token_id=holder.id,
            client=client,
            request_id=request.request_id,
            answer=ans.answer,
            upstream=ans.upstream,
        )
        return ans if self.mode == "auto" else None

    def _answer_or_fail(self, request: TracebackRequest) -> HopAnswer:
        """The responder's answer; an error that would come back on every retry marks the
        stored request failed (a transient one, such as a busy database, may be retried)."""
        try:
            return self._current().answer(request)
        except TracehopError as exc:
            if not exc.transient:
                record_failure(self.store, request.request_id, exc.message, now=self.clock.now())
            raise
        except Exception as exc:
            why = f"internal error ({exc.__class__.__name__}); see the node's log"
            record_failure(self.store, request.request_id, why, now=self.clock.now())
            raise

    def respond(
        self, body: RequestBody, *, holder: Principal, client: str
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON) for a traceback request body, as the API returns it."""
        req = make_request(
            body.request_id,
            body.caller,
            body.called,
            body.at,
            window=body.window,
            description=body.description,
        )
        answer = self.answer(req, holder=holder, client=client)
        if answer is None:  # review-first: a person confirms before the answer leaves
            return 202, {"request_id": req.request_id, "status": "pending_review"}
        if isinstance(answer, dict):  # asked again: the stored (perhaps confirmed) answer
            return 200, answer
        return 200, answer.to_json()

    def stored(self, request_id: str, *, owner: str | None) -> dict[str, Any] | None:
        """The stored answer to a request of ``owner`` (None for anybody else's)."""
        return stored_answer(self.store, request_id, owner=owner)

    def _current(self) -> Responder:
        """The responder, reopened when new CDR files have been ingested since."""
        with self.store.session() as s:
            version = s.scalar(select(func.count()).select_from(IngestManifest)) or 0
        if self._responder is None or version != self._lake_version:
            if self._responder is not None:
                self._responder.close()
            self._responder = Responder(self.settings, self.store, known_providers=self.known)
            self._lake_version = version
        return self._responder

    def audit(self, **fields: Any) -> None:
        self.auditlog.write(**fields)

    def close(self) -> None:
        if self._responder is not None:
            self._responder.close()
            self._responder = None
        if self._own_store:
            self.store.close()
