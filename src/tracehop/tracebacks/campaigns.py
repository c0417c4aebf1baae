"""Campaigns across providers, at the hub: the hub's traces grouped by what ties reported
calls to one source (docs/detection.md, "Campaigns across providers").

One provider's detection sees a campaign where it enters that provider; the hub sees the
same campaign reported at many terminating providers and traced through different paths.
The ITG works campaign by campaign (a robocaller that enters through three gateways is one
case, not three), so the hub groups its traces when they share a *key*, each one a fact that
names a source and that a trace carries:

=====================  ==========================================================  =====
key                    what two traces share                                       traces
=====================  ==========================================================  =====
``orig_id:X``          the STIR/SHAKEN origination identifier of the call record a    2
                       node matched (ATIS-1000074: one origination point)
``origin:P/C``         the origin: provider ``P`` named its own customer ``C``         2
``caller:N``           the caller ID (a rotated pool is bought once and reused)        2
``caller_block:N``     the caller ID's 100-block, neighbour-spoofed ones left out:     2
                       look-alikes of one number (``+1800555 12XX``)
``source:U|S``         the upstream named where the trace left the consortium          2
                       (foreign entry, provider not listed) and the caller-ID
                       style ``S`` (neighbour, toll_free, invalid, premium, ...)
``target:N|D``         the called number on one UTC day: a flood (TDoS)               3
``range:B|S|D``        the called NPA-NXX block, caller-ID style and day: a           3
                       dialler walking a range (not for valid caller IDs: a block
                       of honeypot lines hears many campaigns a day)
=====================  ==========================================================  =====

Traces that share a key (with at least the number of traces in the last column) join one
campaign; the campaign lists its traces, the keys that tie them (with how many traces share
each), the providers in the paths, origins, gateways and where traces left the consortium,
the caller IDs and called numbers, and its first and last reported call. A key of the same
gateway alone is not one: a gateway carries many campaigns.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from tracehop.analyst import jsonable
from tracehop.numbers import CallerIdClass, caller_id_class, to_e164
from tracehop.store import Store
from tracehop.tracebacks.traces import Trace, list_traces

# Traces that must share a key for it to link them (the table above).
KEY_MIN_TRACES = {
    "orig_id": 2,
    "origin": 2,
    "caller": 2,
    "caller_block": 2,
    "source": 2,
    "target": 3,
    "range": 3,
}
# Outcomes where the trace names the upstream it could not follow (the call's source, seen
# from the consortium's edge).
EDGE_OUTCOMES = ("foreign_entry", "not_listed")


@dataclass
class Campaign:
    """Traces tied to one source by shared keys."""

    campaign_id: str
    traces: list[Trace]
    keys: dict[str, int]  # key -> traces of this campaign sharing it
    style: str  # the most common caller-ID style of its calls

    @property
    def first_call(self) -> datetime | date | None:
        times = [t.at for t in self.traces]
        return min(times, key=_sort_time) if times else None

    @property
    def last_call(self) -> datetime | date | None:
        times = [t.at for t in self.traces]
        return max(times, key=_sort_time) if times else None

    @property
    def providers(self) -> list[str]:
        """Every provider asked in its traces, most often first."""
        seen: Counter[str] = Counter(h.provider for t in self.traces for h in t.hops)
        return [p for p, _ in sorted(seen.items(), key=lambda x: (-x[1], x[0]))]

    def to_json(self) -> dict[str, Any]:
        origins = Counter(
            f"{t.outcome_provider}/{t.outcome_customer}" for t in self.traces
            if t.outcome == "origin"
        )  # fmt: skip
        edges = Counter(
            f"{t.outcome_provider}/{t.outcome_customer}" for t in self.traces
            if t.outcome in EDGE_OUTCOMES
        )  # fmt: skip
        return jsonable(
            {
                "campaign_id": self.campaign_id,
                "traces": len(self.traces),
                "style": self.style,
                "first_call": self.first_call,
                "last_call": self.last_call,
                "providers": self.providers,
                "origins": dict(origins.most_common()),
                "gateways": dict(Counter(t.gateway for t in self.traces if t.gateway)),
                "entries": dict(edges.most_common()),
                "outcomes": dict(Counter(t.outcome or "?" for t in self.traces)),
                "keys": dict(sorted(self.keys.items(), key=lambda x: (-x[1], x[0]))),
                "caller_ids": sorted({c for t in self.traces if (c := call_caller(t))}),
                "called": sorted({_e164(t.called) or t.called for t in self.traces}),
                "trace_ids": [t.trace_id for t in sorted(self.traces, key=_trace_order)],
                "references": [t.reference for t in sorted(self.traces, key=_trace_order)],
            }
        )


@dataclass
class CampaignReport:
    campaigns: list[Campaign]
    traces: int  # traces considered
    unlinked: int  # traces in no campaign
    per_provider: dict[str, int] = field(default_factory=dict)  # provider -> campaigns

    def to_json(self) -> dict[str, Any]:
        return {
            "traces": self.traces,
            "campaigns": len(self.campaigns),
            "traces_in_campaigns": sum(len(c.traces) for c in self.campaigns),
            "unlinked_traces": self.unlinked,
            "per_provider": self.per_provider,
            "items": [c.to_json() for c in self.campaigns],
        }


def _sort_time(at: datetime | date) -> str:
    return at.isoformat() if isinstance(at, datetime) else f"{at.isoformat()}T00:00:00+00:00"


def _trace_order(t: Trace) -> tuple[str, str]:
    return (_sort_time(t.at), t.trace_id)


def _e164(number: str | None) -> str | None:
    try:
        return to_e164(number)
    except Exception:  # a reported number as typed: anything can be in it
        return None


def _matches(t: Trace) -> list[dict[str, Any]]:
    """The call records nodes matched on the trace's hops, in hop order."""
    out = []
    for h in t.hops:
        for m in (h.raw or {}).get("matches") or []:
            if isinstance(m, dict):
                out.append(m)
    return out


