"""SHAKEN PASSporTs (RFC 8225, RFC 8588) in SIP Identity headers (RFC 8224): sign one, and
read one without ever failing on what a hostile peer may send.

An Identity header::

    <header>.<claims>.<signature>;info=<https://cert.example/sp.pem>;alg=ES256;ppt=shaken

- the JWS header ``{"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": URL}``;
- the claims ``{"attest": "A", "dest": {"tn": ["12025550101"]}, "iat": 1700000000,
  "orig": {"tn": "12025550100"}, "origid": "<uuid>"}``, written with sorted keys and no
  blanks (RFC 8225 section 9 asks for that form; secsipidx writes it too);
- signed with ES256 (ECDSA P-256, SHA-256; the signature is ``r || s``, RFC 7518 3.4).

Signing uses PyJWT. Reading is done here, strictly (the header is parsed once and the
signature checked with PyJWT's ES256 implementation over the exact bytes received):
:func:`parse_identity` raises :class:`VerificationFailure` with the reason, never anything
else.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tracehop.errors import InputError
from tracehop.numbers import clean, to_e164
from tracehop.shaken.result import Reason, VerificationFailure
from tracehop.times import SYSTEM, Clock

ATTESTATIONS = ("A", "B", "C")
# An Identity header longer than this is refused before it is parsed (a real one is ~500
# bytes; SIP proxies commonly cap a header far below this).
MAX_IDENTITY_BYTES = 8192
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# name[=value], the value a <URI>, a quoted string or a token (RFC 3261 generic-param)
_PARAM = re.compile(r"\s*([A-Za-z][A-Za-z0-9._-]*)\s*(?:=\s*(<[^<>]*>|\"[^\"]*\"|[^;\s]*))?\s*")
_NOT_TN = re.compile(r"[^0-9#*]")
_CANONICAL = re.compile(r"[0-9#*]{1,64}")
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_ES256 = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256)


def canonical_tn(raw: str | None) -> str | None:
    """A telephone number as PASSporTs carry it (RFC 8224 section 8.3, RFC 8588): digits
    only, with the country code, no ``+`` (``+1 (212) 555-0100`` -> ``12125550100``). NANP
    numbers written with 10 digits get their ``1``; other forms keep their digits. None when
    nothing is left."""
    if raw is None:
        return None
    e164 = to_e164(raw)
    if e164:
        return e164[1:]
    digits = _NOT_TN.sub("", clean(raw))
    return digits or None


def b64url_decode(part: str) -> bytes:
    """Unpadded base64url (RFC 7515 section 2); anything else is malformed."""
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise VerificationFailure(Reason.MALFORMED, "not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise VerificationFailure(Reason.MALFORMED, "not base64url") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Passport:
    """A parsed Identity header: the JWS parts and the SHAKEN claims, not yet verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    info: str
    attest: str
    origid: str
    orig: str
    dest: tuple[str, ...]
    iat: int

    @property
    def x5u(self) -> str:
        return str(self.header["x5u"])

    def verify_signature(self, public_key: ec.EllipticCurvePublicKey) -> bool:
        """Whether the ES256 signature is right for these exact bytes (PyJWT's ES256)."""
        if len(self.signature) != 64:  # r || s, 32 bytes each for P-256 (RFC 7518 3.4)
            return False
        return bool(_ES256.verify(self.signing_input, public_key, self.signature))


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise VerificationFailure(Reason.MALFORMED, f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise VerificationFailure(Reason.MALFORMED, f"the {what} is not a JSON object")
    return value


def split_header(value: str) -> tuple[str, dict[str, str]]:
    """The JWS and the parameters (lower-case names, ``<>`` and quotes removed) of an
    Identity header value; ``Identity:`` in front is allowed (a line copied from a trace)."""
    if not isinstance(value, str):
        raise VerificationFailure(Reason.MALFORMED, "the Identity header is not text")
    if len(value) > MAX_IDENTITY_BYTES:
        raise VerificationFailure(
            Reason.MALFORMED, f"the Identity header is over {MAX_IDENTITY_BYTES} bytes"
        )
    text = value.strip()
    if text[:9].lower() == "identity:":
        text = text[9:].strip()
    token, _, rest = text.partition(";")
    token = token.strip()
    params: dict[str, str] = {}
    pos = 0
    while rest and pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or (m.end() < len(rest) and rest[m.end()] != ";"):
            raise VerificationFailure(Reason.MALFORMED, "a parameter of the header is malformed")
        name, raw = m.group(1).lower(), m.group(2) or ""
        if name in params:
            raise VerificationFailure(Reason.MALFORMED, f"the {name} parameter appears twice")
        if len(raw) >= 2 and raw[0] in '<"':
            raw = raw[1:-1]
        params[name] = raw
        pos = m.end() + 1
    return token, params


def _check_header(header: dict[str, Any], params: dict[str, str]) -> str:
    """The ``info`` URL, after the STI-VS checks of ATIS-1000074 on the header fields."""
    alg, ppt, typ, x5u = (header.get(k) for k in ("alg", "ppt", "typ", "x5u"))
    if alg != "ES256":
        raise VerificationFailure(Reason.UNSUPPORTED, f"alg is {alg!r}, not ES256")
    if ppt != "shaken":
        raise VerificationFailure(Reason.UNSUPPORTED, f"ppt is {ppt!r}, not shaken")
    if typ != "passport":
        raise VerificationFailure(Reason.UNSUPPORTED, f"typ is {typ!r}, not passport")
    if "alg" in params and params["alg"] != "ES256":
        raise VerificationFailure(Reason.UNSUPPORTED, "the header's alg parameter is not ES256")
    if "ppt" in params and params["ppt"] != "shaken":
        raise VerificationFailure(Reason.UNSUPPORTED, "the header's ppt parameter is not shaken")
    if not isinstance(x5u, str) or not x5u:
        raise VerificationFailure(Reason.MALFORMED, "the PASSporT has no x5u")
    info = params.get("info")
    if not info:
        raise VerificationFailure(Reason.MALFORMED, "the header has no info parameter")
    if info != x5u:
        raise VerificationFailure(
            Reason.INFO_MISMATCH, "x5u in the PASSporT is not the header's info URL"
        )
    return info


def _tn(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise VerificationFailure(Reason.MALFORMED, f"{what} is not a telephone number")
    return value


def _claims(claims: dict[str, Any]) -> tuple[str, str, str, tuple[str, ...], int]:
    """(attest, origid, orig, dest, iat), the claims RFC 8588 makes mandatory, checked."""
    attest, origid, iat = claims.get("attest"), claims.get("origid"), claims.get("iat")
    if attest not in ATTESTATIONS:
        raise VerificationFailure(Reason.MALFORMED, f"attest is {attest!r}, not A, B or C")
    if not isinstance(origid, str) or not origid or len(origid) > 128:
        raise VerificationFailure(Reason.MALFORMED, "origid is missing")
    if not isinstance(iat, int) or isinstance(iat, bool) or not 0 <= iat < 2**40:
        raise VerificationFailure(Reason.MALFORMED, "iat is not a time in seconds")
    orig, dest = claims.get("orig"), claims.get("dest")
    if not isinstance(orig, dict) or "tn" not in orig:
        raise VerificationFailure(Reason.MALFORMED, "orig has no tn")
    if not isinstance(dest, dict) or not isinstance(dest.get("tn"), list) or not dest["tn"]:
        raise VerificationFailure(Reason.MALFORMED, "dest has no tn list")
    if len(dest["tn"]) > 32:
        raise VerificationFailure(Reason.MALFORMED, "dest lists too many numbers")
    tns = tuple(_tn(t, "dest.tn") for t in dest["tn"])
    return attest, origid, _tn(orig["tn"], "orig.tn"), tns, iat


def parse_identity(value: str) -> Passport:
    """Read an Identity header value (full-form PASSporT, SHAKEN) without verifying it;
    :class:`VerificationFailure` (malformed, unsupported, info_mismatch) when it is not one."""
    token, params = split_header(value)
    parts = token.split(".")
    if len(parts) != 3:
        raise VerificationFailure(Reason.MALFORMED, "the PASSporT is not header.claims.signature")
    if not parts[1]:
        raise VerificationFailure(
            Reason.MALFORMED, "compact form (no claims): SHAKEN uses the full form"
        )
    header = _json_object(b64url_decode(parts[0]), "PASSporT header")
    claims = _json_object(b64url_decode(parts[1]), "PASSporT claims")
    signature = b64url_decode(parts[2])
    info = _check_header(header, params)
    attest, origid, orig, dest, iat = _claims(claims)
    return Passport(
        header=header,
        claims=claims,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=signature,
        info=info,
        attest=attest,
        origid=origid,
        orig=orig,
        dest=dest,
        iat=iat,
    )


def load_private_key(path: Path | str) -> ec.EllipticCurvePrivateKey:
    """An ES256 signing key from a PEM file (EC P-256, as ``openssl ecparam -genkey`` or
    ``tracehop shaken ca init`` write it)."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise InputError(f"cannot read the key {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise InputError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise InputError(f"{path} is not an EC P-256 key: ES256 needs one (RFC 8588)")
    return key


def sign(
    *,
    orig: str,
    dest: str | list[str] | tuple[str, ...],
    attest: str,
    key: ec.EllipticCurvePrivateKey,
    x5u: str,
    origid: str | None = None,
    iat: int | datetime | None = None,
    clock: Clock = SYSTEM,
) -> str:
    """An Identity header value for a call from ``orig`` to ``dest`` (numbers in any form a
    switch writes; they are canonicalised), signed with ``key``; ``origid`` defaults to a new
    UUID and ``iat`` to now."""
    if attest not in ATTESTATIONS:
        raise InputError(f"attestation {attest!r}: use A, B or C")
    if not x5u.startswith(("https://", "http://")):
        raise InputError(f"x5u {x5u!r} is not an http(s) URL")
    dests = [dest] if isinstance(dest, str) else list(dest)
    orig_tn = canonical_tn(orig)
    dest_tns = [canonical_tn(d) for d in dests]
    if orig_tn is None or not dest_tns or None in dest_tns:
        raise InputError("orig and dest must be telephone numbers")
    if isinstance(iat, datetime):
        iat = int(iat.timestamp())
    claims = {  # sorted keys (RFC 8225 section 9); PyJWT keeps this order, without blanks
        "attest": attest,
        "dest": {"tn": dest_tns},
        "iat": int(clock.now().timestamp()) if iat is None else int(iat),
        "orig": {"tn": orig_tn},
        "origid": origid or str(uuid.uuid4()),
    }
    token = jwt.encode(
        claims, key, algorithm="ES256", headers={"ppt": "shaken", "typ": "passport", "x5u": x5u}
    )
    return f"{token};info=<{x5u}>;alg=ES256;ppt=shaken"


class Signer:
    """Signs many calls with one key and one x5u (an originating provider's signing
    service, STI-AS): the header value :func:`sign` writes, byte for byte, without PyJWT's
    per-call work (the JWS header is encoded once).

    ``deterministic=True`` signs with RFC 6979 deterministic ECDSA: the same call gives the
    same signature, which the simulator needs (same seed, same bytes). A verifier cannot
    tell the difference; ES256 (RFC 7518 3.4) allows either. Numbers must already be
    canonical (:func:`canonical_tn`); :meth:`sign` canonicalises them."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, x5u: str, *, deterministic: bool = False):
        if not x5u.startswith(("https://", "http://")):
            raise InputError(f"x5u {x5u!r} is not an http(s) URL")
        self.key = key
        self.x5u = x5u
        header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}
        self._prefix = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
        self._suffix = f";info=<{x5u}>;alg=ES256;ppt=shaken"
        self._alg = ec.ECDSA(hashes.SHA256(), deterministic_signing=deterministic)

    def sign_canonical(self, *, orig: str, dest: str, attest: str, origid: str, iat: int) -> str:
        """The Identity header for canonical ``orig``/``dest`` (digits with the country
        code); claims in sorted order without blanks (RFC 8225 section 9)."""
        if attest not in ATTESTATIONS or not (
            _CANONICAL.fullmatch(orig) and _CANONICAL.fullmatch(dest)
        ):
            raise InputError("sign_canonical needs canonical numbers and A, B or C")
        # The claims as json.dumps(sort_keys, no blanks) writes them; origid is the only
        # free text, so it alone goes through the JSON encoder when it is not plain.
        oid = f'"{origid}"' if _PLAIN.fullmatch(origid) else json.dumps(origid)
        claims = (
            f'{{"attest":"{attest}","dest":{{"tn":["{dest}"]}},"iat":{int(iat)},'
            f'"orig":{{"tn":"{orig}"}},"origid":{oid}}}'
        )
        signing_input = f"{self._prefix}.{b64url(claims.encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode("ascii"), self._alg))
        signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))  # RFC 7518 3.4
        return f"{signing_input}.{signature}{self._suffix}"

    def sign(self, *, orig: str, dest: str, attest: str, origid: str, iat: int | datetime) -> str:
        """As :meth:`sign_canonical`, numbers in any form a switch writes."""
        if attest not in ATTESTATIONS:
            raise InputError(f"attestation {attest!r}: use A, B or C")
        orig_tn, dest_tn = canonical_tn(orig), canonical_tn(dest)
        if orig_tn is None or dest_tn is None:
            raise InputError("orig and dest must be telephone numbers")
        when = int(iat.timestamp()) if isinstance(iat, datetime) else int(iat)
        return self.sign_canonical(
            orig=orig_tn, dest=dest_tn, attest=attest, origid=origid, iat=when
        )
