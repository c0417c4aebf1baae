"""A notice from the Commission, read from its text: who sent it to whom and when, what kind
of notice it is, the role it says the provider played, the deadlines as the letter states
them, the rules it cites, and Attachment A (``attachment.py``).

Templates known (DOMAIN.md): the 2021-22 "Official Correspondence from the Federal
Communications Commission" sent under 47 CFR 64.1200(k)(4) (48 hours to mitigate, 14 days to
report), the 2023+ "Notice of Suspected Illegal Robocall Traffic" under 64.1200(n)(5)-(6),
and public notices. Anything else is read as far as it goes (kind ``unknown``), and every
field that could not be read is listed in ``problems``.

Deadlines: each "within N hours/days" the letter states is a deadline; a date the letter
prints beside it governs over arithmetic (DOMAIN.md: "the stated date governs"), and both are
kept (``stated``, ``computed``). The letter is dated, not timed: a deadline counted in hours
runs from 00:00 Eastern on the letter's date (the Commission is in Washington; the earliest
reading, so a compliance officer is never late), a deadline in days ends at 23:59:59 Eastern
of its last day. ``deadlines.py`` holds that arithmetic.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tracehop.cases.attachment import DATE, Attachment, Row, parse_attachment, parse_date
from tracehop.cases.deadlines import Deadline, purpose_of, stated_deadline
from tracehop.errors import InputError

KINDS = {
    "official_correspondence": r"official\s+correspondence\s+from\s+the\s+federal\s+communications",
    "suspected_illegal_traffic": r"notice\s+of\s+suspected\s+illegal\s+robocall\s+traffic",
    "initial_determination": r"initial\s+determination\s+order",
    "final_determination": r"final\s+determination\s+order",
    "public_notice": r"\bpublic\s+notice\b",
}
ROLES = {
    "gateway": r"\bgateway\s+provider\b|\bas\s+a\s+gateway\b",
    "originating": r"apparently\s+originat\w*|\boriginating\s+provider\b",
    "transmitting": r"apparently\s+transmitt\w*|\btransmitting\s+(?:illegal|suspected)",
}
_CFR = r"47\s*C\.?\s*F\.?\s*R\.?\s*§+\s*\d+\.\d+(?:\([A-Za-z0-9]+\))*(?:\s*-\s*\([A-Za-z0-9]+\))?"
_USC = r"47\s*U\.?\s*S\.?\s*C\.?\s*§+\s*\d+[A-Za-z]?(?:\([A-Za-z0-9]+\))*"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\(?\d{3}\)?[\s.-]\d{3}-\d{4}")
_COMPANY = re.compile(
    r"\b(?:Ltd|Limited|LLC|L\.L\.C|Inc|Incorporated|Corp|Corporation|Co|Company|GmbH|S\.A|"
    r"Pvt|LLP|LP|PLC|Telecom|Communications|Networks?)\b\.?",
    re.I,
)
_WITHIN = re.compile(
    r"within\s+(?:(?P<word>[a-z-]+)\s+)?\(?(?P<n>\d+)?\)?\s*(?P<unit>business\s+days|hours|days)"
    r"(?=(?P<after>[^.]{0,120}))",  # a look-ahead: the next "within" may stand in it
    re.I,
)
_WORDS = {"twenty-four": 24, "forty-eight": 48, "fourteen": 14, "thirty": 30, "seven": 7,
          "ten": 10, "five": 5, "two": 2, "three": 3}  # fmt: skip


@dataclass
class Party:
    company: str = ""
    contact: str = ""
    title: str = ""
    address: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"company": self.company, "contact": self.contact, "title": self.title,
                "address": self.address, "emails": self.emails, "phones": self.phones}  # fmt: skip


@dataclass
class Notice:
    letter_date: date | None
    recipient: Party
    sender: Party
    notice_kind: str
    role: str | None
    deadlines: list[Deadline]
    rules: list[str]
    rows: list[Row]
    subject: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def case_id(self) -> str:
        """The same letter gives the same case, as text or as PDF: the id is made of what
        was read (date, recipient, rows), not of the file's bytes."""
        key = "|".join(
            [
                self.letter_date.isoformat() if self.letter_date else "",
                _norm(self.recipient.company),
                # sorted: the same rows in another order are the same letter
                *sorted(
                    f"{r.customer}/{r.date}/{r.caller_id}/{r.called_number}" for r in self.rows
                ),
            ]
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        when = self.letter_date.strftime("%Y%m%d") if self.letter_date else "undated"
        return f"case-{when}-{_slug(self.recipient.company)[:24]}-{digest}"

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "letter_date": self.letter_date.isoformat() if self.letter_date else None,
            "recipient": self.recipient.company,
            "recipient_detail": self.recipient.to_json(),
            "sender": self.sender.to_json(),
            "notice_kind": self.notice_kind,
            "subject": self.subject,
            "role": self.role,
            "deadlines": [d.to_json() for d in self.deadlines],
            "rules": self.rules,
            "rows": [r.to_json() for r in self.rows],
            "no_response_rows": sum(r.no_response for r in self.rows),
            "problems": self.problems,
        }


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _letter_part(text: str) -> str:
    """The letter without its attachment (rows are read separately)."""
    m = re.search(r"^\s*attachment\s+a\b", text, re.I | re.M)
    return text[: m.start()] if m else text


