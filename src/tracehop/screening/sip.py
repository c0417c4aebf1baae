"""The SIP redirect server: a switch or SBC sends each INVITE here and routes on the answer.

- **Continue**: ``302 Moved Temporarily`` with the original Request-URI as the Contact, and
  ``X-Tracehop-*`` annotations (the action, the rule that allowed it, monitor-mode matches,
  an emergency call).
- **Block**: ``603 Network Blocked`` (the 603+ of ATIS-1000099), ``607 Unwanted`` (RFC 8197) or
  ``608 Rejected`` (RFC 8688), with a ``Reason`` header (RFC 3326) carrying the cause and the
  redress contact: ``Reason: SIP;cause=603;text="<cause>; redress: <contact>"``.
- **Retransmissions**: an INVITE of a transaction already answered gets the same bytes again
  (RFC 3261 17.2.1); answers are kept for Timer H (32 s), or Timer I (5 s) after the ACK.
- **ACK**: absorbed. **CANCEL**: 200 when its INVITE was seen (already answered: nothing to
  cancel, RFC 3261 9.2), 481 otherwise. **OPTIONS** (keepalives): 200. Other methods: 405.
- **Malformed** datagrams are counted and dropped (RFC 3261 18.3); nothing a peer sends
  raises out of :meth:`RedirectCore.handle`.
- Answers go back to the datagram's source address (RFC 3581 style), never to an address
  named inside the message: the server cannot be used to reflect traffic elsewhere.

STIR/SHAKEN (``identity.py``): with a policy set (``TRACEHOP_SCREEN_IDENTITY``), the INVITE's
Identity header is verified in process after the rules (a call a rule blocks is not verified;
an emergency call is neither verified nor blocked), and the policy continues, annotates the
302 (``X-Tracehop-Verstat``, ``X-Tracehop-Identity``) or rejects with the verifier's code
(438, 437, 436, 403, 428) and ``Reason: STIR;cause=<code>`` (RFC 8224 6.2.2, RFC 9410).

Who is calling: the caller from ``P-Asserted-Identity`` (RFC 3325) or ``From``; the called
number from the Request-URI or ``To``; the upstream customer from the sources of
``TRACEHOP_SCREEN_UPSTREAM_FROM``, tried in order: ``tgrp`` (RFC 4904: the originating trunk
group travels in the Contact URI), ``header:NAME`` (a header the SBC adds), ``source`` (the
sender's address mapped by the ``TRACEHOP_SCREEN_TRUNKS`` file).
"""

from __future__ import annotations

import asyncio
import csv
import ipaddress
import logging
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

from tracehop.errors import ConfigError
from tracehop.screening.identity import IdentityCheck
from tracehop.screening.index import Call, number
from tracehop.screening.rules import SIP_CODES
from tracehop.screening.sipmsg import Message, SipError, parse, quoted, response, uri_of, uri_param
from tracehop.times import SYSTEM, Clock

log = logging.getLogger(__name__)

TIMER_H = 32.0  # 64 x T1: how long an unacknowledged final answer is retransmitted
TIMER_I = 5.0  # T4: how long after the ACK retransmissions are still absorbed
MAX_TRANSACTIONS = 500_000
ALLOW = "INVITE, ACK, CANCEL, OPTIONS"
RCVBUF = 4 * 1024 * 1024
MAX_DATAGRAM = 65_535

Upstream = Callable[[Message, tuple[str, int]], str | None]


class TrunkMap:
    """Sender address (IP or CIDR block) -> the customer it carries."""

    def __init__(self, rows: list[tuple[str, str]] = ()) -> None:  # type: ignore[assignment]
        self.exact: dict[str, str] = {}
        self.blocks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        self._cache: dict[str, str | None] = {}
        for address, customer in rows:
            try:
                net = ipaddress.ip_network(address.strip(), strict=False)
            except ValueError:
                raise ConfigError(
                    f"trunk address {address!r} is not an IP address or CIDR block"
                ) from None
            if net.num_addresses == 1:
                self.exact[str(net.network_address)] = customer.strip()
            else:
                self.blocks.append((net, customer.strip()))

    @classmethod
    def load(cls, path: Path | None) -> TrunkMap:
        if path is None:
            return cls()
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no trunks file at {path} (TRACEHOP_SCREEN_TRUNKS)")
        rows: list[tuple[str, str]] = []
        with path.open(newline="") as fh:
            for i, row in enumerate(csv.reader(fh), start=1):
                if not row or row[0].startswith("#") or (i == 1 and row[0].strip() == "address"):
                    continue
                if len(row) < 2:
                    raise ConfigError(f"{path} line {i}: give address,customer")
                rows.append((row[0], row[1]))
        return cls(rows)

    def __call__(self, address: str) -> str | None:
        found = self.exact.get(address)
        if found is not None or not self.blocks:
            return found
        if address in self._cache:
            return self._cache[address]
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        found = next((c for net, c in self.blocks if ip is not None and ip in net), None)
        if len(self._cache) < 100_000:
            self._cache[address] = found
        return found


