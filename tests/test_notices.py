"""Reading a Commission notice: the fixture letter, its PDF, and mangled renderings of it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from letters import (
    fixture_text,
    flattened,
    split_letter,
    to_pdf,
    with_page_furniture,
    with_spaces,
    wrapped,
)
from tracehop.cases.attachment import parse_attachment
from tracehop.cases.notices import parse_notice, read_notice_file
from tracehop.errors import InputError


def expected_rows() -> list[tuple[str, str, str]]:
    """(customer, date as printed, description) of every row, straight from the fixture."""
    _body, rows = split_letter(fixture_text())
    return [(r[0].strip(), r[1].strip(), r[4].strip()) for r in rows]


def check_fixture(notice_json: dict) -> None:
    rows = notice_json["rows"]
    assert notice_json["letter_date"] == "2021-03-17"
    assert notice_json["recipient"] == "Icon Global Services Ltd."
    assert len(rows) == 61
    assert sum(r["customer"] == "No Response" for r in rows) == 15
    want = expected_rows()
    assert [r["customer"] for r in rows] == [w[0] for w in want]
    assert [r["description"] for r in rows] == [w[2] for w in want]
    assert rows[0]["date"] == "2021-02-07" and rows[-1]["date"] == "2019-05-02"
    assert all(r["caller_id"] == "" and r["called_number"] == "" for r in rows)  # redacted
    assert {r["violation"] for r in rows} == {"47 U.S.C. § 227(b); 47 CFR § 64.1200"}


def test_the_fixture_letter() -> None:
    n = parse_notice(fixture_text())
    out = n.to_json()
    check_fixture(out)
    assert out["notice_kind"] == "official_correspondence" and out["role"] == "transmitting"
    assert out["recipient_detail"]["contact"] == "Harjot Pal Singh Batra"
    assert out["recipient_detail"]["emails"] == ["hsbatra@iconglobal.co.uk"]
    assert out["sender"]["contact"] == "Kristi Thompson"
    deadlines = {d["name"]: d for d in out["deadlines"]}
    assert set(deadlines) == {"mitigation_48h", "report_48h", "report_14d"}
    # the 14-day date is the one the letter states, and both readings are kept
    assert deadlines["report_14d"]["stated"] == "2021-03-31"
    assert deadlines["report_14d"]["due"] == "2021-03-31T23:59:59-04:00"
    assert "stated in the letter" in deadlines["report_14d"]["basis"]
    # 48 hours from the letter's date, counted from 00:00 Eastern (the earliest reading)
    assert deadlines["mitigation_48h"]["due"] == "2021-03-19T00:00:00-04:00"
    assert "47 CFR § 64.1200(k)(4)" in out["rules"] and "47 U.S.C. § 227(b)" in out["rules"]
    assert out["problems"] == []
    assert n.case_id.startswith("case-20210317-icon-global-services-ltd-")


@pytest.mark.parametrize("mangle", [with_spaces, wrapped, with_page_furniture, flattened])
def test_mangled_renderings_give_the_same_rows_and_case(mangle) -> None:  # type: ignore[no-untyped-def]
    original = parse_notice(fixture_text())
    n = parse_notice(mangle(fixture_text()))
    check_fixture(n.to_json())
    assert n.case_id == original.case_id  # the same letter is the same case
    assert n.problems == []


def test_a_pdf_of_the_letter(tmp_path: Path) -> None:
    pdf = to_pdf(fixture_text(), tmp_path / "notice.pdf")
    text, digest = read_notice_file(pdf)
    n = parse_notice(text)
    check_fixture(n.to_json())
    assert n.case_id == parse_notice(fixture_text()).case_id and len(digest) == 64
    assert {d.name for d in n.deadlines} == {"mitigation_48h", "report_48h", "report_14d"}


def test_unreadable_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_notice_file(tmp_path / "missing.pdf")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\n garbage")
    with pytest.raises(InputError, match=r"not a readable PDF|no text layer"):
        read_notice_file(bad)


def test_what_is_not_understood_is_reported() -> None:
    n = parse_notice("Hello,\nplease call us.\n\nATTACHMENT A\nnonsense here\n")
    problems = " | ".join(n.problems)
    assert "no letter date" in problems and "no Attachment A row" in problems
    assert "text after the last row" in problems and n.notice_kind == "unknown"


CUSTOMERS = st.sampled_from(["Caprus IT", "Acme Telecom LLC", "No Response", "VS Technology",
                             "AGG RBM Comm / World Connect / CGS", "Prestige DR Voip"])  # fmt: skip
DESCRIPTIONS = st.sampled_from(["Fraudulent IRS Impersonator", "One Ring Scam",
                                "Health Insurance Advisor", "Attempted TDoS Attack 2"])  # fmt: skip
# Letters give both numbers or redact both: one alone would be ambiguous without the tabs.
PHONE_PAIRS = st.sampled_from(
    [("", ""), ("(202) 555-0143", "2125551234"), ("+1 415 555 0100", "(212) 555-1234")]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            CUSTOMERS, st.dates(date(2019, 1, 1), date(2025, 12, 31)), PHONE_PAIRS, DESCRIPTIONS
        ),
        min_size=1,
        max_size=12,
    ),
    sep=st.sampled_from(["\t", "   ", "  ", " | "]),
    wrap=st.booleans(),
)
def test_any_table_reads_back(rows: list, sep: str, wrap: bool) -> None:
    violation = "47 U.S.C. § 227(b); 47 CFR § 64.1200"
    lines = ["ATTACHMENT A", sep.join(["Customer", "Date of Call", "Caller ID", "Called Number",
                                       "Description", "Violation"])]  # fmt: skip
    for customer, when, (caller, called), desc in rows:
        cells = [customer, f"{when:%B} {when.day}, {when.year}", caller, called, desc, violation]
        line = sep.join(cells)
        cut = line.find(" ", 30)  # a wrapped line breaks at a space, as text extraction does
        lines += [line[:cut], line[cut + 1 :]] if wrap and cut > 0 else [line]
    parsed = parse_attachment("\n".join(lines))
    assert parsed.problems == []
    got = [(r.customer, r.date, r.caller_id, r.called_number, r.description) for r in parsed.rows]
    assert got == [(c, d, a, b, e) for c, d, (a, b), e in rows], json.dumps(
        [r.to_json() for r in parsed.rows]
    )
