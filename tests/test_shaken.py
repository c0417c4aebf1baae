"""STIR/SHAKEN verification (issue 15): every failure has its exact reason and SIP code;
valid headers from the test CA verify, judged at the call's time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shakenkit import CertServer, parts, rebuild, tamper
from tracehop.errors import ConfigError, InputError
from tracehop.shaken import tnauth
from tracehop.shaken.ca import TestCA, build_certificate, new_key, pem, self_signed
from tracehop.shaken.cache import CertCache
from tracehop.shaken.certs import TrustStore, parse_chain
from tracehop.shaken.passport import canonical_tn, load_private_key, parse_identity, sign
from tracehop.shaken.result import SIP, Reason, VerificationFailure
from tracehop.shaken.verify import Verifier

NOW = datetime.now(UTC).replace(microsecond=0)
ORIG, DEST = "12155551212", "12155551213"


@dataclass
class World:
    ca: TestCA
    other: TestCA
    server: CertServer
    tmp: Path

    def url(self, name: str) -> str:
        return self.server.url(f"{name}.pem")

    def key(self, name: str) -> ec.EllipticCurvePrivateKey:
        return load_private_key(self.ca.directory / "keys" / f"{name}.key")

    def signed(self, name: str = "acme", **kw: object) -> str:
        args = {"orig": ORIG, "dest": DEST, "attest": "A", "origid": "oid-1", "iat": NOW}
        args.update(kw)
        return sign(key=self.key(name), x5u=self.url(name), **args)  # type: ignore[arg-type]

    def verifier(self, **kw: object) -> Verifier:
        return Verifier(TrustStore.load(self.ca.root_path), CertCache(), **kw)  # type: ignore[arg-type]


def _extra_certs(ca: TestCA) -> None:
    """Certificates for the failure cases, written into the CA's certs folder."""
    inter = x509.load_pem_x509_certificate((ca.directory / "intermediate.pem").read_bytes())
    inter_key = load_private_key(ca.directory / "intermediate.key")
    key = new_key()
    no_tn = build_certificate(
        subject=x509.Name.from_rfc4514_string("CN=not shaken"),
        key=key,
        issuer=inter,
        issuer_key=inter_key,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=30),
        ca=False,
    )
    (ca.certs_dir / "notn.pem").write_bytes(pem(no_tn) + pem(inter))
    (ca.certs_dir / "garbage.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=rsa"))
        .issuer_name(inter.subject)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(inter_key, hashes.SHA256())
    )
    (ca.certs_dir / "rsa.pem").write_bytes(pem(rsa_cert))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("shaken")
    ca = TestCA.create(tmp / "ca", not_before=NOW - timedelta(days=90))
    ca.issue("acme", "1234")
    ca.issue("old", "2001", not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    ca.issue("early", "2002", not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=9))
    ca.issue("numbers", "2003", tns=(ORIG,))
    _extra_certs(ca)
    other = TestCA.create(tmp / "other", org="someone else")
    other.issue("stranger", "6666")
    (ca.certs_dir / "stranger.pem").write_bytes((other.certs_dir / "stranger.pem").read_bytes())
    (ca.directory / "keys" / "stranger.key").write_bytes(
        (other.directory / "keys" / "stranger.key").read_bytes()
    )
    # "numbers" lists TNs and no SPC: drop the SPC from its TNAuthList by reissuing by hand
    inter = x509.load_pem_x509_certificate((ca.directory / "intermediate.pem").read_bytes())
    num_key = load_private_key(ca.directory / "keys" / "numbers.key")
    cert = build_certificate(
        subject=x509.Name.from_rfc4514_string("CN=numbers"),
        key=num_key,
        issuer=inter,
        issuer_key=load_private_key(ca.directory / "intermediate.key"),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=30),
        ca=False,
        tns=(ORIG,),
    )
    (ca.certs_dir / "numbers.pem").write_bytes(pem(cert) + pem(inter))
    with CertServer(ca.certs_dir) as server:
        yield World(ca, other, server, tmp)


