"""The hub (the Traceback Consortium's side): trace a reported call hop by hop across nodes.

The hub asks the terminating provider's tracehop node "who sent you this call?"
(``POST /api/v1/tracebacks/requests``), then each upstream it names, until one of:

- ``origin``: a provider names its own customer (the origin is found);
- ``not_found``: a provider has no record of the call;
- ``no_response``: a node did not answer by the hop deadline (24 h in production,
  47 CFR 64.1200(n)(1); seconds in tests), or refused (401/403, another 4xx);
- ``foreign_entry``: the upstream named is a non-US provider the hub cannot ask (outside the
  consortium, or without a node): the call entered the US network at the provider asked;
- ``not_listed``: the upstream named is a US provider outside the consortium;
- ``no_node``: the upstream is a consortium member the directory gives no node URL;
- ``loop``: a provider is named a second time;
- ``no_start``: no number block (or directory entry) says where to start.

Every hop (provider, asked and answered times, answer, upstream, confidence, the answer's
JSON) and the outcome are stored in the hub's state DB. docs/traceback.md, "Hub". With
``shortcut=True`` a signed call may skip to its known origin (``tracebacks.shortcut``).
"""

from __future__ import annotations

import csv
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tracehop.analyst import jsonable
from tracehop.csvfiles import open_csv
from tracehop.errors import InputError, NotFoundError
from tracehop.settings import Settings
from tracehop.store import Store, open_store
from tracehop.store.models import HubHop, HubTrace
from tracehop.times import format_span, parse_duration
from tracehop.tracebacks.directory import (
    Provider,
    hub_settings,
    load_blocks,
    load_directory,
    npa_nxx,
)
from tracehop.tracebacks.protocol import ANSWERS, parse_at
from tracehop.tracebacks.shortcut import learn, mainline, take

log = logging.getLogger(__name__)

REQUEST_PATH = "/api/v1/tracebacks/requests"
# 47 CFR 64.1200(n)(1): a provider must answer a traceback request within 24 hours.
DEFAULT_HOP_TIMEOUT = timedelta(hours=24)
# Between attempts at a node that cannot be reached or answers 5xx/429: doubling, capped.
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 300.0
DEFAULT_WORKERS = 8
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


def _now() -> datetime:
    return datetime.now(UTC)


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


class Hub:
    """The hub's state DB, its directory and number blocks, and one HTTP client for the
    nodes (thread-safe: ``trace_batch`` shares it between workers).

    ``settings`` say where the key of the stored node tokens is (``tracehop.hubkey``); the
    directory is loaded with the tokens decrypted, so a key that does not decrypt them is a
    ``TokenKeyError`` here, before any node is asked."""

    def __init__(
        self,
        store: Store,
        *,
        settings: Settings | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 32,
        own_store: bool = False,
    ) -> None:
        self.store = store
        self.settings = hub_settings(store, settings)
        self._own_store = own_store
        self.client = httpx.Client(
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"User-Agent": "tracehop-hub"},
            follow_redirects=False,
        )
        self.directory: dict[str, Provider] = {}
        self.blocks: dict[str, str] = {}
        try:
            self.reload()
        except BaseException:
            self.close()
            raise

    def reload(self) -> None:
        """Read the directory and number blocks again (after an import)."""
        self.directory = load_directory(self.store, self.settings)
        self.blocks = load_blocks(self.store)

    def close(self) -> None:
        self.client.close()
        if self._own_store:
            self.store.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_hub(settings: Settings, *, transport: httpx.BaseTransport | None = None) -> Hub:
    """A hub on the state DB of ``settings`` (its home)."""
    return Hub(open_store(settings), settings=settings, transport=transport, own_store=True)


# --- asking one node ------------------------------------------------------------------------


def _error_text(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:300]
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])[:300]
    return resp.text[:200].strip()