def _letter_date(head: str) -> date | None:
    """The first date standing alone on a line near the top (the letter's date line)."""
    for line in head.splitlines()[:60]:
        s = line.strip()
        if re.fullmatch(DATE, s):
            return parse_date(s)
    m = re.search(DATE, head)
    return parse_date(m.group(0)) if m else None


def _recipient(letter: str) -> tuple[Party, list[str]]:
    problems: list[str] = []
    party = Party()
    m = re.search(r"^\s*To:\s*(.*)$", letter, re.M)
    if m is None:
        return party, ["no 'To:' block: the recipient was not read"]
    lines = [m.group(1).strip()] if m.group(1).strip() else []
    for line in letter[m.end() :].splitlines()[1:]:
        if not line.strip() or re.match(r"\s*(?:cc|re|dear)\b", line, re.I):
            break
        lines.append(line.strip())
    party.emails = [e for line in lines for e in _EMAIL.findall(line)]
    rest = [line for line in lines if not _EMAIL.search(line)]
    company = next((line for line in rest if _COMPANY.search(line)), "")
    if company:
        at = rest.index(company)
        before = rest[:at]
        party.contact = before[0] if before else ""
        party.title = before[1] if len(before) > 1 else ""
        party.address = rest[at + 1 :]
    else:
        problems.append("the recipient's company was not found in the 'To:' block")
        party.contact = rest[0] if rest else ""
        party.address = rest[1:]
    party.company = company
    return party, problems


def _sender(letter: str) -> Party:
    party = Party(company="Federal Communications Commission")
    bureau = re.search(r"^\s*(Enforcement Bureau|Wireline Competition Bureau)\s*$", letter, re.M)
    if bureau:
        party.address = [bureau.group(1)]
    m = re.search(r"^\s*Sincerely,?\s*$", letter, re.M | re.I)
    if m:
        names = [
            line.strip()
            for line in letter[m.end() :].splitlines()
            if line.strip() and not re.search(r"signature|^\W*$", line, re.I)
        ]
        party.contact = names[0] if names else ""
        party.title = names[1] if len(names) > 1 else ""
    inquiries = re.search(r"direct any inquiries.*?(?:\n\s*\n|$)", letter, re.I | re.S)
    scope = inquiries.group(0) if inquiries else letter
    party.emails = sorted(set(_EMAIL.findall(scope)))
    party.phones = sorted(set(_PHONE.findall(scope)))
    return party


def _kind(letter: str) -> tuple[str, str]:
    subject = re.search(r"^\s*Re:\s*(.+)$", letter, re.M | re.I)
    text = subject.group(1) if subject else letter[:3000]
    for kind, pattern in KINDS.items():
        if re.search(pattern, text, re.I) or re.search(pattern, letter[:4000], re.I):
            return kind, subject.group(1).strip() if subject else ""
    return "unknown", subject.group(1).strip() if subject else ""