def test_a_signed_header_verifies_with_its_claims(world: World) -> None:
    result = world.verifier().verify(world.signed(), orig="+1 (215) 555-1212", dest=DEST, at=NOW)
    assert result.valid, result.detail
    assert result.to_json() == {
        "valid": True,
        "reason": "valid",
        "sip_code": None,
        "sip_reason": None,
        "detail": "",
        "verstat": "TN-Validation-Passed",
        "attest": "A",
        "origid": "oid-1",
        "orig": ORIG,
        "dest": [DEST],
        "iat": int(NOW.timestamp()),
        "iat_time": NOW.isoformat(),
        "x5u": world.url("acme"),
        "signer": result.signer,
    }
    assert result.spc == "1234"
    assert result.signer and result.signer["subject"] == "CN=SHAKEN 1234,O=acme,C=US"


def test_the_passport_is_what_rfc_8588_says(world: World) -> None:
    header, claims, _sig, params = parts(world.signed(orig="(215) 555-1212", dest="+12155551213"))
    assert header == {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": world.url("acme")}
    assert list(claims) == sorted(claims)
    assert claims["orig"] == {"tn": ORIG} and claims["dest"] == {"tn": [DEST]}
    assert params == f"info=<{world.url('acme')}>;alg=ES256;ppt=shaken"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("+1 (215) 555-1212", ORIG),
        ("2155551212", ORIG),
        ("12155551212", ORIG),
        ("sip:+12155551212@example.com;user=phone", ORIG),
        ("tel:+44-20-7946-0958", "442079460958"),
        ("442079460958", "442079460958"),
        ("911", "911"),
        ("anonymous", None),
        ("", None),
        (None, None),
    ],
)
def test_numbers_are_canonicalised_like_rfc_8224_8_3(
    raw: str | None, canonical: str | None
) -> None:
    assert canonical_tn(raw) == canonical


def _drop_param(identity: str, name: str) -> str:
    token, *params = identity.split(";")
    return ";".join([token, *[p for p in params if not p.startswith(name + "=")]])


CASES = {
    # name: (how to make the header from a good one, expected reason)
    "missing": (lambda w, h: None, Reason.MISSING),
    "blank": (lambda w, h: "   ", Reason.MISSING),
    "garbage": (lambda w, h: "garbage", Reason.MALFORMED),
    "two parts": (lambda w, h: "a.b;info=<http://x/>", Reason.MALFORMED),
    "not base64": (lambda w, h: "a*b.c.d" + h[h.index(";") :], Reason.MALFORMED),
    "compact form": (
        lambda w, h: h.split(".")[0] + ".." + h.split(".")[2],
        Reason.MALFORMED,
    ),
    "no info": (lambda w, h: _drop_param(h, "info"), Reason.MALFORMED),
    "duplicate info": (lambda w, h: h + f";info=<{w.url('acme')}>", Reason.MALFORMED),
    "no iat": (lambda w, h: _without_claim(h, "iat"), Reason.MALFORMED),
    "bad attest": (lambda w, h: tamper(h, attest="D"), Reason.MALFORMED),
    "dest not a list": (lambda w, h: tamper(h, dest={"tn": DEST}), Reason.MALFORMED),
    "alg HS256": (lambda w, h: _with_header(h, alg="HS256"), Reason.UNSUPPORTED),
    "ppt div": (lambda w, h: _with_header(h, ppt="div"), Reason.UNSUPPORTED),
    "typ JWT": (lambda w, h: _with_header(h, typ="JWT"), Reason.UNSUPPORTED),
    "alg param": (lambda w, h: h.replace("alg=ES256", "alg=RS256"), Reason.UNSUPPORTED),
    "x5u is not info": (
        lambda w, h: h.replace(f"info=<{w.url('acme')}>", f"info=<{w.url('other')}>"),
        Reason.INFO_MISMATCH,
    ),
    "ftp x5u": (lambda w, h: _moved(w, h, "ftp://127.0.0.1/acme.pem"), Reason.BAD_URL),
    "x5u with a password": (lambda w, h: _moved(w, h, "http://u:p@127.0.0.1/a"), Reason.BAD_URL),
    "404": (lambda w, h: _x5u(w, w.url("nothing-here")), Reason.FETCH_FAILED),
    "closed port": (lambda w, h: _x5u(w, "http://127.0.0.1:9/acme.pem"), Reason.FETCH_FAILED),
    "not a certificate": (lambda w, h: _x5u(w, w.url("garbage")), Reason.BAD_CERTIFICATE),
    "no TNAuthList": (lambda w, h: _x5u(w, w.url("notn")), Reason.UNSUPPORTED_CERTIFICATE),
    "RSA key": (lambda w, h: _x5u(w, w.url("rsa")), Reason.UNSUPPORTED_CERTIFICATE),
    "another CA": (lambda w, h: w.signed("stranger"), Reason.UNTRUSTED_CHAIN),
    "expired": (lambda w, h: w.signed("old"), Reason.EXPIRED_CERTIFICATE),
    "not yet valid": (lambda w, h: w.signed("early"), Reason.CERTIFICATE_NOT_YET_VALID),
    "tampered claims": (lambda w, h: tamper(h, orig={"tn": "12155550000"}), Reason.BAD_SIGNATURE),
    "another key": (
        lambda w, h: sign(
            orig=ORIG, dest=DEST, attest="A", key=new_key(), x5u=w.url("acme"), iat=NOW
        ),
        Reason.BAD_SIGNATURE,
    ),
    "short signature": (
        lambda w, h: h.replace(h.split(".")[2].split(";")[0], "AAAA"),
        Reason.BAD_SIGNATURE,
    ),
    "stale": (lambda w, h: w.signed(iat=NOW - timedelta(seconds=61)), Reason.STALE),
    "future": (lambda w, h: w.signed(iat=NOW + timedelta(seconds=30)), Reason.FUTURE),
    "other caller": (lambda w, h: w.signed(orig="2155550000"), Reason.TN_MISMATCH),
    "other callee": (lambda w, h: w.signed(dest="2155550000"), Reason.TN_MISMATCH),
    "number not listed": (
        lambda w, h: w.signed("numbers", orig="2155550000"),
        Reason.TN_NOT_AUTHORIZED,
    ),
}


