"""Screening rules as data: what each kind of rule matches, why a provider may apply it, and
how a rule is checked before it is stored.

Like ``detection/scoring.py``, the kinds are declarative (:data:`KINDS`), each with the rule
or practice it rests on; the index (``index.py``) compiles rules of every kind into lookups.
This module is pure: no database, no clock of its own.

How a call is decided (``index.Index.decide``; docs/screening.md):
1. A call to an emergency number is allowed, whatever the rules say (:class:`Emergency`).
2. Of the rules that match the call, the most specific kind wins (:attr:`RuleKind.rank`:
   caller ID > caller prefix, longest first > called number > caller-ID class > customer >
   provider); an explicit allow of a more specific kind beats a block of a less specific one
   (a customer's one legal line allowed while the customer is blocked).
3. If no rule decided, velocity rules (rate limits, short-call shares) are counted and may
   block or alert.
Rules in ``monitor`` mode are matched and counted but never change the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from tracehop.errors import InputError
from tracehop.numbers import CallerIdClass, to_e164
from tracehop.times import utc

ACTIONS = ("block", "allow")
RATE_ACTIONS = ("block", "alert")
MODES = ("enforce", "monitor")
# Blocked calls are answered 603, 607 or 608 (DOMAIN.md, "Telling the caller"; RFC 8688,
# ATIS-1000099): 603 "Network Blocked" with a Reason header is the 603+ of ATIS-1000099.
SIP_CODES = {603: "Network Blocked", 607: "Unwanted", 608: "Rejected"}
DEFAULT_SIP_CODE = 603

# Never blocked, whatever the rules say: 911, and 933 (the 911 address test line). 47 CFR 9.4:
# carriers transmit all 911 calls; DOMAIN.md: never block emergency calls under any rule.
EMERGENCY_NUMBERS = ("911", "933")

# The caller-ID classes of tracehop.numbers a class rule may name, plus two groups: "invalid"
# (every class that cannot be a real, assigned caller ID: 47 CFR 64.1200(k)(2) lets a provider
# block invalid, unallocated and unused numbers; equal to detection.classes.INVALID_CLASSES,
# which tests/test_screen_rules.py checks) and "dno" (the Do-Not-Originate lists: 47 CFR
# 64.1200(k)(1); required of every provider in the path since 15 Dec 2025, DOMAIN.md).
INVALID_GROUP = (
    CallerIdClass.INVALID_LENGTH,
    CallerIdClass.INVALID_NPA,
    CallerIdClass.UNASSIGNED_NPA,
    CallerIdClass.N11,
    CallerIdClass.FICTIONAL,
    CallerIdClass.CALLER_EQUALS_CALLED,
)
CLASS_NAMES = ("invalid", "dno", *(c.value for c in CallerIdClass if c is not CallerIdClass.VALID))

RATE_SUBJECTS = ("customer", "caller_id", "called")  # the call field a rate limit counts by
RATE_WINDOWS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$", re.I)
_PREFIX = re.compile(r"^\+?[0-9]{1,15}$")
_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


@dataclass(frozen=True)
class RuleKind:
    """One kind of rule: the call field it matches, its precedence and its basis."""

    name: str
    option: str  # the CLI option that makes one (tracehop block add)
    field: str  # upstream | caller | called | class | rate | velocity
    rank: int  # higher: more specific, wins over lower
    description: str
    basis: str  # the rule or practice that lets a provider apply it
    cause: str  # what the caller is told in the Reason header (no internal detail)


KINDS: dict[str, RuleKind] = {
    k.name: k
    for k in (
        RuleKind(
            "caller_id",
            "--caller-id",
            "caller",
            60,
            "one caller ID, exactly (E.164)",
            "47 CFR 64.1200(k)(3)-(4) and (n): block traffic identified as illegal",
            "caller ID blocked",
        ),
        RuleKind(
            "caller_prefix",
            "--caller-prefix",
            "caller",
            50,
            "caller IDs starting with a prefix (E.164 with +; without +, NANP digits)",
            "47 CFR 64.1200(k)(2): unallocated or unused number ranges",
            "caller ID range blocked",
        ),
        RuleKind(
            "called",
            "--called",
            "called",
            40,
            "calls to one number (TDoS protection of a hospital or public line)",
            "TDoS floods (DOMAIN.md); never an emergency number",
            "called number protected",
        ),
        RuleKind(
            "class",
            "--class",
            "class",
            30,
            "caller IDs of a validity class (tracehop.numbers) or on a DNO list",
            "47 CFR 64.1200(k)(1) DNO, (k)(2) invalid, unallocated and unused numbers",
            "invalid caller ID",
        ),
        RuleKind(
            "customer",
            "--customer",
            "upstream",
            20,
            "every call from one customer (the upstream trunk)",
            "47 CFR 64.1200(n)(2)-(4): mitigate a customer's illegal traffic, know your customer",
            "originating customer blocked",
        ),
        RuleKind(
            "provider",
            "--provider",
            "upstream",
            10,
            "every call from an upstream provider (a notified provider)",
            "47 CFR 64.1200(k)(4): after notifying the Commission with a brief summary",
            "upstream provider blocked",
        ),
        RuleKind(
            "rate",
            "--rate",
            "rate",
            0,
            "calls per second or minute per customer, caller ID or called number",
            "bursts and floods (DOMAIN.md: calls per second per customer and caller ID)",
            "call rate exceeded",
        ),
        RuleKind(
            "short_share",
            "--short-share",
            "velocity",
            0,
            "share of answered calls shorter than 6 s per customer or caller ID over a window "
            "(15 min by default), after a minimum of answered calls",
            "short duration (DOMAIN.md; a published rule: over 20% after 100-120 attempts an hour)",
            "short-call share exceeded",
        ),
    )
}
VELOCITY_KINDS = ("rate", "short_share")
SHORT_CALL_SECONDS = 6.0  # answered calls shorter than this are "short" (DOMAIN.md)
SHARE_SUBJECTS = ("customer", "caller_id")


@dataclass(frozen=True)
class Rule:
    """A screening rule. ``id`` 0 means not stored yet; proposed rules (replay ``--rules``)
    are numbered from 1 in their file."""

    kind: str
    value: str
    reason: str
    action: str = "block"
    sip_code: int | None = DEFAULT_SIP_CODE
    mode: str = "enforce"
    author: str = ""
    finding: str | None = None
    case_id: str | None = None
    # rate: subject, limit, window (s); short_share: subject, share, min_answered, window (s)
    params: dict[str, Any] | None = None
    notice_id: int | None = None
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None
    id: int = 0

    def active(self, now: datetime) -> bool:
        """In force at ``now``: started, not expired, not removed."""
        if self.removed_at is not None and utc(self.removed_at) <= now:
            return False
        if self.starts_at is not None and utc(self.starts_at) > now:
            return False
        return self.expires_at is None or utc(self.expires_at) > now

    @property
    def blocks(self) -> bool:
        return self.action == "block"

    def with_id(self, rule_id: int) -> Rule:
        return replace(self, id=rule_id)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Emergency:
    """The numbers a rule may never block: 911, 933 and the configured PSAP lines."""

    numbers: frozenset[str] = field(default_factory=lambda: frozenset(EMERGENCY_NUMBERS))

    @classmethod
    def from_setting(cls, psaps: str | Iterable[str] = "") -> Emergency:
        items = psaps.split(",") if isinstance(psaps, str) else list(psaps)
        extra: set[str] = set()
        for raw in (p.strip() for p in items):
            if not raw:
                continue
            e164 = to_e164(raw)
            if e164 is None:
                raise InputError(
                    f"PSAP number {raw!r} (TRACEHOP_SCREEN_PSAPS) is not a phone number: "
                    "give E.164 (+12025550100) or 10 digits"
                )
            extra.add(e164)
        return cls(frozenset({*EMERGENCY_NUMBERS, *extra}))

    def covers(self, called: str | None) -> bool:
        """Whether a call to ``called`` (E.164, or the digits as dialled when it has no E.164
        form) is an emergency call: 911 and 933, also with a 1 or +1 or a trunk prefix digit in
        front (9-911), and the PSAP lines."""
        if not called:
            return False
        if called in self.numbers:
            return True
        if called[0] == "+" and len(called) > 6:
            return False  # a full E.164 number: an emergency line only if listed (PSAPs)
        digits = _digits(called)
        if digits in self.numbers or "+" + digits in self.numbers:
            return True
        return digits[-3:] in EMERGENCY_NUMBERS and len(digits) <= 5


def _digits(value: str) -> str:
    user = value.split("@", 1)[0].split(";", 1)[0]
    if ":" in user:
        user = user.split(":", 1)[1]
    return "".join(ch for ch in user if "0" <= ch <= "9")


def parse_rate(text: str) -> tuple[int, int]:
    """``100/s``, ``60/min``: (limit, window seconds)."""
    m = _RATE.match(text or "")
    if not m or m.group(2).lower() not in RATE_WINDOWS:
        raise InputError(f"rate {text!r} is not N/s or N/min (e.g. 10/s, 60/min)")
    limit = int(m.group(1))
    if limit < 1:
        raise InputError(f"rate {text!r}: the limit must be 1 or more")
    return limit, RATE_WINDOWS[m.group(2).lower()]


def normalize_value(kind: str, value: str) -> str:
    """The stored form of a rule's value, or an error saying what to give."""
    value = (value or "").strip()
    if kind in ("caller_id", "called"):
        e164 = to_e164(value)
        if e164 is not None:
            return e164
        digits = _digits(value)
        if (
            kind == "called"
            and digits
            and len(digits) <= 6
            and re.fullmatch(r"[+\d\s().-]+", value)
        ):
            return digits  # a short code (a called number that has no E.164 form)
        raise InputError(f"{value!r} is not a phone number: give E.164 (+12025550143)")
    if kind == "caller_prefix":
        compact = re.sub(r"[\s().-]", "", value)
        if not _PREFIX.match(compact):
            raise InputError(
                f"caller prefix {value!r}: give digits with a leading + (E.164, e.g. +1202555), "
                "or NANP digits without it (202555)"
            )
        return compact if compact.startswith("+") else "+1" + compact
    if kind == "class":
        name = value.lower()
        if name not in CLASS_NAMES:
            raise InputError(
                f"unknown caller-ID class {value!r}: use one of {', '.join(CLASS_NAMES)}"
            )
        return name
    if not _ID.match(value):
        raise InputError(f"{KINDS[kind].option} needs an id of 1 to 200 printable characters")
    return value


