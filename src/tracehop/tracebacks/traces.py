"""The hub's traces: what a traceback is (the reported call, every hop, how it ended), how
it is stored in the hub's state DB and read back, and the per-provider summary.

Outcomes (``OUTCOMES``; docs/traceback.md, "Hub"):

- ``origin``: a provider names its own customer (the origin is found);
- ``not_found``: a provider has no record of the call;
- ``no_response``: a node did not answer by the hop deadline (24 h in production,
  47 CFR 64.1200(n)(1)), or refused (401/403, another 4xx);
- ``foreign_entry``: the upstream named is a non-US provider the hub cannot ask: the call
  entered the US network at the provider asked;
- ``not_listed``: the upstream named is a US provider outside the consortium;
- ``no_node``: the upstream is a consortium member the directory gives no node URL;
- ``loop``: a provider is named a second time;
- ``no_start``: no number block (or directory entry) says where to start.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from tracehop.analyst import jsonable
from tracehop.errors import NotFoundError
from tracehop.store import Store
from tracehop.store.models import HubHop, HubTrace
from tracehop.times import utc
from tracehop.tracebacks.directory import load_directory

OUTCOMES = (
    "origin",
    "not_found",
    "no_response",
    "foreign_entry",
    "not_listed",
    "no_node",
    "loop",
    "no_start",
)


@dataclass
class Hop:
    """One provider asked, and what came back (``no_response`` when nothing usable did)."""

    hop: int
    provider: str
    request_id: str
    asked_at: datetime
    due_at: datetime
    answer: str = "no_response"
    answered_at: datetime | None = None
    upstream: str | None = None
    confidence: float | None = None
    needs_review: bool = False
    http_status: int | None = None
    attempts: int = 0
    reason: str = ""
    raw: dict[str, Any] | None = None

    @property
    def seconds(self) -> float | None:
        if self.answered_at is None:
            return None
        return round((self.answered_at - self.asked_at).total_seconds(), 3)

    @property
    def upstream_country(self) -> str | None:
        """The country the node gave for the upstream (its customer record), if any."""
        customer = (self.raw or {}).get("customer") or {}
        country = customer.get("country") if isinstance(customer, dict) else None
        return country.upper() if isinstance(country, str) and country else None

    def to_json(self) -> dict[str, Any]:
        return jsonable(
            {
                "hop": self.hop,
                "provider": self.provider,
                "request_id": self.request_id,
                "asked_at": self.asked_at,
                "answered_at": self.answered_at,
                "due_at": self.due_at,
                "seconds": self.seconds,
                "answer": self.answer,
                "upstream": self.upstream,
                "confidence": self.confidence,
                "needs_review": self.needs_review,
                "http_status": self.http_status,
                "attempts": self.attempts,
                "reason": self.reason,
                "raw": self.raw,
            }
        )


@dataclass
class Trace:
    """A traceback: the reported call, every hop, and how it ended."""

    trace_id: str
    caller: str
    called: str
    at: datetime | date
    started_at: datetime
    reference: str | None = None
    description: str = ""
    start_provider: str | None = None
    finished_at: datetime | None = None
    outcome: str | None = None
    outcome_provider: str | None = None
    outcome_customer: str | None = None
    gateway: str | None = None
    reason: str = ""
    needs_review: bool = False
    shortcut_via: str | None = None  # the orig_id whose known origin was asked directly
    hops: list[Hop] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    def to_json(self, *, raw: bool = True) -> dict[str, Any]:
        hops = [h.to_json() for h in self.hops]
        if not raw:
            for h in hops:
                h.pop("raw")
        origin = self.outcome == "origin"
        return jsonable(
            {
                "trace_id": self.trace_id,
                "reference": self.reference,
                "caller": self.caller,
                "called": self.called,
                "at": self.at,
                "description": self.description,
                "start_provider": self.start_provider,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "seconds": self.seconds,
                "outcome": self.outcome,
                "outcome_provider": self.outcome_provider,
                "outcome_customer": self.outcome_customer,
                "origin_provider": self.outcome_provider if origin else None,
                "origin_customer": self.outcome_customer if origin else None,
                "gateway": self.gateway,
                "reason": self.reason,
                "needs_review": self.needs_review,
                "shortcut_via": self.shortcut_via,
                "hops": hops,
            }
        )


def mainline(hops: list[Hop]) -> list[Hop]:
    """The hops of the hop-by-hop chain: without a shortcut hop the walk did not continue from
    (each hop's provider is the upstream the one before it named)."""
    out: list[Hop] = []
    for h in hops:
        if out and h.provider != out[-1].upstream:
            continue
        out.append(h)
    return out


# --- storing and reading traces --------------------------------------------------------------


# copied as they are between Trace/Hop and their rows
_TRACE_FIELDS = ("start_provider", "started_at", "finished_at", "outcome", "outcome_provider",
                 "outcome_customer", "gateway", "needs_review", "shortcut_via")  # fmt: skip
_HOP_FIELDS = ("hop", "provider", "request_id", "asked_at", "answered_at", "due_at", "answer",
               "upstream", "confidence", "needs_review", "http_status", "attempts")  # fmt: skip


def save_trace(store: Store, t: Trace) -> None:
    with store.session() as s:
        row = s.get(HubTrace, t.trace_id) or HubTrace(trace_id=t.trace_id)
        row.reference, row.caller, row.called = t.reference, t.caller, t.called
        row.at = t.at if isinstance(t.at, datetime) else None
        row.on_date = t.at if not isinstance(t.at, datetime) else None
        row.description = t.description or None
        for name in _TRACE_FIELDS:
            setattr(row, name, getattr(t, name))
        row.reason = t.reason or None
        s.merge(row)


def save_hop(store: Store, trace_id: str, h: Hop) -> None:
    with store.session() as s:
        raw = jsonable(h.raw) if h.raw is not None else None
        fields = {name: getattr(h, name) for name in _HOP_FIELDS}
        s.merge(HubHop(trace_id=trace_id, **fields, reason=h.reason or None, raw=raw))


def _from_rows(row: HubTrace, hops: Sequence[HubHop]) -> Trace:
    at: datetime | date = utc(row.at) or row.on_date  # type: ignore[assignment]
    t = Trace(
        trace_id=row.trace_id,
        caller=row.caller,
        called=row.called,
        at=at,
        started_at=utc(row.started_at),  # type: ignore[arg-type]
        reference=row.reference,
        description=row.description or "",
        start_provider=row.start_provider,
        finished_at=utc(row.finished_at),
        outcome=row.outcome,
        outcome_provider=row.outcome_provider,
        outcome_customer=row.outcome_customer,
        gateway=row.gateway,
        reason=row.reason or "",
        needs_review=row.needs_review,
        shortcut_via=row.shortcut_via,
    )
    for h in sorted(hops, key=lambda h: h.hop):
        t.hops.append(
            Hop(
                hop=h.hop,
                provider=h.provider,
                request_id=h.request_id,
                asked_at=utc(h.asked_at),  # type: ignore[arg-type]
                due_at=utc(h.due_at),  # type: ignore[arg-type]
                answer=h.answer,
                answered_at=utc(h.answered_at),
                upstream=h.upstream,
                confidence=h.confidence,
                needs_review=h.needs_review,
                http_status=h.http_status,
                attempts=h.attempts,
                reason=h.reason or "",
                raw=h.raw,
            )
        )
    return t


def list_traces(store: Store, *, limit: int | None = None) -> list[Trace]:
    """Stored traces, newest first."""
    with store.session() as s:
        q = select(HubTrace).order_by(HubTrace.started_at.desc(), HubTrace.trace_id)
        rows = list(s.scalars(q.limit(limit) if limit else q))
        ids = [r.trace_id for r in rows]
        hops: dict[str, list[HubHop]] = {}
        for i in range(0, len(ids), 500):
            for h in s.scalars(select(HubHop).where(HubHop.trace_id.in_(ids[i : i + 500]))):
                hops.setdefault(h.trace_id, []).append(h)
        return [_from_rows(r, hops.get(r.trace_id, [])) for r in rows]


def get_trace(store: Store, trace_id: str) -> Trace:
    with store.session() as s:
        row = s.get(HubTrace, trace_id)
        if row is None:
            raise NotFoundError(f"no trace {trace_id!r}: `tracehop hub summary` lists them")
        hops = list(s.scalars(select(HubHop).where(HubHop.trace_id == trace_id)))
        return _from_rows(row, hops)


# --- per provider ----------------------------------------------------------------------------


def summary(store: Store) -> list[dict[str, Any]]:
    """Per provider: tracebacks it was asked in, and in how many it was the origin, the
    gateway (first US provider after a foreign one) or non-responsive; also where traces
    ended as not found, foreign entry or not listed. Busiest first."""
    directory = load_directory(store)
    keys = ("asked", "origin", "gateway", "no_response", "not_found", "foreign_entry", "not_listed")
    counts: dict[str, Counter[str]] = {}
    for t in list_traces(store):
        touched: Counter[str] = Counter()
        for h in t.hops:
            touched[h.provider] = 1
        for pid in touched:
            counts.setdefault(pid, Counter())["asked"] += 1
        if t.gateway:
            counts.setdefault(t.gateway, Counter())["gateway"] += 1
        if t.outcome in keys and t.outcome_provider:
            counts.setdefault(t.outcome_provider, Counter())[t.outcome] += 1
    out = []
    for pid, c in counts.items():
        p = directory.get(pid)
        out.append(
            {
                "provider": pid,
                "name": p.name if p else None,
                "country": p.country if p else None,
                **{k: c[k] for k in keys},
            }
        )
    out.sort(key=lambda r: (-r["asked"], r["provider"]))
    return out
