"""Traceback requests and answers in the state DB: every request is stored before it is
answered, with its 24-hour due time (47 CFR 64.1200(n)(1), ``deadlines.py``); answers are
stored, read back, and confirmed or corrected by a person."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from tracehop.errors import ConflictError, NotFoundError
from tracehop.numbers import to_e164
from tracehop.store import Store
from tracehop.store.models import TracebackAnswerRow, TracebackRequestRow
from tracehop.times import utc
from tracehop.tracebacks.deadlines import DEFAULT_ZONE, due_at
from tracehop.tracebacks.protocol import HopAnswer, TracebackRequest


def record_requests(
    store: Store,
    requests: Sequence[TracebackRequest],
    *,
    received_at: datetime,
    business_zone: str = DEFAULT_ZONE,
    owner: str | None = None,
) -> dict[str, tuple[datetime, datetime]]:
    """Store requests before they are answered (a crash loses no request). A request id seen
    before keeps its first receipt and due time and takes the new details. Returns each
    request's (received_at, due_at)."""
    ids = [req.request_id for req in requests]
    out: dict[str, tuple[datetime, datetime]] = {}
    with store.session() as s:
        old = {
            r.request_id: r
            for r in s.scalars(
                select(TracebackRequestRow).where(TracebackRequestRow.request_id.in_(ids))
            )
        }
        due = due_at(received_at, business_zone)  # 47 CFR 64.1200(n)(1): same for the batch
        new: dict[str, dict[str, Any]] = {}  # first seen now: one bulk INSERT, last details win
        for req in requests:
            details = {
                "caller": req.caller,
                "called": req.called,
                "caller_e164": to_e164(req.caller),
                "called_e164": to_e164(req.called),
                "at": req.at.astimezone(UTC) if isinstance(req.at, datetime) else None,
                "on_date": None if isinstance(req.at, datetime) else req.at,
                "window_seconds": req.window.total_seconds() if req.window is not None else None,
                "description": req.description or None,
            }
            row = old.get(req.request_id)
            if row is None:
                # 24 h, counted from the next business morning (deadlines.due_at).
                new[req.request_id] = {
                    "request_id": req.request_id,
                    "owner": owner,
                    "received_at": received_at,
                    "due_at": due,
                    **details,
                }
                out[req.request_id] = (received_at, due)
                continue
            if row.owner != owner:
                # A request id belongs to whoever sent it first: nobody else may change it.
                raise ConflictError(
                    f"request id {req.request_id!r} is already used by another requester"
                )
            for key, value in details.items():
                setattr(row, key, value)
            out[req.request_id] = (utc(row.received_at), utc(row.due_at))  # type: ignore[assignment]
        if new:
            s.execute(insert(TracebackRequestRow), list(new.values()))
    return out


def record_answers(
    store: Store,
    answers: Sequence[HopAnswer],
    *,
    status: str | None = None,
    now: datetime | None = None,
) -> None:
    """Store answers (one per request: answering again replaces it and counts). ``status``
    overrides answered/needs_review (review-first mode stores ``pending_review``)."""
    now = now or datetime.now(UTC)
    ids = [a.request_id for a in answers]
    with store.session() as s:
        old = {
            r.request_id: r
            for r in s.scalars(
                select(TracebackAnswerRow).where(TracebackAnswerRow.request_id.in_(ids))
            )
        }
        new: dict[str, dict[str, Any]] = {}  # not answered before: one bulk INSERT
        for ans in answers:
            details = {
                "answer": ans.answer,
                "upstream": ans.upstream,
                "customer": ans.customer,
                "confidence": ans.confidence,
                "needs_review": ans.needs_review,
                "matches": ans.matches,
                "reason": ans.reason or None,
                "status": status or ("needs_review" if ans.needs_review else "answered"),
                "answered_at": now,
                "engine": ans.engine or "duckdb",
            }
            a = old.get(ans.request_id)
            if a is not None:
                for key, value in details.items():
                    setattr(a, key, value)
                a.times_answered = (a.times_answered or 0) + 1
                continue
            times = new[ans.request_id]["times_answered"] + 1 if ans.request_id in new else 1
            new[ans.request_id] = {"request_id": ans.request_id, **details, "times_answered": times}
        if new:
            s.execute(insert(TracebackAnswerRow), list(new.values()))


def record_failure(store: Store, request_id: str, reason: str, *, now: datetime) -> None:
    """A stored request that could not be answered (an error that would come back on every
    retry): kept as ``failed`` with the reason, so a retry gets the failure, not another try."""
    with store.session() as s:
        row = s.get(TracebackAnswerRow, request_id) or TracebackAnswerRow(request_id=request_id)
        row.answer, row.status, row.reason = "error", "failed", reason[:2000]
        row.upstream, row.customer, row.confidence = None, None, 0.0
        row.needs_review, row.matches, row.answered_at = True, [], now
        row.times_answered = (row.times_answered or 0) + 1
        s.merge(row)


def stored_answers(store: Store) -> list[dict[str, Any]]:
    """Every stored request with its answer, oldest first (for review and reports)."""
    with store.session() as s:
        rows = s.execute(
            select(TracebackRequestRow, TracebackAnswerRow)
            .join(
                TracebackAnswerRow, TracebackAnswerRow.request_id == TracebackRequestRow.request_id
            )
            .order_by(TracebackRequestRow.received_at, TracebackRequestRow.request_id)
        ).all()
        return [
            {
                "request_id": r.request_id,
                "caller": r.caller,
                "called": r.called,
                "at": utc(r.at),
                "on_date": r.on_date,
                "received_at": utc(r.received_at),
                "due_at": utc(r.due_at),
                "answered_at": utc(a.answered_at),
                "answer": a.answer,
                "upstream": a.upstream,
                "confidence": a.confidence,
                "needs_review": a.needs_review,
                "status": a.status,
                "times_answered": a.times_answered,
                "matches": a.matches,
                "engine": a.engine,
            }
            for r, a in rows
        ]


def stored_answer(store: Store, request_id: str, *, owner: str | None) -> dict[str, Any] | None:
    """The stored answer to a request of ``owner`` (None for anybody else's: a request id
    belongs to whoever sent it)."""
    with store.session() as s:
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
            "engine": row.engine,
        }


def confirm(
    store: Store, request_id: str, *, upstream: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A person confirms a stored answer (review-first mode, or one that needs review); with
    ``upstream`` they correct who sent the call. The node then gives it to the hub."""
    with store.session() as s:
        row = s.get(TracebackAnswerRow, request_id)
        if row is None:
            raise NotFoundError(f"no answered traceback request {request_id!r}")
        if upstream is not None and upstream != row.upstream:
            row.upstream = upstream
            row.matches = [m for m in row.matches if m.get("upstream") == upstream]
            row.reason = ((row.reason + "; ") if row.reason else "") + "upstream set by a person"
        row.needs_review = False
        row.status = "answered"
        row.answered_at = now or datetime.now(UTC)
        return {"request_id": request_id, "status": row.status, "upstream": row.upstream}
