"""Hostile and odd texts given to the notice parser (``parse_notice``, what ``tracehop notice
import`` and ``POST /notices`` call): megabytes without line breaks, runs of spaces, blank
lines, digits, section signs, citations and deadlines by the thousand, damaged PDFs, control
characters. Each regex that backtracked super-linearly on one of these (the parser hung for
minutes on 100 KB) has its input here, run in a subprocess under a generous 30 s hang guard,
with the result asserted; the readings these texts still allow are asserted directly.

Timings are never asserted, beyond the hang guard: 1 MB parses in about half a second here,
a catastrophic backtrack takes hours."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from letters import fixture_text
from tracehop.cases.attachment import parse_attachment
from tracehop.cases.notices import Notice, parse_notice, pdf_text, read_notice_file
from tracehop.errors import InputError, TracehopError

MB = 1_000_000
REAL = Path(__file__).parent / "data" / "notices" / "real"
HERE = Path(__file__).resolve()


def _rep(unit: str, n: int = MB) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def hostile_text(name: str) -> str:
    """About 1 MB of one hostile shape (each hung an earlier parser)."""
    words = fixture_text().split()
    texts: dict[str, Any] = {
        # "^\s*" under MULTILINE: tried from every line, running over all the lines below
        "blank_lines": lambda: _rep(" \n") + "x",
        "sincerely_then_blank_lines": lambda: "Sincerely,\n" + _rep("\n") + "Jane Doe\n",
        # the e-mail pattern retried from every character of a run without "@"
        "digits": lambda: _rep("1234567890"),
        "local_part_without_dot": lambda: _rep("a", MB // 2) + "@" + _rep("b", MB // 2),
        # "§+" retried from every sign of a run
        "section_signs": lambda: _rep("§") + " 64.1200(k)(4)",
        # the rules found so far searched again for each citation
        "citations": lambda: "47 CFR § 64.1200" + "".join(f", ({i})" for i in range(MB // 9)),
        "sections_beside_citations": lambda: "".join(
            f"47 CFR § 64.{i}(a) section 64.1200({i}) " for i in range(MB // 40)
        ),
        # the row regex: two lazy ".*?" with nothing to stop them
        "dates_without_citations": lambda: "ATTACHMENT A\n" + _rep("Acme January 1, 2020 foo "),
        "attachment_without_dates": lambda: "ATTACHMENT A\n" + _rep("Acme\n"),
        # a PDF-to-text dump with every word on its own line (the row pattern again)
        "words_one_per_line": lambda: "\n".join(_rep(" ".join(words) + " ").split()),
        # "\s*" on both sides of optional parts, in the page-furniture pattern
        "line_of_spaces_in_attachment": lambda: "ATTACHMENT A\n1" + " " * MB + "x\n",
        # "\s+Dear\s" retried from every space of a run
        "subject_with_spaces": lambda: "Re: a" + " " * MB + "b\n",
        # the city look-ahead ran to the end of the line from every space
        "one_line_address": lambda: (
            "March 17, 2021\nTo: John Smith CEO Acme Telecom LLC "
            + "Main Street Suite 200 " * (MB // 22)
            + "Newport Beach, CA 92663\n"
        ),
        # "\s*\d{0,2}\s*" on a line of spaces after a bulleted list
        "spaces_after_a_list": lambda: (
            "Public Notice\nthe following voice service providers:"
            "\n• Acme Voice\n" + " " * MB + "x\n"
        ),
        # a thousand distinct deadlines, each repeated: each computed once
        "deadlines": lambda: (
            "March 17, 2021\n"
            + _rep("".join(f"report within {i} business days. " for i in range(1, 1000)))
        ),
    }
    return str(texts[name]())


def _summary(notice: Notice) -> dict[str, Any]:
    out = notice.to_json()
    return {
        "rows": len(out["rows"]),
        "rules": out["rules"],
        "deadlines": len(out["deadlines"]),
        "recipient": out["recipient"],
        "detail": out["recipient_detail"],
        "sender": out["sender"],
        "subject": out["subject"][:5] + out["subject"][-5:],
        "problems": out["problems"],
    }


_CHILD = """
import json, sys
sys.path[:0] = [{tests!r}]
import test_notices_hostile as t
print(json.dumps(t._summary(t.parse_notice(t.hostile_text({name!r})))))
"""


def parse_in_subprocess(name: str) -> dict[str, Any]:
    """The summary of parsing ``hostile_text(name)`` in a child process, which must finish
    within 30 s: only a catastrophic backtrack takes that long (about 1 s is normal)."""
    code = _CHILD.format(tests=str(HERE.parent), name=name)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"parsing {name!r} (1 MB) did not finish in 30 s: catastrophic backtracking")
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout))


EXPECTED: dict[str, Any] = {
    "blank_lines": lambda s: s["rows"] == 0 and "no letter date found" in s["problems"],
    "sincerely_then_blank_lines": lambda s: s["sender"]["contact"] == "Jane Doe",
    "digits": lambda s: s["sender"]["emails"] == [] and s["detail"]["emails"] == [],
    "local_part_without_dot": lambda s: s["sender"]["emails"] == [],
    "section_signs": lambda s: s["rules"] == ["47 CFR § 64.1200(k)(4)"],
    "citations": lambda s: (
        len(s["rules"]) == MB // 9 + 1 and s["rules"][1] == "47 CFR § 64.1200(0)"
    ),
    "sections_beside_citations": lambda s: len(s["rules"]) == 2 * (MB // 40),
    "dates_without_citations": lambda s: s["rows"] == 0,
    "attachment_without_dates": lambda s: s["rows"] == 0,
    # Read, but no row: a citation's "47" alone on its line is taken for a page number
    # (attachment.py's page furniture), so no row ends. Only that the parse finishes, reads
    # the citations and finds the recipient's e-mail is asserted.
    "words_one_per_line": lambda s: (
        "47 U.S.C. § 227(b)" in s["rules"] and s["detail"]["emails"] == ["hsbatra@iconglobal.co.uk"]
    ),
    "line_of_spaces_in_attachment": lambda s: (
        s["rows"] == 0 and any("text after the last row" in p for p in s["problems"])
    ),
    "subject_with_spaces": lambda s: s["subject"] == "a" + " " * 4 + " " * 4 + "b",
    "one_line_address": lambda s: (
        s["recipient"] == "Acme Telecom LLC"
        and s["detail"]["address"][-1] == "Newport Beach, CA 92663"
    ),
    "spaces_after_a_list": lambda s: s["recipient"] == "Acme Voice",
    "deadlines": lambda s: s["deadlines"] == 999,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_megabyte_of_hostile_text_parses(name: str) -> None:
    summary = parse_in_subprocess(name)
    assert EXPECTED[name](summary), json.dumps(summary)[:3000]


# --- the readings the rewritten patterns keep (no timing: results only) ---------------------


def test_rows_are_read_from_their_anchors() -> None:
    """The row reader, anchor by anchor, reads what the single regex read: a time and two
    numbers after the date, a description up to the first citation, several rows in one line,
    a date with no citation after it left as text that is no row."""
    got = parse_attachment(
        "ATTACHMENT A\nAcme Telecom LLC February 7, 2021 12:30 PM EST (202) 555-0143 "
        "2125551234 One Ring Scam 47 U.S.C. § 227(b); 47 CFR § 64.1200 No Response 2/7/21 "
        "IRS Impersonator 47 CFR § 64.1200 Beta LLC March 1, 2021 never cited"
    )
    rows = [
        (r.customer, r.date, r.time, r.caller_id, r.called_number, r.description, r.violation)
        for r in got.rows
    ]
    want = [
        ("Acme Telecom LLC", date(2021, 2, 7), "12:30 PM EST", "(202) 555-0143", "2125551234",
         "One Ring Scam", "47 U.S.C. § 227(b); 47 CFR § 64.1200"),
        ("No Response", date(2021, 2, 7), "", "", "", "IRS Impersonator", "47 CFR § 64.1200"),
    ]  # fmt: skip
    assert rows == want
    rest = "text after the last row that is no row: 'Beta LLC March 1, 2021 never cited'"
    assert got.problems == [rest]


def test_a_citation_run_into_a_date_or_a_number() -> None:
    """A two-digit year or a number run into the citation: what looked like part of the date
    or a phone number starts the citation (as the single regex read it by backtracking)."""
    glued = parse_attachment("ATTACHMENT A\nAcme 1/1/2047 U.S.C. § 227(b)")
    assert [(r.date, r.violation) for r in glued.rows] == [(date(2020, 1, 1), "47 U.S.C. § 227(b)")]
    phone = parse_attachment("ATTACHMENT A\nAcme 1/1/2020 202 555 0147 U.S.C. § 227")
    (row,) = phone.rows
    assert (row.caller_id, row.description, row.violation) == ("", "202 555 01", "47 U.S.C. § 227")


def test_page_numbers_and_headings_with_spaces_are_furniture() -> None:
    text = ("ATTACHMENT A\n  Customer   Date of Call  \n Acme\tFebruary 7, 2021\t\t\tScam\t"
            "47 CFR § 64.1200\n   -  2  -   \n  Page 2 of 3 \n1" + " " * 50 + "x\n")  # fmt: skip
    got = parse_attachment(text)
    assert [r.customer for r in got.rows] == ["Acme"]
    assert got.problems == ["text after the last row that is no row: '1 x'"]


def test_emails_start_where_their_run_starts() -> None:
    out = parse_notice("To: J. Doe, CEO, Acme LLC, 12345678901234 j.doe@acme.com\n\nRe: x")
    assert out.recipient.emails == ["j.doe@acme.com"]
    sender = parse_notice("x" * 5000 + " write to robocall@fcc.gov or " + "9" * 5000).sender
    assert sender.emails == ["robocall@fcc.gov"]


def test_rules_after_a_run_of_section_signs_and_inside_citations() -> None:
    rules = parse_notice(
        "§§§§§§ 64.1200(k)(4); 47 CFR § 64.1200(n)(2), (f)(18) and section 64.1200(n)(2)"
    ).rules
    # full citations first (with the paragraphs that follow them), then bare sections
    assert rules == ["47 CFR § 64.1200(n)(2)", "47 CFR § 64.1200(f)(18)", "47 CFR § 64.1200(k)(4)"]


def test_deadlines_that_no_calendar_holds() -> None:
    """A number of thousands of digits, a thousand days, a letter dated in the year 9999: no
    crash (int() past 4300 digits, a date past 9999 raised), no deadline made up."""
    huge = parse_notice("March 17, 2021\nReport within " + "9" * 5000 + " days.")
    assert huge.deadlines == [] and huge.letter_date == date(2021, 3, 17)
    assert parse_notice("March 17, 2021\nReport within 1000 days.").deadlines == []
    far = parse_notice("December 31, 9999\nMitigate within 48 hours. Report within 14 days.")
    assert far.deadlines == []
    assert "the deadline of 48 hours is past the calendar's end" in far.problems
    assert "the deadline of 14 days is past the calendar's end" in far.problems
    repeated = parse_notice("March 17, 2021\n" + "Report within 14 days. " * 2000)
    assert [d.name for d in repeated.deadlines] == ["report_14d"]


def test_a_company_after_a_long_head_of_capitals() -> None:
    """A name is at most eleven words and its legal form (the pattern was quadratic in the
    head of capitalised words it was tried from)."""
    head = "THE ENFORCEMENT BUREAU HEREBY FINDS " * 20
    n = parse_notice(f"March 17, 2021\n{head}Acme Telecom LLC (Acme) apparently originated")
    assert n.recipient.company.endswith("Acme Telecom LLC")
    assert len(n.recipient.company.split()) <= 12


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    """A PDF's broken text layer can give a lone surrogate: UTF-8 cannot hold it, so the
    store (SQLite, PostgreSQL) and any UTF-8 output would fail on the recipient's name."""
    n = parse_notice("March 1, 2021\nTo: Acme\ud800 Telecom LLC\n\nRe: x")
    assert n.recipient.company == "Acme\ufffd Telecom LLC"
    json.dumps(n.to_json(), ensure_ascii=False).encode()


