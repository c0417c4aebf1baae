"""Attachment A of a Commission notice: the traced calls, one row each.

Columns as the letters print them: Customer (the notified provider's upstream customer for
that call, or "No Response" when the traceback stopped at a provider that did not answer),
Date of Call, Caller ID, Called Number (both often redacted: empty), Description (the
campaign) and Violation (the rules cited, e.g. ``47 U.S.C. § 227(b); 47 CFR § 64.1200``).

The table reaches tracehop as text a person pasted or a PDF library extracted, so the parser
does not trust lines or columns: it joins the attachment into one stream and reads each row
from its anchors (the date of the call, then the violation's citation, which ends the row).
That survives cells separated by tabs or by runs of spaces, rows wrapped over several lines,
a table flattened into one line, empty columns, and page headers, footers and repeated
column headings in the middle of the table (removed first). Text it cannot place in a row is
reported, never dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTH_ABBR = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
# "February 7, 2021", "Feb. 7, 2021", "2/7/2021", "02/07/21", "2021-02-07"
DATE = (
    rf"(?:(?:{MONTHS})|(?:{_MONTH_ABBR})\.?)\s+\d{{1,2}},\s*\d{{4}}"
    r"|\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})"
    r"|\d{4}-\d{2}-\d{2}"
)
# A phone number as letters print them; an optional time of day may follow the date.
PHONE = r"(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}|\+\d{7,15}"
TIME = r"\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp]\.?[Mm]\.?)?(?:\s*(?:UTC|[ECMP][SD]?T|GMT))?"
# The violation cell: one or more citations of the TCPA and the Commission's rules.
_CITE = (
    r"47\s*U\.?\s*S\.?\s*C\.?\s*§+\s*\d+[A-Za-z]?(?:\([A-Za-z0-9]+\))*"
    r"|47\s*C\.?\s*F\.?\s*R\.?\s*§+\s*\d+\.\d+(?:\([A-Za-z0-9]+\))*"
)
VIOLATION = rf"(?:{_CITE})(?:\s*[;,]\s*(?:and\s+)?(?:{_CITE}))*"

# A row is read from its anchors, not by one regex: "customer, then the first date, then
# the first citation after it" as a single pattern with two lazy ``.*?`` backtracks
# cubically on an attachment of dates without citations (a 10 KB paste hung the parser).
# The same reading, anchor by anchor, each search starting where the last one ended: the
# customer is the text before the first date, an optional time and up to two phone numbers
# follow the date, the description runs to the first citation, which ends the row.
_DATE = re.compile(DATE)
_TIME_AFTER = re.compile(rf"\s*(?P<time>{TIME})")
_PHONE_AFTER = re.compile(rf"\s*(?P<phone>{PHONE})")
_VIOLATION = re.compile(VIOLATION)


@dataclass
class _Cells:
    start: int
    end: int
    customer: str
    date: str
    time: str
    caller: str
    called: str
    description: str
    violation: str


def _row_cells(stream: str) -> Iterator[_Cells]:
    """The rows of the attachment's stream, in order (linear in its length)."""
    pos = 0
    while (d := _DATE.search(stream, pos)) is not None:
        at = d.end()
        found: list[tuple[str, str, int]] = []  # the optional cells after the date, their ends
        for name, pattern, group in (
            ("time", _TIME_AFTER, "time"),
            ("caller", _PHONE_AFTER, "phone"),
            ("called", _PHONE_AFTER, "phone"),
        ):
            if (m := pattern.match(stream, at)) is not None:
                found.append((name, m.group(group), m.end()))
                at = m.end()
        while (v := _VIOLATION.search(stream, at)) is None and found:
            found.pop()  # what looked like a phone or a time began the citation: it is none
            at = found[-1][2] if found else d.end()
        if v is None and re.fullmatch(r"[\d/]+/\d{4}", d.group(0)):
            # "1/1/2047 U.S.C. § 227": a two-digit year run into the citation (the single
            # regex found it by backtracking into the date)
            v = _VIOLATION.match(stream, d.end() - 2)
            if v is not None:
                at = d.end() - 2
                d = _DATE.match(stream, d.start(), at) or d
        if v is None:  # no citation after this date: no row after it either
            return
        cells = {name: text for name, text, _end in found}
        yield _Cells(
            pos, v.end(), stream[pos : d.start()], d.group(0), cells.get("time", ""),
            cells.get("caller", ""), cells.get("called", ""), stream[at : v.start()], v.group(0),
        )  # fmt: skip
        pos = v.end()


