"""Rule-based scores: which customers and caller IDs carry illegal robocall traffic, and why.

Each :class:`Rule` looks at a subject's indicators (``indicators.py``) and, when it fires,
gives a category, a strength in [0, 1] and its evidence: the indicator values against the
thresholds. The score combines the strengths as independent signals,
``1 - prod(1 - strength)``, and a subject is ``flagged`` at ``score >= FLAG_THRESHOLD``.

Design choices (docs/detection.md):
- Every strong rule is about *what* the traffic is, never *how much* of it there is: a share
  of bad-looking calls (invalid or toll-free caller IDs, neighbour spoofing, one-ring from
  premium ranges, calls piled on three numbers) above a threshold **and** a minimum count of
  such calls. Volume alone never flags: informational robocallers (many short calls from
  one or two valid numbers), consented call centers (low ASR, long calls) and carriers (a
  mixture) do not cross them. Shares make a carrier's verdict depend on how much of its
  traffic looks bad, not on its size.
- Low completion and short talk flag only together (ASR low *and* few answered seconds per
  attempt), because
  each alone describes a legal look-alike: call centers have a low ASR, reminders are short.
- Weak signals (a customer onboarded recently) raise a score that another rule started but
  cannot flag on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracehop.detection.indicators import TALK_CAP

FLAG_THRESHOLD = 0.5
# A rule firing exactly at its threshold gives this strength; twice as far past it, STRONG_MAX.
STRONG_BASE = 0.6
STRONG_MAX = 0.99
NEW_CUSTOMER_STRENGTH = 0.15
# Traceback history: this many tracebacks naming a customer in 90 days flag it; fewer only
# raise its score.
TRACEBACKS_STRONG = 3
TRACEBACK_WEAK = 0.2
# Complaints traced to a customer: weak evidence (people complain about legal calls too).
COMPLAINTS_WEAK_AT = 2
COMPLAINTS_WEAK = 0.2


@dataclass(frozen=True)
class Threshold:
    """One comparison a rule makes: ``indicator op value``."""

    indicator: str
    op: str  # ">=" or "<"
    value: float

    def holds(self, v: dict[str, Any]) -> bool:
        x = v.get(self.indicator)
        if x is None:
            return False
        return x >= self.value if self.op == ">=" else x < self.value

    def excess(self, v: dict[str, Any]) -> float:
        """How far past the threshold, relative to it (0 at the threshold)."""
        x = float(v[self.indicator])
        if self.op == ">=":
            return (x - self.value) / self.value if self.value else 1.0
        return (self.value - x) / self.value if self.value else 1.0


@dataclass(frozen=True)
class Rule:
    """A named rule: fires when every threshold holds; ``scored`` thresholds set the strength."""

    name: str
    category: str
    description: str
    thresholds: tuple[Threshold, ...]
    scored: tuple[int, ...] = (0,)  # indexes of the thresholds whose excess raises strength
    exempt_kinds: tuple[str, ...] = ()
    weak: float | None = None  # fixed strength of a weak signal

    def fire(self, v: dict[str, Any]) -> float | None:
        if v.get("customer_kind") in self.exempt_kinds:
            return None
        if not all(t.holds(v) for t in self.thresholds):
            return None
        if self.weak is not None:
            return self.weak
        excess = sum(self.thresholds[i].excess(v) for i in self.scored)
        return min(STRONG_MAX, STRONG_BASE + (STRONG_MAX - STRONG_BASE) * min(1.0, excess))

    def evidence(self, v: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "indicator": t.indicator,
                "value": _round(v.get(t.indicator)),
                "op": t.op,
                "threshold": t.value,
            }
            for t in self.thresholds
        ]


def _t(indicator: str, op: str, value: float) -> Threshold:
    return Threshold(indicator, op, value)


# The customer rules. Thresholds are the published examples of DOMAIN.md where one exists.
CUSTOMER_RULES: tuple[Rule, ...] = (
    Rule(
        "invalid_caller_ids",
        "invalid_caller_id",
        "caller IDs that cannot be real (47 CFR 64.1200(k)(2) lets providers block invalid, "
        "unallocated and unused numbers)",
        (_t("invalid_share", ">=", 0.10), _t("invalid_calls", ">=", 20)),
    ),
    Rule(
        "toll_free_look_alikes",
        "imposter",
        "many toll-free numbers as caller ID (toll-free numbers do not place calls; a pool of "
        "look-alikes of one support line is a tech-support scam's signature)",
        (_t("toll_free_share", ">=", 0.10), _t("toll_free_callers", ">=", 5)),
    ),
    Rule(
        "neighbour_spoofing",
        "spoofed_caller_id",
        "caller ID with the called number's NPA-NXX (neighbour spoofing); a residential block "
        "is exempt, its lines call their own exchange",
        (_t("neighbour_share", ">=", 0.10), _t("neighbour_calls", ">=", 30)),
        exempt_kinds=("end_user",),
    ),
    Rule(
        "one_ring",
        "one_ring",
        "unanswered attempts from international premium-rate caller IDs (wangiri)",
        (_t("one_ring_share", ">=", 0.20), _t("one_ring_calls", ">=", 30)),
    ),
    Rule(
        "tdos",
        "tdos",
        "attempts piled on three called numbers (telephone denial of service)",
        (_t("top3_called_share", ">=", 0.50), _t("top3_called_calls", ">=", 100)),
    ),
    Rule(
        "sequential_dialling",
        "sequential_dialling",
        "called numbers dialled in sequence through a block",
        (_t("sequential_share", ">=", 0.20), _t("sequential_numbers", ">=", 50)),
    ),
    Rule(
        "low_asr_short_talk",
        "unknown_robocall_campaign",
        "low completion and little conversation per attempt together (published: ASR < 50% "
        "after > 120 attempts an hour, and short calls). Here ASR < 40% and under 43 answered "
        f"seconds per attempt, each call counted up to {TALK_CAP} s, at the upper confidence "
        "bound: consented call centers answer about a third of their calls but talk long, "
        "reminders are short but answered; the cap keeps a few long calls from hiding "
        "robocalls mixed into a reseller's traffic, and the bound keeps a small customer whose "
        "few calls happened to be short from being flagged on chance. Steady notification "
        "lines (one caller ID, many attempts, mostly answered) are left out: a carrier mixing "
        "reminders with call-center traffic is not a robocaller",
        (
            _t("asr_other_lines", "<", 0.40),
            _t("capped_talk_upper_other_lines", "<", 43.0),
            _t("calls_other_lines", ">=", 200),
        ),
        scored=(0, 1),
    ),
    Rule(
        "short_calls",
        "unknown_robocall_campaign",
        "answered calls shorter than 6 s (published: > 20% after 100-120 attempts an hour)",
        (_t("short_share", ">=", 0.20), _t("answered_calls", ">=", 100)),
    ),
    Rule(
        "failed_verification",
        "spoofed_caller_id",
        "STIR/SHAKEN verification failed (a signature that does not verify, or does not "
        "match the caller ID: ATIS-1000074, RFC 8224)",
        (_t("verify_failed_share", ">=", 0.10), _t("verify_failed_calls", ">=", 20)),
    ),
    Rule(
        "traceback_history",
        "traceback_history",
        "traceback requests named this customer as the source of reported illegal calls "
        f"{TRACEBACKS_STRONG} or more times in the last 90 days (47 CFR 64.1200(n)(2): a "
        "provider that is notified must mitigate)",
        (_t("tracebacks", ">=", TRACEBACKS_STRONG),),
    ),
    Rule(
        "traceback_named",
        "traceback_history",
        "a traceback request named this customer in the last 90 days; raises a score, never "
        "flags alone",
        (_t("tracebacks", ">=", 1),),
        weak=TRACEBACK_WEAK,
    ),
    Rule(
        "complaints",
        "complaints",
        "complaints about calls traced to this customer in the last 90 days (tracehop "
        f"complaints import); {COMPLAINTS_WEAK_AT} or more raise a score, never flag alone: "
        "consumers also complain about legal calls (reminders, call centers)",
        (_t("complaints", ">=", COMPLAINTS_WEAK_AT),),
        weak=COMPLAINTS_WEAK,
    ),
    Rule(
        "new_customer",
        "new_customer",
        "customer onboarded less than 90 days before the window ended (know-your-customer: "
        "new customers get a closer look); raises a score, never flags alone",
        (_t("customer_age_days", "<", 90),),
        weak=NEW_CUSTOMER_STRENGTH,
    ),
)

# Caller-ID rules: a caller ID is reported when it is itself bad, not for its volume.
CALLER_RULES: tuple[Rule, ...] = (
    Rule(
        "invalid_caller_id",
        "invalid_caller_id",
        "the caller ID cannot be real",
        (_t("invalid_share", ">=", 0.5), _t("calls", ">=", 5)),
    ),
    Rule(
        "one_ring",
        "one_ring",
        "unanswered attempts from an international premium-rate caller ID",
        (_t("one_ring_share", ">=", 0.5), _t("calls", ">=", 5)),
    ),
    Rule(
        "neighbour_spoofing",
        "spoofed_caller_id",
        "the caller ID mostly has the called number's NPA-NXX",
        (_t("neighbour_share", ">=", 0.5), _t("calls", ">=", 5)),
    ),
    Rule(
        "low_asr_short_talk",
        "unknown_robocall_campaign",
        "one caller ID with low completion and little conversation per attempt",
        (
            _t("asr", "<", 0.40),
            _t("capped_talk_upper", "<", 43.0),
            _t("calls", ">=", 100),
        ),
        scored=(0, 1),
    ),
)


# What a caller-ID finding's evidence lists (a run can flag tens of thousands of caller IDs:
# every indicator of each would be most of the run's time and storage).
CALLER_SHOWN = (
    "calls",
    "first_seen",
    "last_seen",
    "customers",
    "caller_class",
    "asr",
    "acd",
    "capped_talk_per_attempt",
    "capped_talk_upper",
    "invalid_share",
    "toll_free_share",
    "neighbour_share",
    "one_ring_share",
    "caller_equals_called_share",
    "verify_failed_share",
)


@dataclass
class Score:
    """A subject's verdict: score, flag, categories and the evidence behind them."""

    score: float
    flagged: bool
    categories: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)


