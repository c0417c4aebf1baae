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
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from tracehop.cases.attachment import DATE, Attachment, Row, parse_attachment, parse_date
from tracehop.cases.deadlines import Deadline, deadline_name, purpose_of, stated_deadline
from tracehop.errors import InputError

KINDS = {
    "official_correspondence": r"official\s+correspondence\s+from\s+the\s+federal\s+communications",
    "cease_and_desist": r"\bcease[-\s]+and[-\s]+desist\s+letter\b",
    "suspected_illegal_traffic": r"notice\s+of\s+suspected\s+illegal\s+robocall\s+traffic",
    "initial_determination": r"initial\s+determination\s+order",
    "final_determination": r"final\s+determination\s+order",
    # An Order under 64.1200(n)(2) to every provider: mitigate a named operation's traffic.
    "mitigation_order": r"\bissues\s+this\s+order\s+pursuant\s+to\s+section\s+64\.1200\(n\)\(2\)",
    "public_notice": r"\bpublic\s+notice\b|\brobocall\s+enforcement\s+notice\b",
}
# Kinds addressed to every provider about a named one (orders and public notices): the
# case is about the named provider, and the letter's "within" phrases are that provider's.
TO_ALL = {"initial_determination", "final_determination", "mitigation_order", "public_notice"}
ALL_PROVIDERS = "All U.S.-based voice service providers"
ROLES = {
    # singular: "a gateway provider" names the provider; "gateway providers" names a rule
    "gateway": r"\bgateway\s+(?:voice\s+)?provider\b(?!s)|\bas\s+a\s+gateway\b"
    r"|\bgateway\s+into\s+the\s+United\s+States\b",
    "originating": r"apparently\s+originat\w*|\boriginating\s+providers?\b",
    "transmitting": r"apparently\s+(?:routing\s+and\s+)?transmitt\w*"
    r"|\btransmitting\s+(?:illegal|suspected)",
}
_CFR = r"47\s*C\.?\s*F\.?\s*R\.?\s*§+\s*\d+\.\d+(?:\([A-Za-z0-9]+\))*(?:\s*-\s*\([A-Za-z0-9]+\))?"
_USC = r"47\s*U\.?\s*S\.?\s*C\.?\s*§+\s*\d+[A-Za-z]?(?:\([A-Za-z0-9]+\))*"
# An address starts where a run of its characters starts: without the look-behind, findall
# tries again from every character of a long run of letters or digits with no "@" after it
# (quadratic: 100 KB of digits hung the parser).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\(?\d{3}\)?[\s.-]\d{3}-\d{4}")
_COMPANY = re.compile(
    r"\b(?:Ltd|Limited|LLC|L\.L\.C|Inc|Incorporated|Corp|Corporation|Co|Company|GmbH|S\.A|"
    r"Pvt|LLP|LP|PLC|Telecom|Communications|Networks?)\b\.?",
    re.I,
)
_WITHIN = re.compile(
    # at most three digits: a letter's deadline is hours or days, never a thousand of them (an
    # unbounded number made int() fail past 4300 digits and dates overflow)
    r"within\s+(?:(?P<word>[a-z-]+)\s+)?\(?(?P<n>\d{1,3})?\)?\s*(?P<unit>business\s+days|hours|days)"
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
    # to whom it is addressed: the recipient itself, or every provider (orders, notices)
    addressed_to: str = ""

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
            "addressed_to": self.addressed_to,
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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _letter_part(text: str) -> str:
    """The letter without its attachment (rows are read separately)."""
    # [^\S\n]*, not \s*, after ^ in MULTILINE mode (here and below): \s* runs over the next
    # lines and is tried again from each of them, quadratic on a text of blank lines.
    m = re.search(r"^[^\S\n]*attachment\s+a\b", text, re.I | re.M)
    return text[: m.start()] if m else text


def _letter_date(head: str) -> date | None:
    """The first date standing alone on a line near the top (the letter's date line)."""
    for line in head.splitlines()[:60]:
        s = line.strip()
        if re.fullmatch(DATE, s):
            return parse_date(s)
    m = re.search(DATE, head)
    return parse_date(m.group(0)) if m else None


# The legal form that ends a company's name ("Urth Access, LLC", "One Owl Telecom Inc.").
_FORM = (
    r"(?:L\.?L\.?C\.?|Inc\.?|Incorporated|Ltd\.?|Limited|Corp\.?|Corporation|GmbH|S\.A\.?"
    r"|LLP|L\.P\.|PLC|Pvt\.?\s+Ltd\.?|Co\.)"
)
_COMPANY_END = re.compile(rf",?\s*{_FORM}(?=[\s,;)]|$)")
# A company defined with its short name, as every letter and notice does at first mention:
# "Urth Access, LLC (Urth Access)", "PhoneBurner Inc. (PhoneBurner)". At most eleven words
# before the legal form: unbounded, every capital of a head of capitalised words started a
# search to its end (quadratic in the 4,000 characters read).
_DEFINED = re.compile(
    rf"(?P<name>[A-Z][\w&'’.-]*(?:\s+(?:[A-Z0-9][\w&'’.-]*|&|and|of)){{0,10}}?,?\s+{_FORM})"
    r"\s*\(\s*(?:the\s+)?[“\"]?[A-Z][^()]{0,40}\)"
)
_TITLE = re.compile(
    r"\b(?:President\s+(?:and|&)\s+(?:CEO|Chief\s+Executive\s+Officer)|Chief\s+(?:Executive|"
    r"Operating|Technology|Technical|Financial|Compliance|Legal|Commercial|Revenue)\s+Officer"
    r"|General\s+Counsel|Managing\s+(?:Member|Director|Partner)|Owner\s*/\s*(?:Director|CEO)"
    r"|(?:Executive\s+|Senior\s+)?Vice\s+President|President|Owner|Director|Founder|Principal"
    r"|Registered\s+Agent|CEO|COO|CTO|CFO|CCO)\b"
)
# How the letter was sent, between its date and the recipient ("VIA CERTIFIED MAIL - RETURN
# RECEIPT REQUESTED", "Via Electronic Mail").
_DELIVERY = re.compile(
    r"\b(?:VIA|BY)(?:\s+(?:[A-Z]{2,}|-|&))+|\b(?:Via|By)\s+(?:Electronic\s+|Certified\s+|"
    r"Overnight\s+|First[- ]Class\s+)*(?:Mail|Delivery|E-?mail|Courier)\b"
)
# The city, state and ZIP that end a flattened address ("... Suite 200 Newport Beach, CA
# 92663"). The city is bounded (80 characters) and the split is tried at the start of a run
# of spaces only: unbounded, the look-ahead ran to the end of the line from every space of a
# long line of words (quadratic).
_CITY = re.compile(r"(?<!\s)\s+(?=[A-Z][A-Za-z .]{1,80},\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?\s*$)")
_BLOCK_END = re.compile(r"\s(?:cc:|Re:|RE:|Dear\s)")


def _party_of(lines: list[str]) -> Party:
    """A name-and-address block: contact, title, company, address lines, emails. A block
    flattened into one line (a text copy without line breaks) is split at the title and
    at the company's legal form."""
    party = Party()
    rest: list[str] = []
    for line in lines:
        party.emails += _EMAIL.findall(line)
        kept = _EMAIL.sub(" ", line).strip(" ,;")
        if kept:
            rest.append(re.sub(r"\s+", " ", kept))
    if len(rest) == 1 and (len(rest[0]) > 60 or _TITLE.search(rest[0])):
        line = rest[0]
        title = _TITLE.search(line)
        tail = line[title.end() :] if title else line
        party.contact = line[: title.start()].strip(" ,") if title else ""
        party.title = title.group(0) if title else ""
        end = _COMPANY_END.search(tail) or _COMPANY.search(tail)
        party.company = (tail[: end.end()] if end else tail).strip(" ,")
        address = tail[end.end() :].strip(" ,") if end else ""
        party.address = [a.strip(" ,") for a in _CITY.split(address, 1) if a.strip(" ,")]
        return party
    company = next((line for line in rest if _COMPANY.search(line)), "")
    if company:
        at = rest.index(company)
        before = rest[:at]
        party.contact = before[0] if before else ""
        party.title = before[1] if len(before) > 1 else ""
        party.address = rest[at + 1 :]
    else:
        party.contact = rest[0] if rest else ""
        party.address = rest[1:]
    party.company = company
    return party


def _to_block(letter: str) -> list[str] | None:
    """The recipient's lines: after "To:" (at a line's start or, in a text without line
    breaks, anywhere), else between the letter's date (and how it was sent) and "Re:" or
    "Dear", as the 2022+ letters print them without a label."""
    m = re.search(r"^[^\S\n]*To:\s*(.*)$", letter, re.M)
    if m is not None:
        first = _BLOCK_END.split(" " + m.group(1))[0].strip()
        lines = [first] if first else []
        if first == m.group(1).strip():  # the block goes on below
            for line in letter[m.end() :].splitlines()[1:]:
                if not line.strip() or re.match(r"\s*(?:cc|re|dear)\b", line, re.I):
                    break
                lines.append(line.strip())
        return lines
    m = re.search(r"\bTo:\s*", letter)
    if m is not None:
        return [_BLOCK_END.split(letter[m.end() : m.end() + 600])[0]]
    dated = re.search(DATE, letter[:3000])
    re_ = re.search(r"(?:^|\s)(?:Re|RE):\s|\bDear\s", letter[:4000], re.M)
    if dated is None or re_ is None or re_.start() <= dated.end():
        return None
    block = _DELIVERY.sub(" ", letter[dated.end() : re_.start()])
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    if not lines or sum(map(len, lines)) > 600:
        return None
    return lines


def _defined_companies(text: str) -> list[str]:
    """Companies in the order the text defines them ("Urth Access, LLC (Urth Access)")."""
    out: list[str] = []
    for m in _DEFINED.finditer(text):
        name = re.sub(r"\s+", " ", m.group("name")).strip()
        if name not in out:
            out.append(name)
    return out


def _about(letter: str) -> str:
    """The provider an order or a public notice is about: its caption ("In the Matter of
    One Eye LLC"), else the companies it defines at first mention."""
    caption = re.search(r"In\s+the\s+Matter\s+of\s+(.+?)\s*\)", letter[:3000], re.S)
    if caption:
        return re.sub(r"\s+", " ", caption.group(1)).strip(" ,")
    named = _defined_companies(letter[:4000])
    # "... a cease-and-desist letter to each of the following voice service providers:"
    # and a bulleted list, one a line
    listed = re.search(r"following\s+voice\s+service\s+providers?\b[^:]{0,60}:", letter)
    if listed:
        for line in letter[listed.end() :].lstrip().splitlines()[:40]:
            item = re.match(r"\s*[•·▪●-]\s*(\S.{0,80}?)\s*$", line)
            if item is None:
                # a footnote's mark, a blank line (stripped first: "\s*\d{0,2}\s*" is
                # quadratic on a long line of spaces)
                if re.fullmatch(r"\d{0,2}", line.strip()):
                    continue
                break
            if not any(item.group(1) in n for n in named):
                named.append(item.group(1))
    return "; ".join(named)


def _recipient(letter: str, kind: str) -> tuple[Party, str, list[str]]:
    """The provider the notice is to or about, and to whom it is addressed (the provider
    itself, or every provider for orders and public notices)."""
    if kind in TO_ALL:
        about = _about(letter)
        if about:
            return Party(company=about), ALL_PROVIDERS, []
        return Party(), ALL_PROVIDERS, ["the provider this notice is about was not found"]
    lines = _to_block(letter)
    party = _party_of(lines) if lines else Party()
    problems: list[str] = []
    defined = _defined_companies(letter[:4000])
    if not party.company and defined:
        party.company = defined[0]  # "We have determined that X (X') is apparently ..."
    if lines is None:
        problems.append("no recipient block (To: or name and address before Re:)")
    if not party.company:
        problems.append("the recipient's company was not found")
    return party, party.company, problems


def _sender(letter: str, subject: str) -> Party:
    party = Party(company="Federal Communications Commission")
    if re.search(r"federal\s+trade\s+commission", subject, re.I):
        party.company = "Federal Communications Commission and Federal Trade Commission"
    bureau = re.search(
        r"^[^\S\n]*(Enforcement Bureau|Wireline Competition Bureau)[^\S\n]*$"
        r"|By the (?:Acting )?Chief, "
        r"(Enforcement Bureau|Wireline Competition Bureau)",
        letter,
        re.M,
    )
    if bureau:
        party.address = [bureau.group(1) or bureau.group(2)]
    m = re.search(r"^[^\S\n]*Sincerely,?[^\S\n]*$", letter, re.M | re.I)
    if m:
        signed = (
            line.strip()
            for line in letter[m.end() :].splitlines()
            if line.strip() and not re.search(r"signature|^\W*$", line, re.I)
        )
        names = list(islice(signed, 2))  # the name and the title under it
        party.contact = names[0] if names else ""
        party.title = names[1] if len(names) > 1 else ""
    elif bureau and bureau.group(2):
        party.title = bureau.group(0).removeprefix("By the ").strip()
    inquiries = re.search(r"direct any inquiries.*?(?:\n\s*\n|$)", letter, re.I | re.S)
    if inquiries:
        party.emails = sorted(set(_EMAIL.findall(inquiries.group(0))))
        party.phones = sorted(set(_PHONE.findall(inquiries.group(0))))
    else:  # the Commission's own addresses only: the recipient's are in the letter too
        party.emails = sorted({e for e in _EMAIL.findall(letter) if e.lower().endswith(".gov")})
    return party


def _subject(letter: str) -> str:
    m = re.search(r"^[^\S\n]*Re:\s*(.+)$", letter, re.M | re.I) or re.search(
        r"\bR[Ee]:\s*(.{5,300}?)(?=\s+Dear\b|\n|$)", letter[:5000]
    )
    # split at the start of a run of spaces only: "\s+Dear" tried from every space of a long
    # run is quadratic
    return re.split(r"(?<!\s)\s+Dear\s", m.group(1))[0].strip() if m else ""


def _kind(letter: str, subject: str) -> str:
    """The kind the subject line names, else the kind whose words come first in the letter's
    head (a public notice that mentions a Final Determination Order later is a notice)."""
    for text in (subject, letter[:4000]):
        found = [(m.start(), kind) for kind, pattern in KINDS.items()
                 if (m := re.search(pattern, text, re.I | re.M))]  # fmt: skip
        if found:
            return min(found)[1]
    return "unknown"


def _role(letter: str) -> str | None:
    """Gateway when the letter says the provider is one; else originating or transmitting,
    whichever the letter says first."""
    head = letter[:8000]
    if re.search(ROLES["gateway"], head, re.I):
        return "gateway"
    found = [(m.start(), role) for role in ("originating", "transmitting")
             if (m := re.search(ROLES[role], head, re.I))]  # fmt: skip
    return min(found)[1] if found else None


# "section 64.1200(k)(4) of the Commission's rules", "Id. § 64.1200(n)(6)": Part 64 of 47 CFR
# cited without its title.
# "§§" starts at the first sign of its run: "§+" tried from every sign of a long run is
# quadratic.
_SECTION = re.compile(
    r"(?:\bsections?\s+|(?<!§)§+\s*)(?P<sec>64\.\d+)(?P<par>(?:\([A-Za-z0-9]+\))+)"
)
_MORE_PARS = re.compile(r"\s*,\s*(?:and\s+)?(?P<par>(?:\([a-z]\)|\(\d+\))(?:\([A-Za-z0-9]+\))*)")


def _rules(text: str) -> list[str]:
    """The rules cited, in order of first citation. A dict and sorted spans, not lists
    searched again for each citation: a text of thousands of citations was quadratic."""
    found: dict[str, None] = {}

    def add(rule: str) -> None:
        found.setdefault(rule, None)

    starts: list[int] = []  # the spans of the full citations, in order
    ends: list[int] = []
    for m in re.finditer(rf"{_CFR}|{_USC}", text):
        rule = re.sub(r"\s+", " ", m.group(0)).replace("§ §", "§").strip()
        rule = re.sub(r"§\s*", "§ ", rule)
        add(rule)
        starts.append(m.start())
        ends.append(m.end())
        section = re.match(r"47 CFR § (\d+\.\d+)", rule)
        at = m.end()
        while section and (more := _MORE_PARS.match(text, at)):  # "(k)(4), (f)(18)"
            add(f"47 CFR § {section.group(1)}{more.group('par')}")
            at = more.end()
    for m in _SECTION.finditer(text):
        i = bisect_right(starts, m.start()) - 1  # the last full citation starting before it
        if i < 0 or m.start() >= ends[i]:
            add(f"47 CFR § {m.group('sec')}{m.group('par')}")
    return list(found)


# "One Eye has 14 days to respond to this order" (an Initial Determination Order, 64.1200(n)(5))
_TO_RESPOND = re.compile(
    r"\b(?:has|have)\s+(?:(?P<word>[a-z-]+)\s+)?\(?(?P<n>\d{1,3})?\)?\s*(?P<unit>business\s+days|"
    r"days)\s+to\s+(?:respond|reply|answer)(?=(?P<after>[^.]{0,120}))",
    re.I,
)
# "... must block ... beginning 30 days after the release of this Order" (a Final
# Determination Order, 64.1200(n)(6)); "after release of the Final Determination Order" is a
# later order's, not this one's.
_AFTER_RELEASE = re.compile(
    r"\bbeginning\s+(?:(?P<word>[a-z-]+)\s+)?\(?(?P<n>\d{1,3})?\)?\s*(?P<unit>days)\s+after\s+"
    r"(?:the\s+)?release\s+(?:date\s+)?of\s+this\s+(?:order|notice)(?=(?P<after>[^.]{0,120}))",
    re.I,
)
# A clause that recounts what a provider failed to do ("Because Urth Access failed to
# mitigate ... within 48 hours ...") states no deadline.
_RECITAL = re.compile(r"\bfailed\s+to\b|\bdid\s+not\b", re.I)


def _deadlines(letter: str, letter_date: date | None) -> tuple[list[Deadline], list[str]]:
    if letter_date is None:
        return [], ["no letter date: deadlines were not computed"]
    out: list[Deadline] = []
    problems: list[str] = []
    seen: set[tuple[int, str, str]] = set()
    flat = re.sub(r"\s+", " ", letter)
    found = [(m, None) for m in _WITHIN.finditer(flat)]
    found += [(m, "response") for m in _TO_RESPOND.finditer(flat)]
    found += [(m, "blocking") for m in _AFTER_RELEASE.finditer(flat)]
    rules = {"response": "47 CFR 64.1200(n)(5)", "blocking": "47 CFR 64.1200(n)(6)"}
    for m, fixed in sorted(found, key=lambda f: f[0].start()):
        n = int(m.group("n")) if m.group("n") else _WORDS.get((m.group("word") or "").lower())
        if n is None:
            continue
        unit = m.group("unit").lower().replace("business days", "business_days")
        stated = re.search(rf"\(({DATE})\)", m.group("after"))
        # The sentence so far (a capital after ". " starts one; "Inc. failed" does not).
        sentence = re.split(r"[.;]\s+(?=[A-Z])", flat[max(0, m.start() - 300) : m.start()])[-1]
        if _RECITAL.search(sentence):
            continue
        # What the deadline is for: the words before "within" in the same clause, else the
        # clause after it ("Within 48 hours, inform the Commission ...").
        before = re.split(r"[.;,:]", flat[max(0, m.start() - 200) : m.start()])[-1]
        after = re.split(r"[.;]", m.group("after").lstrip(" ,"))[0]
        purpose = fixed or purpose_of(before) or purpose_of(after, nearest_end=False)
        # the first statement of a deadline is kept; a text repeating it thousands of times
        # costs no more than its reading
        key = (n, unit, deadline_name(n, unit, purpose))
        if key in seen:
            continue
        seen.add(key)
        try:
            d = stated_deadline(
                letter_date,
                n,
                unit,
                stated=parse_date(stated.group(1)) if stated and fixed is None else None,
                purpose=purpose,
                context=before + " " + after,
                rule=rules.get(fixed or ""),
            )
        except (OverflowError, ValueError):  # a letter dated near the year 9999
            problems.append(f"the deadline of {n} {m.group('unit')} is past the calendar's end")
            continue
        out.append(d)
    named = {(d.amount, d.unit) for d in out if not d.name.startswith("deadline_")}
    return [
        d for d in out if not (d.name.startswith("deadline_") and (d.amount, d.unit) in named)
    ], problems


def parse_notice(text: str) -> Notice:
    """Read a notice letter (its text: pasted, or extracted from the PDF)."""
    text = text.replace("\r\n", "\n").replace("\u00a0", " ")
    # a lone surrogate (a PDF's broken text layer) cannot be encoded: the case id, the store
    # and JSON would fail on it later
    text = _SURROGATE.sub("\ufffd", text)
    letter = _letter_part(text)
    problems: list[str] = []
    letter_date = _letter_date(letter)
    if letter_date is None:
        problems.append("no letter date found")
    subject = _subject(letter)
    kind = _kind(letter, subject)
    if kind == "unknown":
        problems.append("the kind of notice was not recognised (known: " + ", ".join(KINDS) + ")")
    recipient, addressed_to, more = _recipient(letter, kind)
    problems += more
    deadlines, more = _deadlines(letter, letter_date)
    problems += more
    attachment: Attachment = parse_attachment(text)
    problems += attachment.problems
    if not attachment.rows:
        problems.append("no Attachment A row was read")
    return Notice(
        letter_date=letter_date,
        recipient=recipient,
        sender=_sender(letter, subject),
        notice_kind=kind,
        role=_role(letter),
        deadlines=deadlines,
        rules=_rules(text),
        rows=attachment.rows,
        addressed_to=addressed_to,
        subject=subject,
        problems=problems,
    )


def not_a_notice(notice: Notice) -> str | None:
    """Why a text read is no notice from the Commission (a wrong file: a CSV, a report we
    wrote), or None. A notice is a letter from the Commission to a provider, or a public
    notice or order about one: its kind, recipient, deadlines or Attachment A rows are read
    even when other parts are not."""
    if re.search(r"\bCommunications\s+Commission\b", notice.recipient.company, re.I):
        return (
            "it reads as a letter to the Commission (a report or response?), not a notice from it"
        )
    found = notice.notice_kind != "unknown" or notice.recipient.company or notice.rows
    if not found and not notice.deadlines:
        return (
            "no notice found in it (no kind of notice, recipient, deadline or Attachment A row "
            "was recognised): give the Commission's letter as text or PDF"
        )
    return None


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

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:
        # Any: pypdf answers a damaged file with whatever its code meets, not only its own
        # errors (seen on PDFs with a few bytes changed: AttributeError, AssertionError,
        # NotImplementedError for a misspelt filter, LimitReachedError, KeyError, TypeError).
        raise InputError(f"{name}: not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    text = "\n".join(pages)
    if not text.strip():
        raise InputError(f"{name}: the PDF has no text layer (a scan?): paste its text instead")
    return text
