"""``tracehop layouts draft``: a first layout file for a CDR file no preset reads, from the
header's names or the values' shapes; the draft loads, and once what is missing is named it
ingests the file's calls. Hypothesis: any header and values give a draft that is valid TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.draft import draft_layout
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import load_layout_file
from tracehop.errors import FormatError, InputError
from tracehop.settings import Settings

# An SBC's export with its own column names (Ribbon/AudioCodes-like words), dispositions
# in words, durations with their unit in the name
SBC = """Call ID,Setup Time,Calling Number,Called Number,Ingress Trunk,Egress Trunk,Duration (ms),Release Cause,Status
a1,2024-03-01 10:00:00,+12025550101,+12125550101,tg-caprus,tg-att,45000,16,Completed
a2,2024-03-01 10:01:00,2025550102,2125550102,tg-caprus,tg-att,0,17,Busy
a3,2024-03-01 10:02:00,(202) 555-0103,212-555-0103,tg-bigfoot,tg-vz,0,19,No Answer
a4,2024-03-01 10:03:00,2025550104,2125550104,tg-bigfoot,tg-vz,0,41,Failed
"""


def calls(settings: Settings) -> list[dict]:
    return query(
        "select call_id, start, caller, called, upstream, downstream, duration, disposition "
        "from calls order by source_line",
        settings,
    ).records()


def test_a_header_of_another_vendor(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "sbc.csv"
    path.write_text(SBC)
    draft = draft_layout(path, name="sbc")
    assert draft.missing == []
    assert draft.mapped == {
        "call_id": "Call ID",
        "start": "Setup Time",
        "duration": "Duration (ms)",
        "caller": "Calling Number",
        "called": "Called Number",
        "upstream": "Ingress Trunk",
        "downstream": "Egress Trunk",
        "disposition": "Status",
    }
    layout_file = tmp_path / "sbc.toml"
    layout_file.write_text(draft.text)
    layout = load_layout_file(layout_file)
    assert layout.rules["duration"].unit == "ms"
    result = ingest([path], settings, layout=layout_file)
    assert (result.rows_ingested, result.rows_rejected) == (4, 0)
    got = [
        (c["call_id"], c["caller"], c["upstream"], c["downstream"], c["duration"], c["disposition"])
        for c in calls(settings)
    ]
    assert got == [
        ("a1", "+12025550101", "tg-caprus", "tg-att", 45, "answered"),
        ("a2", "+12025550102", "tg-caprus", "tg-att", 0, "busy"),
        ("a3", "+12025550103", "tg-bigfoot", "tg-vz", 0, "no_answer"),
        ("a4", "+12025550104", "tg-bigfoot", "tg-vz", 0, "failed"),
    ]


def test_no_header_and_a_spreadsheets_times(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "03/01/2024 10:00:05;2025550101;2125550101;tg-a;45\n"
        "03/01/2024 10:01:00;2025550102;2125550102;tg-b;0\n"
    )
    draft = draft_layout(path)
    # by the values: the times (and the format that reads them), the first two numbers
    assert draft.mapped == {"start": "field1", "caller": "field2", "called": "field3"}
    assert draft.missing == ["upstream"]
    assert 'formats = ["%m/%d/%Y %H:%M:%S"]' in draft.text
    layout_file = tmp_path / "export.toml"
    layout_file.write_text(draft.text)
    # what is missing is what loading the draft says
    with pytest.raises(InputError, match="must say where upstream comes from"):
        load_layout_file(layout_file)
    layout_file.write_text(draft.text.replace('# upstream = "..."', 'upstream = "field4" #'))
    result = ingest([path], settings, layout=layout_file)
    assert (result.rows_ingested, result.rows_rejected) == (2, 0)
    got = query("select start, upstream, extra->>'start_format' f from calls", settings).records()
    assert got[0]["upstream"] == "tg-a" and got[0]["f"] == "%m/%d/%Y %H:%M:%S"
    assert got[0]["start"].isoformat() == "2024-03-01T10:00:05+00:00"


def test_an_empty_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("\n\n")
    with pytest.raises(FormatError) as info:
        draft_layout(path)
    assert "is empty" in info.value.message and "\n" not in info.value.message


def test_the_cli_prints_the_draft_and_what_it_guessed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sbc.csv"
    path.write_text(SBC.replace("Ingress Trunk", "Peer Group"))
    code, out, err = cli("layouts", "draft", str(path), "--name", "sbc")
    assert code == 0
    parsed = tomllib.loads(out)  # stdout is the layout file alone
    assert parsed["name"] == "sbc" and parsed["map"]["caller"] == "Calling Number"
    assert "upstream" not in parsed["map"]
    assert "caller <- Calling Number" in err and "not found: upstream" in err
    # a file no layout reads says how to draft one
    code, _, err = cli("ingest", str(path))
    assert code == 1 and f"tracehop layouts draft {path}" in err


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=14
).filter(lambda s: "," not in s and '"' not in s and s.strip())
cells = st.one_of(
    st.sampled_from(["2024-03-01 10:00:00", "1709287200", "2025550101", "+1 212 555 0101"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=10).filter(
        lambda s: "," not in s and '"' not in s
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(names, min_size=1, max_size=8),
    rows=st.lists(st.lists(cells, min_size=1, max_size=8), max_size=5),
    with_header=st.booleans(),
)
def test_any_file_gives_valid_toml(tmp_path: Path, header, rows, with_header) -> None:  # type: ignore[no-untyped-def]
    lines = ([",".join(header)] if with_header else []) + [",".join(r) for r in rows]
    path = tmp_path / "any.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not any(line.strip() for line in lines):
        with pytest.raises(FormatError):
            draft_layout(path)
        return
    draft = draft_layout(path)
    parsed = tomllib.loads(draft.text)
    assert set(draft.missing) == {"start", "caller", "called", "upstream"} - set(parsed["map"])


def test_a_cucm_file_with_its_type_row(settings: Settings, tmp_path: Path) -> None:
    """Cisco's names (callingPartyNumber, originalCalledPartyNumber, origDeviceName) are found,
    and the row of data types becomes a skip rule, not a sample of values."""
    source = Path(__file__).parent / "data" / "layouts" / "cisco-cucm.csv"
    draft = draft_layout(source, name="cucm-draft")
    assert draft.missing == []
    assert (draft.mapped["caller"], draft.mapped["called"], draft.mapped["upstream"]) == (
        "callingPartyNumber", "originalCalledPartyNumber", "origDeviceName"
    )  # fmt: skip
    assert "INTEGER" not in draft.text.split("[[skip]]")[0]  # no sample from the type row
    layout_file = tmp_path / "cucm-draft.toml"
    layout_file.write_text(draft.text)
    f = ingest([source], settings, layout=load_layout_file(layout_file)).files[0]
    assert (f.rows_ingested, f.rows_rejected, f.rows_skipped) == (4, 0, 1)


def test_epoch_seconds_are_no_phone_numbers(tmp_path: Path) -> None:
    """Ten-digit Unix times (OpenSIPS' acc: time and created) and Asterisk's uniqueid
    (1690325492.123) are not caller numbers."""
    path = tmp_path / "acc.log"
    path.write_text(
        "INVITE,a1,b1,c1@x,200,OK,1570705611,1690325492.12,2025550143,12125551234,1570705606\n"
        "INVITE,a2,b2,c2@x,486,Busy,1570705615,1690325493.13,2025550144,12125551235,1570705610\n"
    )
    draft = draft_layout(path)
    assert draft.mapped["start"] == "field7"
    assert (draft.mapped["caller"], draft.mapped["called"]) == ("field9", "field10")