# --- fuzzing: whatever the text, a Notice or one clear error ---------------------------------
# test_notices_real.py fuzzes with keyword tokens joined by spaces; this one with whole lines of
# the real letters, shuffled, cut anywhere, joined by any line break, with control characters,
# NULs, lone surrogates and random unicode put in.

_TEXTS = [p.read_text() for p in sorted(REAL.glob("*.txt"))] + [fixture_text()]
_LINES = [line for text in _TEXTS for line in text.splitlines() if line.strip()]
_NOISE = st.sampled_from(["\x00", "\r", "\f", "\v", "\u2028", "\u00a0", "\ufeff", "\ud800",
                          "\t", "§", "(", ")", "\u0301", "İ", "\U0001f600", "\x1c", "\x85",
                          " " * 300, "\n" * 50])  # fmt: skip


@st.composite
def pieces_of_letters(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(_LINES), max_size=80))
    if draw(st.booleans()):
        lines = list(draw(st.permutations(lines)))
    text = draw(st.sampled_from(["\n", " ", "\r\n", "\r", "\f", "\n\n"])).join(lines)
    if text and draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.one_of(_NOISE, st.text(max_size=6))) + text[at:]
    if draw(st.booleans()):
        text = draw(st.sampled_from(_TEXTS))[: draw(st.integers(0, 3000))] + text
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces_of_letters())
def test_pieces_of_real_letters_give_a_notice(text: str) -> None:
    try:
        n = parse_notice(text)
    except TracehopError:
        return
    out = n.to_json()
    json.dumps(out, ensure_ascii=False).encode()  # storable, printable
    assert isinstance(out["problems"], list)
    assert parse_notice(text).case_id == n.case_id  # the same text, the same case


@pytest.fixture(scope="module")
def letter_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from letters import to_pdf

    path = tmp_path_factory.mktemp("pdf") / "notice.pdf"
    return to_pdf(fixture_text(), path).read_bytes()


def test_damaged_pdfs_are_one_clear_error(letter_pdf: bytes, tmp_path: Path) -> None:
    """A PDF with a few bytes changed or cut short: pypdf raises whatever it meets
    (AttributeError, AssertionError, NotImplementedError, LimitReachedError were seen);
    tracehop says the file is not a readable PDF, or reads it."""
    rnd = random.Random(7)
    for i in range(60):
        data = bytearray(letter_pdf)
        if i % 3 == 0:
            data = data[: rnd.randint(5, len(data))]
        else:
            for _ in range(rnd.randint(1, 30)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            text = pdf_text(bytes(data))
        except InputError as exc:
            assert "PDF" in exc.message
            continue
        assert isinstance(parse_notice(text), Notice)
    # the same through the file reader the CLI uses
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(letter_pdf.replace(b"/FlateDecode", b"/FlateDec\xa2de"))
    with pytest.raises(InputError, match="not a readable PDF"):
        read_notice_file(bad)
