"""The Oracle (Acme Packet) SBC preset, read from a sample written after the documented CSV
positions of its local CDR files (the citations are at the top of ``cdr/layouts/acme.toml``):
Start and Interim records skipped, Stop records of 175 and 269 fields, From / To header values
as caller and called, h323 times with the SBC's zone name read from tracehop's table, the
ingress realm as upstream, Cisco's hexadecimal Q.850 causes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.settings import Settings

SAMPLE = Path(__file__).parent / "data" / "layouts" / "acme-sbc.cdr"


def stop(values: dict[int, str], n: int = 175) -> str:
    cells = [""] * n
    cells[0] = "2"
    for number, value in values.items():
        cells[number - 1] = value
    return ",".join(cells) + "\n"


def test_auto_reads_the_sample_as_acme() -> None:
    found = detect(SAMPLE)
    assert found.layout.name == "acme"
    assert found.why == "records of up to 300 fields; checked f1, f14"


def test_stop_records_are_the_calls(settings: Settings) -> None:
    [file] = ingest([SAMPLE], settings).files
    assert (file.rows_ingested, file.rows_rejected, file.rows_skipped) == (4, 0, 2)
    got = query(
        "select call_id, start, caller, called, upstream, downstream, duration, disposition, "
        "sip_code, extra->>'cause', source_line from calls order by source_line",
        settings,
    ).rows
    assert got == [
        # EST: five hours behind UTC; the display name and URI parameters are not the number
        ("a84b4c76e66710@198.51.100.20", datetime(2021, 2, 7, 20, 15, 3, 200000, tzinfo=UTC),
         "+12025550143", "+12125551234", "CUST_ACME", "CARRIER_B", 63, "answered", 200, "10", 2),
        # Cisco's * before a time its clock was not sure of; hex 11 = cause 17, busy
        ("b91c2e@198.51.100.77", datetime(2021, 2, 7, 20, 17, 40, tzinfo=UTC), "+18005550100",
         "+13125550188", "CUST_ROBO", "CARRIER_B", 0, "busy", 486, "11", 4),
        # a Stop of 269 fields; hex 13 = cause 19, no answer
        ("c33@198.51.100.77", datetime(2021, 2, 7, 20, 18, 0, 500000, tzinfo=UTC),
         "+18005550100", "+14155550101", "CUST_ROBO", "CARRIER_B", 0, "no_answer", 480, "13", 5),
        # PDT; a tel URI; no ingress realm: the ingress flow's source address
        ("d44@198.51.100.90", datetime(2021, 7, 4, 18, tzinfo=UTC), "+13055550123",
         "+12125551236", "198.51.100.90", "CARRIER_B", 6, "answered", 200, "10", 6),
    ]  # fmt: skip


def test_a_zone_name_of_several_meanings_is_rejected(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cdr202107041200a"
    path.write_text(
        stop({4: "x1", 10: "2025550143", 11: "12125551234", 13: "5", 23: "CUST_X",
              14: "09:00:00.000 CDT JUL 04 2021"})
        + stop({4: "x2", 10: "2025550144", 11: "12125551234", 13: "0", 23: "CUST_X",
                14: "09:00:00.000 IST JUL 04 2021"})
    )  # fmt: skip
    [file] = ingest([path], settings, format="oracle-sbc").files
    assert (file.rows_ingested, file.rows_rejected) == (1, 1)
    # a bare number where the From header would be: read as it is
    assert query("select caller, start from calls", settings).rows == [
        ("+12025550143", datetime(2021, 7, 4, 14, tzinfo=UTC))
    ]
    assert query("select source_line, reason from rejects", settings).rows == [
        (2, 'unreadable start time "09:00:00.000 IST JUL 04 2021"')
    ]


def test_the_caller_of_every_from_header_shape(settings: Settings, tmp_path: Path) -> None:
    """The From header's URI gives the number; a URI without a user part (a real file's
    '"12513001300"<sip:192.0.2.1:5060;user=phone>', as Freeside's importer describes) leaves
    it in the display name; a tel URI; a display name that is not a number gives none."""
    froms = [
        '"""WIRELESS CALLER""<sip:12513001300@192.0.2.1:5060;user=phone>;tag=a"',
        '"""12513001300""<sip:192.0.2.1:5060;user=phone>;tag=b"',
        '"<tel:+12513001300;phone-context=x>"',
        '"""WIRELESS CALLER""<sip:192.0.2.1:5060>;tag=c"',
    ]
    path = tmp_path / "cdr202102071500a"
    path.write_text(
        "".join(
            stop({4: f"c{n}", 10: value, 11: "12125551234", 13: "5", 23: "CUST_X",
                  14: "10:00:00.000 UTC FEB 07 2021"})
            for n, value in enumerate(froms)
        )
    )  # fmt: skip
    [file] = ingest([path], settings, format="acme").files
    assert (file.rows_ingested, file.rows_rejected) == (4, 0)
    got = query("select call_id, caller from calls order by call_id", settings).rows
    assert got == [
        ("c0", "+12513001300"),
        ("c1", "+12513001300"),
        ("c2", "+12513001300"),
        ("c3", None),
    ]