def derive(v: dict[str, Any]) -> dict[str, Any]:
    """Counts the rules need beside the shares (a share of 3 calls proves nothing). Written
    in SQL too, for the candidates' pre-selection: ``queries.DERIVED_SQL``."""
    n = v.get("calls") or 0
    answered = round((v.get("asr") or 0) * n)
    out = dict(v)
    out["answered_calls"] = answered
    out["invalid_calls"] = round((v.get("invalid_share") or 0) * n)
    out["neighbour_calls"] = round((v.get("neighbour_share") or 0) * n)
    out["one_ring_calls"] = round((v.get("one_ring_share") or 0) * n)
    out["verify_failed_calls"] = round((v.get("verify_failed_share") or 0) * n)
    distinct = v.get("distinct_called") or 0
    out["sequential_numbers"] = round((v.get("sequential_share") or 0) * distinct)
    return out


def score(
    values: dict[str, Any],
    rules: tuple[Rule, ...] = CUSTOMER_RULES,
    *,
    threshold: float = FLAG_THRESHOLD,
    min_calls: int = 1,
    rule_filter: Callable[[Rule], bool] | None = None,
    shown: tuple[str, ...] | None = None,
) -> Score:
    """Score one subject from its indicators. ``shown``: the indicators the evidence lists
    (default all; the rules' own thresholds are always listed with their values)."""
    v = derive(values)
    fired: list[tuple[Rule, float]] = []
    if (v.get("calls") or 0) >= min_calls:
        for rule in rules:
            if rule_filter is not None and not rule_filter(rule):
                continue
            s = rule.fire(v)
            if s is not None:
                fired.append((rule, s))
    remaining = 1.0
    for _, s in fired:
        remaining *= 1.0 - s
    total = round(1.0 - remaining, 4)
    flagged = total >= threshold
    ranked = rank_categories(fired, v)
    evidence = {
        "categories": ranked,
        "rules": [
            {
                "rule": r.name,
                "category": r.category,
                "strength": round(s, 3),
                "why": r.description,
                "thresholds": r.evidence(v),
            }
            for r, s in fired
        ],
        "indicators": _json_values(
            values if shown is None else {k: values[k] for k in shown if k in values}
        ),
        "threshold": threshold,
    }
    categories = [c["category"] for c in ranked] if flagged else []
    return Score(total, flagged, categories, evidence)


