"""The SIP redirect server: answers, transactions, where the caller, called number and upstream
come from; our parser against sipmessage; random and truncated messages (Hypothesis) that
never crash it, on the core and over a real UDP socket."""

from __future__ import annotations

import contextlib
import socket
import time

import numpy as np
import pytest
import sipmessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.screening.engine import FixedSource, Screener
from tracehop.screening.rules import Emergency, Rule, make_rule
from tracehop.screening.sip import RedirectCore, SipServer, TrunkMap, upstream_sources
from tracehop.screening.sipmsg import SipError, parse, uri_of, uri_param
from tracehop.times import FakeClock

E = Emergency()


def rule(kind: str, value: str, rid: int, **kw: object) -> Rule:
    return make_rule(kind, value, reason=f"r{rid}", emergency=E, **kw).with_id(rid)  # type: ignore[arg-type]


RULES = [
    rule("customer", "bad-trunk", 1),
    rule("caller_id", "+12025550143", 2, sip_code=608),
    rule("class", "dno", 3, sip_code=607),
    rule("customer", "watched", 4, mode="monitor"),
]


def invite(
    called: str = "+13125551234",
    caller: str = "+14155551000",
    *,
    branch: str = "z9hG4bK-1",
    call_id: str = "c1@host",
    method: str = "INVITE",
    extra: str = "",
    ruri: str | None = None,
) -> bytes:
    ruri = ruri or f"sip:{called}@127.0.0.1:5090;user=phone"
    return (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\r\n"
        f"Max-Forwards: 69\r\n"
        f'From: "Caller" <sip:{caller}@127.0.0.1>;tag=abc\r\n'
        f"To: <sip:{called}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"{extra}"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def core(clock: FakeClock | None = None, **kw: object) -> RedirectCore:
    screener = Screener(
        FixedSource(RULES, np.array([13125550100], dtype=np.uint64)),
        emergency=E,
        clock=clock or FakeClock(),
    )
    sources = upstream_sources(
        "tgrp,header:X-Upstream,source", TrunkMap([("10.9.0.0/16", "bad-trunk")])
    )
    return RedirectCore(
        screener,
        upstream_from=sources,
        redress="https://example.test/redress",
        clock=clock or FakeClock(),
        **kw,
    )  # type: ignore[arg-type]


ADDR = ("127.0.0.1", 5060)


def answer(c: RedirectCore, data: bytes, addr: tuple[str, int] = ADDR) -> sipmessage.Response:
    out = c.handle(data, addr)
    assert out is not None
    return sipmessage.Message.parse(out)


def test_allowed_call_is_redirected_to_its_request_uri() -> None:
    r = answer(core(), invite())
    assert (r.code, r.phrase) == (302, "Moved Temporarily")
    assert str(r.contact[0].uri) == "sip:+13125551234@127.0.0.1:5090;user=phone"
    assert r.headers.get("X-Tracehop-Action") == "allow"
    assert r.to_address.parameters.get("tag")
    assert r.call_id == "c1@host" and str(r.cseq) == "1 INVITE"
    assert r.via[0].parameters.get("branch") == "z9hG4bK-1"


def test_blocked_call_gets_603_plus_with_a_reason() -> None:
    c = core()
    r = answer(c, invite(extra="X-Upstream: bad-trunk\r\n"))
    assert (r.code, r.phrase) == (603, "Network Blocked")
    assert r.headers.get("Reason") == (
        'SIP;cause=603;text="originating customer blocked; redress: https://example.test/redress"'
    )
    assert r.headers.get("X-Tracehop-Rule") == "1"
    assert r.contact == []
    r = answer(c, invite(caller="+12025550143", branch="z9hG4bK-2"))
    assert (r.code, r.phrase) == (608, "Rejected")
    r = answer(c, invite(caller="+13125550100", branch="z9hG4bK-3"))
    assert (r.code, r.phrase) == (607, "Unwanted")
    assert "Do-Not-Originate" in r.headers.get("Reason")


@pytest.mark.parametrize("called", ["911", "933"])
def test_emergency_calls_continue_even_from_a_blocked_customer(called: str) -> None:
    c = core()
    r = answer(c, invite(called=called, caller="+12025550143", extra="X-Upstream: bad-trunk\r\n"))
    assert r.code == 302 and r.headers.get("X-Tracehop-Emergency") == "yes"
    assert str(r.contact[0].uri).startswith(f"sip:{called}@")


def test_caller_from_pai_called_from_to_and_upstream_sources() -> None:
    c = core()
    pai = "P-Asserted-Identity: <tel:+12025550143>\r\n"
    assert answer(c, invite(extra=pai)).code == 608  # PAI before From
    no_user = invite(ruri="sip:127.0.0.1:5090", called="+13125550999", branch="z9hG4bK-4")
    call = c.call_of(parse(no_user), ADDR)
    assert call.called == "+13125550999"  # no user part in the R-URI: the To header's
    tgrp = "Contact: <sip:+14155551000;tgrp=bad-trunk;trunk-context=x.test@10.0.0.1>\r\n"
    assert answer(c, invite(branch="z9hG4bK-5", extra=tgrp)).code == 603
    assert answer(c, invite(branch="z9hG4bK-6"), ("10.9.3.4", 5060)).code == 603  # source map
    assert c.call_of(parse(invite(extra="X-Upstream: watched\r\n")), ADDR).upstream == "watched"
    r = answer(c, invite(branch="z9hG4bK-7", extra="X-Upstream: watched\r\n"))
    assert r.code == 302 and r.headers.get("X-Tracehop-Monitor") == "4"


def test_retransmission_ack_cancel_options_and_other_methods() -> None:
    clock = FakeClock()
    c = core(clock)
    first = c.handle(invite(extra="X-Upstream: bad-trunk\r\n"), ADDR)
    again = c.handle(invite(extra="X-Upstream: bad-trunk\r\n"), ADDR)
    assert first == again and c.counts["retransmission"] == 1
    assert c.screener.counts["block"] == 1  # decided once
    assert c.handle(invite(method="ACK"), ADDR) is None
    cancel = answer(c, invite(method="CANCEL"))
    assert cancel.code == 200 and str(cancel.cseq) == "1 CANCEL"
    assert answer(c, invite(method="CANCEL", branch="z9hG4bK-unknown")).code == 481
    opts = answer(c, invite(method="OPTIONS", branch="z9hG4bK-o"))
    assert opts.code == 200 and "INVITE" in opts.headers.get("Allow")
    assert answer(c, invite(method="BYE", branch="z9hG4bK-b")).code == 405
    clock.advance(6)  # Timer I after the ACK: the transaction is forgotten
    c.handle(invite(method="OPTIONS", branch="z9hG4bK-o2"), ADDR)
    assert c.transactions == 0  # the INVITE is forgotten; OPTIONS are never kept
    assert answer(c, invite(method="CANCEL")).code == 481
    assert (
        answer(
            c,
            invite(extra="Max-Forwards: 0\r\n", branch="z9hG4bK-mf").replace(
                b"Max-Forwards: 69\r\n", b""
            ),
        ).code
        == 483
    )


def test_responses_and_rfc2543_transactions() -> None:
    c = core()
    assert c.handle(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\n\r\n", ADDR) is None
    assert c.counts["response"] == 1
    old = invite(branch="1234")  # no magic cookie: matched on Call-ID, tags, CSeq
    assert c.handle(old, ADDR) == c.handle(old, ADDR)
    assert c.counts["retransmission"] == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\n\r\n",  # no Via, From, To, Call-ID, CSeq
        invite().replace(b"Content-Length: 0", b"Content-Length: 99"),  # truncated
        invite().replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE"),
        invite().replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"),
        invite().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1),
        invite().replace(b"Via: SIP/2.0/UDP", b"Via: HTTP/1.1"),
        b"\x00\xff" * 50,
        b"A" * 70_000,
    ],
)
def test_malformed_messages_are_counted_and_dropped(data: bytes) -> None:
    c = core()
    assert c.handle(data, ADDR) is None
    assert c.counts["malformed"] == 1