def _role(letter: str) -> str | None:
    for role, pattern in ROLES.items():
        if re.search(pattern, letter, re.I):
            return role
    return None


def _rules(text: str) -> list[str]:
    found: list[str] = []
    for m in re.finditer(rf"{_CFR}|{_USC}", text):
        rule = re.sub(r"\s+", " ", m.group(0)).replace("§ §", "§").strip()
        rule = re.sub(r"§\s*", "§ ", rule)
        if rule not in found:
            found.append(rule)
    return found


def _deadlines(letter: str, letter_date: date | None) -> tuple[list[Deadline], list[str]]:
    if letter_date is None:
        return [], ["no letter date: deadlines were not computed"]
    out: list[Deadline] = []
    seen: set[tuple[int, str, str]] = set()
    flat = re.sub(r"\s+", " ", letter)
    for m in _WITHIN.finditer(flat):
        n = int(m.group("n")) if m.group("n") else _WORDS.get((m.group("word") or "").lower())
        if n is None:
            continue
        unit = m.group("unit").lower().replace("business days", "business_days")
        stated = re.search(rf"\(({DATE})\)", m.group("after"))
        # What the deadline is for: the words before "within" in the same clause, else the
        # clause after it ("Within 48 hours, inform the Commission ...").
        before = re.split(r"[.;,:]", flat[max(0, m.start() - 200) : m.start()])[-1]
        after = re.split(r"[.;]", m.group("after").lstrip(" ,"))[0]
        purpose = purpose_of(before) or purpose_of(after, nearest_end=False)
        d = stated_deadline(
            letter_date,
            n,
            unit,
            stated=parse_date(stated.group(1)) if stated else None,
            purpose=purpose,
            context=before + " " + after,
        )
        if (n, unit, d.name) not in seen:
            seen.add((n, unit, d.name))
            out.append(d)
    named = {(d.amount, d.unit) for d in out if not d.name.startswith("deadline_")}
    return [
        d for d in out if not (d.name.startswith("deadline_") and (d.amount, d.unit) in named)
    ], []


def parse_notice(text: str) -> Notice:
    """Read a notice letter (its text: pasted, or extracted from the PDF)."""
    text = text.replace("\r\n", "\n").replace("\u00a0", " ")
    letter = _letter_part(text)
    problems: list[str] = []
    letter_date = _letter_date(letter)
    if letter_date is None:
        problems.append("no letter date found")
    recipient, more = _recipient(letter)
    problems += more
    kind, subject = _kind(letter)
    if kind == "unknown":
        problems.append("the kind of notice was not recognised (known: " + ", ".join(KINDS) + ")")
    deadlines, more = _deadlines(letter, letter_date)
    problems += more
    attachment: Attachment = parse_attachment(text)
    problems += attachment.problems
    if not attachment.rows:
        problems.append("no Attachment A row was read")
    return Notice(
        letter_date=letter_date,
        recipient=recipient,
        sender=_sender(letter),
        notice_kind=kind,
        role=_role(letter),
        deadlines=deadlines,
        rules=_rules(text),
        rows=attachment.rows,
        subject=subject,
        problems=problems,
    )


def read_notice_file(path: Path) -> tuple[str, str]:
    """The text of a notice file (a PDF's extracted text, or the text file itself) and the
    file's SHA-256. A file that cannot be read is one clear error."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if data[:5] == b"%PDF-":
        return pdf_text(data, str(path)), digest
    if b"\x00" in data[:4096]:
        raise InputError(f"{path}: neither a PDF nor a text file")
    try:
        return data.decode("utf-8-sig"), digest
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), digest


def pdf_text(data: bytes, name: str = "notice") -> str:
    """The text of a PDF, page after page (pypdf)."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{name}: not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    text = "\n".join(pages)
    if not text.strip():
        raise InputError(f"{name}: the PDF has no text layer (a scan?): paste its text instead")
    return text
