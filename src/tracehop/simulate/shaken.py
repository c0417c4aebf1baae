"""STIR/SHAKEN in a simulated world: a test CA, a certificate per signing provider, and the
Identity header of every signed call (docs/simulator.md, "STIR/SHAKEN").

- ``world/shaken/`` is a test CA (``tracehop.shaken.ca.TestCA``) made from the world's seed
  (same seed, same keys and files), valid from the day before the scenario's start. Every
  provider that signs (US originating, access, gateway) has a certificate with its OCN as
  the SPC (ATIS-1000080: the TNAuthList names the Service Provider Code), served, as the
  x5u URL ``https://certs.sim.example/<provider>.pem`` says, from ``world/shaken/certs/``
  (ingest reads that folder: setting ``TRACEHOP_SHAKEN_CERTS``, no web server).
- The originating provider signs each call as it sends it (ATIS-1000074's STI-AS): its
  attestation, the origination id of the customer's trunk, ``iat`` = the call's start on its
  own switch clock; a call from abroad is signed C by the gateway (the second provider).
  Every provider downstream passes the header on unchanged (RFC 8224 section 6.2: a
  verifier does not re-sign).
- Campaigns sign as ``CampaignSpec.signing`` says: ``wrong_key`` (another provider's key
  under the claimed x5u: a bad signature), ``stale`` (``iat`` 5 minutes before the call: a
  replayed token), ``none`` (no header; ``traffic.slice_calls`` clears the attestation).

Signatures use RFC 6979 deterministic ECDSA (``tracehop.shaken.passport.Signer``), so the
world stays byte for byte reproducible. Only the originating hop is signed: one signature
per call, about 40-50 us each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tracehop.shaken.ca import TestCA
from tracehop.shaken.passport import Signer, canonical_tn
from tracehop.simulate.model import World
from tracehop.simulate.scenarios import SIGNINGS
from tracehop.simulate.traffic import HOP_DELAY, Calls, SourceArrays
from tracehop.times import FakeClock

X5U_BASE = "https://certs.sim.example/"
FOLDER = "shaken"
SIGNING_KINDS = ("us_originating", "access", "gateway")
STALE_SECONDS = 300  # a replayed PASSporT: 5 minutes old (the verifier allows 60 s)
CERT_DAYS = 400  # a simulated year fits in the certificates' validity
_ATTEST = ("", "A", "B", "C")
_WRONG_KEY, _STALE = SIGNINGS.index("wrong_key"), SIGNINGS.index("stale")


def x5u(provider_id: str) -> str:
    return f"{X5U_BASE}{provider_id}.pem"


def create_ca(out: Path, world: World) -> TestCA:
    """The world's test CA in ``out/shaken``, one certificate per signing provider."""
    start = datetime.fromisoformat(world.scenario.start).replace(tzinfo=UTC)
    clock = FakeClock(start)
    ca = TestCA.create(out / FOLDER, org="tracehop simulated network", seed=world.seed, clock=clock)
    for p in world.providers:
        if p.kind in SIGNING_KINDS:
            ca.issue(p.id, p.ocn, clock=clock, days=CERT_DAYS)
    return ca


class CallSigner:
    """Signs a slice's calls as their originating provider (or the gateway) would."""

    def __init__(self, world: World, ca: TestCA) -> None:
        self.world = world
        self.skew = np.array([p.skew for p in world.providers])
        signing = [p for p in world.providers if p.kind in SIGNING_KINDS]
        keys = {p.idx: ca.provider(p.id).key() for p in signing}
        self.signers: dict[int, Signer] = {
            p.idx: Signer(keys[p.idx], x5u(p.id), deterministic=True) for p in signing
        }
        # wrong_key: the next signing provider's key under this provider's x5u
        order = [p.idx for p in signing]
        self.forgers: dict[int, Signer] = {
            i: Signer(
                keys[order[(k + 1) % len(order)]], x5u(world.providers[i].id), deterministic=True
            )
            for k, i in enumerate(order)
        }

    def identities(self, sa: SourceArrays, calls: Calls) -> np.ndarray:
        """One Identity header per call ("" when unsigned), as an object array."""
        n = len(calls)
        out = np.full(n, "", dtype=object)
        signed = np.nonzero(calls.attest > 0)[0]
        if not len(signed):
            return out
        foreign = sa.foreign_entry[calls.src[signed]]
        hop = foreign.astype(np.int64)  # a call from abroad is signed at the gateway (hop 1)
        signer = calls.path[signed, hop].astype(np.int64)
        # iat: the call's start on the signer's own switch clock, as its CDR shows it
        iat = np.floor(calls.t[signed] + HOP_DELAY * hop + self.skew[signer]).astype(np.int64)
        how = sa.signing[calls.src[signed]]
        iat = np.where(how == _STALE, iat - STALE_SECONDS, iat)
        oids = self.world.oids
        for k, i in enumerate(signed.tolist()):
            num, length = int(calls.cl_num[i]), int(calls.cl_len[i])
            digits = f"{num:0{length}d}"
            if calls.cl_intl[i]:
                orig = digits  # with its country code, as the CDRs write it after a +
            elif length == 10:
                orig = "1" + digits  # +1 and ten digits in the CDRs
            else:  # no E.164 form: canonical_tn keeps the digits (RFC 8224 8.3)
                orig = canonical_tn(digits) or digits
            p = int(signer[k])
            table = self.forgers if how[k] == _WRONG_KEY else self.signers
            out[i] = table[p].sign_canonical(
                orig=orig,
                dest=f"1{int(calls.called[i]):010d}",
                attest=_ATTEST[int(calls.attest[i])],
                origid=oids[int(calls.oid[i])],
                iat=int(iat[k]),
            )
        return out


def verify_settings(world_dir: Path) -> dict[str, object]:
    """The settings that let a home verify this world's Identity headers (the trust anchor
    and the folder its x5u URLs name): ``load_settings(**verify_settings(world), ...)``."""
    folder = Path(world_dir) / FOLDER
    return {
        "shaken_trust": folder / "root.pem",
        "shaken_certs": f"{X5U_BASE}={(folder / 'certs').resolve()}",
    }
