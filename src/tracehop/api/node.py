"""The node: a provider's tracehop answering traceback requests over HTTP.

``POST /api/v1/tracebacks/requests`` answers one request about one call (never bulk CDRs),
for holders of a token the operator issued. Every request is stored before it is answered,
rate-limited per token, and written to the audit log (``HOME/audit.log``, JSON lines).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from tracehop.api import tokens
from tracehop.errors import TracehopError
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import IngestManifest, TracebackAnswerRow, TracebackRequestRow
from tracehop.tracebacks.protocol import HopAnswer, TracebackRequest
from tracehop.tracebacks.responder import (
    Responder,
    make_request,
    record_answers,
    record_requests,
)

log = logging.getLogger(__name__)

MODES = ("auto", "review")


class RequestBody(BaseModel):
    """A traceback request as the hub sends it (times in UTC; ``at`` may be a date)."""

    request_id: str = Field(min_length=1, max_length=200)
    caller: str = Field(min_length=1, max_length=100)
    called: str = Field(min_length=1, max_length=100)
    at: str = Field(min_length=1, max_length=64)
    window: str | None = Field(default=None, max_length=20)
    description: str = Field(default="", max_length=2000)


class RateLimited(TracehopError):
    status = 429


class Unauthorized(TracehopError):
    status = 401


@dataclass
class Bucket:
    """Token bucket: ``rate`` requests a second, bursts up to ``burst``."""

    rate: float
    burst: float
    level: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1:
            self.level -= 1
            return True
        return False


class NodeService:
    """One home's responder, shared by the API's worker threads."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        known_providers: set[str] | None = None,
        mode: str = "auto",
        rate: float = 50.0,
        burst: float = 100.0,
        business_zone: str = "America/New_York",
    ) -> None:
        if mode not in MODES:
            raise TracehopError(f"mode must be auto or review, not {mode!r}", status=400)
        self.settings, self.store = settings, store
        self.known, self.mode, self.zone = known_providers, mode, business_zone
        self.rate, self.burst = rate, burst
        self._lock = threading.Lock()
        self._buckets: dict[str, Bucket] = {}
        self._bucket_lock = threading.Lock()
        self._responder: Responder | None = None
        self._lake_version: int | None = None
        self._audit = Path(settings.home) / "audit.log"
        self._audit_lock = threading.Lock()

    @property
    def provider(self) -> str:
        return self.settings.provider

    def _take(self, key: str) -> bool:
        with self._bucket_lock:  # requests run on a thread pool
            bucket = self._buckets.setdefault(key, Bucket(self.rate, self.burst, level=self.burst))
            return bucket.take()

    def authenticate(self, token: str | None, client: str) -> str:
        name = tokens.verify(tokens.load(Path(self.settings.home)), token)
        if name is None:
            # Audited, but at most at the rate limit per client, so nobody can flood the log.
            if self._take("unauthorized:" + client):
                self.audit(event="unauthorized", client=client)
                log.warning("traceback request without a valid token from %s", client)
            raise Unauthorized("a valid token is required: Authorization: Bearer <token>")
        if not self._take(name):
            self.audit(event="rate_limited", token=name, client=client)
            raise RateLimited(f"too many requests from {name}: at most {self.rate:g} a second")
        return name

    def answer(
        self, request: TracebackRequest, *, token: str, client: str
    ) -> HopAnswer | dict[str, Any] | None:
        """Store, answer, store the answer. A request already answered for this requester gets
        the stored answer again (a retry must not undo a person's confirmation); in review
        mode the answer waits for a person (None)."""
        received = datetime.now(UTC)
        with self._lock:
            stored = self.stored(request.request_id, owner=token)
            if stored is not None and stored["status"] in ("answered", "pending_review"):
                self.audit(event="repeated", token=token, client=client,
                           request_id=request.request_id)  # fmt: skip
                return None if stored["status"] == "pending_review" else stored
            times = record_requests(
                self.store,
                [request],
                received_at=received,
                business_zone=self.zone,
                owner=token,
            )
            ans = self._current().answer(request)
            ans.received_at, ans.due_at = times[request.request_id]
            if self.mode == "review":
                ans.needs_review = True
            # one transaction: a reader never sees a review-first answer before a person does
            record_answers(
                self.store, [ans], status="pending_review" if self.mode == "review" else None
            )
        self.audit(
            event="answered" if self.mode == "auto" else "queued",
            token=token,
            client=client,
            request_id=request.request_id,
            answer=ans.answer,
            upstream=ans.upstream,
        )
        return ans if self.mode == "auto" else None

    def respond(self, body: RequestBody, *, token: str, client: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON) for a traceback request body, as the API returns it."""
        req = make_request(
            body.request_id,
            body.caller,
            body.called,
            body.at,
            window=body.window,
            description=body.description,
        )
        answer = self.answer(req, token=token, client=client)
        if answer is None:  # review-first: a person confirms before the answer leaves
            return 202, {"request_id": req.request_id, "status": "pending_review"}
        if isinstance(answer, dict):  # asked again: the stored (perhaps confirmed) answer
            return 200, answer
        return 200, answer.to_json()

    def stored(self, request_id: str, *, owner: str | None) -> dict[str, Any] | None:
        """The stored answer to a request of ``owner`` (None for anybody else's)."""
        with self.store.session() as s:
            req = s.get(TracebackRequestRow, request_id)
            row = s.get(TracebackAnswerRow, request_id)
            if row is None or req is None or req.owner != owner:
                return None
            return {
                "request_id": row.request_id,
                "status": row.status,
                "answer": row.answer,
                "upstream": row.upstream,
                "confidence": row.confidence,
                "needs_review": row.needs_review,
                "matches": row.matches,
                "customer": row.customer,
                "reason": row.reason,
            }

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
        line = json.dumps({"at": datetime.now(UTC).isoformat(), **fields}, default=str)
        with self._audit_lock, self._audit.open("a") as fh:
            fh.write(line + "\n")

    def close(self) -> None:
        if self._responder is not None:
            self._responder.close()
        self.store.close()