def ask(
    hub: Hub,
    provider: Provider,
    body: dict[str, Any],
    hop: Hop,
    *,
    hop_timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Hop:
    """Ask one node; fill ``hop`` with its answer, or ``no_response`` and why.

    An unreachable node, a 5xx or a 429 is asked again (backing off) until the deadline; a
    401/403 (the hub's token refused) or another 4xx ends the hop at once: waiting would not
    change it. A node in review-first mode answers 202 (a person confirms first): the hub
    polls ``GET .../requests/{request_id}`` until the answer or the deadline. An answer that
    arrives after the deadline counts as no response.
    """
    assert provider.node_url
    url = provider.node_url + REQUEST_PATH
    headers = {"Authorization": f"Bearer {provider.token}"} if provider.token else {}
    deadline = time.monotonic() + hop_timeout
    delay = FIRST_RETRY_SECONDS
    pending = False  # the node took the request and a person is reviewing the answer
    reason = f"no answer within {format_span(hop_timeout)}"

    def wait() -> None:
        nonlocal delay
        sleep(max(0.0, min(delay, deadline - time.monotonic())))
        delay = min(delay * 2, MAX_RETRY_SECONDS)

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            hop.reason = reason
            return hop
        hop.attempts += 1
        try:
            if pending:
                resp = hub.client.get(
                    f"{url}/{hop.request_id}", headers=headers, timeout=httpx.Timeout(remaining)
                )
            else:
                resp = hub.client.post(
                    url, json=body, headers=headers, timeout=httpx.Timeout(remaining)
                )
        except httpx.TimeoutException:
            reason = f"no answer within {format_span(hop_timeout)}"
            continue
        except httpx.TransportError as exc:
            reason = f"cannot reach {provider.node_url}: {exc.__class__.__name__}: {exc}"
            wait()
            continue
        hop.http_status = resp.status_code
        if resp.status_code == 202:
            pending = True
            reason = f"still under review at {provider.id} after {format_span(hop_timeout)}"
            wait()
            continue
        if resp.status_code == 404 and pending:
            pending = False  # the node lost the request: ask again
            continue
        if resp.status_code == 429 or resp.status_code >= 500:
            reason = f"HTTP {resp.status_code}: {_error_text(resp)}"
            wait()
            continue
        if resp.status_code in (401, 403):
            hop.reason = f"refused: HTTP {resp.status_code}: {_error_text(resp)}"
            return hop
        if resp.status_code != 200:
            hop.reason = f"HTTP {resp.status_code}: {_error_text(resp)}"
            return hop
        if time.monotonic() > deadline:
            hop.reason = f"answered after the deadline ({format_span(hop_timeout)})"
            return hop
        return _read_answer(hop, resp)


def _read_answer(hop: Hop, resp: httpx.Response) -> Hop:
    try:
        data = resp.json()
    except ValueError:
        hop.reason = "the node's answer is not JSON"
        return hop
    answer = data.get("answer") if isinstance(data, dict) else None
    if answer not in ANSWERS:
        hop.reason = f"the node's answer {answer!r} is not one of the four hop answers"
        hop.raw = data if isinstance(data, dict) else None
        return hop
    upstream = data.get("upstream")
    if answer != "not_found" and not (isinstance(upstream, str) and upstream):
        hop.reason = f"the node answered {answer} without naming the upstream"
        hop.raw = data
        return hop
    hop.answered_at = _now()
    hop.answer = answer
    hop.upstream = upstream if answer != "not_found" else None
    conf = data.get("confidence")
    hop.confidence = float(conf) if isinstance(conf, int | float) else None
    hop.needs_review = bool(data.get("needs_review"))
    hop.reason = str(data.get("reason") or "")
    hop.raw = data
    return hop


def parse_deadline(text: str) -> float:
    """A hop deadline: ``10s``, ``5m``, ``24h``, ``2d`` or plain seconds; in seconds."""
    return parse_duration(text, what="hop deadline")


# --- the walk ------------------------------------------------------------------------------


def _at_text(at: datetime | date) -> str:
    if isinstance(at, datetime):
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return at.isoformat()


def _seconds(hop_timeout: float | timedelta) -> float:
    value = hop_timeout.total_seconds() if isinstance(hop_timeout, timedelta) else hop_timeout
    if value <= 0:
        raise InputError("the hop deadline must be positive")
    return float(value)


def trace(
    hub: Hub,
    caller: str,
    called: str,
    at: datetime | date | str,
    *,
    start_at: str | None = None,
    hop_timeout: float | timedelta = DEFAULT_HOP_TIMEOUT,
    reference: str | None = None,
    description: str = "",
    window: str | None = None,
    shortcut: bool = False,
) -> Trace:
    """Trace one reported call hop by hop; store and return the trace.

    ``start_at`` names the first provider to ask (default: the owner of the called number's
    NPA-NXX in the number blocks). ``hop_timeout`` is each node's deadline (seconds or a
    timedelta). ``shortcut``: ask a signed call's known origin directly (``shortcut.take``).
    """
    limit = _seconds(hop_timeout)
    when = parse_at(at) if isinstance(at, str) else at
    if isinstance(when, datetime):
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    t = Trace(
        trace_id=f"tb-{uuid.uuid4().hex[:16]}",
        caller=caller.strip(),
        called=called.strip(),
        at=when,
        started_at=_now(),
        reference=reference,
        description=description,
    )
    if start_at:
        t.start_provider = start_at
    else:
        block = npa_nxx(called)
        t.start_provider = hub.blocks.get(block) if block else None
    _save_trace(hub.store, t)
    try:
        _walk(hub, t, limit, window, shortcut)
    finally:
        t.finished_at = _now()
        t.needs_review = any(h.needs_review for h in t.hops)
        t.gateway = _gateway(hub.directory, t.hops)
        if t.outcome is None:  # interrupted
            t.reason = t.reason or "interrupted"
        _save_trace(hub.store, t)
    learn(hub.store, t)
    log.info("trace %s: %s at %s", t.trace_id, t.outcome, t.outcome_provider)
    return t


def _end(t: Trace, outcome: str, provider: str | None, customer: str | None, why: str) -> None:
    t.outcome, t.outcome_provider, t.outcome_customer, t.reason = outcome, provider, customer, why


def _walk(hub: Hub, t: Trace, limit: float, window: str | None, shortcut: bool) -> None:
    directory = hub.directory
    if t.start_provider is None:
        block = npa_nxx(t.called)
        where = f"NPA-NXX {block}" if block else f"{t.called!r} (not a NANP number)"
        _end(t, "no_start", None, None, f"no number block for {where}: give --start-at")
        return
    current: str = t.start_provider
    if current not in directory:
        _end(t, "no_start", current, None, f"{current} is not in the directory")
        return
    seen: set[str] = set()
    body: dict[str, Any] = {
        "caller": t.caller,
        "called": t.called,
        "at": _at_text(t.at),
        "description": t.description,
    }
    if window:
        body["window"] = window

    def ask_hop(pid: str) -> Hop:
        now = _now()
        n, due = len(t.hops) + 1, now + timedelta(seconds=limit)
        hop = Hop(hop=n, provider=pid, request_id=f"{t.trace_id}-{n}", asked_at=now, due_at=due)
        ask(hub, directory[pid], {**body, "request_id": hop.request_id}, hop, hop_timeout=limit)
        return hop

    def keep(hop: Hop) -> None:
        t.hops.append(hop)
        _save_hop(hub.store, t.trace_id, hop)

    while True:
        seen.add(current)
        provider = directory[current]
        if not provider.node_url:
            # only the first provider gets here: upstreams are checked before the next hop
            _end(t, "no_node", current, None, f"{current} has no node URL in the directory")
            return
        keep(hop := ask_hop(current))
        if hop.answer == "no_response":
            _end(t, "no_response", current, None, hop.reason)
            return
        if hop.answer == "not_found":
            _end(t, "not_found", current, None, f"{current} has no record of the call")
            return
        upstream = hop.upstream or ""
        if hop.answer == "origin":
            _end(t, "origin", current, upstream, f"{current} names its customer {upstream}")
            return
        if shortcut and len(t.hops) == 1 and (got := take(hub, t, hop, ask_hop, keep)):
            why = f"asked directly (orig_id {t.shortcut_via}): names its customer {got.upstream}"
            _end(t, "origin", got.provider, got.upstream, why)
            return
        nxt = directory.get(upstream)
        country = nxt.country if nxt else hop.upstream_country
        foreign = country is not None and country != "US"
        if upstream in seen:
            _end(t, "loop", current, upstream, f"{upstream} was already asked in this trace")
            return
        if hop.answer == "provider_not_listed" or nxt is None or not nxt.in_consortium:
            outcome = "foreign_entry" if foreign else "not_listed"
            where = f" ({country})" if country else " (country unknown)"
            _end(t, outcome, current, upstream, f"{upstream}{where} is not in the consortium")
            return
        if not nxt.node_url:
            if foreign:
                _end(t, "foreign_entry", current, upstream, f"{upstream} ({country}) has no node")
            else:
                _end(t, "no_node", upstream, None, f"{upstream} has no node URL in the directory")
            return
        current = upstream


def _gateway(directory: dict[str, Provider], hops: Sequence[Hop]) -> str | None:
    """The first US provider after a foreign one, in the call's direction: a US provider
    asked that named a non-US upstream (directory country, else the node's customer record)."""
    for h in reversed(mainline(list(hops))):  # from the terminating provider to the origin
        me = directory.get(h.provider)
        if not h.upstream or me is None or me.foreign or h.answer == "origin":
            continue
        up = directory.get(h.upstream)
        country = up.country if up else h.upstream_country
        if country and country != "US":
            return h.provider
    return None


# --- storing and reading traces --------------------------------------------------------------


# copied as they are between Trace/Hop and their rows
_TRACE_FIELDS = ("start_provider", "started_at", "finished_at", "outcome", "outcome_provider",
                 "outcome_customer", "gateway", "needs_review", "shortcut_via")  # fmt: skip
_HOP_FIELDS = ("hop", "provider", "request_id", "asked_at", "answered_at", "due_at", "answer",
               "upstream", "confidence", "needs_review", "http_status", "attempts")  # fmt: skip


def _save_trace(store: Store, t: Trace) -> None:
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


def _save_hop(store: Store, trace_id: str, h: Hop) -> None:
    with store.session() as s:
        raw = jsonable(h.raw) if h.raw is not None else None
        fields = {name: getattr(h, name) for name in _HOP_FIELDS}
        s.merge(HubHop(trace_id=trace_id, **fields, reason=h.reason or None, raw=raw))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _from_rows(row: HubTrace, hops: Sequence[HubHop]) -> Trace:
    at: datetime | date = _utc(row.at) or row.on_date  # type: ignore[assignment]
    t = Trace(
        trace_id=row.trace_id,
        caller=row.caller,
        called=row.called,
        at=at,
        started_at=_utc(row.started_at),  # type: ignore[arg-type]
        reference=row.reference,
        description=row.description or "",
        start_provider=row.start_provider,
        finished_at=_utc(row.finished_at),
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
                asked_at=_utc(h.asked_at),  # type: ignore[arg-type]
                due_at=_utc(h.due_at),  # type: ignore[arg-type]
                answer=h.answer,
                answered_at=_utc(h.answered_at),
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


# --- many complaints -------------------------------------------------------------------------


@dataclass
class Complaint:
    line: int
    reference: str | None
    caller: str
    called: str
    at: datetime | date
    description: str = ""


@dataclass
class ComplaintError:
    line: int
    reason: str
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "reference": self.reference, "error": self.reason}


@dataclass
class BatchResult:
    traces: list[Trace] = field(default_factory=list)
    errors: list[ComplaintError] = field(default_factory=list)

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        return {
            "traces": [t.to_json(raw=raw) for t in self.traces],
            "errors": [e.to_json() for e in self.errors],
            "outcomes": dict(sorted(Counter(t.outcome for t in self.traces).items())),
        }


def read_complaints(path: Path) -> tuple[list[Complaint], list[ComplaintError]]:
    """The simulator's complaints.csv (``complaint_id, caller_id, called, date, time_utc,
    description``) or a CSV with ``caller, called, at[, description]`` and optionally
    ``complaint_id`` / ``request_id`` / ``id``. ``at`` is a timestamp (naive = UTC) or a date.
    A bad row is reported with its line and the others are traced."""
    reader, header = open_csv(path)
    sim = {"caller_id", "called", "date"} <= set(header)
    if not sim and not {"caller", "called", "at"} <= set(header):
        raise InputError(
            f"{path}: complaints need the columns caller, called, at (or the simulator's "
            "caller_id, called, date, time_utc)"
        )
    good: list[Complaint] = []
    bad: list[ComplaintError] = []
    try:
        for row in reader:
            line = reader.line_num
            r = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if not any(r.values()):
                continue
            ref = r.get("complaint_id") or r.get("request_id") or r.get("id") or None
            if None in row:
                bad.append(ComplaintError(line, "more fields than the header", ref))
                continue
            caller = r.get("caller_id" if sim else "caller", "")
            when = (
                f"{r['date']}T{r['time_utc']}:00Z" if sim and r.get("time_utc") else r.get("date")
            )
            try:
                if not any(ch.isdigit() for ch in caller):
                    raise InputError(f"caller {caller!r} has no digits")
                if not any(ch.isdigit() for ch in r.get("called", "")):
                    raise InputError(f"called {r.get('called')!r} has no digits")
                at = parse_at((when if sim else r.get("at")) or "")
            except InputError as exc:
                bad.append(ComplaintError(line, exc.message, ref))
                continue
            good.append(Complaint(line, ref, caller, r["called"], at, r.get("description", "")))
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not readable as CSV: {exc}") from None
    return good, bad


def trace_batch(
    hub: Hub,
    complaints: Path | Sequence[Complaint],
    *,
    workers: int = DEFAULT_WORKERS,
    hop_timeout: float | timedelta = DEFAULT_HOP_TIMEOUT,
    limit: int | None = None,
    shortcut: bool = False,
) -> BatchResult:
    """Trace every complaint (a CSV path or parsed complaints) with at most ``workers``
    traces at once; traces come back in file order. ``shortcut`` as for ``trace``."""
    if workers < 1:
        raise InputError("workers must be at least 1")
    seconds = _seconds(hop_timeout)
    if isinstance(complaints, Path | str):
        items, errors = read_complaints(Path(complaints))
    else:
        items, errors = list(complaints), []
    if limit is not None:
        items = items[:limit]
    hub.reload()

    def one(c: Complaint) -> Trace:
        return trace(
            hub,
            c.caller,
            c.called,
            c.at,
            hop_timeout=seconds,
            reference=c.reference,
            description=c.description,
            shortcut=shortcut,
        )

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub") as pool:
        traces = list(pool.map(one, items))
    return BatchResult(traces=traces, errors=errors)


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