def test_compact_forms_and_folded_headers() -> None:
    msg = (
        b"INVITE sip:+13125551234@h SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n"
        b"f: <sip:+12025550143@h>\r\n ;tag=1\r\n"
        b"t: <sip:+13125551234@h>\r\ni: abc\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n"
    )
    m = parse(msg)
    assert m.headers["from"] == ["<sip:+12025550143@h> ;tag=1"]
    assert m.headers["call-id"] == ["abc"] and m.cseq() == (7, "INVITE")
    assert answer(core(), msg).code == 608


def test_uri_helpers() -> None:
    assert uri_of('"A, B" <sip:+1202@h;user=phone>;tag=x') == "sip:+1202@h;user=phone"
    assert uri_of("sip:+1202@h;tag=1") == "sip:+1202@h"
    assert uri_param("sip:+1630;tgrp=TG-1;trunk-context=x@gw", "tgrp") == "TG-1"
    assert uri_param("tel:+1630;tgrp=TG-2", "tgrp") == "TG-2"
    assert uri_param("sip:+1630@gw", "tgrp") is None


# --- our parser against sipmessage --------------------------------------------------------------

_token = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_host = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
_number = st.from_regex(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    called, caller = draw(_number), draw(_number)
    method = draw(st.sampled_from(["INVITE", "OPTIONS", "CANCEL", "BYE"]))
    branch = "z9hG4bK" + draw(_token)
    tag, call_id = draw(_token), draw(_token) + "@" + draw(_token)
    cseq = draw(st.integers(1, 2**31 - 1))
    name = draw(st.sampled_from(["", '"Bob" ', '"Smith, Bob" ']))
    compact = draw(st.booleans())
    hosts = draw(st.lists(_host, min_size=1, max_size=3))
    vias = ", ".join(f"SIP/2.0/UDP {h}.test:5060;branch={branch}{i}" for i, h in enumerate(hosts))
    lines = [
        f"{method} sip:{called}@gw.test;user=phone SIP/2.0",
        f"{'v' if compact else 'Via'}: {vias}",
        f"{'f' if compact else 'From'}: {name}<sip:{caller}@a.test>;tag={tag}",
        f"{'t' if compact else 'To'}: <sip:{called}@b.test>",
        f"{'i' if compact else 'Call-ID'}: {call_id}",
        f"CSeq: {cseq} {method}",
        "Content-Length: 0",
    ]
    order = draw(st.permutations(lines[1:]))
    data = ("\r\n".join([lines[0], *order]) + "\r\n\r\n").encode()
    want = {
        "method": method,
        "branch": f"{branch}0",
        "call_id": call_id,
        "cseq": cseq,
        "caller": caller,
        "called": called,
        "tag": tag,
    }
    return data, want


@given(messages())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_our_parser_reads_what_sipmessage_reads(case: tuple[bytes, dict[str, object]]) -> None:
    data, want = case
    ref = sipmessage.Message.parse(data)
    ours = parse(data)
    assert ours.method == ref.method == want["method"]
    assert ours.uri == str(ref.uri)
    assert ours.branch() == ref.via[0].parameters.get("branch") == want["branch"]
    assert ours.first("call-id") == ref.call_id == want["call_id"]
    assert ours.cseq() == (ref.cseq.sequence, ref.cseq.method) == (want["cseq"], want["method"])
    assert uri_of(ours.first("from")) == str(ref.from_address.uri)
    assert uri_of(ours.first("to")) == str(ref.to_address.uri)
    c = core()
    call = c.call_of(ours, ADDR)
    assert (call.caller, call.called) == (want["caller"], want["called"])


# --- fuzz -------------------------------------------------------------------------------------

VALID = invite()


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "truncated", "mutated", "lines"]))
    if kind == "random":
        return draw(st.binary(max_size=2000))
    if kind == "truncated":
        return VALID[: draw(st.integers(0, len(VALID)))]
    if kind == "mutated":
        data = bytearray(VALID)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    lines = VALID.split(b"\r\n")
    picked = draw(
        st.lists(
            st.sampled_from(
                [
                    *lines,
                    b"Via:",
                    b":",
                    b" folded",
                    b"CSeq: 99999999999 INVITE",
                    b"Content-Length: -1",
                ]
            ),
            max_size=12,
        )
    )
    return b"\r\n".join(picked)


