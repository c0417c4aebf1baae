"""A test certificate authority for STIR/SHAKEN: a root, an intermediate, and provider
certificates shaped like ATIS-1000080's (EC P-256; the end entity with a TNAuthList naming
the provider's SPC, keyUsage digitalSignature, the SHAKEN certificate policy). For the tests,
the simulator and the demo; never for real traffic.

Layout of a CA folder (``tracehop shaken ca init DIR``)::

    root.pem  root.key                the trust anchor (give root.pem as --trust)
    intermediate.pem  intermediate.key
    certs/<provider>.pem              what x5u serves: the provider certificate, then the
                                      intermediate (serve this folder, or DirectoryFetcher)
    keys/<provider>.key               the provider's signing key (0600)
    ca.json                           the providers, their SPCs and files

Keys are written 0600 whatever the umask (they sign calls).

A CA made with a ``seed`` is reproducible: its keys and serial numbers are derived from the
seed and each name, and certificates are signed with RFC 6979 deterministic ECDSA, so the
same seed and dates give the same files (the simulator's worlds are byte for byte
reproducible). Anyone who knows the seed knows the keys: for tests and simulations only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tracehop.errors import InputError, NotFoundError
from tracehop.shaken import tnauth
from tracehop.shaken.passport import load_private_key
from tracehop.times import SYSTEM, Clock, utc

# ATIS-1000080 section 6.3.1: the SHAKEN certificate policy (certificatePolicies).
SHAKEN_POLICY = x509.ObjectIdentifier("2.16.840.1.114569.1.1.1")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MANIFEST = "ca.json"


def _subject(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _key_usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def build_certificate(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    path_length: int | None = None,
    spc: str | None = None,
    tns: tuple[str, ...] = (),
    serial: int | None = None,
    deterministic: bool = False,
) -> x509.Certificate:
    """One certificate of the SHAKEN profile (``issuer=None``: self-signed);
    ``deterministic``: RFC 6979 ECDSA, the same inputs give the same bytes."""
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(utc(not_before))
        .not_valid_after(utc(not_after))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(_key_usage(sign=not ca, ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(SHAKEN_POLICY, None)]),
            critical=False,
        )
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if spc is not None or tns:
        value = tnauth.encode([spc] if spc else [], list(tns))
        builder = builder.add_extension(
            x509.UnrecognizedExtension(tnauth.TNAUTHLIST_OID, value), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=deterministic)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# The order of the P-256 group (FIPS 186-4 D.1.2.3): a private key is in [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _derived(seed: int, label: str) -> int:
    digest = hashlib.sha256(f"tracehop-test-ca:{seed}:{label}".encode()).digest()
    return int.from_bytes(digest, "big")


def seeded_key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key derived from ``seed`` and ``label`` (reproducible CAs only)."""
    return ec.derive_private_key(_derived(seed, label) % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def seeded_serial(seed: int, label: str) -> int:
    """A positive serial number of at most 159 bits (RFC 5280 4.1.2.2: at most 20 octets)."""
    return (_derived(seed, f"serial:{label}") >> 97) or 1


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """A key as PEM (PKCS#8, unencrypted), created 0600 whatever the umask."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)


def self_signed(
    spc: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    org: str = "tracehop test provider",
    clock: Clock = SYSTEM,
    days: int = 365,
) -> x509.Certificate:
    """A self-signed provider certificate with a TNAuthList: a pinned trust anchor
    (``--trust`` it) for a quick test between two parties, no CA needed."""
    now = clock.now()
    return build_certificate(
        subject=_subject(f"SHAKEN {spc}", org),
        key=key,
        issuer=None,
        issuer_key=key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=days),
        ca=False,
        spc=spc,
    )


@dataclass(frozen=True)
class ProviderCert:
    """A provider's certificate chain file (what x5u serves) and signing key."""

    name: str
    spc: str
    chain_path: Path
    key_path: Path

    def key(self) -> ec.EllipticCurvePrivateKey:
        return load_private_key(self.key_path)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spc": self.spc,
            "chain": str(self.chain_path),
            "key": str(self.key_path),
        }


