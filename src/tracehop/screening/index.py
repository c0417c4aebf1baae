"""Rules compiled into lookups: a call decided with a handful of dict and set probes.

An :class:`Index` is immutable once built: the engine swaps a new one in atomically when the
rules change (one attribute assignment), so a decision never sees half a rule set. It holds
the rules in force at the time it was built and the time the next one starts or expires
(:attr:`Index.next_change`), after which the engine rebuilds it from the same rules.

Lookups, most specific first (``rules.py`` says why this order):
- caller ID: a dict;
- caller prefix: one dict per prefix length, probed longest first (a hashed trie: at most 15
  probes whatever the number of prefixes);
- called number: a dict;
- caller-ID class: the class from ``tracehop.numbers.caller_id_class`` (computed only when a
  class rule exists), and the DNO lists as one set of integers (the E.164 digits);
- upstream (customer, then provider): a dict.
Rate limits are the engine's (``engine.py``): they need counters that outlive an index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from tracehop.numbers import caller_id_class, clean, to_e164
from tracehop.screening.rules import (
    INVALID_GROUP,
    KINDS,
    SIP_CODES,
    VELOCITY_KINDS,
    Emergency,
    Rule,
    public_cause,
)
from tracehop.times import utc


@dataclass(frozen=True, slots=True)
class Call:
    """What screening knows of a call at setup: numbers as E.164 where they have one (the raw
    form otherwise), and the upstream customer or provider it came from."""

    caller: str | None
    called: str | None
    upstream: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one call. ``monitored``: rules in monitor mode that matched (counted,
    never applied). ``cause``: what the caller may be told (the Reason header)."""

    action: str  # allow | block
    sip_code: int | None
    reason: str
    rule_id: int | None
    monitored: tuple[int, ...] = ()
    cause: str | None = None
    emergency: bool = False
    identity: str | None = None  # the STIR/SHAKEN verification reason, when one was verified

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "action": self.action,
            "sip_code": self.sip_code,
            "reason": self.reason,
            "rule_id": self.rule_id,
            "monitored": list(self.monitored),
        }
        if self.identity is not None:
            out["identity"] = self.identity
        return out


ALLOW = Decision("allow", None, "no rule matched", None)
EMERGENCY = Decision(
    "allow", None, "emergency call: never blocked (47 CFR 9.4)", None, emergency=True
)


def rule_decision(rule: Rule, monitored: tuple[int, ...] = ()) -> Decision:
    if rule.action == "block":
        code = rule.sip_code or 603
        assert code in SIP_CODES
        return Decision(
            "block", code, f"rule {rule.id}: {rule.reason}", rule.id, monitored, public_cause(rule)
        )
    return Decision("allow", None, f"rule {rule.id}: {rule.reason}", rule.id, monitored)


class DnoSet:
    """Do-Not-Originate numbers as a set of integers (E.164 digits without the +): about 60
    bytes a number, one hash probe a call."""

    __slots__ = ("_numbers",)

    def __init__(self, numbers: Iterable[int] = ()) -> None:
        self._numbers = frozenset(numbers)

    def __len__(self) -> int:
        return len(self._numbers)

    def __contains__(self, caller: object) -> bool:
        if not isinstance(caller, str) or len(caller) < 2 or caller[0] != "+":
            return False
        digits = caller[1:]
        # isascii: str.isdigit() is also true of digits int() refuses (superscripts)
        return digits.isascii() and digits.isdigit() and int(digits) in self._numbers


@dataclass
class _Lookups:
    caller: dict[str, Rule] = field(default_factory=dict)
    prefixes: dict[int, dict[str, Rule]] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()
    called: dict[str, Rule] = field(default_factory=dict)
    classes: dict[str, Rule] = field(default_factory=dict)
    dno: Rule | None = None
    upstream: dict[str, Rule] = field(default_factory=dict)

    def add(self, rule: Rule) -> None:
        k, v = rule.kind, rule.value
        if k == "caller_id":
            _keep(self.caller, v, rule)
        elif k == "caller_prefix":
            _keep(self.prefixes.setdefault(len(v), {}), v, rule)
        elif k == "called":
            _keep(self.called, v, rule)
        elif k == "class" and v == "dno":
            if self.dno is None or _wins(rule, self.dno):
                self.dno = rule
        elif k == "class":
            _keep(self.classes, v, rule)
        elif k in ("customer", "provider"):
            _keep(self.upstream, v, rule)

    def seal(self) -> None:
        self.lengths = tuple(sorted(self.prefixes, reverse=True))

    def empty(self) -> bool:
        return not (
            self.caller or self.prefixes or self.called or self.classes or self.upstream
        ) and (self.dno is None)

    def first(self, call: Call, dno: DnoSet) -> Rule | None:
        """The most specific rule matching ``call``."""
        caller = call.caller
        if caller:
            rule = self.caller.get(caller)
            if rule is not None:
                return rule
            n = len(caller)
            for length in self.lengths:
                if length <= n:
                    rule = self.prefixes[length].get(caller[:length])
                    if rule is not None:
                        return rule
        if call.called:
            rule = self.called.get(call.called)
            if rule is not None:
                return rule
        if self.dno is not None and caller in dno:
            return self.dno
        if self.classes:
            cls = caller_id_class(_e164(caller), call.called)
            rule = self.classes.get(cls.value)
            if rule is None and cls in INVALID_GROUP:
                rule = self.classes.get("invalid")
            if rule is not None:
                return rule
        if call.upstream is not None:
            return self.upstream.get(call.upstream)
        return None

    def all(self, call: Call, dno: DnoSet) -> list[Rule]:
        """Every rule matching ``call`` (monitor mode counts each)."""
        found: list[Rule] = []
        caller = call.caller
        if caller:
            if caller in self.caller:
                found.append(self.caller[caller])
            found.extend(
                self.prefixes[n][caller[:n]]
                for n in self.lengths
                if n <= len(caller) and caller[:n] in self.prefixes[n]
            )
        if call.called and call.called in self.called:
            found.append(self.called[call.called])
        if self.dno is not None and caller in dno:
            found.append(self.dno)
        if self.classes:
            cls = caller_id_class(_e164(caller), call.called)
            for name in (cls.value, "invalid" if cls in INVALID_GROUP else None):
                if name and name in self.classes:
                    found.append(self.classes[name])
        if call.upstream is not None and call.upstream in self.upstream:
            found.append(self.upstream[call.upstream])
        return found


