"""Verify SHAKEN Identity headers: the checks of RFC 8224 section 6.2 and of ATIS-1000074's
verification service (STI-VS), in one reusable :class:`Verifier` (trust anchors, certificate
cache, an HTTP client), each outcome a :class:`VerifyResult` with its exact reason.

The order: parse (``malformed``, ``unsupported``, ``info_mismatch``), then the cheap checks
that need no certificate (``stale``, ``future``, ``tn_mismatch``), then the certificate
(``bad_url``, ``fetch_failed``, ``bad_certificate``, ``unsupported_certificate``, the chain
and its dates at the call's time), then the signature. Time is the call's: ``at`` (a CDR's
start when ingest verifies a day of calls), or the verifier's clock now. A verification never
raises: whatever the input, the answer is a result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from tracehop.errors import ConfigError
from tracehop.settings import cert_folders
from tracehop.shaken.cache import CertCache, DirectoryFetcher, Fetcher, HttpFetcher
from tracehop.shaken.certs import TrustStore
from tracehop.shaken.passport import Passport, canonical_tn, parse_identity
from tracehop.shaken.result import Reason, VerificationFailure, VerifyResult
from tracehop.times import SYSTEM, Clock, utc

if TYPE_CHECKING:
    from tracehop.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 60.0  # ATIS-1000074 (STI-VS) and RFC 8224 6.2.1: iat within 60 s
FUTURE_SKEW = 5.0  # an iat this far ahead of the call's time is clock drift, not forgery
CACHE_FOLDER = "shaken-cache"

_canonical = lru_cache(maxsize=65536)(canonical_tn)


def _found(p: Passport | None) -> dict[str, object]:
    if p is None:
        return {}
    return {
        "attest": p.attest,
        "origid": p.origid,
        "orig": p.orig,
        "dest": p.dest,
        "iat": p.iat,
        "x5u": p.x5u,
    }


class Verifier:
    """Verifies Identity headers against one set of trust anchors, with one certificate
    cache. Reusable and thread-safe: make one per process (the screening server, an ingest
    worker, the API) and call :meth:`verify` or :meth:`verify_many` per call or batch."""

    def __init__(
        self,
        trust: TrustStore,
        cache: CertCache | None = None,
        *,
        max_age: float = DEFAULT_MAX_AGE,
        future_skew: float = FUTURE_SKEW,
        clock: Clock = SYSTEM,
    ) -> None:
        self.trust = trust
        self.cache = cache if cache is not None else CertCache(clock=clock)
        self.max_age = max_age
        self.future_skew = future_skew
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        trust: Path | str | None = None,
        max_age: float | None = None,
        clock: Clock = SYSTEM,
        fetcher: Fetcher | None = None,
        disk_cache: bool = True,
    ) -> Verifier:
        """A verifier as the settings say: anchors from ``trust`` or ``shaken_trust``, the
        cache shared on disk in the home (``HOME/shaken-cache``)."""
        source = trust if trust is not None else settings.shaken_trust
        if source is None:
            raise ConfigError(
                "no STIR/SHAKEN trust anchors: give --trust PEM_FILE_OR_DIR or set "
                "TRACEHOP_SHAKEN_TRUST (the STI-PA's list of approved CAs)"
            )
        if fetcher is None:
            fetcher = HttpFetcher(timeout=settings.shaken_fetch_timeout)
            folders = cert_folders(settings.shaken_certs)
            if folders:  # x5u URLs served from local folders (a simulated world's CA)
                fetcher = DirectoryFetcher(folders, fallback=fetcher)
        cache = CertCache(
            settings.home / CACHE_FOLDER if disk_cache else None,
            fetcher=fetcher,
            clock=clock,
            default_ttl=settings.shaken_cache_ttl,
            negative_ttl=settings.shaken_negative_ttl,
        )
        return cls(
            TrustStore.load(source),
            cache,
            max_age=settings.shaken_max_age if max_age is None else max_age,
            clock=clock,
        )

    def close(self) -> None:
        self.cache.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def verify(
        self,
        identity: str | None,
        *,
        orig: str | None = None,
        dest: str | None = None,
        at: datetime | None = None,
    ) -> VerifyResult:
        """Verify one Identity header value; ``orig``/``dest`` are the SIP From/To numbers
        (any form; checked when given), ``at`` the call's time (default now)."""
        if identity is None or (isinstance(identity, str) and not identity.strip()):
            return VerifyResult(Reason.MISSING, "no Identity header")
        passport: Passport | None = None
        try:
            passport = parse_identity(identity)
            when = utc(at) if at is not None else self.clock.now()
            self._check_time(passport, when.timestamp())
            self._check_numbers(passport, orig, dest)
            chain = self.cache.get(passport.x5u)
            self.trust.validate(chain, when)
            signer = chain.signer()
            if chain.tnauth.tns or chain.tnauth.ranges:
                tn = _canonical(passport.orig)
                if not chain.tnauth.spcs and not (tn and chain.tnauth.covers(tn)):
                    raise VerificationFailure(
                        Reason.TN_NOT_AUTHORIZED,
                        f"the certificate does not list orig {passport.orig}",
                    )
            if not passport.verify_signature(chain.public_key):
                raise VerificationFailure(
                    Reason.BAD_SIGNATURE, "the signature does not verify with the x5u certificate"
                )
        except VerificationFailure as failure:
            return VerifyResult(failure.reason, failure.message, **_found(passport))  # type: ignore[arg-type]
        except Exception:  # a bug must not take a call path down; the tests keep this unused
            log.exception("unexpected error verifying an Identity header")
            return VerifyResult(
                Reason.MALFORMED,
                "internal error while verifying (see the log)",
                **_found(passport),  # type: ignore[arg-type]
            )
        return VerifyResult(Reason.VALID, "", signer=signer, **_found(passport))  # type: ignore[arg-type]

    def _check_time(self, passport: Passport, at: float) -> None:
        age = at - passport.iat
        if age > self.max_age:
            raise VerificationFailure(
                Reason.STALE,
                f"iat is {age:.0f} s before the call's time (more than {self.max_age:g} s)",
            )
        if -age > self.future_skew:
            raise VerificationFailure(Reason.FUTURE, f"iat is {-age:.0f} s after the call's time")

    def _check_numbers(self, passport: Passport, orig: str | None, dest: str | None) -> None:
        if orig is not None and _canonical(orig) != _canonical(passport.orig):
            raise VerificationFailure(
                Reason.TN_MISMATCH, f"orig {passport.orig} is not the From number {orig}"
            )
        if dest is not None:
            want = _canonical(dest)
            if want is None or want not in {_canonical(t) for t in passport.dest}:
                raise VerificationFailure(
                    Reason.TN_MISMATCH,
                    f"dest {', '.join(passport.dest)} does not include the To number {dest}",
                )

    def verify_many(
        self,
        identities: Sequence[str | None],
        *,
        orig: Sequence[str | None] | None = None,
        dest: Sequence[str | None] | None = None,
        at: Sequence[datetime | None] | datetime | None = None,
    ) -> list[VerifyResult]:
        """Verify a column of Identity values (ingest: the ``identity`` column of a CDR file)
        with the matching ``caller``/``called`` columns and each call's ``start`` (or one
        time for all). Certificates are fetched once per URL for the whole batch."""
        n = len(identities)
        for name, column in (("orig", orig), ("dest", dest)):
            if column is not None and len(column) != n:
                raise ValueError(f"{name} has {len(column)} values for {n} identities")
        if at is not None and not isinstance(at, datetime) and len(at) != n:
            raise ValueError(f"at has {len(at)} values for {n} identities")
        out = []
        for i, identity in enumerate(identities):
            when = at if at is None or isinstance(at, datetime) else at[i]
            out.append(
                self.verify(
                    identity,
                    orig=None if orig is None else orig[i],
                    dest=None if dest is None else dest[i],
                    at=when,
                )
            )
        return out