# Categories, most specific first: a rule made for one kind of traffic (one-ring, TDoS, an
# imposter's caller IDs) says more about what the traffic is than a generic one, so a
# customer's categories are listed in this order (then by the strength of their rules),
# "strongest first" as the notice's Description and the 14-day report need them.
CATEGORY_ORDER = (
    "one_ring",
    "tdos",
    "imposter",
    "invalid_caller_id",
    "spoofed_caller_id",
    "sequential_dialling",
    "snowshoe",
    "unknown_robocall_campaign",
    "traceback_history",
)
# Categories of a known kind: when one of them fired, "unknown robocall campaign" (automated
# traffic of no known kind) and "snowshoe" (its spread over many caller IDs) are not given.
KNOWN_KINDS = CATEGORY_ORDER[: CATEGORY_ORDER.index("snowshoe")]
GENERIC = ("snowshoe", "unknown_robocall_campaign")
# A generic robocall campaign spread over this many caller IDs is a snowshoe campaign
# (calls spread over many numbers to stay under per-number analytics).
SNOWSHOE_CALLERS = 50


def rank_categories(fired: list[tuple[Rule, float]], v: dict[str, Any]) -> list[dict[str, Any]]:
    """The categories of the strong rules that fired, strongest first (``CATEGORY_ORDER``,
    then strength), each with the rule that decided it."""
    best: dict[str, tuple[float, str]] = {}
    for rule, strength in fired:
        if rule.weak is None and strength > best.get(rule.category, (-1.0, ""))[0]:
            best[rule.category] = (strength, rule.name)
    if any(c in best for c in KNOWN_KINDS):
        for c in GENERIC:
            best.pop(c, None)
    elif (
        "unknown_robocall_campaign" in best and (v.get("distinct_callers") or 0) >= SNOWSHOE_CALLERS
    ):
        best["snowshoe"] = best.pop("unknown_robocall_campaign")
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    ranked = sorted(best.items(), key=lambda x: (order.get(x[0], len(order)), -x[1][0], x[0]))
    return [{"category": c, "rule": r, "strength": round(st, 3)} for c, (st, r) in ranked]


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    """Indicator values as they go into JSON evidence: floats to 4 decimals, times in ISO."""
    out = {k: round(x, 4) if type(x) is float else x for k, x in values.items()}
    for k in ("first_seen", "last_seen"):
        if k in out:
            out[k] = _round(out[k])
    return out


def _round(x: Any) -> Any:
    """An indicator value as it goes into JSON evidence."""
    if x is None or type(x) is int or type(x) is str:
        return x
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, datetime):
        return x.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return x
