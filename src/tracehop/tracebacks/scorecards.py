"""Per-provider scorecards from the hub's traces: what a consortium publishes about its
members. For each provider: traces it was asked in, hops it answered and how many within the
hop deadline, hops with no response, traces where it was the origin or the gateway (the first
US provider after a foreign one) and the median time it took to answer; and the list of the
providers that did not respond (the Consortium's published non-responsive list)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from tracehop.store import Store
from tracehop.tracebacks.directory import load_directory
from tracehop.tracebacks.traces import list_traces


def scorecards(store: Store) -> list[dict[str, Any]]:
    """One row per provider asked at least once, busiest first."""
    directory = load_directory(store)
    asked: dict[str, set[str]] = defaultdict(set)
    answered: dict[str, int] = defaultdict(int)
    in_time: dict[str, int] = defaultdict(int)
    silent: dict[str, int] = defaultdict(int)
    seconds: dict[str, list[float]] = defaultdict(list)
    origin: dict[str, int] = defaultdict(int)
    gateway: dict[str, int] = defaultdict(int)
    for t in list_traces(store):
        if t.outcome == "origin" and t.outcome_provider:
            origin[t.outcome_provider] += 1
        if t.gateway:
            gateway[t.gateway] += 1
        for h in t.hops:
            asked[h.provider].add(t.trace_id)
            if h.answer == "no_response":
                silent[h.provider] += 1
                continue
            answered[h.provider] += 1
            if h.answered_at is not None and h.answered_at <= h.due_at:
                in_time[h.provider] += 1
            if h.seconds is not None:
                seconds[h.provider].append(h.seconds)
    out = []
    for pid, traces in asked.items():
        p = directory.get(pid)
        out.append(
            {
                "provider": pid,
                "name": p.name if p else None,
                "country": p.country if p else None,
                "traces": len(traces),
                "answered": answered[pid],
                "answered_in_time": in_time[pid],
                "no_response": silent[pid],
                "origin": origin[pid],
                "gateway": gateway[pid],
                "median_seconds": round(statistics.median(seconds[pid]), 3)
                if seconds[pid]
                else None,
            }
        )
    return sorted(out, key=lambda r: (-r["traces"], r["provider"]))


def non_responsive(store: Store) -> list[dict[str, Any]]:
    """Providers with at least one hop that got no response, most first."""
    return [
        {k: r[k] for k in ("provider", "name", "country", "no_response", "traces")}
        for r in sorted(scorecards(store), key=lambda r: (-r["no_response"], r["provider"]))
        if r["no_response"]
    ]
