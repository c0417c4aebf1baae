"""A small SIP message parser and response builder: what a redirect server needs and no more.

Why our own and not ``sipmessage`` (PyPI): the redirect server reads a handful of headers of
each INVITE and copies five into its answer; this parser does that in less than half of
``sipmessage``'s time (``benchmarks/screen.py`` measures both) and is tested against it
(``tests/test_screen_sip.py``: the same fields from the same messages) and fuzzed (random and
truncated messages raise :class:`SipError`, never anything else).

What it reads (RFC 3261 section 7): the start line, header fields with their compact forms
(section 7.3.3) and folded continuation lines, the body after the blank line, and
``Content-Length`` (a body shorter than it says is a truncated datagram: malformed, section
18.3). Every request it accepts carries the headers a response is built from: Via, From, To,
Call-ID and CSeq (section 8.1.1). Bytes are read as Latin-1, so any input decodes.
"""

from __future__ import annotations

import hashlib
import re

MAX_MESSAGE = 65_535
MAX_HEADERS = 200
COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "v": "via",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "r": "refer-to",
    "u": "allow-events",
    "x": "session-expires",
    "y": "identity",
}
REQUIRED = ("via", "from", "to", "call-id", "cseq")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_FOLD = re.compile(r"\r?\n[ \t]+")
_HEADER = re.compile(r"([^:\n]*):[ \t]*([^\n]*?)[ \t\r]*\n")
# header names seen, as their canonical lower-case long form (None: not a token); bounded
_NAMES: dict[str, str | None] = {}
_MAX_NAMES = 4096
MAGIC = "z9hG4bK"  # RFC 3261 17.2.3: a branch that starts so is unique per transaction


class SipError(ValueError):
    """A message that is not SIP, or lacks what an answer needs."""


