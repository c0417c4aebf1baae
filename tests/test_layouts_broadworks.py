"""The BroadWorks preset, read from a sample written after the accounting CDR's field numbers
(the citations are at the top of ``cdr/layouts/broadworks.toml``): the version line, Start and
End records skipped; a subscriber's call out (Originating: the subscriber's group or trunk
group is the upstream, the route the downstream), a call in from another carrier
(Terminating: the route it came by is the upstream), busy, and a call the caller gave up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.cdr.sources import looks_like_cdr
from tracehop.settings import Settings

SAMPLE = Path(__file__).parent / "data" / "layouts" / "BW-CDR-20210207150000-2-a1b2c3d-000001.csv"


def test_auto_reads_the_sample_as_broadworks() -> None:
    found = detect(SAMPLE)
    assert found.layout.name == "broadworks"
    assert found.why == "records of up to 500 fields; checked f10, f3, f6"
    assert looks_like_cdr(SAMPLE.name)


def test_one_call_per_normal_record(settings: Settings) -> None:
    [file] = ingest([SAMPLE], settings).files
    assert (file.rows_ingested, file.rows_rejected, file.rows_skipped) == (4, 0, 3)
    got = query(
        "select call_id, start, caller, called, upstream, downstream, duration, disposition, "
        "sip_code, extra->>'direction', extra->>'user_time_zone' from calls order by source_line",
        settings,
    ).rows
    assert got == [
        # out to the PSTN: the number as the network got it; answered 63.21 s
        ("BW151503200070221-1@203.0.113.10", datetime(2021, 2, 7, 15, 15, 3, 200000, tzinfo=UTC),
         "+12025550143", "+12125551234", "AcmeSales_gp", "192.0.2.44:5060", 63, "answered",
         200, "Originating", "0-050000"),
        # in from another carrier, answered after a redirection: the route is the upstream
        ("SD1ffmf01-77@203.0.113.77", datetime(2021, 2, 7, 15, 17, 40, tzinfo=UTC),
         "+18005550100", "+12025550160", "203.0.113.77:5060", "AcmeSales_gp", 21, "answered",
         200, "Terminating", "0-050000"),
        # a PBX on a SIP trunk: its trunk group; busy (017)
        ("BW151800500070221-2@203.0.113.10", datetime(2021, 2, 7, 15, 18, 0, 500000, tzinfo=UTC),
         "+13125550101", "+14155550101", "Robo_gp/ROBO_TRUNK1", "192.0.2.44:5060", 0, "busy",
         486, "Originating", "0-060000"),
        # normal clearing (016) without an answer: the caller gave up
        ("BW152000000070221-3@203.0.113.10", datetime(2021, 2, 7, 15, 20, tzinfo=UTC),
         "+13125550102", "+12125551236", "Robo_gp/ROBO_TRUNK1", "192.0.2.44:5060", 0,
         "cancelled", 487, "Originating", "0-060000"),
    ]  # fmt: skip
