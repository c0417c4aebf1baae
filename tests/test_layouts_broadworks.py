"""The BroadWorks preset, read from a sample written after the accounting CDR's field numbers
(the citations are at the top of ``cdr/layouts/broadworks.toml``): the version line, Start and
End records skipped; a subscriber's call out (Originating: the subscriber's group or trunk
group is the upstream, the route the downstream), a call in from another carrier
(Terminating: the route it came by is the upstream), busy, and a call the caller gave up."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.cdr.sources import looks_like_cdr
from tracehop.settings import Settings, load_settings

SAMPLE = Path(__file__).parent / "data" / "layouts" / "BW-CDR-20210207150000-2-a1b2c3d-000001.csv"
COUNTER = itertools.count()


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


def test_a_comma_escaped_inside_a_value(settings: Settings, tmp_path: Path) -> None:
    """Real BroadWorks files write a comma inside a value as \\, (Freeside's importer): the
    fields after it keep their numbers (the trunk group at 135, the call type at 231), and
    the value keeps its comma."""
    lines = SAMPLE.read_text().splitlines()
    cells = lines[4].split(",")  # the PBX's busy call: its trunk group at 135
    cells[121] = "Smith\\, John"  # field 122, otherPartyName
    lines[4] = ",".join(cells)
    path = tmp_path / "BW-CDR-20210207160000-2-a1b2c3d-000002.csv"
    path.write_text("\n".join(lines) + "\n")
    [file] = ingest([path], settings).files
    assert (file.format, file.rows_ingested, file.rows_rejected) == ("broadworks", 4, 0)
    got = query(
        "select upstream, disposition, extra->>'as_call_type' from calls order by source_line",
        settings,
    ).rows
    assert (
        got[2]
        == query(
            "select 'Robo_gp/ROBO_TRUNK1', 'busy', extra->>'as_call_type' from calls "
            "order by source_line limit 1 offset 3",
            settings,
        ).rows[0]
    )
    assert got[2][:2] == ("Robo_gp/ROBO_TRUNK1", "busy")


ESCAPED_LAYOUT = """
name = "escaped"
[read]
columns = 6
any_width = true
quote = ""
escape = "\\\\"
[map]
start = "f1"
caller = "f2"
called = "f3"
upstream = "f4"
extra = { a = "f5", b = "f6" }
"""
VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\\x1f"),
    max_size=10,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(upstream=VALUE.filter(lambda v: v.strip() != ""), a=VALUE, b=VALUE)
def test_escaped_commas_read_back(tmp_path: Path, upstream: str, a: str, b: str) -> None:
    """Any values, commas in them written \\, (no quoting): each read back in its field."""
    n = next(COUNTER)
    layout = tmp_path / "escaped.toml"
    layout.write_text(ESCAPED_LAYOUT)
    home = load_settings(home=tmp_path / "home")  # one home: a file per example
    cells = [upstream, a, b]
    path = tmp_path / f"cdr-{n}.csv"
    path.write_text(
        f"2021-02-07T10:00:00Z,20255{n:05d},2125551234,"
        + ",".join(v.replace(",", "\\,") for v in cells)
        + "\n",
        encoding="utf-8",
    )
    [file] = ingest([path], home, layout=layout).files
    assert (file.rows_ingested, file.rows_rejected) == (1, 0)
    got = query(
        f"select upstream, extra->>'a', extra->>'b' from calls where caller_raw = '20255{n:05d}'",
        home,
    ).rows
    assert got == [(upstream.strip(), a or None, b or None)]
