"""Scores: which customers and caller IDs carry illegal robocall traffic, and why.

The rules are data (``rules.py``: customer, segment and caller-ID rules with their
thresholds and sources). :func:`score` applies them to one subject: each rule that fires
gives a category, a strength in [0, 1] and its evidence (the values against the thresholds;
for a segment rule, the segment with its counts, answered-call shape and example calls). The
score combines the strengths as independent signals, ``1 - prod(1 - strength)``; a subject is
``flagged`` at ``score >= FLAG_THRESHOLD``. Categories are listed strongest first
(:func:`rank_categories`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracehop.detection.rules import (
    CALLER_RULES as CALLER_RULES,
)
from tracehop.detection.rules import (
    CUSTOMER_RULES as CUSTOMER_RULES,
)
from tracehop.detection.rules import (
    FLAG_THRESHOLD as FLAG_THRESHOLD,
)
from tracehop.detection.rules import (
    SEGMENT_RULES as SEGMENT_RULES,
)
from tracehop.detection.rules import (
    Rule,
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
    out["sequential_excess_share"] = (
        (v.get("sequential_excess") or 0) / distinct if distinct else 0.0
    )
    return out


# What each segment shows in a finding's evidence.
SEGMENT_SHOWN = (
    "calls",
    "share",
    "callers",
    "answered",
    "asr",
    "under10_share",
    "under30_share",
    "median_answered",
    "unanswered_nc",
)


def segment_values(segment: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """One segment's values as the segment rules read them: its own counts and shape, its
    share of the customer's calls, and the customer's kind (for exemptions)."""
    calls = customer.get("calls") or 0
    return dict(segment) | {
        "share": (segment.get("calls") or 0) / calls if calls else 0.0,
        "customer_kind": customer.get("customer_kind"),
    }


def score(
    values: dict[str, Any],
    rules: tuple[Rule, ...] = CUSTOMER_RULES,
    *,
    segments: dict[str, dict[str, Any]] | None = None,
    segment_rules: tuple[Rule, ...] = SEGMENT_RULES,
    threshold: float = FLAG_THRESHOLD,
    min_calls: int = 1,
    rule_filter: Callable[[Rule], bool] | None = None,
    shown: tuple[str, ...] | None = None,
) -> Score:
    """Score one subject from its indicators and (customers) its ``segments``
    (``queries.segment_indicators``): every rule that fires, a segment rule on the segment
    where it is strongest. ``shown``: the indicators the evidence lists (default all; the
    rules' own thresholds are always listed with their values)."""
    v = derive(values)
    fired: list[tuple[Rule, float, str | None, dict[str, Any]]] = []
    scored = (v.get("calls") or 0) >= min_calls
    keep = rule_filter or (lambda _r: True)
    for rule in rules if scored else ():
        s = rule.fire(v) if keep(rule) else None
        if s is not None:
            fired.append((rule, s, None, v))
    for rule in segment_rules if scored and segments else ():
        best: tuple[float, str, dict[str, Any]] | None = None
        for name in rule.segments if keep(rule) else ():
            if name not in segments:  # type: ignore[operator]
                continue
            sv = segment_values(segments[name], v)  # type: ignore[index]
            s = rule.fire(sv)
            if s is not None and (best is None or s > best[0]):
                best = (s, name, sv)
        if best is not None:
            fired.append((rule, best[0], best[1], best[2]))
    remaining = 1.0
    for _, s, _, _ in fired:
        remaining *= 1.0 - s
    total = round(1.0 - remaining, 4)
    flagged = total >= threshold
    ranked = rank_categories([(r, s) for r, s, _, _ in fired])
    evidence: dict[str, Any] = {
        "categories": ranked,
        "rules": [_fired_evidence(r, s, seg, sv) for r, s, seg, sv in fired],
        "indicators": _json_values(
            values if shown is None else {k: values[k] for k in shown if k in values}
        ),
        "threshold": threshold,
    }
    if segments:
        evidence["segments"] = {
            name: _json_values({k: segment_values(seg, v).get(k) for k in SEGMENT_SHOWN})
            for name, seg in sorted(segments.items())
        }
    categories = [c["category"] for c in ranked] if flagged else []
    return Score(total, flagged, categories, evidence)


def _fired_evidence(
    rule: Rule, strength: float, segment: str | None, v: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": rule.name,
        "category": rule.category,
        "strength": round(strength, 3),
        "why": rule.description,
        "sources": list(rule.sources),
        "thresholds": rule.evidence(v),
    }
    if segment is not None:
        out["segment"] = {"name": segment} | _json_values({k: v.get(k) for k in SEGMENT_SHOWN})
        out["segment"]["examples"] = []  # call ids, filled in by the run (queries.segment_examples)
    return out


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
# traffic of no known kind) and "snowshoe" (automated traffic spread over many caller IDs)
# are not given; snowshoe, when it fired, is the more precise of the two.
KNOWN_KINDS = CATEGORY_ORDER[: CATEGORY_ORDER.index("snowshoe")]
GENERIC = ("snowshoe", "unknown_robocall_campaign")


def rank_categories(fired: list[tuple[Rule, float]]) -> list[dict[str, Any]]:
    """The categories of the strong rules that fired, strongest first (``CATEGORY_ORDER``,
    then strength), each with the rule that decided it."""
    best: dict[str, tuple[float, str]] = {}
    for rule, strength in fired:
        if rule.weak is None and strength > best.get(rule.category, (-1.0, ""))[0]:
            best[rule.category] = (strength, rule.name)
    if any(c in best for c in KNOWN_KINDS):
        for c in GENERIC:
            best.pop(c, None)
    elif "snowshoe" in best:
        best.pop("unknown_robocall_campaign", None)
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