def _without_claim(identity: str, name: str) -> str:
    header, claims, signature, params = parts(identity)
    claims.pop(name)
    return rebuild(header, claims, signature, params)


def _with_header(identity: str, **fields: str) -> str:
    header, claims, signature, params = parts(identity)
    return rebuild({**header, **fields}, claims, signature, params)


def _moved(world: World, identity: str, url: str) -> str:
    """The header with x5u and info both changed to ``url`` (the signature no longer fits)."""
    changed = _with_header(identity, x5u=url)
    return changed.replace(f"info=<{world.url('acme')}>", f"info=<{url}>")


def _x5u(world: World, url: str) -> str:
    """A header signed by acme's key that points at ``url``."""
    return sign(orig=ORIG, dest=DEST, attest="A", key=world.key("acme"), x5u=url, iat=NOW)


@pytest.mark.parametrize("case", list(CASES))
def test_each_failure_has_its_reason_and_sip_code(world: World, case: str) -> None:
    make, reason = CASES[case]
    identity = make(world, world.signed())
    orig = "2155551212" if case == "other caller" else None
    result = world.verifier().verify(identity, orig=orig, dest=None, at=NOW)
    if case == "other callee":
        result = world.verifier().verify(identity, dest=DEST, at=NOW)
    assert (result.reason, result.valid) == (reason, False), result.detail
    assert result.sip_code == SIP[reason][0]  # type: ignore[index]
    assert result.verstat == (
        "No-TN-Validation" if reason is Reason.MISSING else "TN-Validation-Failed"
    )
    assert result.detail


def test_every_reason_is_tested_and_mapped() -> None:
    tested = {reason for _make, reason in CASES.values()} | {Reason.VALID}
    assert tested == set(Reason)
    codes = {r: c[0] for r, c in SIP.items() if c}
    assert set(codes.values()) == {403, 428, 436, 437, 438}  # RFC 8224 6.2.2, ATIS-1000074


