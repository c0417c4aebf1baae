"""Group flagged traffic into campaigns: one campaign entering through several customers is
seen as one when the customers share what a campaign cannot easily change.

Two flagged customers join the same campaign when, in the window, they share at least
``MIN_SHARED_KEYS`` of these keys:

- exact caller IDs among each customer's ``TOP_CALLERS`` most-used ones (a rotated pool of
  numbers is bought once and used everywhere);
- top called numbers (the three most-called numbers of each: TDoS targets);
- called-number ranges: NPA-NXX blocks that both walked in sequence (``RANGE_MIN_SEQUENTIAL``
  numbers dialled right after their predecessor), as one sequential dialler's list does;
- STIR/SHAKEN origination identifiers (``orig_id``, the PASSporT ``origid`` naming the
  originating switch or customer, ATIS-1000074), one key per identifier: the same signer's
  origination point behind two customers is the same source. One shared ``orig_id`` counts
  as ``MIN_SHARED_KEYS`` keys: it names one origin, unlike a caller ID that two unrelated
  customers can both show.

Shared NPA-NXX is not enough: every neighbour spoofer would share them. The campaign
finding lists its customers, the keys that link them (with examples) and when each
customer's flagged traffic was seen, so the timing across customers can be compared. A
campaign is reported when it joins two or more flagged customers (a single customer is its
own finding).
"""

from __future__ import annotations

from typing import Any

from tracehop.detection.findings import Finding, Window
from tracehop.detection.queries import campaign_links
from tracehop.detection.scoring import CATEGORY_ORDER
from tracehop.engine import EngineLike

# A link needs this many shared keys (one shared caller ID can be a coincidence).
MIN_SHARED_KEYS = 3
# Each flagged customer's most-used caller IDs are compared (a rotated pool is used over
# and over; a carrier's millions of one-off numbers are not what links a campaign).
TOP_CALLERS = 2000
# An NPA-NXX block is a shared range when each customer dialled this many numbers of it in
# sequence (the number before it dialled too).
RANGE_MIN_SEQUENTIAL = 10


def group_campaigns(
    engine: EngineLike, flagged: list[Finding], window: Window | None = None
) -> list[Finding]:
    """Campaign findings over the flagged customers of a run (``queries.prepare`` and
    ``queries.customer_indicators`` ran for the window)."""
    customers = {f.subject: f for f in flagged if f.kind == "customer"}
    if len(customers) < 2:
        return []
    names = sorted(customers)
    links = campaign_links(
        engine,
        names,
        window or Window(),
        top_callers=TOP_CALLERS,
        min_sequential=RANGE_MIN_SEQUENTIAL,
        min_shared=MIN_SHARED_KEYS,
    )
    parent = {n: n for n in names}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    shared: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for a, b, n, examples in links:
        parent[root(a)] = root(b)
        shared[(a, b)] = (n, examples)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        fs = [customers[m] for m in members]
        out.append(
            Finding(
                kind="campaign",
                subject="+".join(members),
                flagged=True,
                score=max(f.score for f in fs),
                categories=sorted({c for f in fs for c in f.categories}, key=_category_rank),
                evidence={
                    "customers": members,
                    "links": [
                        {"a": a, "b": b, "shared_keys": n, "examples": ex}
                        for (a, b), (n, ex) in shared.items()
                        if a in members
                    ],
                    "timing": {
                        f.subject: {
                            "first_seen": _iso(f.first_seen),
                            "last_seen": _iso(f.last_seen),
                        }
                        for f in fs
                    },
                },
                first_seen=min((f.first_seen for f in fs if f.first_seen), default=None),
                last_seen=max((f.last_seen for f in fs if f.last_seen), default=None),
            )
        )
    return out


def _category_rank(c: str) -> tuple[int, str]:
    """Campaign categories in the customers' order (``scoring.CATEGORY_ORDER``)."""
    return (CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else len(CATEGORY_ORDER), c)


def _iso(t: Any) -> Any:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None
