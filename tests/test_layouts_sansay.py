"""The Sansay VSX preset, read from a sample written after the VSX CDR format (the field list
and sample record cited at the top of ``cdr/layouts/sansay.toml``): semicolon-separated records
ending with a semicolon, ctime times of day in the switch's zone with its minutes west of UTC
on every record, the origination trunk as the upstream, a route attempt before the final
route and an audit record that are not calls, the binary release cause as a SIP code. And the
``west`` rule that reads such times, for any offset."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import LAYOUT_DIR, get_layout, load_layout_file
from tracehop.errors import FormatError, InputError
from tracehop.settings import Settings, load_settings

SAMPLE = Path(__file__).parent / "data" / "layouts" / "sansay-vsx.cdr"
COLUMNS: list[str] = tomllib.loads((LAYOUT_DIR / "sansay.toml").read_text())["read"]["columns"]


def record(**values: str) -> str:
    """One VSX record (every field empty but those given), ending with ';' as the VSX writes."""
    fields = dict.fromkeys(COLUMNS, "")
    fields.update(version="V1.10", record_type="R", final_route="F", orig_trunk="000210")
    fields.update(orig_src_number="2025550143", orig_dst_number="12125551234")
    fields.update(values)
    return ";".join(fields[c] for c in COLUMNS) + ";\n"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_auto_reads_the_sample_as_sansay() -> None:
    found = detect(SAMPLE)
    assert found.layout.name == "sansay"
    assert found.why == "59 fields; checked record_type, start_tod, version"


def test_the_sample_gives_one_call_per_final_route(settings: Settings) -> None:
    result = ingest([SAMPLE], settings)
    [file] = result.files
    assert file.format == "sansay" and "auto: 59 fields" in file.message
    # the route attempt before the final route and the audit record are no calls
    assert (file.rows_ingested, file.rows_rejected, file.rows_skipped) == (6, 0, 2)
    got = query(
        "select call_id, start, caller, called, upstream, downstream, duration, disposition, "
        "sip_code, extra->>'cause', extra->>'release_cause_string', source_line "
        "from calls order by source_line",
        settings,
    ).rows
    assert got == [
        # 10:15:03 at 300 minutes west (EST) is 15:15:03 UTC; 63,120 ms talked
        ("a84b4c76e66710@198.51.100.20", ts("2021-02-07 15:15:03"), "+12025550143",
         "+12125551234", "000210", "000500", 63, "answered", 200, "16", "Normal Call Clearing", 1),
        ("b91c2e@198.51.100.20", ts("2021-02-07 15:17:40"), "+12025550144", "+12125551235",
         "000210", "000500", 0, "busy", 486, "486", "486 Busy Here", 2),
        ("c33@198.51.100.77", ts("2021-02-07 15:18:00"), "+18005550100", "+13125550188",
         "000211", "000500", 0, "cancelled", 487, "487", "487 Request Terminated", 3),
        # line 4 was the attempt on the first route (503): the call is the final route's
        ("d44@198.51.100.77", ts("2021-02-07 15:20:00"), "+18005550100", "+14155550101",
         "000211", "000501", 6, "answered", 200, "16", "Normal Call Clearing", 5),
        # summer: 240 minutes west (EDT); no source number: the RPID / P-Asserted-Identity
        ("e55@198.51.100.90", ts("2021-07-04 18:00:00"), "+13055550123", "+12125551236",
         "000212", "000500", 60, "answered", 200, "16", "Normal Call Clearing", 6),
        # the VSX refused it itself (999): failed, no SIP code
        ("f66@198.51.100.90", ts("2021-07-04 18:02:00"), "+13055550124", "+12125551237",
         "000212", None, 0, "failed", None, "999", "Route Rejected", 7),
    ]  # fmt: skip


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    when=st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2037, 12, 30)),
    west=st.integers(min_value=-14 * 60, max_value=12 * 60),
)
@example(when=datetime(2021, 3, 14, 2, 30), west=300)  # a time the New York clock skipped
@example(when=datetime(2021, 12, 31, 23, 59, 59), west=-330)  # India: the day before in UTC
@example(when=datetime(2021, 1, 1, 0, 0), west=600)  # Hawaii: the next day in UTC
def test_any_minutes_west_give_the_utc_time(
    tmp_path_factory: pytest.TempPathFactory, when: datetime, west: int
) -> None:
    """The time of day plus the minutes west the record gives is UTC, whatever --timezone."""
    when = when.replace(microsecond=0)  # ctime has whole seconds
    home = tmp_path_factory.mktemp("home")
    path = home / "vsx.cdr"
    text = when.strftime("%a %b %d %H:%M:%S %Y")
    path.write_text(record(orig_call_id="w1", start_tod=text, minutes_west=str(west)))
    mine = load_settings(home=home, timezone="America/New_York")
    assert ingest([path], mine).rows_ingested == 1
    [(start,)] = query("select start from calls", mine).rows
    assert start == when.replace(tzinfo=UTC) + timedelta(minutes=west)


def test_without_minutes_west_the_switch_zone_is_used(tmp_path: Path) -> None:
    path = tmp_path / "vsx.cdr"
    path.write_text(
        record(orig_call_id="z1", start_tod="Sun Feb  7 10:15:03 2021", minutes_west="")
        + record(orig_call_id="z2", start_tod="Sun Feb  7 10:15:03 2021", minutes_west="abc")
    )
    mine = load_settings(home=tmp_path / "home", timezone="America/Chicago")
    assert ingest([path], mine).rows_ingested == 2
    assert query("select start from calls", mine).rows == [(ts("2021-02-07 16:15:03"),)] * 2


def test_a_later_release_with_more_fields_is_rejected_row_by_row(
    settings: Settings, tmp_path: Path
) -> None:
    """A VSX release that appends fields writes wider rows: each is rejected with its line,
    the rows of the documented width load (a layout with the new names reads them)."""
    path = tmp_path / "vsx.cdr"
    good = record(orig_call_id="g1", start_tod="Sun Feb  7 10:15:03 2021", minutes_west="0")
    wide = good.replace("g1", "g2").rstrip("\n") + "extra1;extra2;\n"
    path.write_text(good + wide)
    [file] = ingest([path], settings, format="sansay").files
    assert (file.rows_ingested, file.rows_rejected) == (1, 1)
    assert query("select source_line, reason from rejects", settings).rows == [
        (2, "unreadable row: more than 59 fields, the layout's widest")
    ]


def test_west_is_checked_when_the_layout_is_loaded(tmp_path: Path) -> None:
    base = (
        '[read]\nheader = true\nrequired = ["t"]\n[map]\ncaller = "a"\ncalled = "b"\n'
        'upstream = "u"\n'
    )
    cases = {
        'start = { field = "t", west = "w" }': "west applies to times read with formats",
        'start = { field = "t", formats = ["%Y-%m-%d %H:%M:%S %z"], west = "w" }': (
            "that have no zone of their own"
        ),
        'start = { field = "t", formats = ["%Y-%m-%d"], west = 5 }': "west must name the field",
    }
    for start, message in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(base + start + "\n")
        with pytest.raises(InputError, match=message):
            load_layout_file(path)


def test_a_user_layout_with_a_header_reads_west_by_name(settings: Settings, tmp_path: Path) -> None:
    """Header names are matched whatever their case, the west field's too."""
    layout = tmp_path / "mine.toml"
    layout.write_text(
        'name = "mine"\n[read]\nheader = true\nrequired = ["Setup", "MinWest"]\n[map]\n'
        'start = { field = "Setup", formats = ["%d/%m/%Y %H:%M"], west = "MinWest" }\n'
        'caller = "From"\ncalled = "To"\nupstream = "Trunk"\n'
    )
    cdr = tmp_path / "sbc.csv"
    cdr.write_text("Setup,MinWest,From,To,Trunk\n07/02/2021 10:15,-60,2025550143,2125551234,t1\n")
    assert ingest([cdr], settings, layout=layout).rows_ingested == 1
    assert query("select start from calls", settings).rows == [(ts("2021-02-07 09:15:00"),)]
    assert get_layout("vsx").name == "sansay"


