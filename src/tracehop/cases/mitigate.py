"""Mitigation from a case: each action becomes screening rules linked to the case, recorded in
its timeline (who, when, which rules), and the 48-hour deadline is met when rules that stop
the traffic are in place.

The letter asks the notified provider to "investigate and, if necessary, effectively mitigate"
the traffic within 48 hours (47 CFR 64.1200(k)(4); 64.1200(n)(2)-(3): take steps to prevent
the customer from continuing to originate or transmit it). The actions:

- ``block-customer``: every call from the customer, answered 603/607/608 (a suspension:
  ``expires`` may end it);
- ``terminate``: the same block, without end, and the customer's record says so;
- ``block-caller-ids``: the caller IDs of the letter's rows (or those given), whoever sends
  them;
- ``require-documents``: know-your-customer (64.1200(n)(4)): the customer's calls are matched
  by a rule in ``monitor`` mode (counted, not blocked) until its documents are checked; this
  does not stop the traffic, so it does not meet the 48-hour deadline alone;
- ``block-provider``: a downstream provider blocks a notified provider; the screening rules
  refuse it until the notice to the Commission is recorded (``notify_intent``, 64.1200(k)(4)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tracehop.cases.records import (
    ACTIONS,
    Case,
    get_case,
    link,
    meet_deadline,
    record_event,
    set_status,
)
from tracehop.errors import ConflictError, InputError, NotFoundError
from tracehop.screening.rules import Emergency, Rule, make_rule
from tracehop.screening.state import (
    add_rules,
    list_notices,
    record_notice,
    rule_in_force,
    rules_of_case,
)

__all__ = ["ACTIONS", "Mitigation", "mitigate", "notify_intent", "rules_of_case"]
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import CaseRow, Customer
from tracehop.times import SYSTEM, Clock

_BEFORE_MITIGATED = ("received", "investigating")
DOCUMENTS = (
    "identity and address of the business, its business purpose and the lawful basis of its "
    "calls, the numbers it uses with proof of the right to use them, its Robocall Mitigation "
    "Database filing if it is a provider"
)


@dataclass(frozen=True)
class Mitigation:
    """What one action did."""

    case_id: str
    action: str
    subject: str  # the customer, the provider, or the caller IDs' owner ("" when many)
    rules: list[Rule]
    deadlines_met: list[str] = field(default_factory=list)
    status: str = ""
    deadlines_late: list[str] = field(default_factory=list)  # of those met, met after they were due
    # customers the letter's rows are matched to whose traffic no rule stops yet: the
    # mitigation deadline stays open until they are blocked too
    still_open: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "action": self.action,
            "subject": self.subject,
            "rules": [_rule_json(r) for r in self.rules],
            "deadlines_met": self.deadlines_met,
            "deadlines_late": self.deadlines_late,
            "still_open": self.still_open,
            "status": self.status,
        }


def _rule_json(r: Rule) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "value": r.value, "action": r.action, "mode": r.mode,
            "sip_code": r.sip_code, "expires_at": r.expires_at.isoformat() if r.expires_at
            else None}  # fmt: skip


def _customer(store: Store, customer: str | None, action: str) -> str:
    if not customer:
        raise InputError(f"{action} needs the customer: --customer ID (our id, as in the CDRs)")
    with store.session() as s:
        if s.get(Customer, customer) is None:
            raise NotFoundError(
                f"no customer {customer!r} on record: see tracehop customers list "
                "(or the case's matches: tracehop case show CASE)"
            )
    return customer


def _letter_caller_ids(case: Case, customer: str | None) -> list[str]:
    """The caller IDs of the letter's rows (those of ``customer``'s rows when given)."""
    out: list[str] = []
    for r in case.rows:
        if customer and r["matched_customer"] != customer:
            continue
        if r["caller_id"] and r["caller_id"] not in out:
            out.append(r["caller_id"])
    return out


def _reason(case: Case, action: str, subject: str, reason: str | None) -> str:
    if reason and reason.strip():
        return reason.strip()
    dated = f" of {case.letter_date}" if case.letter_date else ""
    return f"the Commission's notice{dated}, Attachment A (case {case.case_id})"


def _rules_for(
    settings: Settings,
    store: Store,
    case: Case,
    action: str,
    *,
    customer: str | None,
    provider: str | None,
    caller_ids: list[str],
    reason: str | None,
    author: str,
    sip_code: int | None,
    expires_at: datetime | None,
    now: datetime,
) -> tuple[str, list[Rule]]:
    emergency = Emergency.from_setting(settings.screen_psaps)

    def rule(kind: str, value: str, subject: str, **kw: Any) -> Rule:
        return make_rule(kind, value, reason=_reason(case, action, subject, reason),
                         emergency=emergency, author=author, case_id=case.case_id,
                         sip_code=sip_code, now=now, **kw)  # fmt: skip

    if action in ("block-customer", "terminate"):
        cid = _customer(store, customer, action)
        expires = expires_at if action == "block-customer" else None
        return cid, [rule("customer", cid, cid, expires_at=expires)]
    if action == "require-documents":
        cid = _customer(store, customer, action)
        return cid, [rule("customer", cid, cid, mode="monitor", expires_at=expires_at)]
    if action == "block-caller-ids":
        if customer:
            _customer(store, customer, action)
        wanted = caller_ids or _letter_caller_ids(case, customer)
        if not wanted:
            raise InputError(
                "the letter gives no caller IDs for these rows (redacted): name them with "
                "--caller-id, or block the customer (block-customer)"
            )
        return customer or "", [
            rule("caller_id", c, customer or "the letter's caller IDs", expires_at=expires_at)
            for c in wanted
        ]
    if action == "block-provider":
        upstream = provider or case.recipient_detail.get("upstream")
        if not upstream:
            raise InputError(
                "block-provider needs the upstream id of the notified provider: --provider ID"
            )
        if not any(n.provider == upstream for n in list_notices(store)):
            raise ConflictError(
                f"refused: blocking every call from {upstream} needs the notice to the "
                "Commission first (47 CFR 64.1200(k)(4)): send it with tracehop case "
                f"notify-intent {case.case_id} --provider {upstream} --out notice.pdf"
            )
        return upstream, [rule("provider", upstream, upstream, expires_at=expires_at)]
    raise InputError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")


def mitigate(
    settings: Settings,
    store: Store,
    case_id: str,
    action: str,
    *,
    actor: str,
    customer: str | None = None,
    provider: str | None = None,
    caller_ids: list[str] | None = None,
    reason: str | None = None,
    sip_code: int | None = None,
    expires_at: datetime | None = None,
    clock: Clock = SYSTEM,
) -> Mitigation:
    """Apply one mitigation action of a case: its screening rules stored (all or none) and
    linked to the case, the action in the timeline, and, when the rules stop the traffic, the
    case's mitigation deadlines met and its status moved to ``mitigated``."""
    if action not in ACTIONS:
        raise InputError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    case = get_case(store, case_id)
    now = clock.now()
    subject, rules = _rules_for(
        settings, store, case, action, customer=customer, provider=provider,
        caller_ids=list(caller_ids or []), reason=reason, author=actor, sip_code=sip_code,
        expires_at=expires_at, now=now,
    )  # fmt: skip
    # A rule already in force that does the same (a block from a detection finding, say) is
    # adopted by the case rather than refused: the traffic is already stopped, since then.
    adopted: list[Rule] = []
    fresh: list[Rule] = []
    for r in rules:
        have = rule_in_force(store, r.kind, r.value, now)
        same = have is not None and (have.action, have.mode) == (r.action, r.mode)
        (adopted if same else fresh).append(have if same else r)  # type: ignore[arg-type]
    stored = adopted + add_rules(store, fresh, clock=clock)
    for r in stored:
        note = f"{r.kind} {r.value} ({r.mode})" + (" (already in force)" if r in adopted else "")
        link(store, case_id, "rule", str(r.id), note=note, now=now)
    detail: dict[str, Any] = {
        "action": action,
        "customer": subject,
        "rule_id": ", ".join(str(r.id) for r in stored),
        "rules": len(stored),
        "mode": stored[0].mode,
        "reason": stored[0].reason,
    }
    if adopted:
        detail["already_in_force"] = ", ".join(str(r.id) for r in adopted)
    if action == "require-documents":
        detail["documents"] = DOCUMENTS
    record_event(store, case_id, "mitigation", detail, actor=actor, now=now)
    if action == "terminate":
        _note_terminated(store, subject, case_id, now.date())
    met: list[str] = []
    late: list[str] = []
    stops = any(r.action == "block" and r.mode == "enforce" for r in stored)
    # 47 CFR 64.1200(k)(4): the provider mitigates the traffic the notice identified; a block
    # of one customer meets the deadline only once every customer the rows are matched to is
    # blocked (by this case or by a rule already in force)
    left = _unblocked_named(store, case, now) if action in _CUSTOMER_ACTIONS else []
    if stops and not left:
        for d in case.deadlines:
            if d["name"].startswith("mitigation") and not d.get("met_at"):
                if meet_deadline(store, case_id, d["name"], by=f"rules {detail['rule_id']}",
                                 actor=actor, now=now):  # fmt: skip
                    late.append(d["name"])
                met.append(d["name"])
        if case.status in _BEFORE_MITIGATED:
            set_status(store, case_id, "mitigated", actor=actor, now=now)
    status = get_case(store, case_id).status
    return Mitigation(
        case_id, action, subject, stored, deadlines_met=met, status=status,
        deadlines_late=late, still_open=left if stops else [],
    )  # fmt: skip


