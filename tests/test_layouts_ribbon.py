"""The Ribbon (Sonus) SBC preset, read from a sample written after Ribbon's field numbers (the
citations are at the top of ``cdr/layouts/ribbon.toml``): a .ACT file with its header line, a
START, a STOP of 301 fields, an ATTEMPT that failed over to the next route and the final one,
an older release's ATTEMPT of 186 fields and STOP of 223, and the closing line. And the layout
language it needed: fields by number (``columns = N``), rows of any width, rules and skips for
one record type (``when``), a date and a time in two fields (``join``), 10 ms units (``cs``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import get_layout, load_layout_file
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings

SAMPLE = Path(__file__).parent / "data" / "layouts" / "ribbon.ACT"


def record(n: int, values: dict[int, str]) -> str:
    """A record of ``n`` fields, numbered from 1 as Ribbon numbers them."""
    cells = [""] * n
    for number, value in values.items():
        cells[number - 1] = f'"{value}"' if "," in value else value
    return ",".join(cells) + "\n"


def test_auto_reads_the_sample_as_ribbon() -> None:
    found = detect(SAMPLE)
    assert found.layout.name == "ribbon"
    assert found.why == "records of up to 400 fields; checked f1, f6, f7"
    assert get_layout("sonus").name == "ribbon"


def test_one_call_per_stop_or_final_attempt(settings: Settings) -> None:
    [file] = ingest([SAMPLE], settings).files
    # the header line, the START, the attempt that failed over, the closing line: skipped
    assert (file.rows_ingested, file.rows_rejected, file.rows_skipped) == (4, 0, 4)
    got = query(
        "select call_id, start, caller, called, upstream, downstream, duration, disposition, "
        "sip_code, extra->>'cause', extra->>'accounting_id', source_line from calls order by source_line",
        settings,
    ).rows
    assert got == [
        # STOP: 6312 x 10 ms; the called number before translation; the SIP Call-ID from
        # sub-field 2 of the ingress protocol data (a quoted field with commas)
        ("a84b4c76e66710@198.51.100.20", datetime(2021, 2, 7, 15, 15, 3, 200000, tzinfo=UTC),
         "+12025550143", "+12125551234", "CUST_ACME_IN", "CARRIER_B_OUT", 63, "answered", 200,
         "16", "0x0001042B00000012", 3),
        # the final ATTEMPT (the one before it failed over): busy on the second route
        ("c33@198.51.100.77", datetime(2021, 2, 7, 15, 17, 40, tzinfo=UTC), "+18005550100",
         "+13125550188", "CUST_ROBO_IN", "CARRIER_C_OUT", 0, "busy", 486, "17",
         "0x0001042B00000013", 5),
        # an older release's ATTEMPT (no final indicator): normal clearing before an answer
        ("d44@198.51.100.77", datetime(2021, 2, 7, 15, 18, 0, 500000, tzinfo=UTC),
         "+18005550100", "+14155550101", "CUST_ROBO_IN", "CARRIER_B_OUT", 0, "cancelled", 487,
         "16", "0x0001042B00000014", 6),
        # an older release's STOP: no trunk group name, the signaling address is the upstream
        ("e55@198.51.100.90", datetime(2021, 2, 7, 15, 20, tzinfo=UTC), "+13055550123",
         "+12125551236", "198.51.100.90", "CARRIER_B_OUT", 6, "answered", 200, "16",
         "0x0001042B00000015", 7),
    ]  # fmt: skip


def test_local_times_are_read_in_the_node_zone(tmp_path: Path) -> None:
    """A release that writes local times: the node's zone (field 5) passed as --timezone."""
    mine = load_settings(home=tmp_path / "home", timezone="America/New_York")
    [file] = ingest([SAMPLE], mine).files
    assert file.rows_ingested == 4
    [(start,)] = query("select min(start) from calls", mine).rows
    assert start == datetime(2021, 2, 7, 20, 15, 3, 200000, tzinfo=UTC)


def test_a_record_wider_than_the_layout_is_rejected(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "wide.ACT"
    stop = {1: "STOP", 6: "02/07/2021", 7: "15:15:03.2", 14: "100", 15: "16", 20: "2025550143"}
    stop |= {21: "2125551234", 34: "CUST_ACME_IN"}
    # a release appending 20 fields past the 400 the layout reads
    path.write_text(record(301, stop) + record(420, stop | {n: "v" for n in range(401, 421)}))
    [file] = ingest([path], settings, format="ribbon").files
    assert (file.rows_ingested, file.rows_rejected) == (1, 1)
    assert query("select source_line, reason from rejects", settings).rows == [
        (2, "unreadable row: more than 400 fields, the layout's widest")
    ]


LAYOUT = """name = "typed"
[read]
columns = 8
any_width = true
[map]
start = { join = ["f2", "f3"], formats = ["%d.%m.%Y %H:%M:%S"] }
duration = { field = "f6", unit = "cs", when = { field = "f1", values = ["call"] } }
caller = { field = "f4", when = { field = "f1", values = ["CALL"] }, fallback = [{ field = "f5", when = { field = "f1", values = ["try"] } }] }
called = "f7"
upstream = { value = "trunk-1" }
extra = { kind = "f1" }

[[skip]]
field = "f8"
values = ["x"]
when = { field = "f1", values = ["try"] }
"""


def test_rules_for_one_record_type(settings: Settings, tmp_path: Path) -> None:
    """``when`` picks the field by the record's type (matched whatever its case), ``join``
    reads a date and a time field as one, ``cs`` is 10 ms, rows may be of any width up to
    the columns, and a skip may hold for one type only."""
    layout = tmp_path / "typed.toml"
    layout.write_text(LAYOUT)
    cdr = tmp_path / "typed.cdr"
    cdr.write_text(
        "CALL,07.02.2021,10:15:03,2025550143,,6312,2125551234\n"  # 7 fields
        "try,07.02.2021,10:16:00,,2025550144,999,2125551235,\n"  # 8
        "try,07.02.2021,10:17:00,,2025550145,999,2125551236,x\n"  # skipped: a try with x
        "call,07.02.2021,10:18:00,2025550146,,100,2125551237,x\n"  # x on a call: kept
    )
    [file] = ingest([cdr], settings, layout=layout).files
    assert (file.rows_ingested, file.rows_skipped) == (3, 1)
    assert query(
        "select caller, start, duration, extra->>'kind' from calls order by source_line", settings
    ).rows == [
        ("+12025550143", datetime(2021, 2, 7, 10, 15, 3, tzinfo=UTC), 63, "CALL"),
        ("+12025550144", datetime(2021, 2, 7, 10, 16, tzinfo=UTC), 0, "try"),
        ("+12025550146", datetime(2021, 2, 7, 10, 18, tzinfo=UTC), 1, "call"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("columns = 8", "columns = 0"), "a number of fields from 1 to 2000"),
        (('unit = "cs"', 'unit = "min"'), "unit must be one of s, ms, cs"),
        (('join = ["f2", "f3"]', 'join = ["f2"]'), "join takes two fields or more"),
        (
            ('when = { field = "f1", values = ["call"] }', 'when = "f1"'),
            'when must be { field = "NAME", values',
        ),
        (('field = "f4", when', 'field = "f9", when'), "field 'f9' is used in"),
    ],
)
def test_the_new_keys_are_checked(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    path = tmp_path / "bad.toml"
    assert change[0] in LAYOUT
    path.write_text(LAYOUT.replace(*change))
    with pytest.raises(InputError, match=message):
        load_layout_file(path)
