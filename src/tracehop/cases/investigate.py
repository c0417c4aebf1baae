"""A case's investigation with the provider's own data, row by row of Attachment A.

For each row:
- **Whose customer?** The letter names the customer as the Consortium wrote it ("Acme Telecom
  LLC"); the provider's record may say "ACME TELECOM". Names are matched with rapidfuzz
  (token-set ratio over names without corporate suffixes); a match at or above
  ``MATCH_AT`` is proposed, shown with its score, and a person confirms or corrects it
  (``set_match``). Below it, the row is left unmatched, with the best candidates.
- **The call.** With the caller ID and called number given, the traceback responder looks the
  call up on that date (date-only request: every candidate call that day). When the letter
  redacted them (as the 2021 letters do), the row shows the named customer's traffic that
  day instead (``cases/queries.py``).
- **"No Response" rows** are calls whose traceback stopped at a provider upstream of the one
  notified that did not answer; the provider's own records say who sent the call when the
  numbers are given (the lookup), else the day's traffic.
- **Detection** runs once over the days of the rows; each matched customer's finding (score,
  categories, the rules that fired) is attached, and other customers flagged with the same
  categories are listed: "other traffic of the same shape".
Everything found is stored on the row and summarised in one line a person reads.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from tracehop.cases import queries
from tracehop.cases.records import record_event, set_status
from tracehop.customers import CustomerRecord, list_customers
from tracehop.engine import Engine
from tracehop.errors import InputError, NotFoundError
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import CaseNoticeRow, CaseRow

MATCH_AT = 85.0  # rapidfuzz token-set ratio, 0-100: at or above, a match is proposed
_SUFFIX = re.compile(
    r"\b(?:llc|l\.l\.c|ltd|limited|inc|incorporated|corp|corporation|co|company|gmbh|s\.?a|"
    r"pvt|private|llp|lp|plc)\b\.?",
    re.I,
)


def _name(text: str) -> str:
    return re.sub(r"\s+", " ", _SUFFIX.sub(" ", text.lower().replace("/", " "))).strip(" .,")


def match_customer(
    name: str, customers: list[CustomerRecord]
) -> tuple[CustomerRecord | None, float, list[dict[str, Any]]]:
    """The provider's customer the letter's ``name`` means: (best at or above MATCH_AT or
    None, its score, the three best candidates with their scores)."""
    from rapidfuzz import fuzz, process, utils

    if not customers:
        return None, 0.0, []
    choices = {c.id: _name(f"{c.name} {c.id}" if c.name else c.id) for c in customers}
    ranked = process.extract(
        _name(name), choices, scorer=fuzz.token_set_ratio, processor=utils.default_process, limit=3
    )
    by_id = {c.id: c for c in customers}
    candidates = [{"customer": cid, "name": by_id[cid].name, "score": round(score, 1)}
                  for _choice, score, cid in ranked]  # fmt: skip
    best_id, best = (ranked[0][2], float(ranked[0][1])) if ranked else (None, 0.0)
    if best_id is None or best < MATCH_AT:
        return None, best, candidates
    return by_id[best_id], best, candidates


def set_match(
    store: Store, case_id: str, number: int, customer: str | None, *, actor: str, now: datetime
) -> None:
    """A person confirms or corrects which customer a row means (None: none of ours)."""
    with store.session() as s:
        row = s.get(CaseNoticeRow, (case_id, number))
        if row is None:
            raise NotFoundError(f"case {case_id!r} has no row {number}")
        if customer is not None and customer not in {c.id for c in list_customers(store)}:
            raise InputError(f"no customer {customer!r}: `tracehop customers list` shows them")
        before = row.matched_customer
        row.matched_customer, row.match_confirmed = customer, True
        row.match_score = 100.0 if customer is not None else None
    record_event(store, case_id, "match", {"row": number, "from": before, "to": customer},
                 actor=actor, now=now)  # fmt: skip


def investigate(
    settings: Settings, store: Store, case_id: str, *, actor: str, now: datetime
) -> dict[str, Any]:
    """Investigate every row of the case; returns a summary (and stores each row's result)."""
    from tracehop.analyst import open_analytics
    from tracehop.detection.run import run_detection

    customers = list_customers(store)
    with store.session() as s:
        if s.get(CaseRow, case_id) is None:
            raise NotFoundError(f"no case {case_id!r}: `tracehop case list` shows them")
        rows = list(
            s.scalars(
                select(CaseNoticeRow)
                .where(CaseNoticeRow.case_id == case_id)
                .order_by(CaseNoticeRow.number)
            )
        )
    if not rows:
        raise InputError(f"case {case_id!r} has no Attachment A row to investigate")
    days = sorted({r.call_date for r in rows})
    since = datetime.combine(days[0], time(0), tzinfo=UTC) - timedelta(days=1)
    until = datetime.combine(days[-1], time(0), tzinfo=UTC) + timedelta(days=2)
    detection = run_detection(settings, store, since=since, until=until, save=False, history_at=now)
    last = until - timedelta(days=1)
    window = f"{since:%Y-%m-%d} to {last:%Y-%m-%d}"
    by_customer = {f.subject: f for f in detection.findings if f.kind == "customer"}
    engine = open_analytics(settings, store)  # the setting engine: duckdb or spark
    results: dict[int, dict[str, Any]] = {}
    try:
        for r in rows:
            results[r.number] = _one_row(settings, store, engine, case_id, r, customers,
                                         by_customer, window)  # fmt: skip
    finally:
        engine.close()
    same_shape = _same_shape(by_customer, results)
    with store.session() as s:
        for r in rows:
            row = s.get(CaseNoticeRow, (case_id, r.number))
            assert row is not None
            res = results[r.number]
            res["same_shape_elsewhere"] = same_shape.get(
                row.matched_customer or res.get("match"), []
            )
            if not row.match_confirmed:
                row.matched_customer, row.match_score = res.get("match"), res.get("match_score")
            row.investigation = res
    # where the lake's figures were computed (the days' traffic and detection)
    summary = {**_summary(rows, results), "engine": engine.name}
    record_event(store, case_id, "investigated", summary, actor=actor, now=now)
    set_status(store, case_id, "investigating", actor=actor, now=now)
    return summary


def _one_row(
    settings: Settings,
    store: Store,
    engine: Engine,
    case_id: str,
    r: CaseNoticeRow,
    customers: list[CustomerRecord],
    by_customer: dict[str, Any],
    window: str = "",
) -> dict[str, Any]:
    out: dict[str, Any] = {"date": r.call_date.isoformat()}
    confirmed = r.matched_customer if r.match_confirmed else None
    if r.no_response:
        out["match"], out["match_score"], out["candidates"] = None, None, []
    elif confirmed is not None:
        out["match"], out["match_score"], out["candidates"] = confirmed, 100.0, []
    else:
        rec, score, candidates = match_customer(r.customer, customers)
        out["match"], out["match_score"], out["candidates"] = (
            rec.id if rec else None, round(score, 1), candidates)  # fmt: skip
    customer = out["match"]
    if r.caller_id and r.called_number:
        out["lookup"] = _lookup(settings, store, case_id, r)
        found = out["lookup"]["matches"]
        out["calls_found"] = len(found)
        ups = sorted({m.get("upstream") for m in found if m.get("upstream")})
        out["customer_confirmed"] = bool(customer and customer in ups)
        out["upstreams_in_our_records"] = ups
    else:
        out["numbers_redacted"] = True
        out["calls_found"] = None
        out["day_traffic"] = (
            queries.customer_day(engine, customer, r.call_date) if customer else None
        )
        out["customer_confirmed"] = bool(out["day_traffic"] and out["day_traffic"]["calls"])
    f = by_customer.get(customer) if customer else None
    if f is not None:
        # over the days around the letter's calls, not the whole lake: said with the score
        out["detection"] = {"score": round(f.score, 3), "flagged": f.flagged,
                            "categories": f.categories,
                            "rules": [x.get("rule") for x in f.evidence.get("rules", [])],
                            "window": window, "note": f.evidence.get("note")}  # fmt: skip
    out["summary"] = _row_summary(r, out)
    return out


def _lookup(settings: Settings, store: Store, case_id: str, r: CaseNoticeRow) -> dict[str, Any]:
    from tracehop.tracebacks.requests import make_request
    from tracehop.tracebacks.responder import Responder

    req = make_request(f"{case_id}-row{r.number}", r.caller_id or "", r.called_number or "",
                       r.call_date.isoformat())  # fmt: skip
    responder = Responder(settings, store)
    try:
        ans = responder.answer(req)
    finally:
        responder.close()
    return {"answer": ans.answer, "upstream": ans.upstream, "confidence": ans.confidence,
            "matches": ans.matches[:5]}  # fmt: skip


def _row_summary(r: CaseNoticeRow, out: dict[str, Any]) -> str:
    parts = []
    if r.no_response:
        parts.append("No Response upstream")
    elif out["match"]:
        parts.append(f"{out['match']} ({out['match_score']:.0f})")
    else:
        parts.append("no matching customer")
    if out.get("lookup"):
        lk = out["lookup"]
        parts.append(f"{out['calls_found']} call(s) found, {lk['answer']} {lk['upstream'] or ''}")
    elif out.get("day_traffic"):
        d = out["day_traffic"]
        parts.append(
            f"{d['calls']:,} calls that day, ASR {d['asr']:.0%}, {d['short_share']:.0%} short"
        )
    elif out.get("numbers_redacted"):
        parts.append("numbers redacted")
    det = out.get("detection")
    if det:
        flag = "flagged" if det["flagged"] else "not flagged"
        when = f" ({det['window']})" if det.get("window") else ""
        if det.get("note"):  # too few calls in those days to be scored
            parts.append(f"detection{when}: {det['note']}")
        else:
            parts.append(
                f"detection{when} {det['score']:.2f} {flag} {', '.join(det['categories'])}".strip()
            )
    return "; ".join(parts)


def _same_shape(
    by_customer: dict[str, Any], results: dict[int, dict[str, Any]]
) -> dict[str, list[str]]:
    """For each named customer: other flagged customers sharing a category with it."""
    named = {res["match"] for res in results.values() if res.get("match")}
    by_cat: dict[str, set[str]] = defaultdict(set)
    for subject, f in by_customer.items():
        if f.flagged:
            for cat in f.categories:
                by_cat[cat].add(subject)
    out: dict[str, list[str]] = {}
    for c in named:
        f = by_customer.get(c)
        if f is not None and f.flagged:
            others = set().union(*(by_cat[cat] for cat in f.categories)) - named
            out[c] = sorted(others)
    return out


def _summary(rows: list[CaseNoticeRow], results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    matched = [res["match"] for res in results.values() if res.get("match")]
    return {
        "rows": len(rows),
        "no_response": sum(r.no_response for r in rows),
        "matched": len(matched),
        "customers": sorted(set(matched)),
        "confirmed_in_records": sum(
            bool(res.get("customer_confirmed")) for res in results.values()
        ),
        "flagged_by_detection": sorted(
            {res["match"] for res in results.values() if res.get("detection", {}).get("flagged")}
        ),
        "unmatched_names": sorted(
            {r.customer for r in rows if not r.no_response and not results[r.number].get("match")}
        ),
        "days": [
            min(r.call_date for r in rows).isoformat(),
            max(r.call_date for r in rows).isoformat(),
        ],
    }


def as_date(value: str) -> date:
    return date.fromisoformat(value)
