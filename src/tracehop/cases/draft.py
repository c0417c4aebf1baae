"""The hub's side: a notice drafted from the hub's own traces, for the Commission to send.

Attachment A lists every traced call in which the provider was the gateway (the first US
provider after a foreign one), the originating provider, or the provider that did not
respond: with the customer it named (for a gateway, the foreign upstream it named; for an
origin, its own customer) or "No Response", the date, caller ID, called number and the
campaign's description from the complaint. The letter follows the 2021 "Official
Correspondence" template (47 CFR 64.1200(k)(4)), so the provider's tracehop reads it back
like a letter from the Commission (``tracehop notice import``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tracehop.errors import InputError
from tracehop.store import Store
from tracehop.times import utc
from tracehop.tracebacks.directory import load_directory
from tracehop.tracebacks.traces import Trace, list_traces, mainline


@dataclass
class DraftRow:
    customer: str
    when: date
    caller_id: str
    called_number: str
    description: str
    role: str  # gateway | origin | no_response
    trace_id: str

    @property
    def date_text(self) -> str:
        return f"{self.when:%B} {self.when.day}, {self.when.year}"


def _role_and_customer(t: Trace, provider: str) -> tuple[str, str] | None:
    if t.outcome == "no_response" and t.outcome_provider == provider:
        return "no_response", "No Response"
    if t.outcome == "origin" and t.outcome_provider == provider:
        return "origin", t.outcome_customer or "No Response"
    if t.gateway == provider:
        hop = next((h for h in mainline(t.hops) if h.provider == provider), None)
        return "gateway", (hop.upstream if hop and hop.upstream else "No Response")
    return None


def draft_rows(
    store: Store, provider: str, *, since: datetime | None = None, until: datetime | None = None
) -> list[DraftRow]:
    """The provider's rows from the hub's traces, newest call first (as letters list them)."""
    out = []
    for t in list_traces(store):
        when = t.at if isinstance(t.at, date) and not isinstance(t.at, datetime) else None
        at = (
            utc(t.at)
            if isinstance(t.at, datetime)
            else datetime.combine(t.at, datetime.min.time(), tzinfo=UTC)
        )
        if (since and at < utc(since)) or (until and at >= utc(until)):
            continue
        found = _role_and_customer(t, provider)
        if found is None:
            continue
        role, customer = found
        out.append(
            DraftRow(
                customer=customer,
                when=when or at.date(),
                caller_id=t.caller,
                called_number=t.called,
                description=t.description or "Suspected illegal robocall",
                role=role,
                trace_id=t.trace_id,
            )
        )
    return sorted(out, key=lambda r: (r.when, r.trace_id), reverse=True)


def draft_notice(
    store: Store,
    provider: str,
    *,
    letter_date: date,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, list[DraftRow]]:
    """The text of a notice to ``provider`` (the 2021 template) and its rows."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    directory = load_directory(store)
    p = directory.get(provider)
    if p is None:
        raise InputError(
            f"{provider!r} is not in the hub's directory: `tracehop hub directory list`"
        )
    rows = draft_rows(store, provider, since=since, until=until)
    if not rows:
        raise InputError(f"no traced call names {provider} as gateway, origin or non-responsive")
    roles = sorted({r.role for r in rows})
    words = {"gateway": "gateway provider", "origin": "originating provider",
             "no_response": "provider that did not respond"}  # fmt: skip
    fourteen = letter_date + timedelta(days=14)  # 64.1200(k)(4): fourteen days to report
    env = Environment(loader=PackageLoader("tracehop.cases", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)  # text, not HTML  # fmt: skip
    text = env.get_template("notice.txt.j2").render(
        letter_date_text=f"{letter_date:%B} {letter_date.day}, {letter_date.year}",
        contact=p.contact or "Compliance Officer",
        provider_name=p.name or provider,
        address=[f"{p.country}" if p.country else ""],
        role_verb="originating" if roles == ["origin"] else "transmitting",
        fourteen_days_text=f"{fourteen:%B} {fourteen.day}, {fourteen.year}",
        first_text=f"{rows[-1].when:%B} {rows[-1].when.day}, {rows[-1].when.year}",
        last_text=f"{rows[0].when:%B} {rows[0].when.day}, {rows[0].when.year}",
        traces=len(rows),
        roles_text=" and ".join(words[r] for r in roles),
        rows=rows,
    )
    return text, rows


def provider_summary(rows: list[DraftRow]) -> dict[str, Any]:
    return {"rows": len(rows), "no_response": sum(r.customer == "No Response" for r in rows),
            "customers": sorted({r.customer for r in rows if r.customer != "No Response"})}  # fmt: skip
