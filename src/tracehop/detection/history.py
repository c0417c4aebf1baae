"""Traceback history per customer: how often traceback requests named a customer.

A traceback request reaches a provider because someone (a consumer, a honeypot, the
Consortium's analysts) reported a call as illegal; the provider's answer names the customer
it came from (``traceback_answers.upstream``). Repeated tracebacks to the same customer are
what the Commission's notices cite (DOMAIN.md: "complaints, honeypot hits and traceback
history for a customer"; 47 CFR 64.1200(n)(2): once notified, a provider must effectively
mitigate the traffic). Complaints themselves reach the hub, not a provider's home; the
tracebacks they start are their trace here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tracehop.store import Store
from tracehop.store.models import TracebackAnswerRow, TracebackRequestRow

# How far back a traceback counts.
HISTORY_DAYS = 90
# Answers that name the customer a call came from.
NAMING_ANSWERS = ("received_from", "provider_not_listed", "origin")


def traceback_history(
    store: Store, until: datetime | None = None, *, days: int = HISTORY_DAYS
) -> dict[str, dict[str, Any]]:
    """``{customer: {"tracebacks": n, "last_traceback": iso}}`` for every customer named
    by an answer to a traceback request received in the ``days`` before ``until`` (default:
    now)."""
    end = until or datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    start = end - timedelta(days=days)
    with store.session() as s:
        rows = s.execute(
            select(
                TracebackAnswerRow.upstream,
                func.count(),
                func.max(TracebackRequestRow.received_at),
            )
            .join(
                TracebackRequestRow,
                TracebackRequestRow.request_id == TracebackAnswerRow.request_id,
            )
            .where(
                TracebackAnswerRow.answer.in_(NAMING_ANSWERS),
                TracebackAnswerRow.upstream.is_not(None),
                TracebackRequestRow.received_at >= start,
                TracebackRequestRow.received_at < end,
            )
            .group_by(TracebackAnswerRow.upstream)
        ).all()
    out: dict[str, dict[str, Any]] = {}
    for upstream, n, last in rows:
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)  # SQLite returns naive UTC
        out[upstream] = {
            "tracebacks": int(n),
            "last_traceback": last.isoformat().replace("+00:00", "Z") if last else None,
        }
    return out


def customer_history(store: Store, until: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Traceback history and complaints (``tracehop.complaints``) per customer."""
    from tracehop.complaints import complaint_history

    out = {k: dict(v) for k, v in traceback_history(store, until).items()}
    for customer, values in complaint_history(store, until).items():
        out.setdefault(customer, {"tracebacks": 0}).update(values)
    return out
