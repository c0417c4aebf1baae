"""The hub (the Traceback Consortium's side): trace a reported call hop by hop across nodes.

The hub asks the terminating provider's tracehop node "who sent you this call?"
(``POST /api/v1/tracebacks/requests``), then each upstream it names, until one of:

How a trace can end is listed in ``traces.py`` (``OUTCOMES``).

Every hop (provider, asked and answered times, answer, upstream, confidence, the answer's
JSON) and the outcome are stored in the hub's state DB. docs/traceback.md, "Hub". With
``shortcut=True`` a signed call may skip to its known origin (``tracebacks.shortcut``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from tracehop.errors import InputError
from tracehop.settings import Settings
from tracehop.store import Store, open_store
from tracehop.times import SYSTEM, Clock, parse_duration, utc
from tracehop.tracebacks.directory import (
    Provider,
    hub_settings,
    load_blocks,
    load_directory,
    npa_nxx,
)
from tracehop.tracebacks.nodeclient import ask
from tracehop.tracebacks.protocol import parse_at
from tracehop.tracebacks.shortcut import learn, take
from tracehop.tracebacks.traces import Hop, Trace, mainline, save_hop, save_trace

if TYPE_CHECKING:
    from tracehop.shaken.verify import Verifier

log = logging.getLogger(__name__)

# 47 CFR 64.1200(n)(1): a provider must answer a traceback request within 24 hours.
DEFAULT_HOP_TIMEOUT = timedelta(hours=24)


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
        clock: Clock = SYSTEM,
    ) -> None:
        self.store = store
        self.clock = clock
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
        # With trust anchors the hub verifies the Identity headers nodes show it (shortcut.py)
        self.verifier: Verifier | None = None
        try:
            if self.settings.shaken_trust is not None:
                from tracehop.shaken.verify import Verifier

                self.verifier = Verifier.from_settings(self.settings, clock=clock)
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
        if self.verifier is not None:
            self.verifier.close()
        if self._own_store:
            self.store.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_hub(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock = SYSTEM,
) -> Hub:
    """A hub on the state DB of ``settings`` (its home)."""
    return Hub(
        open_store(settings), settings=settings, transport=transport, own_store=True, clock=clock
    )


def parse_deadline(text: str) -> float:
    """A hop deadline: ``10s``, ``5m``, ``24h``, ``2d`` or plain seconds; in seconds."""
    return parse_duration(text, what="hop deadline")


# --- the walk ------------------------------------------------------------------------------


def _at_text(at: datetime | date) -> str:
    if isinstance(at, datetime):
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return at.isoformat()


def hop_seconds(hop_timeout: float | timedelta) -> float:
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
    limit = hop_seconds(hop_timeout)
    when = parse_at(at) if isinstance(at, str) else at
    if isinstance(when, datetime):
        when = utc(when)
    t = Trace(
        trace_id=f"tb-{uuid.uuid4().hex[:16]}",
        caller=caller.strip(),
        called=called.strip(),
        at=when,
        started_at=hub.clock.now(),
        reference=reference,
        description=description,
    )
    if start_at:
        t.start_provider = start_at
    else:
        block = npa_nxx(called)
        t.start_provider = hub.blocks.get(block) if block else None
    save_trace(hub.store, t)
    try:
        _walk(hub, t, limit, window, shortcut)
    finally:
        t.finished_at = hub.clock.now()
        t.needs_review = any(h.needs_review for h in t.hops)
        t.gateway = _gateway(hub.directory, t.hops)
        if t.outcome is None:  # interrupted
            t.reason = t.reason or "interrupted"
        save_trace(hub.store, t)
    learn(hub.store, t, now=hub.clock.now())
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
        now = hub.clock.now()
        n, due = len(t.hops) + 1, now + timedelta(seconds=limit)
        hop = Hop(hop=n, provider=pid, request_id=f"{t.trace_id}-{n}", asked_at=now, due_at=due)
        request = {**body, "request_id": hop.request_id}
        ask(
            hub.client,
            directory[pid],
            request,
            hop,
            hop_timeout=limit,
            clock=hub.clock,
            max_answer_bytes=hub.settings.max_answer_bytes,
        )
        return hop

    def keep(hop: Hop) -> None:
        t.hops.append(hop)
        save_hop(hub.store, t.trace_id, hop)

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
        if (
            shortcut
            and len(t.hops) == 1
            and (got := take(hub.store, hub.directory, t, hop, ask_hop, keep, hub.verifier))
        ):
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
