"""A case's reports, rendered from templates (Jinja2, HTML autoescaped) to HTML and PDF
(WeasyPrint): the 48-hour mitigation notice, the 14-day report, and a downstream provider's
notice to the Commission of intent to block a notified provider (47 CFR 64.1200(k)(4)).

Every figure comes from the provider's records: the case (its rows and investigation, its
timeline), the screening rules it links, the lake (calls a day of the named customers, for
the before/after chart: an SVG drawn here, no JavaScript, no network) and the state DB
(tracebacks answered, detection runs). A report is written to a temporary name and renamed
into place, and recorded on the case (a ``report`` link and a timeline event).
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tracehop.cases import queries
from tracehop.cases.records import (
    ACTION_TEXT,
    Case,
    event_text,
    get_case,
    link,
    record_event,
)
from tracehop.cases.rmd import next_recertification, record_counts
from tracehop.charts import line_chart
from tracehop.customers import list_customers
from tracehop.errors import InputError
from tracehop.settings import Settings
from tracehop.store import Store

KINDS = {
    "mitigation": "mitigation.html.j2",
    "report-14d": "report_14d.html.j2",
    "intent-to-block": "intent_to_block.html.j2",
}
TITLES = {
    "mitigation": "48-hour mitigation notice",
    "report-14d": "14-day report",
    "intent-to-block": "Notice of intent to block",
}


def _long_date(d: date | str | None) -> str:
    if d is None:
        return "(undated)"
    d = date.fromisoformat(d[:10]) if isinstance(d, str) else d
    return f"{d:%B} {d.day}, {d.year}"


def _deadline(case: Case, prefix: str) -> str:
    for d in case.deadlines:
        if d["name"].startswith(prefix):
            return f"{_long_date(d['due'])} ({d['due'][11:16]} {d['zone']})"
    return "(not stated)"


def _customers(case: Case, store: Store) -> list[dict[str, Any]]:
    names = {c.id: c.name for c in list_customers(store)}
    actions = _actions(case)
    by: dict[str, dict[str, Any]] = {}
    for r in case.rows:
        cid = r["matched_customer"]
        if not cid:
            continue
        c = by.setdefault(cid, {"id": cid, "name": names.get(cid, ""), "named": [], "rows": 0,
                                "detection": "not scored", "action": "", "since": ""})  # fmt: skip
        c["rows"] += 1
        if r["customer"] not in c["named"]:
            c["named"].append(r["customer"])
        det = (r["investigation"] or {}).get("detection")
        if det:
            flag = "flagged" if det["flagged"] else "not flagged"
            cats = ", ".join(det["categories"])
            when = f" ({det['window']})" if det.get("window") else ""
            c["detection"] = (
                f"not scored{when}: {det['note']}"
                if det.get("note")
                else f"{det['score']:.2f} {flag}{when}" + (f": {cats}" if cats else "")
            )
    for a in actions:
        c = by.get(a["customer"])
        if c is not None and not c["action"]:
            c["action"], c["since"] = a["action"], a["since"]
    for c in by.values():
        c["action"] = c["action"] or "none recorded"
    return sorted(by.values(), key=lambda c: (-c["rows"], c["id"]))


def _actions(case: Case) -> list[dict[str, Any]]:
    """Mitigation actions recorded on the case (``mitigate.py``), oldest first."""
    out = []
    for e in case.events:
        if e["kind"] == "mitigation":
            d = e["detail"]
            action = ACTION_TEXT.get(d.get("action", ""), d.get("action", ""))
            out.append({"customer": d.get("customer", ""), "action": action,
                        "rule": d.get("rule_id", ""), "since": e["at"][:16].replace("T", " "),
                        "reason": d.get("reason", "")})  # fmt: skip
    return out


def _measures(store: Store, case: Case, today: date) -> list[str]:
    """What the provider does, stated from its own records (never a promise of more)."""
    rec = record_counts(store)
    answered, late, runs, last_run = rec.answered, rec.late, rec.runs, rec.last_run
    customers = list_customers(store)
    carriers = [c for c in customers if c.kind == "carrier"]
    with_rmd = [c for c in carriers if c.rmd_id]
    out = [
        f"Know your customer (47 CFR § 64.1200(n)(4)): {len(customers)} customers on record with their "
        f"kind, country and onboarding date; {len(with_rmd)} of {len(carriers)} carrier customers have a "
        "Robocall Mitigation Database number on file (47 CFR § 64.6305(g)).",
        f"Traceback: every request is answered from our call records and recorded with its 24-hour due "
        f"time (47 CFR § 64.1200(n)(1)): {answered} answered so far, {late} after the due time.",
        f"Analytics: every customer's traffic is scored daily against published indicators (short "
        f"calls, completion, invalid and spoofed caller IDs, sequential dialling, complaints, "
        f"traceback history); {runs} detection runs recorded"
        + (f", the last on {_long_date(last_run.date())}" if last_run else "")
        + ".",
        f"This report is kept with case {case.case_id}; the Robocall Mitigation Database filing is "
        f"recertified every March 1 (next: {_long_date(next_recertification(today))}).",
    ]
    if _actions(case):
        out.insert(
            3,
            "Blocking: the actions of this case are screening rules on the call path, answered "
            "with SIP 603/607/608; emergency calls are never blocked.",
        )
    return out


def traffic_chart(series: list[dict[str, Any]], *, mark: date | None = None) -> str:
    """An SVG line chart of calls a day per customer (rows of ``queries.daily_calls``)."""
    lines: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for r in series:
        lines[r["customer"]].append((date.fromisoformat(r["day"]), float(r["calls"])))
    return line_chart(lines, label="calls a day per named customer", mark=mark)


def report_context(
    settings: Settings, store: Store, case_id: str, kind: str, *, now: datetime
) -> dict[str, Any]:
    """Everything a report template shows, from the provider's records."""
    from tracehop.analyst import open_analytics

    case = get_case(store, case_id)
    customers = _customers(case, store)
    mitigated = next((e["at"] for e in case.events if e["kind"] == "mitigation"), None)
    chart = ""
    traffic: list[dict[str, Any]] = []
    engine = open_analytics(settings, store)  # the setting engine: duckdb or spark
    try:
        lo, hi = queries.lake_span(engine)
        if lo is not None and hi is not None:
            ids = [c["id"] for c in customers][:6]
            series = queries.daily_calls(engine, ids, lo, hi)
            mark = date.fromisoformat(mitigated[:10]) if mitigated else None
            chart = traffic_chart(series, mark=mark)
            upstream = case.recipient_detail.get("upstream")
            if kind == "intent-to-block" and upstream:
                traffic = queries.daily_calls(
                    engine, [upstream], max(lo, hi - timedelta(days=30)), hi
                )
    finally:
        engine.close()
    events = [{**e, "text": event_text(e["kind"], e["detail"])} for e in case.events]
    provider = {
        # a letter to the Commission never says "self": an unset name shows what to set
        "name": settings.provider_name
        or (settings.provider if settings.provider != "self" else "[TRACEHOP_PROVIDER_NAME]"),
        "contact": settings.provider_contact or "",
        "email": settings.provider_email or "",
        "address": "",
    }
    return {
        "title": f"{TITLES[kind]}: {case.case_id}",
        "case": {**case.to_json(), "events": events},
        "provider": provider,
        "today_text": _long_date(now.date()),
        "letter_date_text": _long_date(case.letter_date),
        "no_response": sum(r["no_response"] for r in case.rows),
        "due_48h": _deadline(case, "mitigation_48"),
        "due_14d": _deadline(case, "report_14"),
        "customers": customers,
        "actions": _actions(case),
        "measures": _measures(store, case, now.date()),
        "chart": chart,
        "mitigated_at": mitigated[:16].replace("T", " ") if mitigated else None,
        "upstream": case.recipient_detail.get("upstream"),
        "basis": case.recipient_detail.get("basis")
        or f"The Commission's notice of {_long_date(case.letter_date)} to {case.recipient}, and "
        f"the traffic from it in our records below.",
        "traffic": traffic,
        "engine": engine.name,  # where the lake's figures were computed
    }


def render_html(context: dict[str, Any], kind: str) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("tracehop.cases", "templates"),
        autoescape=select_autoescape(["html", "j2"]),  # data never becomes markup
        undefined=StrictUndefined,
    )
    return env.get_template(KINDS[kind]).render(**context)


def write_report(
    settings: Settings,
    store: Store,
    case_id: str,
    kind: str,
    out: Path,
    *,
    actor: str,
    now: datetime,
) -> Path:
    """Render a report to ``out`` (``.pdf`` or ``.html``), atomically, and record it."""
    if kind not in KINDS:
        raise InputError(f"report kind must be one of {', '.join(KINDS)}, not {kind!r}")
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".html", ".htm"):
        raise InputError(f"{out}: give a .pdf or .html file name")
    context = report_context(settings, store, case_id, kind, now=now)
    text = render_html(context, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if suffix == ".pdf":
        import weasyprint

        weasyprint.HTML(string=text).write_pdf(tmp)
    else:
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    link(store, case_id, "report", f"{kind}:{out.name}", note=str(out), now=now)
    record_event(store, case_id, "report",
                 {"kind": kind, "file": out.name, "engine": context["engine"]},
                 actor=actor, now=now)  # fmt: skip
    return out
