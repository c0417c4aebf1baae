"""The JSON API of screening rules and the actions that make them (``/api/v1/...``): the rules
with the calls each blocked, adding and removing a rule, the latest blocked calls, mitigation
from a case, a customer's review. The twins of the dashboard's rules page and forms
(``tracehop.web.rules_pages``), over the same library calls. Reading needs ``read``, the rest
``act``; every write is audited by the app (``tracehop.api.app``).

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tracehop.analyst import jsonable
from tracehop.api.deps import need
from tracehop.auth.roles import Principal
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.times import SYSTEM, Clock, parse_when, utc

Read = Annotated[Principal, Depends(need("read"))]
Act = Annotated[Principal, Depends(need("act"))]


class RuleCreate(BaseModel):
    """A rule as ``tracehop block add`` takes it (docs/screening.md); the author is who asks."""

    kind: str = Field(
        max_length=20,
        description="caller_id, caller_prefix, customer, provider, called, class, rate or "
        "short_share (caller-id and the like are accepted too)",
    )
    value: str = Field(default="*", max_length=200)
    reason: str = Field(max_length=2000, description="Why: the finding, notice or complaint.")
    action: str = Field(default="block", max_length=10, description="block or allow (alert)")
    sip_code: int | None = Field(default=None, description="603 (default), 607 or 608")
    mode: str = Field(default="enforce", max_length=10, description="enforce or monitor")
    finding: str | None = Field(default=None, max_length=100)
    expires: str | None = Field(
        default=None, max_length=40, description="A span from now (24h, 7d) or ISO 8601."
    )
    rate: str | None = Field(default=None, max_length=40, description="rate rules: N/s, N/min")
    subject: str | None = Field(default=None, max_length=20)
    share: float | None = None
    min_answered: int = 100
    window: float = 900.0


class Mitigate(BaseModel):
    """One mitigation action of a case (``tracehop case mitigate``, docs/cases.md)."""

    action: str = Field(
        max_length=30,
        description="block-customer, terminate, block-caller-ids, require-documents or "
        "block-provider",
    )
    customer: str | None = Field(default=None, max_length=200)
    caller_ids: list[str] = Field(default_factory=list, max_length=1000)
    provider: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    sip_code: int | None = None
    expires_at: datetime | None = None


class ReviewIn(BaseModel):
    """Set (``note``) or end (``end``: true) a customer's review."""

    note: str = Field(default="", max_length=2000, description="Why it is under review.")
    end: bool = False


def rules_router(settings: Settings, store: Store, *, clock: Clock = SYSTEM) -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    _rule_routes(api, settings, store, clock)
    _action_routes(api, settings, store, clock)
    return api


def _rule_routes(api: APIRouter, settings: Settings, store: Store, clock: Clock) -> None:
    from tracehop.screening.report import decisions, rule_json, rules_with_hits
    from tracehop.screening.service import add_checked_rule
    from tracehop.screening.state import remove_rule

    @api.get("/rules", tags=["rules"])
    def rules(_who: Read, include_removed: bool = False) -> list[dict[str, Any]]:
        """The rules (in force and future; ``include_removed``: all), each with ``hits``, the
        calls it blocked, and ``last_hit`` (from the decision log)."""
        return rules_with_hits(store, settings.home, include_removed=include_removed)

    @api.post("/rules", tags=["rules"], status_code=201)
    def add(body: RuleCreate, who: Act) -> dict[str, Any]:
        """Add a rule: refused (400) when it would block an emergency number; refused (409)
        when a provider block has no notice to the Commission (47 CFR 64.1200(k)(4)) or a
        rule in force already applies."""
        extra = body.model_dump(exclude={"kind", "value", "reason", "expires"})
        rule = add_checked_rule(
            settings, store, body.kind, body.value, reason=body.reason, author=who.name,
            clock=clock, expires_at=parse_when(body.expires, "expires", clock.now()), **extra,
        )  # fmt: skip
        return rule_json(rule, {})

    @api.delete("/rules/{rule_id}", tags=["rules"])
    def remove(rule_id: int, who: Act) -> dict[str, Any]:
        """Remove a rule (kept, with who removed it and when)."""
        return rule_json(remove_rule(store, rule_id, by=who.name, clock=clock), {})

    @api.get("/decisions", tags=["rules"])
    def blocked(
        _who: Read, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[dict[str, Any]]:
        """The latest blocked calls, newest first (``HOME/screening/decisions.log``)."""
        return decisions(settings.home, limit)


def _action_routes(api: APIRouter, settings: Settings, store: Store, clock: Clock) -> None:
    from tracehop.cases.mitigate import mitigate
    from tracehop.customers import clear_review, set_review

    @api.post("/cases/{case_id}/mitigate", tags=["cases"])
    def mitigate_case(case_id: str, body: Mitigate, who: Act) -> dict[str, Any]:
        """Apply one mitigation action: its rules stored and linked to the case; the 48-hour
        deadline met and the status ``mitigated`` when they stop the traffic."""
        done = mitigate(
            settings, store, case_id, body.action, actor=who.name, customer=body.customer,
            caller_ids=body.caller_ids, provider=body.provider, reason=body.reason,
            sip_code=body.sip_code, expires_at=utc(body.expires_at), clock=clock,
        )  # fmt: skip
        return jsonable(done.to_json())

    @api.post("/customers/{customer_id}/review", tags=["customers"])
    def review(customer_id: str, body: ReviewIn, who: Act) -> dict[str, Any]:
        """Put a customer on record under review, with why (``end``: take it off review)."""
        if body.end:
            clear_review(store, customer_id)
            return {"customer": customer_id, "review": None}
        done = set_review(store, customer_id, body.note, by=who.name, clock=clock)
        return {"customer": customer_id, "review": done.as_dict()}