# Lines that are not rows: the column headings, page furniture, the attachment's title.
# Both are matched against the stripped line (``_is_furniture``): a pattern that opens with
# ``\s*`` and ends with ``\s*$`` around optional parts backtracks quadratically on a line of
# spaces ("1" and 100 KB of spaces hung it).
_HEADING = re.compile(
    r"(?:customer|date of call|caller id|called number|description|violation)"
    r"(?:\s+(?:customer|date of call|caller id|called number|description|violation))*",
    re.I,
)
_FURNITURE = re.compile(
    r"attachment\s+a(?:\s*(?:\(continued\)|cont'?d\.?))?|page\s+\d+(?:\s+of\s+\d+)?"
    r"|-?\s*\d{1,3}\s*-?|federal communications commission|fcc\s+\d{2}-\d+"
    r"|da\s+\d{2}-\d+",
    re.I,
)
NO_RESPONSE = re.compile(r"^\s*no\s+response\s*$", re.I)


@dataclass
class Row:
    """One traced call of the attachment, as the letter gives it."""

    number: int  # 1-based position in the attachment
    customer: str
    date: date
    caller_id: str = ""
    called_number: str = ""
    description: str = ""
    violation: str = ""
    time: str = ""

    @property
    def no_response(self) -> bool:
        return NO_RESPONSE.match(self.customer) is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "date": self.date.isoformat(),
            "caller_id": self.caller_id,
            "called_number": self.called_number,
            "description": self.description,
            "violation": self.violation,
        }


@dataclass
class Attachment:
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # text that is no row, said plainly


def parse_date(text: str) -> date | None:
    """A date as letters write it; None when it is not one."""
    s = re.sub(r"\s+", " ", text.strip().replace("Sept.", "Sep.").replace("Sept ", "Sep "))
    for fmt in ("%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d"):
        try:
            return datetime.strptime(s.replace(",", ", ").replace(",  ", ", "), fmt).date()
        except ValueError:
            continue
    return None


def _attachment_text(text: str) -> str:
    """The text after the first 'ATTACHMENT A' heading: at a line's start, or where a copy
    without line breaks runs it into the column headings. Without one, the column headings
    alone start the table; a letter with neither has no attachment (its own sentences, with
    a date and a citation, are no rows)."""
    # [^\S\n]*, not \s*: after ^ in MULTILINE mode \s* runs over the next lines, and is
    # tried again from each of them (quadratic on a text of blank lines).
    m = re.search(
        r"^[^\S\n]*attachment\s+a\b(?:\s*\(continued\))?", text, re.I | re.M
    ) or re.search(r"\battachment\s+a\b(?=\s+customer\s+date\s+of\s+call\b)", text, re.I)
    if m:
        return text[m.end() :]
    m = re.search(r"^[^\S\n]*customer\s+date\s+of\s+call\b.*$", text, re.I | re.M)
    return text[m.start() :] if m else ""


# The column headings and page furniture where a flattened extraction leaves them inline.
_INLINE_HEADING = re.compile(
    r"customer\s+date\s+of\s+call\s+caller\s+id\s+called\s+number\s+description\s+violation",
    re.I,
)
_INLINE_FURNITURE = re.compile(r"\bpage\s+\d+\s+of\s+\d+\b|\battachment\s+a\s+\(continued\)", re.I)


def _is_furniture(line: str) -> bool:
    """A stripped line that is column headings or page furniture, no row."""
    return _HEADING.fullmatch(line) is not None or _FURNITURE.fullmatch(line) is not None


def _clean(cell: str) -> str:
    return re.sub(r"\s+", " ", cell).strip(" \t;,")


def parse_attachment(text: str) -> Attachment:
    """Every row of Attachment A in ``text`` (a whole letter, or the attachment alone)."""
    body = _attachment_text(text)
    kept = [line for line in body.splitlines() if line.strip() and not _is_furniture(line.strip())]
    stream = " ".join(line.strip() for line in kept).replace("|", " ")  # pasted pipe tables
    stream = _INLINE_FURNITURE.sub(" ", _INLINE_HEADING.sub(" ", stream))
    out = Attachment()
    pos = 0
    for m in _row_cells(stream):
        customer = _clean(m.customer)
        when = parse_date(m.date)
        if not customer or when is None:
            row = stream[m.start : m.end]
            out.problems.append(f"row without a customer or a readable date: {row[:120]!r}")
            pos = m.end
            continue
        if len(customer) > 160:  # it swallowed text that is no row: say so, keep the tail
            cut = list(re.finditer(r"[.:;]\s+(?=[A-Z])", customer))
            head, customer = (
                (customer[: cut[-1].start() + 1], customer[cut[-1].end() :])
                if cut
                else ("", customer)
            )
            if head:
                out.problems.append(f"text before a row that is not part of it: {head[:120]!r}")
        out.rows.append(
            Row(
                number=len(out.rows) + 1,
                customer=customer,
                date=when,
                caller_id=_clean(m.caller),
                called_number=_clean(m.called),
                description=_clean(m.description),
                violation=_clean(m.violation),
                time=_clean(m.time),
            )
        )
        pos = m.end
    rest = _clean(stream[pos:])
    if rest:
        out.problems.append(f"text after the last row that is no row: {rest[:200]!r}")
    return out