class TestCA:
    """A CA folder: create it, load it, issue provider certificates from it."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._root: x509.Certificate | None = None

    @property
    def root_path(self) -> Path:
        return self.directory / "root.pem"

    @property
    def certs_dir(self) -> Path:
        return self.directory / "certs"

    @classmethod
    def create(
        cls,
        directory: Path | str,
        *,
        org: str = "tracehop test CA",
        days: int = 3650,
        not_before: datetime | None = None,
        clock: Clock = SYSTEM,
        seed: int | None = None,
    ) -> TestCA:
        """A new root and intermediate in ``directory`` (which must not hold a CA yet), valid
        from ``not_before`` (default yesterday) for ``days``; ``seed``: reproducible (see the
        module's docstring)."""
        directory = Path(directory)
        if (directory / MANIFEST).exists():
            raise InputError(f"{directory} already holds a test CA ({MANIFEST})")
        directory.mkdir(parents=True, exist_ok=True)
        now = clock.now()
        start = not_before if not_before is not None else now - timedelta(days=1)
        end = now + timedelta(days=days)
        if seed is None:
            root_key, inter_key = new_key(), new_key()
        else:
            root_key, inter_key = seeded_key(seed, "root"), seeded_key(seed, "intermediate")
        seeded = {"deterministic": seed is not None}
        root = build_certificate(
            subject=_subject(f"{org} SHAKEN Root", org),
            key=root_key,
            issuer=None,
            issuer_key=root_key,
            not_before=start,
            not_after=end,
            ca=True,
            path_length=1,
            serial=None if seed is None else seeded_serial(seed, "root"),
            **seeded,
        )
        inter = build_certificate(
            subject=_subject(f"{org} SHAKEN Intermediate", org),
            key=inter_key,
            issuer=root,
            issuer_key=root_key,
            not_before=start,
            not_after=end,
            ca=True,
            path_length=0,
            serial=None if seed is None else seeded_serial(seed, "intermediate"),
            **seeded,
        )
        write_private(directory / "root.key", root_key)
        write_private(directory / "intermediate.key", inter_key)
        (directory / "root.pem").write_bytes(pem(root))
        (directory / "intermediate.pem").write_bytes(pem(inter))
        ca = cls(directory)
        manifest: dict[str, Any] = {"org": org, "providers": {}}
        if seed is not None:
            manifest["seed"] = seed
        ca._write_manifest(manifest)
        return ca

    @classmethod
    def load(cls, directory: Path | str) -> TestCA:
        directory = Path(directory)
        if not (directory / MANIFEST).is_file():
            raise NotFoundError(f"{directory} holds no test CA: run tracehop shaken ca init")
        return cls(directory)

    def _manifest(self) -> dict[str, Any]:
        return json.loads((self.directory / MANIFEST).read_text())

    def _write_manifest(self, data: dict[str, Any]) -> None:
        tmp = self.directory / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.directory / MANIFEST)

    def issue(
        self,
        name: str,
        spc: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        days: int = 365,
        tns: tuple[str, ...] = (),
        clock: Clock = SYSTEM,
    ) -> ProviderCert:
        """A provider certificate (signed by the intermediate) with ``spc`` in its
        TNAuthList; replaces one of the same name. Dates default to yesterday + ``days``."""
        if not _NAME.match(name):
            raise InputError(f"provider name {name!r}: use letters, digits, . _ -")
        if not spc or not spc.isascii() or not spc.isalnum() or len(spc) > 16:
            raise InputError(f"SPC {spc!r}: use letters and digits (an OCN such as 1234)")
        now = clock.now()
        start = not_before if not_before is not None else now - timedelta(days=1)
        end = not_after if not_after is not None else now + timedelta(days=days)
        inter_pem = (self.directory / "intermediate.pem").read_bytes()
        inter = x509.load_pem_x509_certificate(inter_pem)
        inter_key = load_private_key(self.directory / "intermediate.key")
        data = self._manifest()
        seed = data.get("seed")
        key = new_key() if seed is None else seeded_key(seed, f"provider:{name}:{spc}")
        cert = build_certificate(
            subject=_subject(f"SHAKEN {spc}", name),
            key=key,
            issuer=inter,
            issuer_key=inter_key,
            not_before=start,
            not_after=end,
            ca=False,
            spc=spc,
            tns=tns,
            serial=None if seed is None else seeded_serial(seed, f"provider:{name}:{spc}"),
            deterministic=seed is not None,
        )
        provider = ProviderCert(
            name, spc, self.certs_dir / f"{name}.pem", self.directory / "keys" / f"{name}.key"
        )
        write_private(provider.key_path, key)
        self.certs_dir.mkdir(exist_ok=True)
        provider.chain_path.write_bytes(pem(cert) + inter_pem)
        data["providers"][name] = {"spc": spc, "not_after": utc(end).isoformat()}
        self._write_manifest(data)
        return provider

    def provider(self, name: str) -> ProviderCert:
        entry = self._manifest()["providers"].get(name)
        if entry is None:
            raise NotFoundError(f"the test CA has no provider {name!r}")
        return ProviderCert(
            name,
            entry["spc"],
            self.certs_dir / f"{name}.pem",
            self.directory / "keys" / f"{name}.key",
        )

    def providers(self) -> list[ProviderCert]:
        return [self.provider(n) for n in sorted(self._manifest()["providers"])]
