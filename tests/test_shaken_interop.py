"""Interoperability (issue 15): tracehop and secsipidx (Debian package ``secsipidx``, and
Kamailio's ``secsipid`` module built on its library) accept each other's PASSporTs, and
both reject tampered, stale and expired ones. Real programs on loopback: the secsipidx CLI,
its HTTP server (``/v1/check``), and Kamailio answering raw SIP INVITEs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgserver import free_port
from shakenkit import CertServer, parts, tamper
from tracehop.shaken.ca import TestCA
from tracehop.shaken.cache import CertCache
from tracehop.shaken.certs import TrustStore
from tracehop.shaken.passport import load_private_key, sign
from tracehop.shaken.result import Reason
from tracehop.shaken.verify import Verifier

CONFIG = Path(__file__).parent / "data" / "kamailio-shaken.cfg"
ORIG, DEST, ORIGID = "12155551212", "12155551213", "7d3f1c52-5a0c-4f8e-9b1a-0c5e2f6a9d11"


def need(program: str) -> str:
    # kamailio lives in sbin, which is not on every user's PATH
    path = shutil.which(program, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if path is None:
        message = f"{program} not found (Debian package in the Makefile's TEST_DEBS)"
        if os.environ.get("CI"):
            pytest.fail(message + ": make test installs it as root")
        pytest.skip(message)
    return path


@dataclass
class Kit:
    ca: TestCA
    server: CertServer
    secsipidx: str

    def url(self, name: str) -> str:
        return self.server.url(f"{name}.pem")

    def key_path(self, name: str) -> Path:
        return self.ca.directory / "keys" / f"{name}.key"

    def ours(self, name: str = "acme", **kw: object) -> str:
        args: dict[str, object] = {"orig": ORIG, "dest": DEST, "attest": "A", "origid": ORIGID}
        args.update(kw)
        return sign(key=load_private_key(self.key_path(name)), x5u=self.url(name), **args)  # type: ignore[arg-type]

    def theirs(
        self,
        name: str = "acme",
        *,
        iat: int | None = None,
        attest: str = "A",
        orig: str = ORIG,
        dest: str = DEST,
        origid: str = ORIGID,
    ) -> str:
        """secsipidx -sign-full (iat now), or -sign with the JSON written out for another
        iat (its -sign-full ignores -iat)."""
        if iat is None:
            cmd = [self.secsipidx, "-sign-full", "-orig-tn", orig, "-dest-tn", dest,
                   "-attest", attest, "-orig-id", origid, "-x5u", self.url(name)]  # fmt: skip
        else:
            header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": self.url(name)}
            claims = {"attest": attest, "dest": {"tn": [dest]}, "iat": iat, "orig": {"tn": orig},
                      "origid": origid}  # fmt: skip
            cmd = [self.secsipidx, "-sign", "-header", json.dumps(header),
                   "-payload", json.dumps(claims)]  # fmt: skip
        out = subprocess.run(
            [*cmd, "-k", str(self.key_path(name))], capture_output=True, text=True, check=True,
            timeout=30,
        ).stdout.strip()  # fmt: skip
        return out if iat is None else f"{out};info=<{self.url(name)}>;alg=ES256;ppt=shaken"

    def check_cli(self, identity: str, name: str = "acme") -> bool:
        """secsipidx -check with the certificate file, chain and dates checked."""
        out = subprocess.run(
            [self.secsipidx, "-check", "-identity", identity,
             "-fpubkey", str(self.ca.certs_dir / f"{name}.pem"), "-expire", "60",
             "-cert-verify", "5", "-ca-file", str(self.ca.root_path)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.stdout.strip().endswith("ok"), out.stdout
        return out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "ok"

    def verifier(self) -> Verifier:
        return Verifier(TrustStore.load(self.ca.root_path), CertCache())


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    secsipidx = need("secsipidx")
    now = datetime.now(UTC)
    ca = TestCA.create(
        tmp_path_factory.mktemp("interop") / "ca", not_before=now - timedelta(days=60)
    )
    ca.issue("acme", "1234")
    ca.issue("old", "2001", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    other = TestCA.create(tmp_path_factory.mktemp("interop") / "other")
    stranger = other.issue("stranger", "6666")
    shutil.copy(stranger.chain_path, ca.certs_dir / "stranger.pem")
    shutil.copy(stranger.key_path, ca.directory / "keys" / "stranger.key")
    with CertServer(ca.certs_dir) as server:
        yield Kit(ca, server, secsipidx)


def test_both_write_the_same_passport(kit: Kit) -> None:
    """Same inputs, same iat: the header and claims are byte for byte the same (only the
    ECDSA signature differs, being randomised)."""
    theirs = kit.theirs()
    ours = kit.ours(iat=parts(theirs)[1]["iat"])
    assert ours.split(".")[:2] == theirs.split(".")[:2]
    assert ours.partition(";")[2] == theirs.partition(";")[2]


def test_secsipidx_signs_tracehop_verifies(kit: Kit) -> None:
    result = kit.verifier().verify(kit.theirs(attest="B"), orig="+12155551212", dest=DEST)
    assert result.valid, result.detail
    assert (result.attest, result.origid, result.orig, result.dest) == ("B", ORIGID, ORIG, (DEST,))
    assert result.spc == "1234"


def test_tracehop_signs_secsipidx_verifies(kit: Kit) -> None:
    assert kit.check_cli(kit.ours())


# Each bad token, and what tracehop says of it; secsipidx must refuse it too.
BAD: dict[str, tuple[Callable[[Kit, Callable[..., str]], str], Reason]] = {
    "tampered": (lambda k, s: tamper(s(), orig={"tn": "12155550000"}), Reason.BAD_SIGNATURE),
    "stale": (lambda k, s: s(iat=int(time.time()) - 120), Reason.STALE),
    "expired certificate": (lambda k, s: s("old"), Reason.EXPIRED_CERTIFICATE),
    "another CA": (lambda k, s: s("stranger"), Reason.UNTRUSTED_CHAIN),
}


@pytest.mark.parametrize("signer", ["tracehop", "secsipidx"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_tokens_are_rejected_by_both(kit: Kit, case: str, signer: str) -> None:
    make, reason = BAD[case]
    identity = make(kit, kit.ours if signer == "tracehop" else kit.theirs)
    assert kit.verifier().verify(identity).reason is reason
    cert = {"expired certificate": "old", "another CA": "stranger"}.get(case, "acme")
    assert kit.check_cli(identity, cert) is False


@settings(max_examples=15, deadline=None)
@given(
    orig=st.from_regex(r"1[2-9]\d{2}[2-9]\d{6}", fullmatch=True),
    dest=st.from_regex(r"1[2-9]\d{2}[2-9]\d{6}", fullmatch=True),
    attest=st.sampled_from(["A", "B", "C"]),
    origid=st.uuids().map(str),
)
def test_any_call_either_way(kit: Kit, orig: str, dest: str, attest: str, origid: str) -> None:
    """The two implementations agree on calls they did not choose."""
    theirs = kit.theirs(orig=orig, dest=dest, attest=attest, origid=origid)
    result = kit.verifier().verify(theirs, orig=orig, dest=dest)
    assert (result.valid, result.attest, result.origid) == (True, attest, origid), result.detail
    assert kit.check_cli(kit.ours(orig=orig, dest=dest, attest=attest, origid=origid))


# --- secsipidx's HTTP service -------------------------------------------------------------------


def wait_tcp(port: int, proc: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {seconds} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def secsipidx_http(kit: Kit) -> Iterator[str]:
    """``secsipidx -http-srv``: downloads x5u, checks dates and the chain to our root."""
    port = free_port()
    proc = subprocess.Popen(
        [kit.secsipidx, "-http-srv", f"127.0.0.1:{port}", "-expire", "60", "-timeout", "2",
         "-cert-verify", "5", "-ca-file", str(kit.ca.root_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_tcp(port, proc)
        yield f"http://127.0.0.1:{port}/v1/check"
    finally:
        stop(proc)


def test_secsipidx_http_check(kit: Kit, secsipidx_http: str) -> None:
    with httpx.Client(timeout=10) as client:
        good = client.post(secsipidx_http, content=kit.ours())
        assert (good.status_code, good.text) == (200, "OK\n")
        for case, (make, _reason) in BAD.items():
            bad = client.post(secsipidx_http, content=make(kit, kit.ours))
            assert bad.status_code == 500, case


# --- Kamailio's secsipid module -----------------------------------------------------------------


@dataclass
class Kamailio:
    port: int

    def invite(self, identity: str | None) -> tuple[int, str | None]:
        """Send one INVITE (with ``identity`` as its Identity header); (status, the module's
        return code from X-Secsipid-Rc)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(10)
            here, call = sock.getsockname()[1], uuid.uuid4().hex
            lines = [
                f"INVITE sip:+{DEST}@127.0.0.1:{self.port} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK{call[:16]};rport",
                "Max-Forwards: 70",
                f"From: <sip:+{ORIG}@127.0.0.1>;tag={call[:8]}",
                f"To: <sip:+{DEST}@127.0.0.1>",
                f"Call-ID: {call}@127.0.0.1",
                "CSeq: 1 INVITE",
                f"Contact: <sip:caller@127.0.0.1:{here}>",
                *([f"Identity: {identity}"] if identity else []),
                "Content-Length: 0",
                "",
                "",
            ]
            sock.sendto("\r\n".join(lines).encode(), ("127.0.0.1", self.port))
            reply = sock.recv(65535).decode(errors="replace").split("\r\n")
        status = int(reply[0].split()[1])
        rc = next(
            (h.split(":", 1)[1].strip() for h in reply if h.lower().startswith("x-secsipid-rc:")),
            None,
        )
        return status, rc