@given(st.lists(hostile(), min_size=1, max_size=20))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_messages_never_crash_and_valid_invites_still_answered(batch: list[bytes]) -> None:
    c = core()
    for i, data in enumerate(batch):
        with contextlib.suppress(SipError):  # the only error the parser may raise
            parse(data)
        c.handle(data, ADDR)
        out = c.handle(invite(branch=f"z9hG4bK-live{i}", call_id=f"live{i}"), ADDR)
        assert out is not None and out.startswith(b"SIP/2.0 302 ")


def test_a_real_udp_server_survives_garbage_and_keeps_answering() -> None:
    c = core()
    server = SipServer(c, "127.0.0.1", 0).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    try:
        rng = np.random.default_rng(7)
        for n in range(300):
            junk = rng.integers(0, 256, int(rng.integers(0, 1500)), dtype=np.uint8).tobytes()
            sock.sendto(
                junk if n % 2 else VALID[: int(rng.integers(0, len(VALID)))],
                (server.host, server.port),
            )
        for i in range(20):
            sock.sendto(invite(branch=f"z9hG4bK-u{i}", call_id=f"u{i}"), (server.host, server.port))
            data, _ = sock.recvfrom(65535)
            assert data.startswith(b"SIP/2.0 302 ")
        sock.sendto(
            invite(called="911", extra="X-Upstream: bad-trunk\r\n", branch="z9hG4bK-e"),
            (server.host, server.port),
        )
        assert sock.recvfrom(65535)[0].startswith(b"SIP/2.0 302 ")
        deadline = time.monotonic() + 5
        while c.counts["malformed"] < 250 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert c.counts["malformed"] >= 250
        assert c.counts["error"] == 0
    finally:
        sock.close()
        server.stop()


