"""STIR/SHAKEN certificates: read the chain an ``x5u`` URL serves, name its signer, and
validate it against the trust anchors at the time of the call.

- **The chain** (ATIS-1000080 section 6.3.3: the x5u resource holds the end-entity
  certificate first, then the intermediates): PEM with one or more certificates, or one DER
  certificate. The end-entity key must be EC P-256 (ES256) and the certificate must carry a
  TNAuthList (RFC 8226), whose SPC names the signing provider.
- **Trust anchors**: a PEM file or a folder of them (the STI-PA's list of approved CAs in
  production; the test CA's root, or a provider's self-signed certificate, in tests).
- **Validation**: the validity dates of every served certificate are checked first (so that
  an expired certificate is reported as such), then the chain is built to an anchor with
  ``cryptography.x509.verification`` (the Web PKI profile for the CAs, whose rules SHAKEN CA
  certificates follow: basicConstraints, keyUsage keyCertSign; any extensions on the end
  entity, which carries TNAuthList rather than the subjectAltName the Web PKI profile wants).
  A certificate that is itself an anchor (a pinned provider certificate) is trusted as it is.
  Results are kept per chain and trust store for the period all its certificates are valid,
  so a warm verification costs a dictionary look-up, not a chain build (~240 µs).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification

from tracehop.errors import ConfigError
from tracehop.shaken import tnauth
from tracehop.shaken.result import Reason, VerificationFailure

MAX_CHAIN = 8  # certificates in one x5u resource, and the longest chain built
TRUST_SUFFIXES = (".pem", ".crt", ".cer")


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(no subject)"


@dataclass(eq=False)
class CertChain:
    """The certificates an x5u URL served, read once, with what verification needs."""

    certs: tuple[x509.Certificate, ...]
    public_key: ec.EllipticCurvePublicKey
    tnauth: tnauth.TNAuthList
    # (not before, not after) of the served certificates, as epoch seconds
    windows: tuple[tuple[float, float], ...]
    # trust store id -> (from, until, failure or None): the memo of validate()
    memo: dict[str, tuple[float, float, VerificationFailure | None]] = field(default_factory=dict)
    _signer: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]

    def pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.certs)

    def signer(self) -> dict[str, Any]:
        """Who signed: the TNAuthList's SPC (the provider's code), its subject and issuer
        (worked out once per chain: a warm verification must not pay for it)."""
        if self._signer is None:
            self._signer = self._describe()
        return dict(self._signer)

    def _describe(self) -> dict[str, Any]:
        leaf = self.leaf
        return {
            "spc": list(self.tnauth.spcs),
            "subject": _name(leaf),
            "issuer": leaf.issuer.rfc4514_string(),
            "serial": format(leaf.serial_number, "x"),
            "sha256": leaf.fingerprint(hashes.SHA256()).hex(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            **({"tn": list(self.tnauth.tns)} if self.tnauth.tns else {}),
        }


def parse_chain(data: bytes) -> CertChain:
    """The chain in ``data`` (PEM, one or more certificates, end entity first; or DER).
    ``bad_certificate`` when it is not certificates, ``unsupported_certificate`` when the end
    entity is not a SHAKEN certificate."""
    try:
        if b"-----BEGIN" in data:
            certs = tuple(x509.load_pem_x509_certificates(data))
        else:
            certs = (x509.load_der_x509_certificate(data),)
    except (ValueError, TypeError):
        raise VerificationFailure(
            Reason.BAD_CERTIFICATE, "x5u does not serve a PEM or DER certificate"
        ) from None
    if not certs or len(certs) > MAX_CHAIN:
        raise VerificationFailure(
            Reason.BAD_CERTIFICATE, f"x5u serves {len(certs)} certificates (1-{MAX_CHAIN})"
        )
    leaf = certs[0]
    try:
        key = leaf.public_key()
    except (ValueError, TypeError):  # an unknown or broken key type
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise VerificationFailure(
            Reason.UNSUPPORTED_CERTIFICATE, "the certificate's key is not EC P-256 (ES256)"
        )
    try:
        ext = leaf.extensions.get_extension_for_oid(tnauth.TNAUTHLIST_OID).value
        names = tnauth.decode(getattr(ext, "value", b""))
    except x509.ExtensionNotFound:
        raise VerificationFailure(
            Reason.UNSUPPORTED_CERTIFICATE,
            "the certificate has no TNAuthList (RFC 8226): not a STIR/SHAKEN certificate",
        ) from None
    except ValueError as exc:  # also x509.DuplicateExtension and malformed extensions
        raise VerificationFailure(
            Reason.UNSUPPORTED_CERTIFICATE, f"the certificate's TNAuthList is unreadable ({exc})"
        ) from None
    windows = tuple((_epoch(c.not_valid_before_utc), _epoch(c.not_valid_after_utc)) for c in certs)
    return CertChain(certs=certs, public_key=key, tnauth=names, windows=windows)


class TrustStore:
    """The trust anchors: certificates a chain must lead to (``cryptography``'s Store), and
    the set of them that are trusted as they are when served as the end entity."""

    def __init__(self, certs: list[x509.Certificate], *, source: str = "(given)") -> None:
        if not certs:
            raise ConfigError(f"no trust anchors in {source}: give PEM certificates")
        self.certs = tuple(certs)
        self.source = source
        ders = sorted(c.public_bytes(serialization.Encoding.DER) for c in certs)
        self.pinned = frozenset(ders)
        self.id = hashlib.sha256(b"".join(hashlib.sha256(d).digest() for d in ders)).hexdigest()
        self.store = verification.Store(list(certs))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | str) -> TrustStore:
        """Anchors from a PEM file, or from every ``*.pem``/``*.crt``/``*.cer`` in a folder."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in TRUST_SUFFIXES)
        elif path.exists():
            files = [path]
        else:
            raise ConfigError(f"trust anchors {path}: no such file or folder")
        certs: list[x509.Certificate] = []
        for file in files:
            try:
                data = file.read_bytes()
                certs.extend(
                    x509.load_pem_x509_certificates(data)
                    if b"-----BEGIN" in data
                    else [x509.load_der_x509_certificate(data)]
                )
            except OSError as exc:
                raise ConfigError(f"cannot read trust anchors {file}: {exc.strerror}") from None
            except ValueError:
                raise ConfigError(f"{file} is not a PEM or DER certificate") from None
        return cls(certs, source=str(path))

    def _verifier(self, at: datetime) -> verification.ClientVerifier:
        policy = verification.ExtensionPolicy
        return (
            verification.PolicyBuilder()
            .store(self.store)
            .time(at)
            .max_chain_depth(MAX_CHAIN)
            .extension_policies(
                ca_policy=policy.webpki_defaults_ca(), ee_policy=policy.permit_all()
            )
            .build_client_verifier()
        )

    def validate(self, chain: CertChain, at: datetime) -> None:
        """Raise ``expired_certificate``, ``certificate_not_yet_valid`` or
        ``untrusted_chain`` unless ``chain`` leads to an anchor and is valid at ``at``."""
        t = at.timestamp()
        memo = chain.memo.get(self.id)
        if memo is not None and memo[0] <= t <= memo[1]:
            if memo[2] is not None:
                raise memo[2]
            return
        for cert, (start, end) in zip(chain.certs, chain.windows, strict=True):
            if t > end:
                raise VerificationFailure(
                    Reason.EXPIRED_CERTIFICATE,
                    f"certificate {_name(cert)} expired {cert.not_valid_after_utc.isoformat()}",
                )
            if t < start:
                raise VerificationFailure(
                    Reason.CERTIFICATE_NOT_YET_VALID,
                    f"certificate {_name(cert)} is valid from "
                    f"{cert.not_valid_before_utc.isoformat()}",
                )
        lo = max(w[0] for w in chain.windows)
        hi = min(w[1] for w in chain.windows)
        failure: VerificationFailure | None = None
        leaf_der = chain.leaf.public_bytes(serialization.Encoding.DER)
        if leaf_der not in self.pinned:
            try:
                built = self._verifier(at.astimezone(UTC)).verify(chain.leaf, list(chain.certs[1:]))
            except verification.VerificationError as exc:
                text = str(exc).split(" (encountered processing", 1)[0]
                if "not valid at validation time" in text:  # an anchor's own dates
                    raise VerificationFailure(
                        Reason.EXPIRED_CERTIFICATE, f"the trust anchor is not valid then: {text}"
                    ) from None
                failure = VerificationFailure(
                    Reason.UNTRUSTED_CHAIN, f"no chain to a trust anchor of {self.source}: {text}"
                )
            else:
                for cert in built.chain:  # the anchor's dates bound the result too
                    if cert.public_bytes(serialization.Encoding.DER) not in self.pinned:
                        continue
                    lo = max(lo, _epoch(cert.not_valid_before_utc))
                    hi = min(hi, _epoch(cert.not_valid_after_utc))
        with self._lock:
            chain.memo[self.id] = (lo, hi, failure)
        if failure is not None:
            raise failure