_CUSTOMER_ACTIONS = ("block-customer", "terminate")


def _unblocked_named(store: Store, case: Case, now: datetime) -> list[str]:
    """The customers the case's rows are matched to whose calls no enforced block stops."""
    named = sorted({r["matched_customer"] for r in case.rows if r.get("matched_customer")})
    left = []
    for customer in named:
        rule = rule_in_force(store, "customer", customer, now)
        if rule is None or (rule.action, rule.mode) != ("block", "enforce"):
            left.append(customer)
    return left


def _note_terminated(store: Store, customer: str, case_id: str, on: date) -> None:
    with store.session() as s:
        row = s.get(Customer, customer)
        if row is not None:
            note = f"terminated {on.isoformat()} (case {case_id})"
            row.notes = f"{row.notes}; {note}" if row.notes else note


def notify_intent(
    settings: Settings,
    store: Store,
    case_id: str,
    *,
    provider: str,
    out: Path,
    actor: str,
    basis: str | None = None,
    sent_on: date | None = None,
    clock: Clock = SYSTEM,
) -> tuple[Path, int]:
    """A downstream provider's notice to the Commission of its intent to block a notified
    provider (47 CFR 64.1200(k)(4): notify the Commission of the decision with a brief summary
    of its basis). Writes the notice (PDF or HTML) and records it as sent, which is what the
    screening rules ask for before a provider-wide block is enforced. Returns the file and
    the recorded notice's id."""
    from tracehop.cases.reports import write_report

    now = clock.now()
    provider = provider.strip()
    if not provider:
        raise InputError("--provider: the upstream id of the notified provider in our CDRs")
    case = get_case(store, case_id)
    summary = (basis or "").strip() or (
        f"The Commission's {case.notice_kind.replace('_', ' ')} of {case.letter_date} to "
        f"{case.recipient} identified illegal robocall traffic it carried; we receive its "
        f"traffic as upstream {provider}."
    )
    with store.session() as s:
        row = s.get(CaseRow, case_id)
        assert row is not None  # get_case found it
        row.recipient_detail = {**(row.recipient_detail or {}), "upstream": provider,
                                "basis": summary}  # fmt: skip
    path = write_report(settings, store, case_id, "intent-to-block", out, actor=actor, now=now)
    notice = record_notice(store, provider, sent_on=sent_on or now.date(), summary=summary,
                           author=actor, clock=clock)  # fmt: skip
    link(store, case_id, "notice", str(notice.id), note=f"intent to block {provider}", now=now)
    record_event(store, case_id, "intent_to_block",
                 {"provider": provider, "notice_id": notice.id, "file": path.name,
                  "sent_on": notice.sent_on.isoformat()}, actor=actor, now=now)  # fmt: skip
    return path, notice.id
