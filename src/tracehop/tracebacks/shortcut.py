"""The hub's STIR/SHAKEN shortcut (issue 4): ask the originating provider directly.

A fully attested call (attestation ``A``: the signer knows its customer and the number) carries
the signer's ``origid``, an opaque id naming the origination point; every provider on the path
sees the same one in its CDR (``orig_id``). So once the hub knows which provider an orig_id
belongs to, a signed call can be traced to its origin in one step (DOMAIN.md, "STIR/SHAKEN in
one page") instead of asking every intermediate provider in turn.

- The hub learns ``orig_id -> provider`` from its own traces: a trace that ended at ``origin``
  at provider P whose origin hop's best match carries an orig_id with attestation A teaches
  ``orig_id -> P`` (table ``hub_origins``); providers may also publish theirs
  (``tracehop hub origins import``).
- With ``shortcut=True`` (off by default: the Consortium's record is hop by hop), after the
  terminating provider answers ``received_from`` with a best match that is A-attested, whose
  verification did not fail and whose orig_id is known to belong to P (in the directory, in
  the consortium, with a node, not the upstream it named anyway), the hub asks P directly. If
  P answers ``origin`` the trace ends there and records ``shortcut_via`` (the orig_id);
  otherwise P's hop is kept with the detour in its reason, and the walk goes on hop by hop
  from the upstream the terminating provider named.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tracehop.errors import InputError, StoreError
from tracehop.store import Store
from tracehop.store.models import HubOrigin
from tracehop.tracebacks.directory import Provider, read_rows
from tracehop.tracebacks.traces import Hop, Trace

ORIGINS_REQUIRED = ("orig_id", "provider")
# identity_status values that mean STIR/SHAKEN verification failed (as detection reads them:
# tracehop.detection.indicators.VERIFY_FAILED).
VERIFY_FAILED = ("failed", "tn-validation-failed", "invalid")
_LEARN = threading.Lock()  # trace_batch's workers learn from one process


def best_match(hop: Hop) -> dict[str, Any] | None:
    """The node's best matching CDR row for the call (its first match), if it sent any."""
    matches = (hop.raw or {}).get("matches")
    if isinstance(matches, list) and matches and isinstance(matches[0], dict):
        return matches[0]
    return None


def signed_orig_id(match: dict[str, Any] | None) -> str | None:
    """The orig_id of a fully attested (A) match whose verification did not fail, else None."""
    if not match:
        return None
    oid, attest = match.get("orig_id"), match.get("attest")
    status = match.get("identity_status")
    if not (isinstance(oid, str) and oid.strip()) or str(attest or "").strip().upper() != "A":
        return None
    if isinstance(status, str) and status.strip().lower() in VERIFY_FAILED:
        return None
    return oid.strip()


def learn(store: Store, t: Trace, *, now: datetime | None = None) -> str | None:
    """After a trace: record ``orig_id -> origin provider`` when it ended at ``origin`` with an
    A-attested best match at the origin hop. Returns the orig_id learned, or None."""
    if t.outcome != "origin" or not t.hops or not t.outcome_provider:
        return None
    last = t.hops[-1]
    oid = signed_orig_id(best_match(last))
    if last.answer != "origin" or last.provider != t.outcome_provider or oid is None:
        return None
    with _LEARN:
        for attempt in (1, 2):  # another hub process may insert the same orig_id first
            try:
                _remember(store, oid, t.outcome_provider, t.trace_id, now)
                break
            except StoreError:
                if attempt == 2:
                    raise
    return oid


def _remember(
    store: Store, oid: str, provider: str, trace_id: str | None, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    with store.session() as s:
        row = s.get(HubOrigin, oid)
        if row is None:
            s.add(HubOrigin(orig_id=oid, provider=provider, trace_id=trace_id, learned_at=now,
                            times_seen=1))  # fmt: skip
        elif row.provider != provider:  # the origination point moved: the newest trace wins
            row.provider, row.trace_id, row.learned_at, row.times_seen = provider, trace_id, now, 1
        else:
            row.times_seen += 1
            row.trace_id, row.learned_at = trace_id or row.trace_id, now


def known_provider(store: Store, oid: str) -> str | None:
    with store.session() as s:
        row = s.get(HubOrigin, oid)
        return row.provider if row else None


def import_origins(store: Store, path: Path) -> int:
    """Create or update ``orig_id, provider`` rows from a CSV (all rows or none)."""
    rows: dict[str, str] = {}
    for line, row in read_rows(path, ORIGINS_REQUIRED, "origins file"):
        oid, provider = row["orig_id"], row["provider"]
        if not oid or not provider:
            raise InputError(f"{path}:{line}: orig_id and provider must both be given")
        if oid in rows:
            raise InputError(f"{path}:{line}: orig_id {oid} is listed twice")
        rows[oid] = provider
    with _LEARN:
        for oid, provider in rows.items():
            _remember(store, oid, provider, None)
    return len(rows)


def list_origins(store: Store) -> list[dict[str, Any]]:
    """The known orig_ids, by provider; ``trace_id`` None means imported."""
    with store.session() as s:
        q = select(HubOrigin).order_by(HubOrigin.provider, HubOrigin.orig_id)
        return [
            {
                "orig_id": r.orig_id,
                "provider": r.provider,
                "trace_id": r.trace_id,
                "learned_at": r.learned_at,
                "times_seen": r.times_seen,
            }
            for r in s.scalars(q)
        ]


def take(
    store: Store,
    directory: dict[str, Provider],
    t: Trace,
    first: Hop,
    ask: Callable[[str], Hop],
    keep: Callable[[Hop], None],
) -> Hop | None:
    """Try the shortcut after the first hop: ``ask(provider)`` asks a node (a new hop),
    ``keep(hop)`` stores it in the trace. Returns the origin hop if the shortcut reached the
    origin (``t.shortcut_via`` is set), else None: the walk goes on from ``first.upstream``."""
    if first.answer != "received_from":
        return None
    oid = signed_orig_id(best_match(first))
    pid = known_provider(store, oid) if oid else None
    p = directory.get(pid) if pid else None
    if (
        p is None
        or not p.in_consortium
        or not p.node_url
        or pid in (first.provider, first.upstream)
    ):
        return None  # unknown, unreachable, or the next hop anyway: nothing to skip
    hop = ask(p.id)
    if hop.answer == "origin":
        t.shortcut_via = oid
        keep(hop)
        return hop
    detour = (
        f"shortcut: asked {p.id} directly (orig_id {oid} was known as its origination point); "
        f"it answered {hop.answer}, so the walk goes on hop by hop from {first.upstream}"
    )
    hop.reason = f"{detour}: {hop.reason}" if hop.reason else detour
    keep(hop)
    return None
