"""What a verification says: one exact reason per outcome, the SIP answer a verifier gives
for it, and the claims that were read.

The SIP codes (RFC 8224 section 6.2.2 "Handling Verification Errors" and section 13, which
define 428, 436, 437 and 438 and use 403 "Stale Date"; ATIS-1000074's verification service
(STI-VS) error handling, which names the same codes for the SHAKEN checks: ``ppt``, ``typ``,
``alg``, ``x5u`` = ``info``, the mandatory claims):

=====================  ====  ==========================================================
reason                 code  when
=====================  ====  ==========================================================
valid                  -     every check passed
missing                428   no Identity header (RFC 8224 6.2.2: "Use Identity Header")
malformed              438   not an Identity header with a full-form PASSporT in it
unsupported            438   ``alg`` not ES256, ``ppt`` not shaken, ``typ`` not passport
info_mismatch          438   ``x5u`` in the PASSporT differs from the header's ``info``
bad_url                436   ``info``/``x5u`` is not an http(s) URL
fetch_failed           436   the certificate at ``x5u`` could not be fetched
bad_certificate        436   what ``x5u`` serves is not a certificate (chain)
unsupported_certificate 437  a certificate, but not a SHAKEN one (no TNAuthList, not P-256)
untrusted_chain        437   the chain does not lead to a configured trust anchor
expired_certificate    437   a certificate of the chain had expired at the call's time
certificate_not_yet_valid 437 ... or was not yet valid
bad_signature          438   the ES256 signature does not verify with the certificate's key
stale                  403   ``iat`` older than the freshness window (60 s)
future                 403   ``iat`` later than the call's time beyond a small skew
tn_mismatch            438   ``orig``/``dest`` differ from the SIP From/To numbers
tn_not_authorized      438   the certificate lists numbers, and ``orig`` is not among them
=====================  ====  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tracehop.errors import TracehopError


class Reason(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    INFO_MISMATCH = "info_mismatch"
    BAD_URL = "bad_url"
    FETCH_FAILED = "fetch_failed"
    BAD_CERTIFICATE = "bad_certificate"
    UNSUPPORTED_CERTIFICATE = "unsupported_certificate"
    UNTRUSTED_CHAIN = "untrusted_chain"
    EXPIRED_CERTIFICATE = "expired_certificate"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"
    FUTURE = "future"
    TN_MISMATCH = "tn_mismatch"
    TN_NOT_AUTHORIZED = "tn_not_authorized"


# (SIP code, reason phrase) per reason (the table above).
SIP: dict[Reason, tuple[int, str] | None] = {
    Reason.VALID: None,
    Reason.MISSING: (428, "Use Identity Header"),
    Reason.MALFORMED: (438, "Invalid Identity Header"),
    Reason.UNSUPPORTED: (438, "Invalid Identity Header"),
    Reason.INFO_MISMATCH: (438, "Invalid Identity Header"),
    Reason.BAD_URL: (436, "Bad Identity Info"),
    Reason.FETCH_FAILED: (436, "Bad Identity Info"),
    Reason.BAD_CERTIFICATE: (436, "Bad Identity Info"),
    Reason.UNSUPPORTED_CERTIFICATE: (437, "Unsupported Credential"),
    Reason.UNTRUSTED_CHAIN: (437, "Unsupported Credential"),
    Reason.EXPIRED_CERTIFICATE: (437, "Unsupported Credential"),
    Reason.CERTIFICATE_NOT_YET_VALID: (437, "Unsupported Credential"),
    Reason.BAD_SIGNATURE: (438, "Invalid Identity Header"),
    Reason.STALE: (403, "Stale Date"),
    Reason.FUTURE: (403, "Stale Date"),
    Reason.TN_MISMATCH: (438, "Invalid Identity Header"),
    Reason.TN_NOT_AUTHORIZED: (438, "Invalid Identity Header"),
}

# The verstat values of a verification service (ATIS-1000074's STI-VS, as the
# "verstat" tel URI parameter of RFC 8224 carries them); detection reads the failed one
# (tracehop.detection.indicators.VERIFY_FAILED holds "tn-validation-failed").
PASSED, FAILED, NO_VALIDATION = "TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation"


class VerificationFailure(TracehopError):
    """One check failed: its reason and what was found. Raised inside verification and
    turned into a :class:`VerifyResult`; a caller of ``Verifier.verify`` never sees it."""

    status = 200  # a failed verification is an answer, not an error of the request

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of verifying one Identity header (``to_json`` is the CLI and API contract:
    ``valid, reason, sip_code, attest, origid, orig, dest, iat`` and a few more)."""

    reason: Reason
    detail: str = ""
    attest: str | None = None
    origid: str | None = None
    orig: str | None = None
    dest: tuple[str, ...] = ()
    iat: int | None = None
    x5u: str | None = None
    signer: dict[str, Any] | None = field(default=None)  # the certificate's SPC and subject

    @property
    def valid(self) -> bool:
        return self.reason is Reason.VALID

    @property
    def sip_code(self) -> int | None:
        answer = SIP[self.reason]
        return answer[0] if answer else None

    @property
    def sip_reason(self) -> str | None:
        answer = SIP[self.reason]
        return answer[1] if answer else None

    @property
    def verstat(self) -> str:
        if self.valid:
            return PASSED
        return NO_VALIDATION if self.reason is Reason.MISSING else FAILED

    @property
    def spc(self) -> str | None:
        """The signing provider's Service Provider Code (from the certificate's TNAuthList)."""
        spcs = (self.signer or {}).get("spc") or []
        return spcs[0] if spcs else None

    def to_json(self) -> dict[str, Any]:
        iat_time = (
            datetime.fromtimestamp(self.iat, UTC).isoformat()
            if isinstance(self.iat, int) and 0 <= self.iat < 253402300800
            else None
        )
        return {
            "valid": self.valid,
            "reason": str(self.reason),
            "sip_code": self.sip_code,
            "sip_reason": self.sip_reason,
            "detail": self.detail,
            "verstat": self.verstat,
            "attest": self.attest,
            "origid": self.origid,
            "orig": self.orig,
            "dest": list(self.dest),
            "iat": self.iat,
            "iat_time": iat_time,
            "x5u": self.x5u,
            "signer": self.signer,
        }
