"""Complaints a provider received about calls it carried, traced to the customer they came
from, and counted per customer for detection (DOMAIN.md: "complaints, honeypot hits and
traceback history for a customer").

``tracehop complaints import FILE.csv`` reads the file with the hub's complaint reader
(``complaint_id, caller_id, called, date, time_utc, description`` as the Consortium's and the
simulator's exports write it, or ``caller, called, at[, description]``), looks every complaint
up in the lake with the traceback responder (the same matching as a traceback request: which
customer sent us this call?), and stores each complaint with the customer it names. A
complaint without an id gets one from its content, so importing a file twice changes
nothing. Detection counts a customer's complaints of the 90 days before its window's end.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import ComplaintRow
from tracehop.tracebacks.batch import Complaint, ComplaintError, read_complaints
from tracehop.tracebacks.protocol import TracebackRequest
from tracehop.tracebacks.responder import Responder

HISTORY_DAYS = 90


@dataclass
class ComplaintImport:
    """What an import did: complaints stored, the customers they name, bad rows."""

    stored: int = 0
    matched: int = 0  # traced to a customer (an upstream) in the lake
    by_customer: Counter[str] = field(default_factory=Counter)
    errors: list[ComplaintError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "matched": self.matched,
            "not_found": self.stored - self.matched,
            "by_customer": dict(self.by_customer.most_common()),
            "errors": [e.to_json() for e in self.errors],
        }


def complaint_id(c: Complaint) -> str:
    """The complaint's own id, or one made from what it reports."""
    if c.reference:
        return c.reference
    digest = hashlib.sha256(f"{c.caller}|{c.called}|{c.at.isoformat()}".encode()).hexdigest()
    return f"c-{digest[:16]}"


def import_complaints(settings: Settings, store: Store, path: Path) -> ComplaintImport:
    """Read, trace in the lake and store the complaints of ``path``."""
    complaints, errors = read_complaints(path)
    result = ComplaintImport(errors=errors)
    unique: dict[str, Complaint] = {}
    for c in complaints:
        cid = complaint_id(c)
        if cid in unique:
            result.errors.append(
                ComplaintError(c.line, f"complaint id repeats line {unique[cid].line}", cid)
            )
            continue
        unique[cid] = c
    if not unique:
        return result
    requests = [
        TracebackRequest(request_id=cid, caller=c.caller, called=c.called, at=c.at)
        for cid, c in unique.items()
    ]
    responder = Responder(settings, store)
    try:
        answers = {a.request_id: a for a in responder.answer_many(requests)}
    finally:
        responder.close()
    now = datetime.now(UTC)
    with store.session() as s:
        for cid, c in unique.items():
            ans = answers[cid]
            named = ans.upstream if ans.answer != "not_found" else None
            row = s.get(ComplaintRow, cid) or ComplaintRow(complaint_id=cid)
            row.caller, row.called, row.description = c.caller, c.called, c.description or None
            row.at = c.at if isinstance(c.at, datetime) else None
            row.on_date = c.at if not isinstance(c.at, datetime) else None
            row.received_at = row.received_at or now
            row.answer, row.upstream, row.confidence = ans.answer, named, ans.confidence
            s.merge(row)
            result.stored += 1
            if named:
                result.matched += 1
                result.by_customer[named] += 1
    return result


def complaint_history(
    store: Store, until: datetime | None = None, *, days: int = HISTORY_DAYS
) -> dict[str, dict[str, Any]]:
    """``{customer: {"complaints": n}}``: complaints about calls of the ``days`` before
    ``until`` (default: now) that the lookup traced to that customer."""
    end = until or datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    start = end - timedelta(days=days)
    first_day, last_day = start.date(), end.date()
    with store.session() as s:
        rows = s.execute(
            select(ComplaintRow.upstream, func.count())
            .where(
                ComplaintRow.upstream.is_not(None),
                or_(
                    (ComplaintRow.at >= start) & (ComplaintRow.at < end),
                    (ComplaintRow.on_date >= first_day) & (ComplaintRow.on_date <= last_day),
                ),
            )
            .group_by(ComplaintRow.upstream)
        ).all()
    return {upstream: {"complaints": int(n)} for upstream, n in rows}