def _wins(new: Rule, old: Rule) -> bool:
    """Two rules on one value (only possible when one is stored while another expires or
    in a proposed file): the more specific kind, then allow over block, then the newer."""
    a, b = KINDS[new.kind].rank, KINDS[old.kind].rank
    if a != b:
        return a > b
    if new.action != old.action:
        return new.action == "allow"
    return new.id > old.id


def _keep(table: dict[str, Rule], key: str, rule: Rule) -> None:
    old = table.get(key)
    if old is None or _wins(rule, old):
        table[key] = rule


class Index:
    """The rules in force at ``built_at``, compiled. Build with :func:`build_index`."""

    def __init__(
        self,
        rules: list[Rule],
        *,
        dno: DnoSet,
        emergency: Emergency,
        built_at: datetime,
        next_change: datetime | None,
    ) -> None:
        self.rules = {r.id: r for r in rules}
        self.dno = dno
        self.emergency = emergency
        self.built_at = built_at
        self.next_change = next_change
        self.enforce = _Lookups()
        self.monitor = _Lookups()
        self.velocity: list[Rule] = []  # rate limits and short-call shares (engine.py)
        self.monitor_velocity: list[Rule] = []
        for rule in rules:
            if rule.kind in VELOCITY_KINDS:
                (self.velocity if rule.mode == "enforce" else self.monitor_velocity).append(rule)
            else:
                (self.enforce if rule.mode == "enforce" else self.monitor).add(rule)
        # the rules that need call outcomes (Screener.record_outcome)
        self.share_rules = [
            r for r in (*self.velocity, *self.monitor_velocity) if r.kind == "short_share"
        ]
        self.enforce.seal()
        self.monitor.seal()
        self._monitoring = not self.monitor.empty()

    def decide_static(self, call: Call) -> Decision | None:
        """The decision of the rules that need no counting, or None when none matched (then
        rate limits have their say). Emergency calls are allowed before any rule is read."""
        if self.emergency.covers(call.called):  # 47 CFR 9.4: never block an emergency call
            return EMERGENCY
        monitored: tuple[int, ...] = ()
        if self._monitoring:
            monitored = tuple(r.id for r in self.monitor.all(call, self.dno))
        rule = self.enforce.first(call, self.dno)
        if rule is not None:
            return rule_decision(rule, monitored)
        if monitored:
            return Decision("allow", None, "no rule matched", None, monitored)
        return None

    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rules.values():
            counts[r.kind] = counts.get(r.kind, 0) + 1
        counts["dno_numbers"] = len(self.dno)
        return counts


def build_index(
    rules: Iterable[Rule],
    *,
    dno: DnoSet,
    emergency: Emergency,
    now: datetime,
) -> Index:
    """The index of the rules in force at ``now``; ``next_change`` is when one of the others
    starts or one of these expires."""
    active: list[Rule] = []
    upcoming: list[datetime] = []
    for r in rules:
        if r.active(now):
            active.append(r)
            if r.expires_at is not None:
                upcoming.append(utc(r.expires_at))
        elif r.removed_at is None and r.starts_at is not None and utc(r.starts_at) > now:
            upcoming.append(utc(r.starts_at))
    return Index(
        active,
        dno=dno,
        emergency=emergency,
        built_at=now,
        next_change=min(upcoming) if upcoming else None,
    )


@lru_cache(maxsize=1 << 16)
def number(raw: str | None) -> str | None:
    """A number as screening keys it: E.164 when it has one, else what is left of it after
    the URI scheme and parameters are cut (``911``, ``anonymous``); None when empty."""
    if not raw:
        return None
    e164 = to_e164(raw)
    if e164 is not None:
        return e164
    return clean(raw) or None


def make_call(
    caller: str | None,
    called: str | None,
    upstream: str | None = None,
    call_id: str | None = None,
) -> Call:
    """A :class:`Call` from numbers as a switch or a person gives them."""
    return Call(number(caller), number(called), upstream or None, call_id)


def _e164(caller: str | None) -> str | None:
    """``caller`` if it is an E.164 number (``tracehop.numbers`` classifies only those)."""
    return caller if caller and caller[0] == "+" and caller.isascii() else None