def upstream_sources(spec: str, trunks: TrunkMap) -> list[Upstream]:
    """The setting ``tgrp,header:X-Upstream,source`` as functions, in order."""
    sources: list[Upstream] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item == "tgrp":
            sources.append(_from_tgrp)
        elif item == "source":
            sources.append(lambda _m, addr: trunks(addr[0]))
        elif item.lower().startswith("header:") and item[7:].strip():
            name = item[7:].strip().lower()
            sources.append(lambda m, _a, name=name: (m.first(name) or "").strip() or None)
        else:
            raise ConfigError(
                f"TRACEHOP_SCREEN_UPSTREAM_FROM: unknown source {item!r}: use tgrp, "
                "header:NAME or source"
            )
    return sources


def _from_tgrp(msg: Message, _addr: tuple[str, int]) -> str | None:
    # RFC 4904: the originating trunk group is a parameter of the Contact URI.
    contact = msg.first("contact")
    return uri_param(uri_of(contact), "tgrp") if contact else None


class RedirectCore:
    """The server without its socket: bytes in, bytes out (or None)."""

    def __init__(
        self,
        screener: object,
        *,
        upstream_from: list[Upstream] | None = None,
        redress: str = "your service provider",
        clock: Clock = SYSTEM,
        metrics: object | None = None,
        identity: IdentityCheck | None = None,
    ) -> None:
        self.screener = screener
        self.identity = identity
        self.upstream_from = upstream_from if upstream_from is not None else [_from_tgrp]
        self.redress = redress
        self.clock = clock
        self.metrics = metrics
        self.counts: Counter[str] = Counter()
        # transactions answered: key -> (answer, expiry); two queues in time order (Timer H
        # from the INVITE, Timer I from the ACK) let old ones go a few at a time, never in
        # one long pause. Tuples of strings, bytes and floats only: the garbage collector
        # stops tracking those, so tens of thousands of them add nothing to its full passes.
        self._tx: dict[tuple[str, ...], tuple[bytes, float]] = {}
        self._timer_h: deque[tuple[float, tuple[str, ...]]] = deque()
        self._timer_i: deque[tuple[float, tuple[str, ...]]] = deque()

    def _count(self, kind: str) -> None:
        self.counts[kind] += 1
        if self.metrics is not None:
            self.metrics.sip[kind] += 1  # type: ignore[attr-defined]

    def handle(self, data: bytes, addr: tuple[str, int]) -> bytes | None:
        now = self.clock.monotonic()
        self._expire(self._timer_h, now)
        self._expire(self._timer_i, now)
        try:
            msg = parse(data)
            if not msg.is_request:
                self._count("response")
                return None
            key = msg.transaction()
            return self._request(msg, key, addr, now)
        except SipError:
            self._count("malformed")
            return None

    def _request(
        self, msg: Message, key: tuple[str, ...], addr: tuple[str, int], now: float
    ) -> bytes | None:
        method = msg.method
        if method == "INVITE":
            entry = self._tx.get(key)
            if entry is not None:
                self._count("retransmission")
                return entry[0]
            self._count("invite")
            out = self._invite(msg, addr)
            if len(self._tx) >= MAX_TRANSACTIONS:
                self._tx.pop(next(iter(self._tx)))
            self._tx[key] = (out, now + TIMER_H)
            self._timer_h.append((now + TIMER_H, key))
            return out
        if method == "ACK":
            self._count("ack")
            entry = self._tx.get(key)
            if entry is not None and entry[1] > now + TIMER_I:
                self._tx[key] = (entry[0], now + TIMER_I)
                self._timer_i.append((now + TIMER_I, key))
            return None
        if method == "CANCEL":
            self._count("cancel")
            if key in self._tx:
                return response(msg, 200, "OK")
            return response(msg, 481, "Call/Transaction Does Not Exist")
        if method == "OPTIONS":
            self._count("options")
            return response(msg, 200, "OK", [("Allow", ALLOW), ("Accept", "application/sdp")])
        self._count("other")
        return response(msg, 405, "Method Not Allowed", [("Allow", ALLOW)])

    def call_of(self, msg: Message, addr: tuple[str, int]) -> Call:
        """Caller, called number and upstream of an INVITE."""
        pai = msg.first("p-asserted-identity")
        caller = number(uri_of(pai)) if pai else None
        if caller is None:
            caller = number(uri_of(msg.headers["from"][0]))
        uri = msg.uri
        has_user = "@" in uri or uri[:4].lower() == "tel:"
        called = number(uri) if has_user else None
        if called is None:  # a Request-URI without a user part: the To header's
            called = number(uri_of(msg.headers["to"][0]))
        upstream = None
        for source in self.upstream_from:
            upstream = source(msg, addr)
            if upstream:
                break
        return Call(caller, called, upstream, msg.headers["call-id"][0])

    def _invite(self, msg: Message, addr: tuple[str, int]) -> bytes:
        if (msg.first("max-forwards") or "").strip() == "0":
            return response(msg, 483, "Too Many Hops")
        call = self.call_of(msg, addr)
        d = self.screener.decide(call, source="sip")  # type: ignore[attr-defined]
        if d.action == "block":
            code = d.sip_code or 603
            text = f"{d.cause or 'blocked'}; redress: {self.redress}"
            extra = [
                ("Reason", f"SIP;cause={code};text={quoted(text)}"),
                ("X-Tracehop-Action", "block"),
                ("X-Tracehop-Rule", str(d.rule_id)),
            ]
            return response(msg, code, SIP_CODES.get(code, "Decline"), extra)
        extra = [("Contact", f"<{msg.uri}>"), ("X-Tracehop-Action", "allow")]
        if self.identity is not None and not d.emergency:  # 47 CFR 9.4: never an emergency call
            outcome = self.identity.check(msg.first("identity"), orig=call.caller, dest=call.called)
            self.counts[f"identity_{outcome.result.reason}"] += 1
            if outcome.action == "block":
                self._count("identity_block")
                code, phrase, headers = outcome.reject()
                headers += [
                    ("X-Tracehop-Action", "block"),
                    ("X-Tracehop-Identity", str(outcome.result.reason)),
                ]
                return response(msg, code, phrase, headers)
            if outcome.action == "annotate":
                extra += outcome.annotations()
        if d.rule_id is not None:
            extra.append(("X-Tracehop-Rule", str(d.rule_id)))
        if d.monitored:
            extra.append(("X-Tracehop-Monitor", ",".join(map(str, d.monitored))))
        if d.emergency:
            extra.append(("X-Tracehop-Emergency", "yes"))
        return response(msg, 302, "Moved Temporarily", extra)

    def _expire(self, queue: deque[tuple[float, tuple[str, ...]]], now: float) -> None:
        tx = self._tx
        while queue and queue[0][0] <= now:
            _, key = queue.popleft()
            entry = tx.get(key)
            if entry is not None and entry[1] <= now:
                del tx[key]

    @property
    def transactions(self) -> int:
        return len(self._tx)