def test_freshness_is_judged_at_the_calls_time(world: World) -> None:
    """Ingest verifies a day of CDRs later: each against its own start time."""
    call = NOW - timedelta(hours=20)
    identity = world.signed(iat=call - timedelta(seconds=3))
    verifier = world.verifier()
    assert verifier.verify(identity, at=call).valid
    assert verifier.verify(identity, at=call + timedelta(seconds=60)).reason is Reason.STALE
    assert verifier.verify(identity).reason is Reason.STALE  # judged now
    assert world.verifier(max_age=86400.0).verify(identity).valid


def test_a_small_clock_skew_is_allowed(world: World) -> None:
    verifier = world.verifier()
    assert verifier.verify(world.signed(iat=NOW + timedelta(seconds=4)), at=NOW).valid
    assert (
        verifier.verify(world.signed(iat=NOW + timedelta(seconds=6)), at=NOW).reason
        is Reason.FUTURE
    )


def test_certificate_dates_are_judged_at_the_calls_time(world: World) -> None:
    """A call signed while the certificate was valid stays valid when verified later."""
    at = NOW - timedelta(days=10)
    identity = world.signed("old", iat=at)
    assert world.verifier().verify(identity, at=at).valid
    assert world.verifier().verify(world.signed("old"), at=NOW).reason is Reason.EXPIRED_CERTIFICATE


def test_verify_many_takes_columns(world: World) -> None:
    good = world.signed()
    starts = [NOW, NOW, NOW - timedelta(minutes=5), NOW]
    results = world.verifier().verify_many(
        [good, None, good, tamper(good, attest="B")],
        orig=[ORIG, ORIG, ORIG, ORIG],
        dest=["2155551213", None, DEST, DEST],
        at=starts,
    )
    assert [r.reason for r in results] == [
        Reason.VALID,
        Reason.MISSING,
        Reason.FUTURE,
        Reason.BAD_SIGNATURE,
    ]
    with pytest.raises(ValueError, match="orig has 1 values for 2"):
        world.verifier().verify_many([good, good], orig=[ORIG])


def test_a_pinned_self_signed_certificate_is_a_trust_anchor(world: World, tmp_path: Path) -> None:
    key = new_key()
    cert = self_signed("7777", key)
    (tmp_path / "pinned.pem").write_bytes(pem(cert))
    world.server.routes["/pinned.pem"] = (200, {}, pem(cert), 0.0)
    identity = sign(orig=ORIG, dest=DEST, attest="C", key=key, x5u=world.server.url("pinned.pem"))
    pinned = Verifier(TrustStore.load(tmp_path / "pinned.pem"))
    result = pinned.verify(identity)
    assert result.valid and result.spc == "7777" and result.attest == "C"
    assert world.verifier().verify(identity).reason is Reason.UNTRUSTED_CHAIN


