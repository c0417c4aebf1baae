"""Group flagged traffic into campaigns: one campaign entering through several customers is
seen as one when they share caller IDs or hammer the same called numbers.

Two flagged customers join the same campaign when, in the window, they sent calls with at
least ``MIN_SHARED_CALLERS`` identical caller IDs or share top called numbers (TDoS targets).
Shared NPA-NXX is not enough: every neighbour spoofer would share them. A campaign is reported
when it joins two or more flagged customers (a single customer is its own finding).
"""

from __future__ import annotations

from typing import Any

import duckdb

# A link needs this many shared caller IDs (one shared number can be a coincidence).
MIN_SHARED_CALLERS = 3


def group_campaigns(con: duckdb.DuckDBPyConnection, flagged: list[Any]) -> list[Any]:
    """Campaign findings over the flagged customers of a run (``th_features`` is prepared)."""
    from tracehop.detection.run import Finding

    customers = {f.subject: f for f in flagged if f.kind == "customer"}
    if len(customers) < 2:
        return []
    names = sorted(customers)
    placeholders = ", ".join("?" for _ in names)
    links = con.execute(
        f"""WITH k AS (
              SELECT DISTINCT upstream, caller AS key FROM th_features
              WHERE upstream IN ({placeholders}) AND caller IS NOT NULL
              UNION ALL
              SELECT upstream, 'called:' || called FROM (
                SELECT upstream, called, row_number() OVER (
                    PARTITION BY upstream ORDER BY count(*) DESC) AS rk
                FROM th_features WHERE upstream IN ({placeholders}) AND called IS NOT NULL
                GROUP BY upstream, called) WHERE rk <= 3)
            SELECT a.upstream, b.upstream, count(*) AS shared,
                   list(a.key ORDER BY a.key)[1:5] AS examples
            FROM k a JOIN k b ON a.key = b.key AND a.upstream < b.upstream
            GROUP BY a.upstream, b.upstream
            HAVING count(*) >= {MIN_SHARED_CALLERS}""",
        names + names,
    ).fetchall()
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
                categories=sorted({c for f in fs for c in f.categories}),
                evidence={
                    "customers": members,
                    "links": [
                        {"a": a, "b": b, "shared_keys": n, "examples": ex}
                        for (a, b), (n, ex) in shared.items()
                        if a in members
                    ],
                },
                first_seen=min((f.first_seen for f in fs if f.first_seen), default=None),
                last_seen=max((f.last_seen for f in fs if f.last_seen), default=None),
            )
        )
    return out