def test_a_damaged_line_among_the_first_does_not_hide_the_layout(
    settings: Settings, tmp_path: Path
) -> None:
    """One line in ten that fits no probe (a time the switch garbled) is read and rejected
    with its reason; more than that, and auto says it cannot tell the format."""
    good = [
        record(orig_call_id=f"c{i}", start_tod=f"Sun Feb  7 10:{i:02d}:00 2021", minutes_west="0")
        for i in range(9)
    ]
    bad = record(orig_call_id="bad", start_tod="Sun Feb  7 1?:15:03 2021", minutes_west="0")
    path = tmp_path / "vsx.cdr"
    path.write_text("".join(good[:4]) + bad + "".join(good[4:]))
    found = detect(path)
    assert found.layout.name == "sansay"
    assert found.why.endswith("; 1 of the first 10 lines did not fit it")
    [file] = ingest([path], settings).files
    assert (file.rows_ingested, file.rows_rejected) == (9, 1)
    assert query("select source_line, reason from rejects", settings).rows == [
        (5, 'unreadable start time "Sun Feb  7 1?:15:03 2021"')
    ]
    worse = tmp_path / "worse.cdr"
    worse.write_text("".join(good[:6]) + bad * 2)
    with pytest.raises(FormatError, match="cannot tell the format"):
        detect(worse)


def test_the_cli_says_what_was_skipped(cli) -> None:  # type: ignore[no-untyped-def]
    """Rows skipped inside a file and files skipped whole are told apart."""
    code, out, _ = cli("ingest", str(SAMPLE))
    assert code == 0
    assert "sansay-vsx.cdr: 6 rows, 0 rejected, 2 skipped; read as sansay" in out
    assert "1 file, 6 rows ingested, 0 rejected, 0 files skipped in" in out
    code, out, _ = cli("ingest", str(SAMPLE))
    assert "already ingested on" in out
    assert "1 file, 0 rows ingested, 0 rejected, 1 file skipped in" in out