def call_caller(t: Trace) -> str | None:
    """The call's caller ID: as the first node's best match recorded it (E.164), else as
    reported."""
    for m in _matches(t):
        if isinstance(m.get("caller"), str) and m["caller"]:
            return m["caller"]
    return _e164(t.caller)


def caller_style(caller: str | None, called: str | None) -> str:
    """What kind of caller ID a call showed: ``neighbour`` (the called number's NPA-NXX,
    DOMAIN.md), ``invalid`` (cannot be real, 47 CFR 64.1200(k)(2)), ``toll_free``,
    ``premium``, ``international``, ``missing`` or ``valid``."""
    cls = caller_id_class(caller, called)
    if cls in (CallerIdClass.MISSING,):
        return "missing"
    if cls == CallerIdClass.TOLL_FREE:
        return "toll_free"
    if cls == CallerIdClass.PREMIUM_INTERNATIONAL:
        return "premium"
    if cls != CallerIdClass.VALID:
        return "invalid"
    assert caller is not None
    if not caller.startswith("+1"):
        return "international"
    if called and called.startswith("+1") and caller[:8] == called[:8]:
        return "neighbour"
    return "valid"


def trace_keys(t: Trace) -> list[str]:
    """The keys of one trace (the module's table)."""
    keys: list[str] = []
    called = _e164(t.called)
    caller = call_caller(t)
    style = caller_style(caller, called)
    for m in _matches(t):
        oid = m.get("orig_id")
        if isinstance(oid, str) and oid:
            keys.append(f"orig_id:{oid}")
    if t.outcome == "origin" and t.outcome_provider and t.outcome_customer:
        keys.append(f"origin:{t.outcome_provider}/{t.outcome_customer}")
    if caller and caller != called:
        keys.append(f"caller:{caller}")
        if caller.startswith("+1") and len(caller) == 12 and style != "neighbour":
            keys.append(f"caller_block:{caller[:10]}XX")
    if t.outcome in EDGE_OUTCOMES and t.outcome_customer:
        keys.append(f"source:{t.outcome_customer}|{style}")
    day = t.at.date() if isinstance(t.at, datetime) else t.at
    if called:
        keys.append(f"target:{called}|{day.isoformat()}")
        # not for valid caller IDs: a block of honeypot lines hears many campaigns a day
        if called.startswith("+1") and len(called) == 12 and style not in ("valid", "missing"):
            keys.append(f"range:{called[2:8]}|{style}|{day.isoformat()}")
    return list(dict.fromkeys(keys))


def group_traces(traces: list[Trace], *, min_traces: int = 2) -> CampaignReport:
    """Campaigns of ``min_traces`` or more traces (union of traces sharing a key)."""
    keyed = {t.trace_id: trace_keys(t) for t in traces}
    members: dict[str, list[str]] = {}
    for tid, keys in keyed.items():
        for k in keys:
            members.setdefault(k, []).append(tid)
    parent = {t.trace_id: t.trace_id for t in traces}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    linking = {
        k: tids for k, tids in members.items() if len(tids) >= KEY_MIN_TRACES[k.split(":", 1)[0]]
    }
    for tids in linking.values():
        for other in tids[1:]:
            parent[root(other)] = root(tids[0])
    groups: dict[str, list[Trace]] = {}
    for t in traces:
        groups.setdefault(root(t.trace_id), []).append(t)
    campaigns = []
    for group in groups.values():
        if len(group) < max(2, min_traces):
            continue
        ids = {t.trace_id for t in group}
        keys = {k: len(tids) for k, tids in linking.items() if tids[0] in ids}
        styles = Counter(caller_style(call_caller(t), _e164(t.called)) for t in group)
        digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:10]
        campaigns.append(Campaign(f"cmp-{digest}", group, keys, styles.most_common(1)[0][0]))
    campaigns.sort(key=lambda c: (-len(c.traces), _sort_time(c.first_call), c.campaign_id))  # type: ignore[arg-type]
    per_provider: Counter[str] = Counter()
    for c in campaigns:
        for p in c.providers:
            per_provider[p] += 1
    linked = sum(len(c.traces) for c in campaigns)
    return CampaignReport(
        campaigns, len(traces), len(traces) - linked, dict(sorted(per_provider.items()))
    )


def find_campaigns(store: Store, *, min_traces: int = 2) -> CampaignReport:
    """The hub's stored traces grouped into campaigns (``tracehop hub campaigns``)."""
    return group_traces(list_traces(store), min_traces=min_traces)


def summary_with_campaigns(store: Store) -> list[dict[str, Any]]:
    """``tracebacks.traces.summary`` with each provider's ``campaigns``: how many campaigns
    had a trace that asked it (``tracehop hub summary`` and the hub's ``/api/v1/summary``)."""
    from tracehop.tracebacks.traces import summary

    rows = summary(store)
    per_provider = find_campaigns(store).per_provider
    for r in rows:
        r["campaigns"] = per_provider.get(r["provider"], 0)
    return rows