class _Reader:
    """Reads the socket when the event loop says it is readable, draining up to ``BATCH``
    datagrams a wake-up (asyncio's own datagram transport reads one per wake-up: under load
    most of its time goes to the selector), and answers each with one non-blocking send."""

    BATCH = 64

    def __init__(self, core: RedirectCore, sock: socket.socket) -> None:
        self.core = core
        self.sock = sock

    def __call__(self) -> None:
        recv, send, handle = self.sock.recvfrom, self.sock.sendto, self.core.handle
        for _ in range(self.BATCH):
            try:
                data, addr = recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP errors from a peer that left
                self.core.counts["socket_error"] += 1
                continue
            try:
                out = handle(data, addr)
            except Exception:  # a bug must not stop the server: counted, logged
                self.core._count("error")
                if self.core.counts["error"] <= 10:
                    log.exception("screening: SIP message from %s not handled", addr[0])
                continue
            if out is not None:
                try:
                    send(out, addr)
                except OSError:  # a full send buffer: UDP, the peer retransmits
                    self.core.counts["send_error"] += 1


def bind_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, RCVBUF)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen for SIP on {host}:{port}: {exc.strerror}") from None
    return sock


class SipServer:
    """The redirect server on a UDP socket, on a thread of its own (``start``/``stop``), or
    in the calling thread until interrupted (``run``)."""

    def __init__(
        self,
        core: RedirectCore,
        host: str = "127.0.0.1",
        port: int = 5070,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        self.core = core
        self.sock = sock if sock is not None else bind_udp(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _serve(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setblocking(False)
        loop.add_reader(self.sock.fileno(), _Reader(self.core, self.sock))
        try:
            await stop.wait()
        finally:
            loop.remove_reader(self.sock.fileno())
            self.sock.close()

    def run(self, ready: threading.Event | None = None) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        stop = asyncio.Event()
        self._stop_event = stop
        if ready is not None:
            loop.call_soon(ready.set)
        task = loop.create_task(self._serve(stop))
        try:
            loop.run_until_complete(task)
        except KeyboardInterrupt:
            stop.set()  # close the socket's transport, then let the caller stop
            loop.run_until_complete(task)
            raise
        finally:
            loop.close()

    def start(self) -> SipServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self.run, args=(ready,), name="sip", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
