"""Real letters and notices of the Commission (public documents, tests/data/notices/real: the
first page or so of each, as its text copy gives it, most without line breaks), and texts
that are no notice at all: what tracehop reads from each, and that nothing is made up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.cases.notices import ALL_PROVIDERS, not_a_notice, parse_notice
from tracehop.errors import InputError
from tracehop.settings import Settings

REAL = Path(__file__).parent / "data" / "notices" / "real"

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def letter(name: str) -> str:
    text = (REAL / name).read_text()
    return text.split("\n", 1)[1] if text.startswith("# source:") else text


# file: (kind, date, recipient, addressed to ("" = the recipient), role, deadlines, rules in it)
CASES = {
    "urth-access-cd-2022.txt": (
        "official_correspondence", "2022-11-10", "Urth Access, LLC", "", "originating",
        {"mitigation_48h": "2022-11-12T00:00:00-05:00", "report_14d": "2022-11-25T23:59:59-05:00"},
        {"47 CFR § 64.1200(k)(4)", "47 CFR § 64.1200(f)(18)", "47 CFR § 64.6305"},
    ),
    "urth-access-cd-2022-lines.txt": (
        "official_correspondence", "2022-11-10", "Urth Access, LLC", "", "originating",
        {"mitigation_48h": "2022-11-12T00:00:00-05:00", "report_14d": "2022-11-25T23:59:59-05:00"},
        {"47 CFR § 64.1200(k)(4)", "47 CFR § 64.1200(f)(18)"},
    ),
    "telcast-gateway-2020.txt": (
        "official_correspondence", "2020-02-04", "Telcast Networks, LLC", "", "gateway", {}, set(),
    ),
    "ptgi-covid-2020.txt": (
        "official_correspondence", "2020-05-20", "PTGi International Carrier Services, Inc.", "",
        "gateway", {}, set(),
    ),
    "one-eye-initial-determination-2023.txt": (
        "initial_determination", "2023-04-03", "One Eye LLC", ALL_PROVIDERS, "gateway",
        {"response_14d": "2023-04-17T23:59:59-04:00"},
        {"47 CFR § 64.1200(n)(5)(i)(A)", "47 CFR § 64.1200(n)(5)(iii)", "47 CFR § 64.1200(n)(6)"},
    ),
    "urth-access-n2-order-2022.txt": (  # its "within 48 hours" recounts what Urth failed to do
        "mitigation_order", "2022-12-08", "Urth Access, LLC", ALL_PROVIDERS, None, {},
        {"47 CFR § 64.1200(n)(2)", "47 U.S.C. § 227"},
    ),
    "urth-access-k4-pn-2022.txt": (
        "public_notice", "2022-11-10", "Urth Access, LLC", ALL_PROVIDERS, "originating", {},
        {"47 CFR § 64.1200(k)(4)"},
    ),
    "identidad-k4-pn-2024.txt": (  # it names a Final Determination Order later: still a notice
        "public_notice", "2024-10-18", "Identidad Advertising Development LLC", ALL_PROVIDERS,
        "gateway", {"report_14d": "2024-11-01T23:59:59-04:00"}, {"47 CFR § 64.1200(k)(4)"},
    ),
    "one-owl-k4-pn-2023.txt": (
        "public_notice", "2023-08-01", "One Owl Telecom Inc.", ALL_PROVIDERS, None,
        {"mitigation_48h": "2023-08-03T00:00:00-04:00"}, {"47 CFR § 64.1200(k)(4)"},
    ),
    "phoneburner-n2-pn-2023.txt": (
        "public_notice", "2023-01-24", "PhoneBurner Inc.; MV Realty PBC, LLC.", ALL_PROVIDERS,
        None, {}, {"47 CFR § 64.1200(n)(2)"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_real_notice(name: str) -> None:
    kind, when, recipient, to, role, deadlines, rules = CASES[name]
    out = parse_notice(letter(name)).to_json()
    assert (out["notice_kind"], out["letter_date"], out["recipient"]) == (kind, when, recipient)
    assert out["addressed_to"] == (to or recipient) and out["role"] == role
    assert {d["name"]: d["due"] for d in out["deadlines"]} == deadlines
    assert rules <= set(out["rules"]), out["rules"]
    # These copies have no Attachment A: no row is made of the letter's own sentences.
    assert out["rows"] == [] and "no Attachment A row was read" in out["problems"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_real_notice_is_a_notice(name: str) -> None:
    assert not_a_notice(parse_notice(letter(name))) is None


def test_what_is_no_notice_opens_no_case(tmp_path: Path, provider_home: Settings) -> None:
    """A wrong file given to `notice import` (an empty file, a customers CSV, a report we wrote
    to the Commission) is a one-line error and opens no case."""
    from tracehop.cases.records import import_notice, list_cases
    from tracehop.store import open_store

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    customers = tmp_path / "customers.csv"
    customers.write_text("id,name,kind,onboarded\nacme,Acme Voice,carrier,2019-06-01\n")
    report = tmp_path / "report.txt"
    report.write_text(
        "December 2, 2026\n\nMarlene H. Dortch\nSecretary\nFederal Communications "
        "Commission\n45 L Street NE\nWashington, DC 20554\n\nRe: Report under 47 CFR "
        "64.1200(k)(4)\n\nDear Ms. Dortch:\nWe blocked the traffic within 48 hours.\n"
    )
    with open_store(provider_home) as store:
        for path, why in (
            (empty, "no notice found in it"),
            (customers, "no notice found in it"),
            (report, "reads as a letter to the Commission"),
        ):
            with pytest.raises(InputError) as info:
                import_notice(store, path, now=NOW)
            assert why in info.value.message and "no case opened" in info.value.message
            assert "\n" not in info.value.message
        assert list_cases(store) == []


def test_the_recipient_block_without_a_label() -> None:
    """2022+ letters print name, title, company, address and email between the date (and how
    it was sent) and "Re:", with no "To:"; the text copy runs them into one line."""
    for name in ("urth-access-cd-2022.txt", "urth-access-cd-2022-lines.txt"):
        out = parse_notice(letter(name)).to_json()
        detail = out["recipient_detail"]
        assert (detail["contact"], detail["title"]) == ("Fawaz Saleem", "CEO")
        assert detail["address"] == ["2901 W. Coast Hwy, Suite 200", "Newport Beach, CA 92663"]
        assert detail["emails"] == ["f.saleem@urthaccess.com"]
        # the recipient's address is not the Commission's
        assert "f.saleem@urthaccess.com" not in out["sender"]["emails"]
        assert (
            out["subject"] == "Official Correspondence from the Federal Communications Commission"
        )
    a, b = (
        parse_notice(letter(n))
        for n in ("urth-access-cd-2022.txt", "urth-access-cd-2022-lines.txt")
    )
    assert a.case_id == b.case_id  # the same letter, with or without its line breaks


def test_a_to_line_holding_the_whole_block() -> None:
    out = parse_notice(letter("ptgi-covid-2020.txt")).to_json()
    detail = out["recipient_detail"]
    assert (detail["contact"], detail["title"]) == ("Craig Denson", "CEO")
    assert detail["address"] == ["4115 Wisconsin Avenue Suite 203", "Washington, DC 20016"]
    assert out["sender"]["company"] == (
        "Federal Communications Commission and Federal Trade Commission"
    )


WORDS = st.sampled_from(
    ["Re:", "To:", "Dear", "ATTACHMENT A", "within", "48 hours", "fourteen (14) days",
     "March 17, 2021", "(March 31, 2021)", "47 CFR § 64.1200(k)(4)", ", (f)(18)", "LLC", "Inc.",
     "(Acme)", "In the Matter of", ")", "CEO", "VIA CERTIFIED MAIL", "has 14 days to respond",
     "failed to", "Public Notice", "Initial Determination Order", "\n", "\n\n", "•", "Customer",
     "Date of Call", "No Response", "Acme Telecom LLC", "section 64.1200(n)(2)", "@", "x.gov"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=60))
def test_any_text_is_read_without_error(parts: list[str]) -> None:
    """Whatever the text, the parser answers (fields it could not read are problems) and
    reads rows only from an attachment."""
    text = " ".join(parts)
    out = parse_notice(text).to_json()
    assert isinstance(out["problems"], list) and isinstance(out["case_id"], str)
    if "attachment a" not in text.lower() and "date of call" not in text.lower():
        assert out["rows"] == []


def test_a_notice_whose_providers_are_not_read_says_so() -> None:
    """The Cox/Jones notice names its providers in a bulleted list cut off in this copy."""
    out = parse_notice(letter("cox-jones-k4-pn-2022.txt")).to_json()
    assert out["notice_kind"] == "public_notice" and out["recipient"] == ""
    assert "the provider this notice is about was not found" in out["problems"]
    listed = letter("cox-jones-k4-pn-2022.txt").replace(" • Call Pipe 1 ", "\n• Call Pipe\n\n")
    assert parse_notice(listed).recipient.company == "Call Pipe"


def test_the_deadlines_of_determination_orders() -> None:
    """An Initial Determination Order gives the named provider 14 days to respond
    (64.1200(n)(5)); a Final Determination Order has every downstream provider block it 30
    days after its release (64.1200(n)(6)). The second text is written for this test in the
    real orders' words: no Final Determination Order was at hand."""
    one_eye = parse_notice(letter("one-eye-initial-determination-2023.txt"))
    (d,) = one_eye.deadlines
    assert d.name == "response_14d" and "64.1200(n)(5)" in d.basis
    final = parse_notice(
        "Federal Communications Commission DA 24-1 In the Matter of Acme Voice LLC ) FINAL "
        "DETERMINATION ORDER Adopted: May 1, 2024 Released: May 1, 2024 By the Chief, "
        "Enforcement Bureau: all providers immediately downstream from Acme Voice must block "
        "and cease accepting all traffic received directly from Acme Voice beginning thirty "
        "(30) days after the release date of this Order."
    )
    assert (final.notice_kind, final.recipient.company) == ("final_determination", "Acme Voice LLC")
    (d,) = final.deadlines
    assert (d.name, d.due.isoformat()) == ("blocking_30d", "2024-05-31T23:59:59-04:00")
    assert "64.1200(n)(6)" in d.basis
