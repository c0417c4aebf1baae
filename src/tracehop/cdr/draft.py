"""A first layout file for a CDR file that no shipped layout reads (``tracehop layouts draft
FILE``): the delimiter, whether the first line is a header, and a guess for each canonical
column, from the header's names (the words switches and SBCs use: "Calling Number", ``ani``,
``setup_time``, "Ingress Trunk") or, without a header, from the values' shapes (times, phone
numbers). Dispositions are mapped from the values the file has; times that are not ISO 8601 or
epoch seconds get the ``formats`` that read every sampled value.

The draft is a starting point a person checks: every guess is a commented line, and what was
not found is said (a layout without ``upstream`` is refused when loaded, with that message).
docs/ingest.md, "Writing a layout".
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tracehop.cdr.detect import EPOCH_TIME, ISO_TIME
from tracehop.cdr.sources import first_lines
from tracehop.errors import FormatError

# canonical column -> header names (lower case, letters and digits only), best first
_SYNONYMS = {
    "call_id": (
        "callid sipcallid globalcallid callidentifier uniqueid uuid sessionid cdrid recordid id "
        "pkid"
    ),
    "start": (
        "start starttime startdatetime starttimestamp setuptime setup calldate calltime datetime "
        "timestamp invitetime begintime datetimeorigination time date"
    ),
    "duration": (
        "duration billsec billableseconds billsecs callduration talktime connectduration "
        "conversationduration durationsec durationseconds durationms seconds"
    ),
    "caller": (
        "caller callingnumber callingpartynumber calling ani cli callerid calleridnumber "
        "fromnumber from src source anumber srcuser fromuser originatingnumber"
    ),
    "called": (
        "called callednumber calledpartynumber originalcalledpartynumber "
        "finalcalledpartynumber dialednumber dialed dnis tonumber to dst destination "
        "destinationnumber bnumber dstuser touser"
    ),
    "upstream": (
        "upstream ingresstrunk ingresstrunkgroup trunkin intrunk incomingtrunk srctrunk "
        "sourcetrunk origtrunk fromtrunk ingress customer carrier accountcode account peer "
        "origdevicename origdevice"
    ),
    "downstream": (
        "downstream egresstrunk egresstrunkgroup trunkout outtrunk outgoingtrunk dsttrunk totrunk "
        "egress vendor route destdevicename destdevice"
    ),
    "disposition": "disposition callstatus status result outcome",
    "sip_code": (
        "sipcode sipresponse sipresponsecode responsecode finalresponse sipstatus statuscode"
    ),
    "attest": "attest attestation shakenattestation stirattestation",
    "orig_id": "origid originationid",
    "identity": "identity identityheader",
}
SYNONYMS: dict[str, tuple[str, ...]] = {k: tuple(v.split()) for k, v in _SYNONYMS.items()}
REQUIRED = ("start", "caller", "called", "upstream")
# a disposition word (upper case, letters only) -> tracehop's disposition
DISPOSITION_WORDS = {
    "ANSWERED": "answered", "ANSWER": "answered", "COMPLETED": "answered",
    "CONNECTED": "answered", "SUCCESS": "answered", "OK": "answered",
    "NOANSWER": "no_answer", "UNANSWERED": "no_answer", "RINGNOANSWER": "no_answer",
    "TIMEOUT": "no_answer", "BUSY": "busy", "USERBUSY": "busy",
    "CANCEL": "cancelled", "CANCELLED": "cancelled", "CANCELED": "cancelled",
    "ABANDONED": "cancelled", "FAILED": "failed", "FAIL": "failed", "FAILURE": "failed",
    "ERROR": "failed", "CONGESTION": "failed", "REJECTED": "failed", "BLOCKED": "blocked",
}  # fmt: skip
# times a spreadsheet or a switch writes that are not ISO 8601 (tried in this order)
TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%Y%m%d%H%M%S",
)  # fmt: skip
_PHONE = re.compile(r"\s*\+?[0-9][0-9 ()-]{6,19}\s*|\s*\+?[0-9]{1,4}(?:\.[0-9]{2,4}){2,4}\s*")
# a row naming each column's data type (Cisco's CDR files: INTEGER, VARCHAR(50), ...)
_TYPE = re.compile(r"(?:[A-Z]+(?:\s*\(\d+(?:,\s*\d+)?\))?|)")
# a column of numbers: at least this share of its values look like phone numbers
PHONE_SHARE = 0.8
_DELIMITERS = (",", "\t", ";", "|")


@dataclass
class Draft:
    text: str  # the layout file (TOML)
    mapped: dict[str, str] = field(default_factory=dict)  # canonical column -> field
    missing: list[str] = field(default_factory=list)  # required columns not found


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _keys(name: str) -> list[str]:
    """The keys a header name matches by: its letters and digits, and without a unit
    ("Duration (s)", ``duration_sec``, ``billsec_ms``: the unit says how to read it)."""
    keys = [_key(name)]
    bare = re.sub(r"\(.*?\)", "", name)
    keys.append(_key(bare))
    keys.append(re.sub(r"(secs?|seconds|ms|msecs?|millis|milliseconds)$", "", _key(bare)))
    return [k for k in dict.fromkeys(keys) if k]


def _is_time(value: str) -> bool:
    # epoch seconds of this century start with 1; a ten-digit NANP number never does
    # (and has ten digits: 12125551234 is a number with its country code, not the year 2354)
    epoch = EPOCH_TIME.fullmatch(value) and re.fullmatch(r"1[0-9]{9}(?:\.[0-9]+)?", value.strip())
    return bool(ISO_TIME.fullmatch(value) or epoch)


def _clock_text(value: str) -> bool:
    """A time in one of TIME_FORMATS; digits alone only as %Y%m%d%H%M%S (strptime would read
    the ten digits of 2025550101 as 2025-5-5 01:01)."""
    v = value.strip()
    return (not v.isdigit() or len(v) == 14) and bool(_formats([v]))


def _formats(values: list[str]) -> list[str]:
    """The one format that reads every value (the first in TIME_FORMATS order), if any."""
    for fmt in TIME_FORMATS:
        try:
            for v in values:
                datetime.strptime(v.strip(), fmt)
        except ValueError:
            continue
        return [fmt]
    return []


def draft_layout(path: Path, *, name: str = "my-cdr", sample: int = 200) -> Draft:
    """A draft layout for ``path`` (its first ``sample`` rows are read)."""
    got = first_lines(path, sample + 1, 1 << 20)
    texts = [d.decode("utf-8", errors="replace") for _, d in got if d is not None]
    if not texts:
        raise FormatError(f"{path} is empty: no CDR rows to draft a layout from")
    delimiter = max(_DELIMITERS, key=lambda d: texts[0].count(d))
    rows = [r for r in csv.reader(texts, delimiter=delimiter) if r]
    first, data = rows[0], rows[1:]
    header = not any(_is_time(c) or _PHONE.fullmatch(c) for c in first)
    names = [c.strip().lstrip("\ufeff").strip() or f"field{i + 1}" for i, c in enumerate(first)]
    if not header:
        names, data = [f"field{i + 1}" for i in range(len(first))], rows
    types = header and bool(data) and all(_TYPE.fullmatch(v.strip()) for v in data[0])
    if types:
        data = data[1:]
    values = {n: [r[i].strip() for r in data if i < len(r) and r[i].strip()] for i, n in
              enumerate(names)}  # fmt: skip

    mapped: dict[str, str] = {}
    if header:
        by_key = {k: n for n in reversed(names) for k in reversed(_keys(n))}
        for canonical, keys in SYNONYMS.items():
            taken = set(mapped.values())
            hit = next((by_key[k] for k in keys if k in by_key and by_key[k] not in taken), None)
            if hit:
                mapped[canonical] = hit
    else:  # by the values' shapes: the first column of times, the first two of numbers
        times = [n for n in names if values[n] and all(_is_time(v) or _clock_text(v) for v in
                                                          values[n])]  # fmt: skip
        # a column of times is no column of numbers (ten-digit epoch seconds look like one)
        phones = [n for n in names if values[n] and n not in times
                  and sum(bool(_PHONE.fullmatch(v)) for v in values[n])
                  >= PHONE_SHARE * len(values[n])]  # fmt: skip
        if times:
            mapped["start"] = times[0]
        for canonical, n in zip(("caller", "called"), phones, strict=False):
            mapped[canonical] = n

    lines = [
        f"# Drafted by `tracehop layouts draft` from {path.name}: check every line, fill in what",
        "# is missing, then: tracehop ingest FILE --layout THIS.toml (docs/ingest.md).",
        f"name = {json.dumps(name)}",
        f"description = {json.dumps(f'CDR file like {path.name}')}",
        "source = \"TODO: the switch's or SBC's documentation of this format\"",
        "",
        "[read]",
        f"header = {'true' if header else 'false'}",
        f"delimiter = {json.dumps(delimiter)}",
    ]
    if header:
        need = [mapped[c].lower() for c in REQUIRED if c in mapped]
        lines.append(f"required = {json.dumps(need)}")
    else:
        lines.append(f"columns = {json.dumps(names)}")
    lines += ["", "[map]"]
    for canonical in SYNONYMS:
        if canonical not in mapped:
            continue
        source = mapped[canonical]
        seen = values.get(source, [])[:1]
        why = f"  # {'the name' if header else 'the values'}; e.g. {seen[0][:30]!r}" if seen else ""
        lines.append(_rule(canonical, source, values.get(source, []), why))
    missing = [c for c in REQUIRED if c not in mapped]
    for canonical in missing:
        lines.append(f'# {canonical} = "..."  # not found: name the field it comes from')
    lines.append('extra = "rest"  # every other field, kept as JSON in extra')
    if types:
        lines += ["", "# the second line names each column's data type: not a call", "[[skip]]",
                  f"field = {json.dumps(names[0].lower())}", "pattern = '^[A-Z]+'"]  # fmt: skip
    return Draft(text="\n".join(lines) + "\n", mapped=mapped, missing=missing)


def _rule(canonical: str, source: str, values: list[str], why: str) -> str:
    key = json.dumps(source)
    if canonical == "start" and values and not all(_is_time(v) for v in values):
        formats = _formats(values)
        if formats:
            return f"start = {{ field = {key}, formats = {json.dumps(formats)} }}{why}"
        return f"start = {key}{why}; NOT a time format tracehop knows: add formats = [...]"
    if canonical == "duration" and ("ms" in _key(source)[-2:] or "milli" in _key(source)):
        return f'duration = {{ field = {key}, unit = "ms" }}{why}'
    if canonical == "disposition" and values:
        distinct = sorted({v.upper() for v in values})
        canonical_words = {"ANSWERED", "NO_ANSWER", "BUSY", "CANCELLED", "FAILED", "BLOCKED"}
        if all(v in canonical_words for v in distinct):
            return f"disposition = {key}{why}"
        table = {v: DISPOSITION_WORDS[re.sub(r"[^A-Z]", "", v)] for v in distinct
                 if re.sub(r"[^A-Z]", "", v) in DISPOSITION_WORDS}  # fmt: skip
        unknown = [v for v in distinct if v not in table]
        pairs = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in table.items())
        note = f"  # not mapped: {', '.join(unknown[:8])}" if unknown else why
        return f'disposition = {{ field = {key}, table = {{ {pairs} }}, default = "failed" }}{note}'
    return f"{canonical} = {key}{why}"