def make_rule(
    kind: str,
    value: str,
    *,
    reason: str,
    emergency: Emergency,
    action: str = "block",
    sip_code: int | None = None,
    mode: str = "enforce",
    author: str = "",
    finding: str | None = None,
    case_id: str | None = None,
    rate: str | None = None,
    subject: str | None = None,
    share: float | None = None,
    min_answered: int = 100,
    window: float = 900.0,
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Rule:
    """A checked rule (not stored): values normalised, and refused with the reason when it
    could block an emergency call, names no reason, or does not hold together."""
    if kind not in KINDS:
        raise InputError(f"unknown rule kind {kind!r}: use one of {', '.join(KINDS)}")
    if not (reason or "").strip():
        raise InputError("a rule needs a --reason (why it is applied: a finding, a notice)")
    if mode not in MODES:
        raise InputError(f"--mode must be enforce or monitor, not {mode!r}")
    params = None
    if kind == "rate":
        if action not in RATE_ACTIONS:
            raise InputError(f"a rate limit's --action is block or alert, not {action!r}")
        if subject not in RATE_SUBJECTS:
            raise InputError(f"a rate limit counts by one of {', '.join(RATE_SUBJECTS)}")
        limit, window = parse_rate(rate or "")
        params = {"subject": subject, "limit": limit, "window": window}
        value = "*" if value in ("", "*") else normalize_value(_subject_kind(subject), value)
    elif kind == "short_share":
        if action not in RATE_ACTIONS:
            raise InputError(f"a short-call share's --action is block or alert, not {action!r}")
        if subject not in SHARE_SUBJECTS:
            raise InputError(f"a short-call share is counted by one of {', '.join(SHARE_SUBJECTS)}")
        if share is None or not 0 < share < 1:
            raise InputError("--short-share is a share between 0 and 1 (e.g. 0.2)")
        if min_answered < 1 or not 1 <= window <= 86400:
            raise InputError("--min-answered must be 1 or more and --window 1 s to 24 h")
        params = {
            "subject": subject,
            "share": float(share),
            "min_answered": int(min_answered),
            "window": float(window),
        }
        value = "*" if value in ("", "*") else normalize_value(_subject_kind(subject), value)
    else:
        if action not in ACTIONS:
            raise InputError(f"--action must be block or allow, not {action!r}")
        value = normalize_value(kind, value)
    if action in ("block",):
        sip_code = DEFAULT_SIP_CODE if sip_code is None else sip_code
        if sip_code not in SIP_CODES:
            raise InputError(f"--sip-code must be 603, 607 or 608, not {sip_code}")
    else:
        sip_code = None
    if action == "block" and _targets_emergency(kind, value, params, emergency):
        # 47 CFR 9.4 / DOMAIN.md: no rule may block an emergency call.
        raise InputError(
            f"refused: {value} is an emergency number (911, 933 or a configured PSAP line); "
            "emergency calls are never blocked"
        )
    now = utc(now) if now else None
    starts_at = utc(starts_at) if starts_at else now
    expires_at = utc(expires_at) if expires_at else None
    if expires_at is not None:
        if now is not None and expires_at <= now:
            raise InputError("--expires is in the past")
        if starts_at is not None and expires_at <= starts_at:
            raise InputError("--expires must be after the rule starts")
    return Rule(
        kind=kind,
        value=value,
        reason=reason.strip(),
        action=action,
        sip_code=sip_code,
        mode=mode,
        author=author,
        finding=finding,
        case_id=case_id,
        params=params,
        starts_at=starts_at,
        expires_at=expires_at,
        created_at=now,
    )


def _subject_kind(subject: str) -> str:
    return {"customer": "customer", "caller_id": "caller_id", "called": "called"}[subject]


def _targets_emergency(
    kind: str, value: str, params: dict[str, Any] | None, emergency: Emergency
) -> bool:
    if kind == "called":
        return emergency.covers(value)
    if kind == "rate" and params and params["subject"] == "called" and value != "*":
        return emergency.covers(value)
    return False


def public_cause(rule: Rule) -> str:
    """What a blocked caller is told: the kind of rule, never its internal reason."""
    if rule.kind == "class" and rule.value == "dno":
        return "caller ID on a Do-Not-Originate list"
    return KINDS[rule.kind].cause
