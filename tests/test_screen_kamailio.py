"""Kamailio (Debian package) in front of tracehop's SIP redirect server, on loopback, driven by
SIPp (Debian package sip-tester) with the scenario files in tests/sipp: an allowed call is
routed to a SIPp callee, a blocked one gets 603 Network Blocked with the Reason header, and
911 goes through although a block rule matches its caller ID and its upstream."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, Cli
from tracehop.screening.audit import read_log

SIPP_DIR = REPO / "tests" / "sipp"
KAMAILIO_CFG = REPO / "deploy" / "kamailio" / "kamailio.cfg"
BLOCKED_CALLER = "+12025550143"


def need(binary: str, package: str) -> str:
    path = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None
    )
    if path is None:
        pytest.fail(f"{binary} is not installed: make system-deps (Debian package {package})")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_options(port: int, timeout: float = 20.0) -> bool:
    """Whether something answers a SIP OPTIONS on udp 127.0.0.1:port within ``timeout``."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            local = s.getsockname()[1]
            msg = (
                f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-ready{n}\r\n"
                f"From: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:127.0.0.1:{port}>\r\n"
                f"Call-ID: ready{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            s.sendto(msg.encode(), ("127.0.0.1", port))
            try:
                if s.recvfrom(4096)[0].startswith(b"SIP/2.0 200"):
                    return True
            except TimeoutError:
                continue
    return False


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class CallPath:
    kamailio: int
    uas: int
    workdir: Path
    home: Path
    server: subprocess.Popen


@pytest.fixture
def call_path(tmp_path: Path, cli: Cli, home: Path) -> Iterator[CallPath]:
    kamailio = need("kamailio", "kamailio")
    need("sipp", "sip-tester")
    # the rules: a customer and a caller ID blocked
    cli.json("block", "add", "--customer", "bad-trunk", "--reason", "finding 1", "--json")
    cli.json("block", "add", "--caller-id", BLOCKED_CALLER, "--reason", "spoofed", "--json")
    screen, kam, uas = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEHOP_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracehop",
            "--home",
            str(home),
            "screen",
            "serve",
            "--sip",
            f"127.0.0.1:{screen}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = tmp_path / "kamailio-run"
    run.mkdir()
    log = (tmp_path / "kamailio.log").open("w")
    proxy = subprocess.Popen(
        [
            kamailio,
            "-f",
            str(KAMAILIO_CFG),
            "-DD",
            "-E",
            "-Y",
            str(run),
            "-P",
            str(run / "kamailio.pid"),
            "-m",
            "64",
            "-M",
            "8",
            "-A",
            f"LISTEN=udp:127.0.0.1:{kam}",
            "-A",
            f'SCREEN="sip:127.0.0.1:{screen}"',
            "-A",
            "CHILDREN=2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        assert answers_options(screen), "the redirect server did not start"
        assert answers_options(kam), (
            f"kamailio did not start: {(tmp_path / 'kamailio.log').read_text()}"
        )
        yield CallPath(kam, uas, tmp_path, home, server)
    finally:
        stop(proxy)
        stop(server)
        log.close()


def sipp(
    path: CallPath, scenario: str, *, called: str, caller: str, upstream: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "sipp",
            f"127.0.0.1:{path.kamailio}",
            "-sf",
            str(SIPP_DIR / scenario),
            "-s",
            called,
            "-key",
            "uas",
            f"127.0.0.1:{path.uas}",
            "-key",
            "caller",
            caller,
            "-key",
            "upstream",
            upstream,
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-m",
            "1",
            "-timeout",
            "15s",
            "-timeout_error",
            "-trace_err",
            "-nostdin",
        ],
        cwd=path.workdir,
        capture_output=True,
        timeout=60,
    )


def errors(path: CallPath) -> str:
    return "\n".join(p.read_text(errors="replace") for p in path.workdir.glob("*_errors.log"))


def test_kamailio_routes_allowed_blocks_with_603_and_always_lets_911_through(
    call_path: CallPath,
) -> None:
    callee = subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(SIPP_DIR / "uas.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(call_path.uas),
            "-m",
            "2",
            "-nostdin",
            "-trace_err",
        ],
        cwd=call_path.workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        routed = sipp(
            call_path,
            "uac_routed.xml",
            called="+13125551234",
            caller="+14155551000",
            upstream="good-trunk",
        )
        assert routed.returncode == 0, errors(call_path)
        blocked = sipp(
            call_path,
            "uac_blocked.xml",
            called="+13125551234",
            caller="+14155551000",
            upstream="bad-trunk",
        )
        assert blocked.returncode == 0, errors(call_path)
        spoofed = sipp(
            call_path,
            "uac_blocked.xml",
            called="+13125551234",
            caller=BLOCKED_CALLER,
            upstream="good-trunk",
        )
        assert spoofed.returncode == 0, errors(call_path)
        # 911 from the blocked customer with the blocked caller ID: routed to the callee
        emergency = sipp(
            call_path, "uac_routed.xml", called="911", caller=BLOCKED_CALLER, upstream="bad-trunk"
        )
        assert emergency.returncode == 0, errors(call_path)
        assert callee.wait(timeout=30) == 0  # the callee took exactly the two routed calls
    finally:
        stop(callee)
    deadline = time.monotonic() + 5
    blocks: list[dict] = []
    while time.monotonic() < deadline and len(blocks) < 2:
        blocks = [e for e in read_log(call_path.home / "screening") if e["event"] == "block"]
        time.sleep(0.1)
    assert sorted(e["rule_id"] for e in blocks) == [1, 2]
    assert all(e["source"] == "sip" and e["called"] == "+13125551234" for e in blocks)


def test_a_blocked_call_fails_the_routed_scenario(call_path: CallPath) -> None:
    """The scenarios can fail: a blocked call run through the routed scenario is an error."""
    got = sipp(
        call_path,
        "uac_routed.xml",
        called="+13125551234",
        caller="+14155551000",
        upstream="bad-trunk",
    )
    assert got.returncode != 0


def callee(path: CallPath, calls: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "uas.xml"), "-i", "127.0.0.1", "-p", str(path.uas),
         "-m", str(calls), "-nostdin", "-trace_err"],
        cwd=path.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_calls_go_on_unscreened_when_the_redirect_server_is_down(call_path: CallPath) -> None:
    """Fail open (the default): a redirect server that does not answer within 1 s lets the
    call through to its Request-URI; 911 never waits for it."""
    stop(call_path.server)
    uas = callee(call_path, 2)
    try:
        started = time.monotonic()
        got = sipp(
            call_path,
            "uac_routed.xml",
            called="+13125551234",
            caller=BLOCKED_CALLER,
            upstream="bad-trunk",
        )
        assert got.returncode == 0, errors(call_path)
        assert time.monotonic() - started >= 1.0  # it waited for the screening first
        got = sipp(
            call_path, "uac_routed.xml", called="911", caller=BLOCKED_CALLER, upstream="bad-trunk"
        )
        assert got.returncode == 0, errors(call_path)
        assert uas.wait(timeout=30) == 0
    finally:
        stop(uas)
