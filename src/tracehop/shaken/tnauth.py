"""The TNAuthList certificate extension (RFC 8226 section 9): who a STIR certificate speaks for.

A SHAKEN certificate (ATIS-1000080) carries exactly one Service Provider Code (SPC, the
provider's OCN) in it; RFC 8226 also allows telephone numbers and number ranges. The ASN.1
module is written with ``EXPLICIT TAGS``::

    TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
    TNEntry ::= CHOICE {
      spc   [0] ServiceProviderCode,       -- IA5String
      range [1] TelephoneNumberRange,      -- SEQUENCE { start TelephoneNumber, count INTEGER }
      one   [2] TelephoneNumber }          -- IA5String, digits # *

``cryptography`` gives unknown extensions as raw DER (``UnrecognizedExtension``), so this
module reads and writes that DER itself: a few dozen bytes, bounds-checked, and a malformed
value is a ``ValueError``, never anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.x509 import ObjectIdentifier

# id-pe-TNAuthList (RFC 8226 section 9)
TNAUTHLIST_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.26")

_SEQUENCE, _IA5STRING, _INTEGER = 0x30, 0x16, 0x02
_SPC, _RANGE, _ONE = 0xA0, 0xA1, 0xA2  # context-specific, constructed (explicit tags)
_TN_CHARS = re.compile(r"^[0-9#*]{1,15}$")  # TelephoneNumber (RFC 8226)


@dataclass(frozen=True)
class TNAuthList:
    """The entries of one TNAuthList: SPCs, single numbers, and (start, count) ranges."""

    spcs: tuple[str, ...] = ()
    tns: tuple[str, ...] = ()
    ranges: tuple[tuple[str, int], ...] = ()

    def covers(self, tn: str) -> bool:
        """Whether ``tn`` (canonical digits) is one of the numbers or in one of the ranges
        (RFC 8226 section 9: a range is ``count`` numbers from ``start``, of one length)."""
        if tn in self.tns:
            return True
        for start, count in self.ranges:
            same_length = len(tn) == len(start) and tn.isdigit() and start.isdigit()
            if same_length and int(start) <= int(tn) < int(start) + count:
                return True
        return False

    def to_json(self) -> dict[str, object]:
        return {
            "spc": list(self.spcs),
            "tn": list(self.tns),
            "range": [{"start": s, "count": c} for s, c in self.ranges],
        }


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def _ia5(text: str) -> bytes:
    return _tlv(_IA5STRING, text.encode("ascii"))


def encode(spcs: tuple[str, ...] | list[str] = (), tns: tuple[str, ...] | list[str] = ()) -> bytes:
    """The DER value of a TNAuthList with these SPCs and numbers (what goes in the
    certificate as the extension's value)."""
    entries = b""
    for spc in spcs:
        if not spc or not spc.isascii() or not spc.isprintable():
            raise ValueError(f"a service provider code is printable ASCII, not {spc!r}")
        entries += _tlv(_SPC, _ia5(spc))
    for tn in tns:
        if not _TN_CHARS.match(tn):
            raise ValueError(f"a telephone number is 1-15 of 0-9 # *, not {tn!r}")
        entries += _tlv(_ONE, _ia5(tn))
    if not entries:
        raise ValueError("a TNAuthList needs at least one entry")
    return _tlv(_SEQUENCE, entries)


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One TLV at ``pos``: (tag, value, next position)."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos : pos + length], pos + length


def _read_one(data: bytes, tag: int) -> bytes:
    got, value, end = _read(data, 0)
    if got != tag or end != len(data):
        raise ValueError(f"expected tag {tag:#x}")
    return value


def _text(data: bytes) -> str:
    raw = _read_one(data, _IA5STRING)
    if not raw.isascii():
        raise ValueError("not IA5")
    return raw.decode("ascii")


def decode(der: bytes) -> TNAuthList:
    """Read the DER value of a TNAuthList extension (``ValueError`` when malformed)."""
    body = _read_one(bytes(der), _SEQUENCE)
    spcs: list[str] = []
    tns: list[str] = []
    ranges: list[tuple[str, int]] = []
    pos = 0
    while pos < len(body):
        tag, value, pos = _read(body, pos)
        if tag == _SPC:
            spcs.append(_text(value))
        elif tag == _ONE:
            tns.append(_text(value))
        elif tag == _RANGE:
            inner = _read_one(value, _SEQUENCE)
            t1, start, p = _read(inner, 0)
            t2, count, _ = _read(inner, p)  # RFC 8226 allows extensions after count
            if t1 != _IA5STRING or t2 != _INTEGER or not count or len(count) > 8:
                raise ValueError("bad number range")
            ranges.append((start.decode("ascii"), int.from_bytes(count, "big", signed=True)))
        else:
            raise ValueError(f"unknown TNEntry tag {tag:#x}")
    if not (spcs or tns or ranges):
        raise ValueError("empty TNAuthList")
    return TNAuthList(tuple(spcs), tuple(tns), tuple(ranges))