def test_trust_anchors_from_a_folder(world: World, tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(world.other.root_path.read_bytes())
    (tmp_path / "b.crt").write_bytes(world.ca.root_path.read_bytes())
    (tmp_path / "notes.txt").write_text("not a certificate, not read")
    store = TrustStore.load(tmp_path)
    assert len(store.certs) == 2
    verifier = Verifier(store)
    assert verifier.verify(world.signed("stranger"), at=NOW).valid
    assert verifier.verify(world.signed("acme"), at=NOW).valid


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"hello", "is not a PEM or DER certificate")],
)
def test_bad_trust_anchors_are_a_config_error(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "trust.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        TrustStore.load(path)


def test_the_chain_is_validated_once_then_remembered(world: World) -> None:
    verifier = world.verifier()
    assert verifier.verify(world.signed(), at=NOW).valid
    chain = verifier.cache.get(world.url("acme"))
    assert list(chain.memo) == [verifier.trust.id]
    lo, hi, failure = chain.memo[verifier.trust.id]
    assert failure is None and lo <= NOW.timestamp() <= hi
    assert hi <= chain.leaf.not_valid_after_utc.timestamp()


@pytest.mark.parametrize(
    ("spcs", "tns", "der"),
    [
        (["1234"], [], "3008a006160431323334"),
        (["709J"], [], "3008a006160437303941"[:-2] + "4a"),
        ([], ["12155551212"], "300fa20d160b3132313535353531323132"),
    ],
)
def test_tnauthlist_der(spcs: list[str], tns: list[str], der: str) -> None:
    """The SPC form is what real SHAKEN certificates carry (ATIS-1000080: 30 08 a0 06 16 04)."""
    assert tnauth.encode(spcs, tns).hex() == der
    names = tnauth.decode(bytes.fromhex(der))
    assert (list(names.spcs), list(names.tns)) == (spcs, tns)


def test_tnauthlist_ranges_and_bad_values() -> None:
    # a range 12155551200 + 100 numbers, written by hand: [1] { IA5String, INTEGER }
    start = b"12155551200"
    rng = bytes([0x30, 2 + len(start) + 3, 0x16, len(start)]) + start + bytes([0x02, 1, 100])
    der = bytes([0x30, len(rng) + 2, 0xA1, len(rng)]) + rng
    names = tnauth.decode(der)
    assert names.ranges == (("12155551200", 100),)
    assert names.covers("12155551299") and not names.covers("12155551300")
    for bad in (
        b"",
        b"\x30",
        b"\x30\x00",
        b"\x31\x02\x00\x00",
        b"\x30\x04\xa5\x02\x16\x00",
        der[:-1],
    ):
        with pytest.raises(ValueError):
            tnauth.decode(bad)


def test_parse_chain_reads_der_and_names_the_signer(world: World) -> None:
    leaf = x509.load_pem_x509_certificate((world.ca.certs_dir / "acme.pem").read_bytes())
    from cryptography.hazmat.primitives.serialization import Encoding

    chain = parse_chain(leaf.public_bytes(Encoding.DER))
    assert chain.signer()["spc"] == ["1234"]
    with pytest.raises(VerificationFailure) as err:
        parse_chain(b"\x30\x03\x02\x01\x01")
    assert err.value.reason is Reason.BAD_CERTIFICATE


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"attest": "D"}, "use A, B or C"),
        ({"x5u": "ftp://x/y.pem"}, "not an http"),
        ({"orig": "anonymous"}, "must be telephone numbers"),
    ],
)
def test_signing_refuses_what_it_cannot_sign(
    world: World, kw: dict[str, str], message: str
) -> None:
    args = {"orig": ORIG, "dest": DEST, "attest": "A", "x5u": world.url("acme"), **kw}
    with pytest.raises(InputError, match=message):
        sign(key=world.key("acme"), **args)  # type: ignore[arg-type]


def test_signing_keys_must_be_p256(tmp_path: Path) -> None:
    from tracehop.shaken.ca import write_private

    write_private(tmp_path / "k.pem", ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(InputError, match="not an EC P-256 key"):
        load_private_key(tmp_path / "k.pem")
    with pytest.raises(InputError, match="cannot read the key"):
        load_private_key(tmp_path / "missing.pem")


def test_the_test_ca_layout(world: World) -> None:
    ca = world.ca
    manifest = json.loads((ca.directory / "ca.json").read_text())
    assert manifest["providers"]["acme"]["spc"] == "1234"
    for key in ["root.key", "intermediate.key", "keys/acme.key"]:
        assert (ca.directory / key).stat().st_mode & 0o777 == 0o600
    chain = parse_chain((ca.certs_dir / "acme.pem").read_bytes())
    assert len(chain.certs) == 2  # what x5u serves: the provider certificate, the intermediate
    assert chain.leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ca.provider("acme").spc == "1234"
    with pytest.raises(InputError, match="already holds a test CA"):
        TestCA.create(ca.directory)


def test_identity_header_forms(world: World) -> None:
    good = world.signed()
    token, _, _ = good.partition(";")
    spaced = f'Identity: {token} ; info = <{world.url("acme")}> ; alg=ES256 ; ppt="shaken"'
    assert world.verifier().verify(spaced, at=NOW).valid
    # extension parameters, with or without a value, are allowed (RFC 8224 ident-info-params)
    assert world.verifier().verify(good + ";foo;bar=1", at=NOW).valid
    assert parse_identity(good).info == world.url("acme")
