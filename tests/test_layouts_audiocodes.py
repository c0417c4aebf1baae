"""The AudioCodes Mediant SBC preset, read from a sample written after the documented syslog
CDR format (the citations are at the top of ``cdr/layouts/audiocodes.toml``): `|`-separated,
padded values, the collector's prefix as field 1; the CALL_END of the incoming leg (RMT) is
the call, its IP Group the upstream; start and connect reports, the outgoing leg, media
reports and the title line are skipped; BYE / CANCEL / a SIP code say how it ended."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.errors import FormatError
from tracehop.settings import Settings, load_settings

SAMPLE = Path(__file__).parent / "data" / "layouts" / "audiocodes-sbc.log"
COUNTER = itertools.count()

CALLS = [
    # answered, 32 s; the numbers as received (before the SBC's manipulation)
    ("a84f1c2e09@198.51.100.7", datetime(2021, 2, 7, 10, 15, 3, 120000, tzinfo=UTC),
     "+12025550143", "+12125551234", "CAPRUS_IN", 32, "answered", None),
    # the caller gave up ringing: CANCEL; the IP Group's name in its "id (name)" form
    ("77aa01@192.0.2.44", datetime(2021, 2, 7, 10, 16, 0, 10000, tzinfo=UTC),
     "+12025550144", "+12125551235", "BIGFOOT", 0, "cancelled", None),
    ("bb02@192.0.2.44", datetime(2021, 2, 7, 10, 17, tzinfo=UTC), "+12025550145",
     "+12125551236", "BIGFOOT", 0, "busy", 486),
    # an IP Group without a name: its id
    ("cc03@198.51.100.9", datetime(2021, 2, 7, 10, 18, tzinfo=UTC), "+12025550146",
     "+12125550100", "3", 0, "failed", 404),
]  # fmt: skip


def calls(settings: Settings) -> list[tuple]:
    return query(
        "select call_id, start, caller, called, upstream, duration, disposition, sip_code "
        "from calls order by start",
        settings,
    ).rows


def test_auto_reads_the_sample_as_audiocodes() -> None:
    found = detect(SAMPLE)
    assert found.layout.name == "audiocodes"
    assert found.why == "records of up to 60 fields; checked f2, f20, f3"


def test_the_incoming_legs_call_end_is_the_call(settings: Settings) -> None:
    [file] = ingest([SAMPLE], settings).files
    # the title line, a start and a connect report, the outgoing leg and a media report
    assert (file.rows_ingested, file.rows_rejected, file.rows_skipped) == (4, 0, 5)
    assert calls(settings) == CALLS
    extra = query(
        "select extra->>'session_id', extra->>'termination_reason', extra->>'sip_termination_text'"
        " from calls order by start limit 2",
        settings,
    ).rows
    # values trimmed of their padding; a field of blanks is no value; a bare " kept
    assert extra == [
        ("c62532:22:625", "GWAPP_NORMAL_CALL_CLEAR", 'Q.850 ;cause=16 ;text="loc'),
        ("c62532:22:626", "GWAPP_NORMAL_CALL_CLEAR", None),
    ]


@pytest.mark.parametrize(
    "prefix",
    [
        "Feb  7 10:15:41 10.0.0.1 [S=24] ",  # rsyslog's file: date, host, the sequence number
        "10:36:14.064  10.0.10.11  local1.info[S = 129] ",  # AudioCodes' syslog viewer
        "",  # the sequence number turned off, nothing before the first |
    ],
)
def test_whatever_the_collector_writes_before_the_first_bar(
    settings: Settings, tmp_path: Path, prefix: str
) -> None:
    lines = [prefix + line[line.index("|") :] for line in SAMPLE.read_text().splitlines()]
    path = tmp_path / "sbc-cdr.log"
    path.write_text("\n".join(lines) + "\n")
    [file] = ingest([path], settings).files
    assert (file.format, file.rows_ingested, file.rows_skipped) == ("audiocodes", 4, 5)
    assert calls(settings) == CALLS


def test_older_releases_narrower_rows_and_a_gateway_cdr(settings: Settings, tmp_path: Path) -> None:
    """6.6 wrote the fields up to SIPTrmReason only (34 with the prefix); releases append
    fields. A gateway's CDR on the same channel (field 3 its channel id) is no SBC call."""
    lines = ["|".join(line.split("|")[:34]) for line in SAMPLE.read_text().splitlines()]
    gateway = (
        "<142>[S=50] |CALL_END |70 |519352159 |2 |9 |249 |1 |CAS |LCL |10.1.4.206 |10.1.4.253 |"
        "11 |0 |05499046420 |5499046420 |-1 |-1 |5300 |000 |12 |g711Alaw64k |20"
    )
    path = tmp_path / "sbc-6.6.log"
    path.write_text("\n".join([*lines, gateway]) + "\n")
    [file] = ingest([path], settings).files
    assert (file.rows_ingested, file.rows_rejected, file.rows_skipped) == (4, 0, 6)
    assert calls(settings) == CALLS


JUNK = st.one_of(
    st.text(max_size=20).map(lambda t: t.replace("|", "").replace("\n", " ").replace("\r", " ")),
    st.sampled_from(["", "   ", "99999999999", "-1", "nan", '"', "CALL_END", "RMT", "LCL", "é"]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damaged_lines_never_crash(tmp_path: Path, data: st.DataObject) -> None:
    """Lines of the sample with fields replaced by junk, cut short or widened: the file loads
    (or is refused in one line), and every line is a call, a rejected row or a skipped one."""
    sample = [line.split("|") for line in SAMPLE.read_text().splitlines()]
    lines = []
    for _ in range(data.draw(st.integers(1, 12))):
        cells = list(data.draw(st.sampled_from(sample)))
        for _ in range(data.draw(st.integers(0, 4))):
            cells[data.draw(st.integers(1, len(cells) - 1))] = data.draw(JUNK)
        cells = cells[: data.draw(st.integers(2, len(cells)))]
        lines.append("|".join(cells))
    path = tmp_path / f"fuzz-{next(COUNTER)}.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    home = load_settings(home=tmp_path / f"home-{path.stem}")
    try:
        [f] = ingest([path], home, format="audiocodes").files
    except FormatError as exc:
        assert "\n" not in exc.message
        return
    assert f.rows_ingested + f.rows_rejected + f.rows_skipped == len(lines)
    assert query("select count(*) from calls", home).rows[0][0] == f.rows_ingested
