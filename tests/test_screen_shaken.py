"""Screening on STIR/SHAKEN (screening/identity.py): real INVITEs over UDP to the redirect
server, signed by tracehop's test CA, verified in process and answered as the policy says."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tracehop.errors import ConfigError
from tracehop.screening.engine import FixedSource, Screener
from tracehop.screening.identity import IdentityCheck, IdentityPolicy
from tracehop.screening.rules import Emergency
from tracehop.screening.service import identity_check
from tracehop.screening.sip import RedirectCore, SipServer
from tracehop.settings import load_settings
from tracehop.shaken.ca import TestCA
from tracehop.shaken.cache import CertCache, DirectoryFetcher
from tracehop.shaken.certs import TrustStore
from tracehop.shaken.passport import sign
from tracehop.shaken.result import Reason
from tracehop.shaken.verify import Verifier

PREFIX = "https://certs.test.example/"
CALLER, CALLED = "+14155551000", "+13125551234"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    ca = TestCA.create(tmp_path_factory.mktemp("ca") / "ca")
    ca.issue("acme", "1234")
    ca.issue("other", "5678")
    return ca


def verifier(ca: TestCA) -> Verifier:
    fetch = DirectoryFetcher({PREFIX: ca.certs_dir})
    return Verifier(TrustStore.load(ca.root_path), CertCache(None, fetcher=fetch))


def header(ca: TestCA, *, key: str = "acme", age: int = 0, called: str = CALLED) -> str:
    return sign(
        orig=CALLER,
        dest=called,
        attest="A",
        key=ca.provider(key).key(),
        x5u=f"{PREFIX}acme.pem",
        iat=int(time.time()) - age,
    )


def invite(n: int, identity: str | None, called: str = CALLED) -> bytes:
    extra = f"Identity: {identity}\r\n" if identity is not None else ""
    return (
        f"INVITE sip:{called}@127.0.0.1:5090;user=phone SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-s{n};rport\r\n"
        f"Max-Forwards: 69\r\n"
        f'From: "Caller" <sip:{CALLER}@127.0.0.1>;tag=abc\r\n'
        f"To: <sip:{called}@127.0.0.1>\r\n"
        f"Call-ID: shaken-{n}@host\r\n"
        f"CSeq: 1 INVITE\r\n"
        f"{extra}"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def server(ca: TestCA) -> Iterator[SipServer]:
    screener = Screener(FixedSource([], np.array([], dtype=np.uint64)), emergency=Emergency())
    policy = IdentityPolicy.parse("bad_signature=block,stale=block,failed=annotate")
    core = RedirectCore(screener, identity=IdentityCheck(verifier(ca), policy))
    srv = SipServer(core, "127.0.0.1", 0).start()
    yield srv
    srv.stop()


def ask(server: SipServer, data: bytes) -> tuple[int, dict[str, str]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(data, (server.host, server.port))
        answer = sock.recvfrom(65535)[0].decode()
    lines = answer.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def test_a_valid_signature_gets_the_302_as_today(server: SipServer, ca: TestCA) -> None:
    code, headers = ask(server, invite(1, header(ca)))
    assert code == 302
    assert headers["contact"] == f"<sip:{CALLED}@127.0.0.1:5090;user=phone>"
    assert "x-tracehop-verstat" not in headers  # valid: default continue, not annotated
    assert server.core.counts["identity_valid"] == 1


def test_a_bad_signature_under_a_block_policy_is_438(server: SipServer, ca: TestCA) -> None:
    code, headers = ask(server, invite(2, header(ca, key="other")))
    assert code == 438
    assert headers["reason"] == 'STIR;cause=438;text="Invalid Identity Header"'
    assert headers["x-tracehop-identity"] == "bad_signature"
    assert headers["x-tracehop-action"] == "block"


def test_a_stale_token_is_403_stale_date(server: SipServer, ca: TestCA) -> None:
    code, headers = ask(server, invite(3, header(ca, age=300)))
    assert code == 403
    assert headers["reason"] == 'STIR;cause=403;text="Stale Date"'


def test_other_failures_are_annotated_and_a_missing_header_continues(
    server: SipServer, ca: TestCA
) -> None:
    code, headers = ask(server, invite(4, "garbage;info=<x>"))
    assert code == 302
    assert headers["x-tracehop-verstat"] == "TN-Validation-Failed"
    assert headers["x-tracehop-identity"] == "malformed"
    code, headers = ask(server, invite(5, None))  # unsigned: many legal calls are
    assert code == 302 and "x-tracehop-identity" not in headers


def test_an_emergency_call_is_never_blocked_or_verified(server: SipServer, ca: TestCA) -> None:
    code, headers = ask(server, invite(6, header(ca, key="other", called="911"), called="911"))
    assert code == 302
    assert headers["x-tracehop-emergency"] == "yes"
    assert "x-tracehop-identity" not in headers


@pytest.mark.parametrize(
    ("spec", "reason", "action"),
    [
        ("", Reason.BAD_SIGNATURE, "continue"),
        ("block", Reason.STALE, "block"),
        ("block", Reason.MISSING, "continue"),  # an absent header blocks only when named
        ("missing=block", Reason.MISSING, "block"),
        ("failed=annotate,stale=block", Reason.STALE, "block"),
        ("failed=annotate,stale=block", Reason.UNTRUSTED_CHAIN, "annotate"),
        ("failed=block,default=annotate", Reason.VALID, "annotate"),
    ],
)
def test_policy_table(spec: str, reason: Reason, action: str) -> None:
    assert IdentityPolicy.parse(spec).action(reason) == action


@pytest.mark.parametrize("spec", ["stale=reject", "nonsense=block", "valid=block"])
def test_bad_policies_are_refused(spec: str) -> None:
    with pytest.raises(ConfigError, match="TRACEHOP_SCREEN_IDENTITY"):
        IdentityPolicy.parse(spec)


def test_identity_check_from_settings(tmp_path: Path, ca: TestCA) -> None:
    assert identity_check(load_settings(home=tmp_path / "h")) is None  # default: not verified
    with pytest.raises(ConfigError, match="TRACEHOP_SHAKEN_TRUST"):
        identity_check(load_settings(home=tmp_path / "h", screen_identity="failed=block"))
    check = identity_check(
        load_settings(
            home=tmp_path / "h",
            screen_identity="failed=block",
            shaken_trust=ca.root_path,
            shaken_certs=f"{PREFIX}={ca.certs_dir}",
        )
    )
    assert check is not None
    out = check.check(header(ca), orig=CALLER, dest=CALLED)
    assert (out.action, out.result.reason) == ("continue", Reason.VALID)
    out = check.check(header(ca, key="other"), orig=CALLER, dest=CALLED)
    assert (out.action, out.reject()[0]) == ("block", 438)
    check.close()


def test_screen_check_applies_the_identity_policy(tmp_path: Path, ca: TestCA, cli) -> None:  # type: ignore[no-untyped-def]
    """`tracehop screen check --identity HEADER` answers as the redirect server would: the
    rules first, then the policy on the verified header; 911 is never verified."""
    from tracehop.screening.service import check
    from tracehop.store import open_store

    plain = load_settings(home=tmp_path / "plain")
    with open_store(plain) as store:  # no policy: the header is not verified, as by the server
        d = check(plain, store, caller=CALLER, called=CALLED, identity=header(ca, key="other"))
        assert (d.action, d.identity) == ("allow", None) and "identity" not in d.as_dict()
    settings = load_settings(
        home=tmp_path / "h",
        screen_identity="bad_signature=block,stale=annotate",
        shaken_trust=ca.root_path,
        shaken_certs=f"{PREFIX}={ca.certs_dir}",
    )
    with open_store(settings) as store:
        ok = check(settings, store, caller=CALLER, called=CALLED, identity=header(ca))
        assert (ok.action, ok.sip_code, ok.identity) == ("allow", None, "valid")
        bad = check(settings, store, caller=CALLER, called=CALLED,
                    identity=header(ca, key="other"))  # fmt: skip
        assert (bad.action, bad.sip_code, bad.identity) == ("block", 438, "bad_signature")
        stale = check(settings, store, caller=CALLER, called=CALLED,
                      identity=header(ca, age=300))  # fmt: skip
        assert (stale.action, stale.identity) == ("allow", "stale")
        sos = check(settings, store, caller=CALLER, called="911",
                    identity=header(ca, key="other", called="911"))  # fmt: skip
        assert (sos.action, sos.identity) == ("allow", None)
    cli.home = settings.home
    code, out, _ = _run(cli, ca)  # a real process: the settings come from its environment
    assert code == 0
    got = json.loads(out)
    assert (got["action"], got["sip_code"], got["identity"]) == ("block", 438, "bad_signature")


def _run(cli, ca: TestCA) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    proc = cli.run(
        "screen", "check", "--caller", CALLER, "--called", CALLED,
        "--identity", header(ca, key="other"), "--json",
        env={"TRACEHOP_SCREEN_IDENTITY": "bad_signature=block",
             "TRACEHOP_SHAKEN_TRUST": str(ca.root_path),
             "TRACEHOP_SHAKEN_CERTS": f"{PREFIX}={ca.certs_dir}"},
    )  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr
