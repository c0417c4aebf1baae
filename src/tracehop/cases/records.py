"""Cases in the state DB: opened from a notice, read back with their deadlines, rows,
timeline and links, moved through their statuses, and listed by what is due.

A case is opened once per letter (``Notice.case_id``): importing the same letter again, as
text or as PDF, gives the same case and records the import in its timeline. Every change is
an event with who made it and when (the timeline a regulator may ask for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tracehop.cases.deadlines import COMMISSION_ZONE
from tracehop.cases.notices import Notice, not_a_notice, parse_notice, read_notice_file
from tracehop.errors import InputError, NotFoundError
from tracehop.store import Store
from tracehop.store.models import (
    CaseDeadlineRow,
    CaseEventRow,
    CaseLinkRow,
    CaseNoticeRow,
    CaseRow,
)
from tracehop.times import utc

STATUSES = ("received", "investigating", "mitigated", "reported", "closed")
LINK_KINDS = ("finding", "rule", "trace", "report", "notice")
# Mitigation actions (mitigate.py), and how each reads in a report to the Commission.
ACTIONS = ("block-customer", "terminate", "block-caller-ids", "require-documents", "block-provider")
ACTION_TEXT = {
    "block-customer": "All calls from the customer blocked",
    "terminate": "Customer's service terminated; all its calls blocked",
    "block-caller-ids": "Calls with the caller IDs blocked",
    "require-documents": "Know-your-customer documents required; calls monitored",
    "block-provider": "All calls from the provider blocked",
}


@dataclass
class Case:
    case_id: str
    status: str
    notice_kind: str
    subject: str
    letter_date: date | None
    recipient: str
    recipient_detail: dict[str, Any]
    sender: dict[str, Any]
    role: str | None
    rules: list[str]
    problems: list[str]
    text: str
    imported_at: datetime
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, *, text: bool = False) -> dict[str, Any]:
        out = {
            "case_id": self.case_id,
            "status": self.status,
            "notice_kind": self.notice_kind,
            "subject": self.subject,
            "letter_date": self.letter_date.isoformat() if self.letter_date else None,
            "recipient": self.recipient,
            "recipient_detail": self.recipient_detail,
            "sender": self.sender,
            "role": self.role,
            "rules": self.rules,
            "problems": self.problems,
            "imported_at": self.imported_at.isoformat(),
            "deadlines": self.deadlines,
            "rows": self.rows,
            "events": self.events,
            "links": self.links,
        }
        if text:
            out["text"] = self.text
        return out


def _deadline_json(d: CaseDeadlineRow) -> dict[str, Any]:
    tz = ZoneInfo(d.zone)
    return {
        "name": d.name,
        "due": utc(d.due).astimezone(tz).isoformat(),
        "basis": d.basis,
        "amount": d.amount,
        "unit": d.unit,
        "computed": utc(d.computed).astimezone(tz).isoformat(),
        "stated": d.stated.isoformat() if d.stated else None,
        "zone": d.zone,
        "met_at": utc(d.met_at).isoformat() if d.met_at else None,
        "met_by": d.met_by,
        "late": d.met_at is not None and utc(d.met_at) > utc(d.due),
    }


def _row_json(r: CaseNoticeRow) -> dict[str, Any]:
    return {
        "number": r.number,
        "customer": r.customer,
        "date": r.call_date.isoformat(),
        "caller_id": r.caller_id or "",
        "called_number": r.called_number or "",
        "description": r.description or "",
        "violation": r.violation or "",
        "no_response": r.no_response,
        "matched_customer": r.matched_customer,
        "match_score": r.match_score,
        "match_confirmed": r.match_confirmed,
        "investigation": r.investigation,
    }


def open_case(
    store: Store,
    notice: Notice,
    *,
    text: str,
    now: datetime,
    actor: str = "tracehop",
    source_name: str | None = None,
    source_sha256: str | None = None,
) -> tuple[Case, bool]:
    """Open the case of ``notice`` (or find it: the same letter is the same case). Returns
    the case and whether it was created now."""
    case_id = notice.case_id
    with store.session() as s:
        existing = s.get(CaseRow, case_id)
        if existing is not None:
            s.add(_event(case_id, now, actor, "imported_again", {"source": source_name}))
        else:
            s.add(
                CaseRow(
                    case_id=case_id,
                    status="received",
                    notice_kind=notice.notice_kind,
                    subject=notice.subject or None,
                    letter_date=notice.letter_date,
                    recipient=notice.recipient.company or "(unknown recipient)",
                    recipient_detail={
                        **notice.recipient.to_json(),
                        "addressed_to": notice.addressed_to,
                    },
                    sender=notice.sender.to_json(),
                    role=notice.role,
                    rules=notice.rules,
                    problems=notice.problems,
                    source_name=source_name,
                    source_sha256=source_sha256,
                    text=text,
                    imported_at=now,
                    updated_at=now,
                )
            )
            s.flush()  # the case exists before the rows that point at it
            for d in notice.deadlines:
                s.add(  # stored in UTC (SQLite keeps no zone), shown in the deadline's zone
                    CaseDeadlineRow(
                        case_id=case_id,
                        name=d.name,
                        due=utc(d.due),
                        zone=COMMISSION_ZONE,
                        basis=d.basis,
                        amount=d.amount,
                        unit=d.unit,
                        computed=utc(d.computed),
                        stated=d.stated,
                    )
                )
            for r in notice.rows:
                s.add(
                    CaseNoticeRow(
                        case_id=case_id,
                        number=r.number,
                        customer=r.customer,
                        call_date=r.date,
                        caller_id=r.caller_id or None,
                        called_number=r.called_number or None,
                        description=r.description or None,
                        violation=r.violation or None,
                        no_response=r.no_response,
                        match_confirmed=False,
                    )
                )
            detail = {"source": source_name, "rows": len(notice.rows),
                      "deadlines": [d.name for d in notice.deadlines]}  # fmt: skip
            s.add(_event(case_id, now, actor, "opened", detail))
    return get_case(store, case_id), existing is None


def _event(
    case_id: str, at: datetime, actor: str, kind: str, detail: dict[str, Any]
) -> CaseEventRow:
    return CaseEventRow(case_id=case_id, at=at, actor=actor, kind=kind, detail=detail)


def event_text(kind: str, detail: dict[str, Any]) -> str:
    """A timeline event in plain words (``case show`` and the case page)."""
    d = detail or {}
    if kind == "status":
        return f"status {d.get('from', '?')} -> {d.get('to', '?')}"
    if kind == "opened":
        return f"opened from {d.get('source', 'a notice')}: {d.get('rows', 0)} Attachment A rows"
    if kind == "imported_again":
        return f"the same notice imported again ({d.get('source', '')})"
    if kind == "investigated":
        found = ", ".join(d.get("customers", [])) or "no customer"
        flagged = ", ".join(d.get("flagged_by_detection", []))
        return (f"investigated {d.get('rows', 0)} rows: {d.get('matched', 0)} matched ({found})"
                + (f"; flagged by detection: {flagged}" if flagged else ""))  # fmt: skip
    if kind == "match":
        return f"row {d.get('row')}: customer {d.get('from') or '-'} -> {d.get('to') or '-'}"
    if kind == "mitigation":
        text = ACTION_TEXT.get(str(d.get("action")), str(d.get("action")))
        who = f" ({d['customer']})" if d.get("customer") else ""
        return f"{text}{who}: rules {d.get('rule_id', '')}"
    if kind == "deadline_met":
        late = ", late" if d.get("late") else ""
        return f"deadline {d.get('deadline')} met by {d.get('by', '')}{late}"
    if kind == "report":
        return f"report {d.get('kind')} written ({d.get('file', '')})"
    if kind == "intent_to_block":
        return (f"notice of intent to block {d.get('provider')} written ({d.get('file', '')}), "
                f"sent {d.get('sent_on', '')}")  # fmt: skip
    return f"{kind} " + ", ".join(f"{k}={v}" for k, v in d.items())


def record_event(
    store: Store, case_id: str, kind: str, detail: dict[str, Any], *, actor: str, now: datetime
) -> None:
    with store.session() as s:
        row = s.get(CaseRow, case_id)
        if row is None:
            raise NotFoundError(f"no case {case_id!r}: `tracehop case list` shows them")
        row.updated_at = now
        s.add(_event(case_id, now, actor, kind, detail))


# Deadlines met by sending what the letter asks for: the case moving to "reported" records
# that the report or response went to the Commission (47 CFR 64.1200(k)(4): the provider
# reports the steps it took); mitigation deadlines are met by rules that stop the traffic.
REPORTED_MEETS = ("report", "response")


def set_status(
    store: Store, case_id: str, status: str, *, actor: str, now: datetime
) -> list[tuple[str, bool]]:
    """Move a case to ``status``. Moving it to ``reported`` meets its open report and
    response deadlines (``report_14d``, ...). Returns the deadlines met, each with whether it
    was met late."""
    if status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    with store.session() as s:
        row = s.get(CaseRow, case_id)
        if row is None:
            raise NotFoundError(f"no case {case_id!r}: `tracehop case list` shows them")
        if row.status != status:
            before, row.status, row.updated_at = row.status, status, now
            s.add(_event(case_id, now, actor, "status", {"from": before, "to": status}))
        if status != "reported":
            return []
        names = s.scalars(
            select(CaseDeadlineRow.name).where(
                CaseDeadlineRow.case_id == case_id, CaseDeadlineRow.met_at.is_(None)
            )
        ).all()
    met = []
    for name in sorted(names):
        if name.startswith(REPORTED_MEETS):
            late = meet_deadline(store, case_id, name, by="status reported", actor=actor, now=now)
            met.append((name, bool(late)))
    return met


def link(store: Store, case_id: str, kind: str, ref: str, *, note: str = "", now: datetime) -> None:
    if kind not in LINK_KINDS:
        raise InputError(f"link kind must be one of {', '.join(LINK_KINDS)}, not {kind!r}")
    with store.session() as s:
        if s.get(CaseLinkRow, (case_id, kind, ref)) is None:
            s.add(CaseLinkRow(case_id=case_id, kind=kind, ref=ref, note=note or None, at=now))


def meet_deadline(
    store: Store, case_id: str, name: str, *, by: str, actor: str, now: datetime
) -> bool | None:
    """Record that a deadline was met (when, and by what); a deadline met stays met.
    Returns whether it was met late (None: it had been met before)."""
    with store.session() as s:
        d = s.get(CaseDeadlineRow, (case_id, name))
        if d is None:
            known = s.scalars(
                select(CaseDeadlineRow.name).where(CaseDeadlineRow.case_id == case_id)
            ).all()
            raise NotFoundError(
                f"case {case_id!r} has no deadline {name!r} (its deadlines: "
                f"{', '.join(sorted(known)) or 'none'})"
            )
        if d.met_at is not None:
            return None
        d.met_at, d.met_by = now, by
        late = utc(now) > utc(d.due)
        s.add(_event(case_id, now, actor, "deadline_met",
                     {"deadline": name, "by": by, "late": late}))  # fmt: skip
        return late


def get_case(store: Store, case_id: str) -> Case:
    with store.session() as s:
        row = s.get(CaseRow, case_id)
        if row is None:
            raise NotFoundError(f"no case {case_id!r}: `tracehop case list` shows them")
        deadlines = s.scalars(
            select(CaseDeadlineRow).where(CaseDeadlineRow.case_id == case_id)
            .order_by(CaseDeadlineRow.due, CaseDeadlineRow.name)
        ).all()  # fmt: skip
        rows = s.scalars(
            select(CaseNoticeRow).where(CaseNoticeRow.case_id == case_id)
            .order_by(CaseNoticeRow.number)
        ).all()  # fmt: skip
        events = s.scalars(
            select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id)
        ).all()
        links = s.scalars(select(CaseLinkRow).where(CaseLinkRow.case_id == case_id)).all()
        return Case(
            case_id=row.case_id,
            status=row.status,
            notice_kind=row.notice_kind,
            subject=row.subject or "",
            letter_date=row.letter_date,
            recipient=row.recipient,
            recipient_detail=row.recipient_detail,
            sender=row.sender,
            role=row.role,
            rules=row.rules,
            problems=row.problems,
            text=row.text,
            imported_at=utc(row.imported_at),
            deadlines=[_deadline_json(d) for d in deadlines],
            rows=[_row_json(r) for r in rows],
            events=[
                {"at": utc(e.at).isoformat(), "actor": e.actor, "kind": e.kind, "detail": e.detail}
                for e in events
            ],
            links=[
                {"kind": k.kind, "ref": k.ref, "note": k.note, "at": utc(k.at).isoformat()}
                for k in sorted(links, key=lambda k: (k.kind, k.ref))
            ],
        )


def list_cases(store: Store) -> list[dict[str, Any]]:
    """Every case, newest letter first, with its next open deadline."""
    with store.session() as s:
        cases = s.scalars(select(CaseRow).order_by(CaseRow.letter_date.desc(), CaseRow.case_id))
        open_deadlines: dict[str, list[CaseDeadlineRow]] = {}
        for d in s.scalars(select(CaseDeadlineRow).where(CaseDeadlineRow.met_at.is_(None))):
            open_deadlines.setdefault(d.case_id, []).append(d)
        out = []
        for c in cases:
            pending = sorted(open_deadlines.get(c.case_id, []), key=lambda d: utc(d.due))
            nxt = pending[0] if pending else None
            out.append(
                {
                    "case_id": c.case_id,
                    "status": c.status,
                    "letter_date": c.letter_date.isoformat() if c.letter_date else None,
                    "recipient": c.recipient,
                    "notice_kind": c.notice_kind,
                    "next_deadline": nxt.name if nxt else None,
                    "next_due": utc(nxt.due).astimezone(ZoneInfo(nxt.zone)).isoformat()
                    if nxt
                    else None,
                }
            )
        return out


def due(store: Store, *, now: datetime, within: timedelta) -> list[dict[str, Any]]:
    """Open deadlines of open cases that are past due or due within ``within``: what a cron
    job (``tracehop case due``) warns about. Overdue first."""
    with store.session() as s:
        q = (
            select(CaseDeadlineRow, CaseRow)
            .join(CaseRow, CaseRow.case_id == CaseDeadlineRow.case_id)
            .where(CaseDeadlineRow.met_at.is_(None), CaseRow.status != "closed")
        )
        out = []
        for d, c in s.execute(q):
            left = utc(d.due) - utc(now)
            if left <= within:
                out.append(
                    {
                        "case_id": c.case_id,
                        "recipient": c.recipient,
                        "deadline": d.name,
                        "due": utc(d.due).astimezone(ZoneInfo(d.zone)).isoformat(),
                        "overdue": left.total_seconds() < 0,
                        "hours_left": round(left.total_seconds() / 3600, 1),
                        "basis": d.basis,
                    }
                )
    return sorted(out, key=lambda r: r["hours_left"])


def import_notice(
    store: Store, path: Path, *, now: datetime, actor: str = "tracehop"
) -> tuple[Case, bool, Notice]:
    """Read a notice file (text or PDF), open its case (or find it). Returns the case, whether
    it is new, and the notice as read (with what could not be parsed in ``problems``)."""
    text, digest = read_notice_file(path)
    notice = parse_notice(text)
    why = not_a_notice(notice)
    if why:
        raise InputError(f"{path}: {why}; no case opened")
    case, created = open_case(
        store, notice, text=text, now=now, actor=actor, source_name=Path(path).name,
        source_sha256=digest,
    )  # fmt: skip
    return case, created, notice
