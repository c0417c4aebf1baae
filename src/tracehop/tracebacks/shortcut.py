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
- **Verified** (the hub has trust anchors, ``TRACEHOP_SHAKEN_TRUST``): when the best match
  carries the call's Identity header, the hub verifies it itself (at the call's start) and,
  when it is valid and A or B attested, takes the ``origid`` from the PASSporT and the signer
  from the certificate: its SPC is a provider's OCN in the directory (ATIS-1000080: the
  TNAuthList names the Service Provider Code; ATIS-1000074: with A or B the signer is the
  originating provider). No learning is needed and nothing rests on an answer's word. A header
  that does not verify gives no shortcut at all; a match without a header (most CDR formats
  log none) takes the learned path above.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tracehop.errors import InputError, StoreError
from tracehop.store import Store
from tracehop.store.models import HubOrigin
from tracehop.tracebacks.directory import Provider, read_rows
from tracehop.tracebacks.traces import Hop, Trace

if TYPE_CHECKING:
    from tracehop.shaken.verify import Verifier

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


def verified_origin(
    verifier: Verifier, directory: dict[str, Provider], match: dict[str, Any]
) -> tuple[str, str] | None:
    """(origid, provider id) from the match's Identity header, verified at the call's
    start; None when it does not verify, is C-attested (a gateway, not the origin) or its
    certificate's SPC is no provider's OCN."""
    start = match.get("start")
    try:
        at = datetime.fromisoformat(start) if isinstance(start, str) else None
    except ValueError:
        at = None
    result = verifier.verify(
        match.get("identity"),
        orig=match.get("caller") or None,
        dest=match.get("called") or None,
        at=at,
    )
    if not result.valid or result.attest not in ("A", "B") or not result.origid:
        return None
    spc = result.spc
    pid = next((p.id for p in directory.values() if spc and p.ocn == spc), None)
    return (result.origid, pid) if pid else None


def take(
    store: Store,
    directory: dict[str, Provider],
    t: Trace,
    first: Hop,
    ask: Callable[[str], Hop],
    keep: Callable[[Hop], None],
    verifier: Verifier | None = None,
) -> Hop | None:
    """Try the shortcut after the first hop: ``ask(provider)`` asks a node (a new hop),
    ``keep(hop)`` stores it in the trace. Returns the origin hop if the shortcut reached the
    origin (``t.shortcut_via`` is set), else None: the walk goes on from ``first.upstream``.
    ``verifier``: verify the match's Identity header and go by its signer (module doc)."""
    if first.answer != "received_from":
        return None
    match = best_match(first)
    identity = (match or {}).get("identity")
    if verifier is not None and isinstance(identity, str) and identity.strip():
        found = verified_origin(verifier, directory, match or {})
        if found is None:
            return None  # a signature that does not verify names nobody
        oid, pid = found
    else:
        oid = signed_orig_id(match)  # type: ignore[assignment]
        pid = known_provider(store, oid) if oid else None  # type: ignore[assignment]
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
        f"shortcut: asked {p.id} directly (orig_id {oid} named it as the origination point); "
        f"it answered {hop.answer}, so the walk goes on hop by hop from {first.upstream}"
    )
    hop.reason = f"{detour}: {hop.reason}" if hop.reason else detour
    keep(hop)
    return None