def test_several_worker_processes_answer_on_one_socket(cli, home) -> None:  # type: ignore[no-untyped-def]
    """tracehop screen serve --workers 2: every INVITE answered, every block audited once,
    and SIGTERM stops the workers too."""
    import os
    import signal
    import subprocess
    import sys

    from test_screen_kamailio import answers_options, free_port
    from tracehop.screening.audit import read_log

    cli.json("block", "add", "--customer", "bad-trunk", "--reason", "x", "--json")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEHOP_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracehop", "--home", str(home), "screen", "serve",
         "--sip", f"127.0.0.1:{port}", "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert answers_options(port)
        time.sleep(2)  # the second worker loads its rules
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.bind(("127.0.0.1", 0))
            answers = []
            for i in range(60):
                up = "bad-trunk" if i % 2 else "good"
                s.sendto(
                    invite(branch=f"z9hG4bK-w{i}", call_id=f"w{i}", extra=f"X-Upstream: {up}\r\n"),
                    ("127.0.0.1", port),
                )
                answers.append(s.recvfrom(65535)[0].split(b" ", 2)[1])
        assert answers == [b"603" if i % 2 else b"302" for i in range(60)]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    children = [p for p in os.listdir("/proc") if p.isdigit() and _parent(p) == proc.pid]
    assert children == []
    blocks = [e for e in read_log(home / "screening") if e["event"] == "block"]
    assert sorted(e["call_id"] for e in blocks) == sorted(f"w{i}" for i in range(1, 60, 2))


def _parent(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_unicode_digits_are_not_digits() -> None:
    """Found by the fuzz test: '²' is a digit to str.isdigit but not to int."""
    c = core()
    assert c.handle(invite().replace(b"CSeq: 1", b"CSeq: \xb21"), ADDR) is None
    r = answer(c, invite(caller="+1\xb2025550143", branch="z9hG4bK-sup"))
    assert r.code == 302
