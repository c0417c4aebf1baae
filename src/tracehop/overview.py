"""What the dashboard and the API show from the state DB: customers by risk (the latest
detection run), traceback requests waiting for a person with their 24-hour clocks, one
customer's findings and tracebacks, the open cases. The web pages and the JSON API call
these same functions (one query per figure, whatever the shell)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from tracehop.store import Store
from tracehop.store.models import (
    CaseNoticeRow,
    ComplaintRow,
    DetectionFinding,
    DetectionRun,
    TracebackAnswerRow,
    TracebackRequestRow,
)
from tracehop.times import utc


def latest_run(store: Store) -> dict[str, Any] | None:
    with store.session() as s:
        run = s.scalar(select(DetectionRun).order_by(DetectionRun.finished_at.desc()).limit(1))
        if run is None:
            return None
        return {"run_id": run.run_id, "finished_at": utc(run.finished_at),
                "customers": run.customers, "flagged": run.flagged,
                "since": utc(run.since), "until": utc(run.until),
                "engine": run.engine}  # fmt: skip


def customers_by_risk(store: Store, *, limit: int = 20) -> list[dict[str, Any]]:
    """Customers of the latest detection run, highest score first."""
    run = latest_run(store)
    if run is None:
        return []
    with store.session() as s:
        q = (
            select(DetectionFinding)
            .where(DetectionFinding.run_id == run["run_id"], DetectionFinding.kind == "customer")
            .order_by(DetectionFinding.score.desc(), DetectionFinding.subject)
            .limit(limit)
        )
        return [
            {"customer": f.subject, "score": round(f.score, 3), "flagged": f.flagged,
             "categories": f.categories, "run_id": f.run_id, "seq": f.seq}
            for f in s.scalars(q)
        ]  # fmt: skip


def pending_tracebacks(store: Store, *, now: datetime) -> list[dict[str, Any]]:
    """Requests whose answer waits for a person (review-first, or not sure), with the time
    left on the 24-hour clock of 47 CFR 64.1200(n)(1). Soonest due first."""
    with store.session() as s:
        rows = s.execute(
            select(TracebackRequestRow, TracebackAnswerRow)
            .join(TracebackAnswerRow, TracebackAnswerRow.request_id == TracebackRequestRow.request_id)
            .where(TracebackAnswerRow.status.in_(("pending_review", "needs_review")))
            .order_by(TracebackRequestRow.due_at)
        ).all()  # fmt: skip
        out = []
        for r, a in rows:
            left = (utc(r.due_at) - utc(now)).total_seconds()
            out.append(
                {"request_id": r.request_id, "caller": r.caller, "called": r.called,
                 "at": utc(r.at) if r.at else r.on_date, "received_at": utc(r.received_at),
                 "due_at": utc(r.due_at), "hours_left": round(left / 3600, 1),
                 "answer": a.answer, "upstream": a.upstream, "confidence": a.confidence,
                 "status": a.status, "reason": a.reason, "matches": a.matches[:3]}
            )  # fmt: skip
        return out


def customer_findings(store: Store, customer: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """The customer's findings in the latest runs, newest first."""
    with store.session() as s:
        q = (
            select(DetectionFinding, DetectionRun)
            .join(DetectionRun, DetectionRun.run_id == DetectionFinding.run_id)
            .where(DetectionFinding.kind == "customer", DetectionFinding.subject == customer)
            .order_by(DetectionRun.finished_at.desc())
            .limit(limit)
        )
        return [
            {"run_id": f.run_id, "seq": f.seq, "finished_at": utc(r.finished_at),
             "score": round(f.score, 3), "flagged": f.flagged, "categories": f.categories,
             "rules": f.evidence.get("rules", [])}
            for f, r in s.execute(q)
        ]  # fmt: skip


def customer_tracebacks(store: Store, customer: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """Traceback answers that named the customer as the upstream, newest first."""
    with store.session() as s:
        q = (
            select(TracebackRequestRow, TracebackAnswerRow)
            .join(TracebackAnswerRow, TracebackAnswerRow.request_id == TracebackRequestRow.request_id)
            .where(TracebackAnswerRow.upstream == customer)
            .order_by(TracebackRequestRow.received_at.desc())
            .limit(limit)
        )  # fmt: skip
        return [
            {"request_id": r.request_id, "caller": r.caller, "called": r.called,
             "received_at": utc(r.received_at), "answer": a.answer, "status": a.status}
            for r, a in s.execute(q)
        ]  # fmt: skip


def customer_mentions(store: Store, customer: str) -> dict[str, Any]:
    """Complaints traced to the customer, and case rows matched to it."""
    with store.session() as s:
        complaints = s.scalars(select(ComplaintRow).where(ComplaintRow.upstream == customer)).all()
        cases = s.scalars(
            select(CaseNoticeRow).where(CaseNoticeRow.matched_customer == customer)
        ).all()
        return {
            "complaints": len(complaints),
            "case_rows": [
                {
                    "case_id": c.case_id,
                    "row": c.number,
                    "date": c.call_date.isoformat(),
                    "description": c.description,
                }
                for c in cases
            ],
        }