class Message:
    """A parsed request (``method``, ``uri``) or response (``status``). Header names are
    lower case, compact forms expanded; ``headers`` keeps each value as it came (one entry a
    header line), in order."""

    __slots__ = ("body", "headers", "method", "reason", "status", "uri")

    def __init__(self) -> None:
        self.method = ""
        self.uri = ""
        self.status = 0
        self.reason = ""
        self.headers: dict[str, list[str]] = {}
        self.body = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def first(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    # --- the fields a transaction is matched and answered by --------------------------------

    def top_via(self) -> str:
        return split_commas(self.headers["via"][0])[0]

    def branch(self) -> str:
        return param(self.top_via(), "branch") or ""

    def cseq(self) -> tuple[int, str]:
        parts = (self.first("cseq") or "").split()
        if len(parts) != 2 or not _digits(parts[0]) or len(parts[0]) > 10:
            raise SipError("CSeq is not 'number METHOD'")
        number = int(parts[0])
        if number >= 2**31:
            raise SipError("CSeq number out of range")
        return number, parts[1]

    def transaction(self) -> tuple[str, ...]:
        """The key of this request's server transaction (RFC 3261 17.2.3); ACK and CANCEL
        give the key of the INVITE they belong to."""
        method = "INVITE" if self.method in ("ACK", "CANCEL") else self.method
        branch = self.branch()
        if branch.startswith(MAGIC):
            sent_by = self.top_via().split(";", 1)[0].split(None, 1)[-1].strip()
            return (branch, sent_by, method)
        # RFC 2543 peers: Request-URI, To tag, From tag, Call-ID, CSeq number and top Via
        number, _ = self.cseq()
        return (
            self.uri if self.method != "ACK" else "",
            param(self.headers["from"][0], "tag") or "",
            self.headers["call-id"][0],
            str(number),
            self.top_via(),
            method,
        )


def parse(data: bytes) -> Message:
    """Parse one datagram; :class:`SipError` for anything that is not a usable message."""
    if len(data) > MAX_MESSAGE:
        raise SipError("message too large")
    text = data.decode("latin-1")
    cut = text.find("\r\n\r\n")
    if cut >= 0:
        head, body = text[:cut], data[cut + 4 :]
    else:
        cut = text.find("\n\n")
        head, body = (text[:cut], data[cut + 2 :]) if cut >= 0 else (text, b"")
    if "\n " in head or "\n\t" in head:
        head = _FOLD.sub(" ", head)  # RFC 3261 7.3.1: folded lines are one header
    head = head.lstrip("\r\n")  # RFC 3261 7.5: CRLFs before the start line are ignored
    if not head:
        raise SipError("empty message")
    nl = head.find("\n")
    rest = head[nl + 1 :] + "\n" if nl >= 0 else ""
    lines = rest.count("\n")
    if lines > MAX_HEADERS:
        raise SipError("too many header lines")
    msg = Message()
    _start_line(msg, (head[:nl] if nl >= 0 else head).rstrip("\r"))
    # one match a header line (a line without a colon matches nothing: counted below)
    pairs = _HEADER.findall(rest)
    if len(pairs) != lines:
        raise SipError("header line without a name")
    headers = msg.headers
    for raw, value in pairs:
        name = _NAMES.get(raw)
        if name is None:
            name = _name(raw)
        found = headers.get(name)
        if found is None:
            headers[name] = [value]
        else:
            found.append(value)
    length = headers.get("content-length")
    if length is not None:
        value = length[0]
        if not _digits(value) or len(value) > 6:
            raise SipError("bad Content-Length")
        n = int(value)
        if n > len(body):
            raise SipError("body shorter than Content-Length (truncated)")
        body = body[:n]
    msg.body = body
    if msg.method:
        for name in REQUIRED:
            if not headers.get(name) or not headers[name][0]:
                raise SipError(f"no {name} header")
        if not msg.top_via().upper().startswith("SIP/2.0/"):
            raise SipError("bad Via")
        _, method = msg.cseq()
        if method != msg.method and msg.method != "ACK":
            raise SipError("CSeq method is not the request's")
    return msg


def _digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts superscripts, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def _name(raw: str) -> str:
    """The canonical name of a header name as written, remembered (bounded)."""
    name = raw.strip().lower()
    if not _TOKEN.fullmatch(name):
        raise SipError("bad header name")
    name = COMPACT.get(name, name)
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[raw] = name
    return name


def _start_line(msg: Message, line: str) -> None:
    parts = line.split(" ")
    if len(parts) < 3:
        raise SipError("bad start line")
    if parts[0] == "SIP/2.0":
        if not _digits(parts[1]) or len(parts[1]) != 3:
            raise SipError("bad status code")
        msg.status = int(parts[1])
        msg.reason = " ".join(parts[2:])
        return
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        raise SipError("bad request line")
    method, uri = parts[0], parts[1]
    if not _TOKEN.fullmatch(method) or not method.isupper():
        raise SipError("bad method")
    if ":" not in uri or len(uri) > 2048:
        raise SipError("bad Request-URI")
    msg.method, msg.uri = method, uri


def split_commas(value: str) -> list[str]:
    """Header values separated by commas, outside quotes and angle brackets."""
    if "," not in value:
        return [value]
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(value):
        if ch == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return out


def param(value: str, name: str) -> str | None:
    """A header parameter (``;tag=``, ``;branch=``) outside the URI's angle brackets."""
    close = value.rfind(">")
    tail = value[close + 1 :] if close >= 0 else value
    for part in tail.split(";")[1:]:
        key, _, val = part.partition("=")
        if key.strip().lower() == name:
            return val.strip()
    return None


def uri_of(value: str) -> str:
    """The URI of a name-addr or addr-spec header value (From, To, P-Asserted-Identity)."""
    lt = value.find("<")
    if lt >= 0:
        gt = value.find(">", lt)
        return value[lt + 1 : gt if gt > 0 else len(value)].strip()
    return value.split(";", 1)[0].strip()


def uri_param(uri: str, name: str) -> str | None:
    """A parameter of a URI's user part or of the URI itself (``;tgrp=`` of RFC 4904 is in the
    user part of a SIP URI, ``sip:+1...;tgrp=TG1;trunk-context=x@host``)."""
    key = f";{name}="
    i = uri.lower().find(key)
    if i < 0:
        return None
    start = i + len(key)
    end = start
    while end < len(uri) and uri[end] not in ";@>?, ":
        end += 1
    return uri[start:end] or None


def to_tag(msg: Message) -> str:
    """A To tag for our answer, the same for a retransmission of the same request."""
    seed = f"{msg.headers['call-id'][0]}|{msg.branch()}".encode("latin-1", "replace")
    return hashlib.blake2s(seed, digest_size=6).hexdigest()


def response(
    msg: Message,
    status: int,
    reason: str,
    extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
    *,
    tag: bool = True,
) -> bytes:
    """An answer to ``msg`` (RFC 3261 8.2.6.2): its Via headers in order, From, To (with our
    tag when it has none), Call-ID and CSeq copied, then ``extra``; no body."""
    h = msg.headers
    to = h["to"][0]
    if tag and param(to, "tag") is None:
        to = f"{to};tag={to_tag(msg)}"
    out = [f"SIP/2.0 {status} {reason}"]
    out.extend(f"Via: {v}" for v in h["via"])
    out.append(f"From: {h['from'][0]}")
    out.append(f"To: {to}")
    out.append(f"Call-ID: {h['call-id'][0]}")
    out.append(f"CSeq: {h['cseq'][0]}")
    out.extend(f"{name}: {value}" for name, value in extra)
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1", "replace")


def quoted(text: str) -> str:
    """A quoted-string (RFC 3261 25.1) of ``text``: quotes and backslashes escaped, control
    characters dropped."""
    clean = "".join(ch for ch in text if ch >= " " and ch != "\x7f")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'
