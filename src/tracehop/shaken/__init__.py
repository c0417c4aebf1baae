"""STIR/SHAKEN: sign and verify PASSporTs in SIP Identity headers (docs/shaken.md).

- ``passport``: sign (PyJWT) and parse Identity headers; ``canonical_tn``;
- ``result``: the reasons, their SIP codes, ``VerifyResult``;
- ``certs``: the x5u chain, the TNAuthList signer, trust anchors and chain validation;
- ``cache``: the certificate cache (memory + on disk in the home, negative caching) and the
  fetchers; ``tnauth``: the TNAuthList extension (RFC 8226);
- ``verify``: ``Verifier`` (reusable: one per process), ``verify``/``verify_many``;
- ``ca``: a test certificate authority.

The names below are imported lazily: importing this package loads nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracehop.shaken.ca import TestCA
    from tracehop.shaken.cache import CertCache, DirectoryFetcher, HttpFetcher
    from tracehop.shaken.certs import TrustStore
    from tracehop.shaken.passport import canonical_tn, parse_identity, sign
    from tracehop.shaken.result import Reason, VerifyResult
    from tracehop.shaken.verify import Verifier

_WHERE = {
    "TestCA": "ca",
    "CertCache": "cache",
    "DirectoryFetcher": "cache",
    "HttpFetcher": "cache",
    "TrustStore": "certs",
    "canonical_tn": "passport",
    "parse_identity": "passport",
    "sign": "passport",
    "Reason": "result",
    "VerifyResult": "result",
    "Verifier": "verify",
}

__all__ = [
    "CertCache",
    "DirectoryFetcher",
    "HttpFetcher",
    "Reason",
    "TestCA",
    "TrustStore",
    "Verifier",
    "VerifyResult",
    "canonical_tn",
    "parse_identity",
    "sign",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"tracehop.shaken.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'tracehop.shaken' has no attribute {name!r}")
