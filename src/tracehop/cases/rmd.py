"""The provider's own Robocall Mitigation Database filing (47 CFR 64.6305): its roles, its
STIR/SHAKEN implementation, and a mitigation plan written from what tracehop actually does
for it (know-your-customer, know-your-upstream, analytics, blocking, the 24-hour traceback
commitment), with the next recertification date (every March 1, 64.6305(d)-(f)). Stated from
the provider's records and settings, never a promise of more; exported as JSON or Markdown
to paste into the filing, and kept with the date it was made (``HOME/rmd/``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tracehop.customers import list_customers
from tracehop.errors import InputError
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import DetectionRun, TracebackAnswerRow, TracebackRequestRow

ROLES = ("originating", "intermediate", "gateway", "terminating")


def next_recertification(today: date) -> date:
    """Every March 1 (47 CFR 64.6305(d)(5), (e)(5), (f)(5))."""
    this = date(today.year, 3, 1)
    return this if today <= this else date(today.year + 1, 3, 1)


@dataclass(frozen=True)
class RecordCounts:
    """What the provider's own records show of its mitigation work (RMD filing, 14-day report)."""

    answered: int  # traceback answers given
    late: int  # of them, answered after the 24-hour due time (47 CFR 64.1200(n)(1))
    runs: int  # detection runs recorded
    last_run: datetime | None


def record_counts(store: Store) -> RecordCounts:
    with store.session() as s:
        answered = s.scalar(select(func.count()).select_from(TracebackAnswerRow)) or 0
        late = s.scalar(
            select(func.count())
            .select_from(TracebackAnswerRow)
            .join(TracebackRequestRow, TracebackRequestRow.request_id == TracebackAnswerRow.request_id)
            .where(TracebackAnswerRow.answered_at > TracebackRequestRow.due_at)
        ) or 0  # fmt: skip
        runs = s.scalar(select(func.count()).select_from(DetectionRun)) or 0
        last_run = s.scalar(select(func.max(DetectionRun.finished_at)))
    return RecordCounts(answered, late, runs, last_run)


def _roles(settings: Settings) -> list[str]:
    roles = [r.strip().lower() for r in (settings.provider_roles or "").split(",") if r.strip()]
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InputError(f"TRACEHOP_PROVIDER_ROLES: {', '.join(bad)}: use {', '.join(ROLES)}")
    return roles


def rmd_record(settings: Settings, store: Store, *, today: date) -> dict[str, Any]:
    rec = record_counts(store)
    answered, late, runs = rec.answered, rec.late, rec.runs
    customers = list_customers(store)
    carriers = [c for c in customers if c.kind == "carrier"]
    plan = [
        ("Know your customer", f"{len(customers)} customers on record with kind, country and "
         "onboarding date (47 CFR 64.1200(n)(4))."),
        ("Know your upstream provider", f"{sum(1 for c in carriers if c.rmd_id)} of {len(carriers)} "
         "upstream carriers have a Robocall Mitigation Database number on file (64.6305(g))."),
        ("Analytics", f"Every customer's traffic is scored against published indicators (short "
         f"calls, completion, invalid and spoofed caller IDs, sequential dialling, complaints, "
         f"traceback history); {runs} detection runs recorded."),
        ("Blocking", "Traffic found illegal can be blocked on the call path by customer, "
         "provider, caller ID and Do-Not-Originate list, answered with SIP 603/607/608; "
         "emergency calls are never blocked."),
        ("Traceback", f"Every traceback request is answered from the call records within 24 hours "
         f"(47 CFR 64.1200(n)(1)): {answered} answered so far, {late} after the due time."),
    ]  # fmt: skip
    return {
        "provider": settings.provider,
        "legal_name": settings.provider_name or settings.provider,
        "rmd_id": settings.rmd_id,
        "contact": settings.provider_contact,
        "email": settings.provider_email,
        "roles": _roles(settings),
        "stir_shaken": "verification configured"
        if settings.shaken_trust
        else "not configured in tracehop",
        "mitigation_plan": [{"heading": h, "text": t} for h, t in plan],
        "prepared_on": today.isoformat(),
        "next_recertification": next_recertification(today).isoformat(),
    }


def to_markdown(record: dict[str, Any]) -> str:
    lines = [f"# Robocall Mitigation Database filing: {record['legal_name']}", ""]
    lines += [f"- RMD number: {record['rmd_id'] or '(not set: TRACEHOP_RMD_ID)'}",
              f"- Roles: {', '.join(record['roles']) or '(not set: TRACEHOP_PROVIDER_ROLES)'}",
              f"- STIR/SHAKEN: {record['stir_shaken']}",
              f"- Prepared on {record['prepared_on']}; next recertification {record['next_recertification']}",
              "", "## Robocall mitigation plan", ""]  # fmt: skip
    for part in record["mitigation_plan"]:
        lines += [f"**{part['heading']}.** {part['text']}", ""]
    return "\n".join(lines)


def export(settings: Settings, store: Store, *, now: datetime) -> tuple[dict[str, Any], Path]:
    """The record, and the copy kept in the home (JSON, owner-only, written atomically)."""
    record = rmd_record(settings, store, today=now.date())
    folder = Path(settings.home) / "rmd"
    folder.mkdir(mode=0o700, exist_ok=True)
    out = folder / f"rmd-{now:%Y%m%dT%H%M%S}.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out)
    return record, out
