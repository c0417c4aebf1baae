"""Malformed Identity headers never crash verification (issue 15): whatever arrives, the
answer is a clean verification failure with a reason, never an exception and never the
verifier's internal-error safety net."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.shaken.ca import TestCA
from tracehop.shaken.cache import CertCache, DirectoryFetcher
from tracehop.shaken.certs import TrustStore, parse_chain
from tracehop.shaken.passport import sign
from tracehop.shaken.result import Reason
from tracehop.shaken.verify import Verifier

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
X5U = "https://certs.test/acme.pem"
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Verifier, str]:
    folder = tmp_path_factory.mktemp("fuzz")
    ca = TestCA.create(folder / "ca", not_before=datetime(2026, 1, 1, tzinfo=UTC))
    provider = ca.issue("acme", "1234", not_before=datetime(2026, 1, 1, tzinfo=UTC))
    (ca.certs_dir / "junk.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n\x00\xff\n")
    # no network: URLs outside the test CA's folder fail as fetch_failed at once
    fetch = DirectoryFetcher({"https://certs.test/": ca.certs_dir})
    verifier = Verifier(TrustStore.load(ca.root_path), CertCache(fetcher=fetch))
    good = sign(orig="12155551212", dest="12155551213", attest="A", key=provider.key(),
                x5u=X5U, iat=NOW)  # fmt: skip
    assert verifier.verify(good, at=NOW).valid
    return verifier, good


def _check(verifier: Verifier, identity: object, **kw: object) -> None:
    result = verifier.verify(identity, at=NOW, **kw)  # type: ignore[arg-type]
    assert isinstance(result.reason, Reason)
    assert "internal error" not in result.detail, result.detail
    json.dumps(result.to_json())  # what the CLI and the API print


@FUZZ
@given(st.text(max_size=300))
def test_any_text(kit: tuple[Verifier, str], text: str) -> None:
    _check(kit[0], text)


@FUZZ
@given(st.data())
def test_a_good_header_damaged(kit: tuple[Verifier, str], data: st.DataObject) -> None:
    verifier, good = kit
    text = good
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        ch = data.draw(st.characters(codec="utf-8") | st.sampled_from(list('.;=<>"_-A0 ')))
        if op == "replace":
            text = text[:i] + ch + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + ch + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i]
    _check(verifier, text, orig=data.draw(st.none() | st.text(max_size=20)))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _b64(value: object) -> str:
    raw = json.dumps(value).encode() if not isinstance(value, bytes) else value
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@FUZZ
@given(
    header=st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["ES256", "none", "HS256"]) | JSON,
            "ppt": st.just("shaken") | JSON,
            "typ": st.just("passport") | JSON,
            "x5u": st.sampled_from([X5U, "https://certs.test/junk.pem", "http://[::1", "ftp://x"])
            | JSON,
        },
    )
    | JSON,
    claims=st.fixed_dictionaries(
        {},
        optional={
            "attest": st.sampled_from(["A", "B", "C"]) | JSON,
            "dest": st.just({"tn": ["12155551213"]}) | st.dictionaries(st.just("tn"), JSON) | JSON,
            "iat": st.just(int(NOW.timestamp())) | st.integers() | JSON,
            "orig": st.just({"tn": "12155551212"}) | st.dictionaries(st.just("tn"), JSON) | JSON,
            "origid": st.text(max_size=40) | JSON,
        },
    )
    | JSON,
    signature=st.binary(max_size=80),
    params=st.sampled_from(
        [f";info=<{X5U}>;alg=ES256;ppt=shaken", f";info={X5U}", "", ";info=<x>;ppt"]
    ),
)
def test_structured_nonsense(
    kit: tuple[Verifier, str], header: object, claims: object, signature: bytes, params: str
) -> None:
    token = f"{_b64(header)}.{_b64(claims)}.{_b64(signature)}"
    _check(kit[0], token + params, orig="12155551212", dest="12155551213")


@FUZZ
@given(st.binary(max_size=2000))
def test_anything_served_at_x5u(data: bytes) -> None:
    """What a hostile server sends as its certificate is rejected cleanly too."""
    try:
        parse_chain(data)
    except Exception as exc:  # only the verification failure is allowed out
        assert type(exc).__name__ == "VerificationFailure", repr(exc)


def test_non_text_input_is_malformed(kit: tuple[Verifier, str], tmp_path: Path) -> None:
    for value in [b"bytes", 42, ["list"]]:
        result = kit[0].verify(value, at=NOW)  # type: ignore[arg-type]
        assert result.reason is Reason.MALFORMED
