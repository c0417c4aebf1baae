"""The dashboard's screening rules and the actions that make them: the rules page (rules in
force with the calls each blocked, the latest blocked calls, a form to add a rule, a button to
remove one), "Block this customer" and "Set review" on a customer's page, and mitigation from
a case's page. The same library calls as ``tracehop block add|remove``, ``tracehop case
mitigate`` and the JSON API (``tracehop.api.rules``).

A form the library refuses (an emergency number, a provider block without its notice to the
Commission, a rule that clashes with one in force) shows the page again with the reason, and
the HTTP status of the refusal; nothing is stored.

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

import re
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tracehop.api.deps import need
from tracehop.auth.roles import Principal
from tracehop.errors import ConflictError, InputError, NotFoundError
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.times import Clock


class Pages(Protocol):
    """What these routes need of ``tracehop.web.pages.Pages`` (a protocol, so that this
    module does not import the one that registers it)."""

    settings: Settings
    store: Store
    clock: Clock

    def render(
        self, request: Request, name: str, title: str, active: str, **ctx: Any
    ) -> HTMLResponse: ...

    def case(self, request: Request, case_id: str, **ctx: Any) -> HTMLResponse: ...

    def customer(self, request: Request, customer_id: str, **ctx: Any) -> HTMLResponse: ...


Read = Annotated[Principal, Depends(need("read"))]
Act = Annotated[Principal, Depends(need("act"))]
Field = Annotated[str, Form(max_length=2000)]
# what a person can fix: the page says why; anything else is the app's error
REFUSALS = (InputError, NotFoundError, ConflictError)
KIND_LABELS = {"caller_id": "caller ID", "caller_prefix": "caller-ID prefix",
               "customer": "customer", "provider": "provider", "called": "called number",
               "class": "caller-ID class"}  # fmt: skip


def form_only(request: Request) -> None:
    """The page's forms, as a browser sends them: anything else (a script sending JSON) is
    told to use the JSON API, in the one error shape, not shown a page."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise InputError("send the form as a browser does, or use the JSON API (/api/v1/...)")


def sip_code_of(text: str) -> int | None:
    """The form's SIP code ('' for the default, 603)."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InputError(f"SIP code {text!r}: choose 603, 607 or 608")
    return int(text)


def rules_page(pages: Pages, request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
    from tracehop.screening.report import FORM_KINDS, decisions, rules_with_hits
    from tracehop.screening.rules import CLASS_NAMES, SIP_CODES

    rules = rules_with_hits(pages.store, pages.settings.home)
    return pages.render(
        request, "rules.html.j2", "Screening rules", "/rules", status=status, rules=rules,
        decisions=decisions(pages.settings.home, 100), kinds=[(k, KIND_LABELS[k]) for k in
        FORM_KINDS], sip_codes=SIP_CODES, classes=CLASS_NAMES, form=ctx.pop("form", {}), **ctx,
    )  # fmt: skip


def rules_routes(r: APIRouter, pages: Pages) -> None:
    """``/rules`` and the forms that add and remove rules (the ``act`` permission)."""
    from tracehop.screening.service import add_checked_rule
    from tracehop.screening.state import remove_rule
    from tracehop.times import parse_when

    settings, store, clock = pages.settings, pages.store, pages.clock

    @r.get("/rules", response_class=HTMLResponse)
    def rules(request: Request, _who: Read, added: int | None = None) -> HTMLResponse:
        return rules_page(pages, request, added=added)

    @r.post("/rules", response_class=HTMLResponse)
    def add(
        request: Request,
        who: Act,
        kind: Field = "",
        value: Field = "",
        action: Field = "block",
        sip_code: Field = "",
        reason: Field = "",
        expires: Field = "",
    ) -> Response:
        form_only(request)
        form = {"kind": kind, "value": value, "action": action, "sip_code": sip_code,
                "reason": reason, "expires": expires}  # fmt: skip
        try:
            rule = add_checked_rule(
                settings, store, kind, value, reason=reason, author=who.name, clock=clock,
                action=action.strip(), sip_code=sip_code_of(sip_code),
                expires_at=parse_when(expires, "expires", clock.now()),
            )  # fmt: skip
        except REFUSALS as exc:
            return rules_page(pages, request, status=exc.status, refused=exc.message, form=form)
        return RedirectResponse(f"/rules?added={rule.id}", 303)

    @r.post("/rules/{rule_id}/remove", response_class=HTMLResponse)
    def remove(request: Request, rule_id: int, who: Act) -> Response:
        form_only(request)
        try:
            remove_rule(store, rule_id, by=who.name, clock=clock)
        except REFUSALS as exc:
            return rules_page(pages, request, status=exc.status, refused=exc.message)
        return RedirectResponse("/rules", 303)

    _customer_routes(r, pages)
    _case_routes(r, pages)


def _customer_routes(r: APIRouter, pages: Pages) -> None:
    from tracehop.customers import clear_review, set_review
    from tracehop.screening.service import add_checked_rule

    settings, store, clock = pages.settings, pages.store, pages.clock

    @r.post("/customers/{customer_id}/block", response_class=HTMLResponse)
    def block(
        request: Request, customer_id: str, who: Act, reason: Field = "", sip_code: Field = ""
    ) -> Response:
        form_only(request)
        try:
            add_checked_rule(settings, store, "customer", customer_id, reason=reason,
                             author=who.name, clock=clock, sip_code=sip_code_of(sip_code))  # fmt: skip
        except REFUSALS as exc:
            return pages.customer(request, customer_id, status=exc.status, refused=exc.message)
        return RedirectResponse(f"/customers/{quote(customer_id)}", 303)

    @r.post("/customers/{customer_id}/review", response_class=HTMLResponse)
    def review(
        request: Request, customer_id: str, who: Act, note: Field = "", end: Field = ""
    ) -> Response:
        form_only(request)
        try:
            if end:
                clear_review(store, customer_id)
            else:
                set_review(store, customer_id, note, by=who.name, clock=clock)
        except REFUSALS as exc:
            return pages.customer(request, customer_id, status=exc.status, refused=exc.message)
        return RedirectResponse(f"/customers/{quote(customer_id)}", 303)


def _case_routes(r: APIRouter, pages: Pages) -> None:
    from tracehop.cases.mitigate import mitigate

    settings, store, clock = pages.settings, pages.store, pages.clock

    @r.post("/cases/{case_id}/mitigate", response_class=HTMLResponse)
    def mitigate_case(
        request: Request,
        case_id: str,
        who: Act,
        action: Field = "",
        customer: Field = "",
        caller_ids: Field = "",
        provider: Field = "",
        reason: Field = "",
    ) -> Response:
        form_only(request)
        try:
            mitigate(
                settings, store, case_id, action.strip(), actor=who.name,
                customer=customer.strip() or None, provider=provider.strip() or None,
                caller_ids=[c for c in re.split(r"[\s,;]+", caller_ids) if c],
                reason=reason.strip() or None, clock=clock,
            )  # fmt: skip
        except REFUSALS as exc:
            return pages.case(request, case_id, status=exc.status, refused=exc.message)
        return RedirectResponse(f"/cases/{quote(case_id)}", 303)