def _wait_sip(port: int, proc: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    options = (
        f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKping;rport\r\n"
        "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: ping\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"kamailio exited with {proc.returncode}")
            sock.sendto(options.encode(), ("127.0.0.1", port))
            try:
                if sock.recv(65535).startswith(b"SIP/2.0 405"):
                    return
            except OSError:
                continue
    raise RuntimeError(f"kamailio did not answer on {port} within {seconds} s")


@pytest.fixture(scope="module")
def kamailio(kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    binary = need("kamailio")  # and its secsipid module (kamailio-secsipid-modules)
    run = tmp_path_factory.mktemp("kamailio")
    port = free_port()
    cfg = run / "kamailio.cfg"
    cfg.write_text(
        CONFIG.read_text().replace("@PORT@", str(port)).replace("@CAFILE@", str(kit.ca.root_path))
    )
    log = (run / "log").open("wb")
    proc = subprocess.Popen(
        [binary, "-f", str(cfg), "-DD", "-E", "-Y", str(run), "-P", str(run / "pid"),
         "-w", str(run), "-m", "64", "-M", "8"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        try:
            _wait_sip(port, proc)
        except RuntimeError as exc:
            log.flush()
            tail = (run / "log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; its log ends:\n{tail}") from None
        yield Kamailio(port)
    finally:
        stop(proc)
        log.close()


def test_kamailio_accepts_what_tracehop_signs(kit: Kit, kamailio: Kamailio) -> None:
    assert kamailio.invite(kit.ours()) == (200, "1")


@pytest.mark.parametrize(
    ("case", "answer"),
    [
        ("tampered", (438, "-251")),  # libsecsipid: signature invalid
        ("stale", (403, "-232")),  # iat expired
        ("expired certificate", (437, "-103")),  # certificate expired
        ("another CA", (437, "-101")),  # certificate invalid (no chain)
    ],
)
def test_kamailio_rejects_bad_tokens_as_tracehop_does(
    kit: Kit, kamailio: Kamailio, case: str, answer: tuple[int, str]
) -> None:
    make, _reason = BAD[case]
    identity = make(kit, kit.ours)
    assert kamailio.invite(identity) == answer
    # tracehop gives the same SIP answer for it
    assert kit.verifier().verify(identity).sip_code == answer[0]


def test_kamailio_without_identity_says_428(kamailio: Kamailio) -> None:
    assert kamailio.invite(None) == (428, None)
