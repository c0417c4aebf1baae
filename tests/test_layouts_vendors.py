"""Presets for the switches of wholesale and gateway carriers and of their PBX customers, each
read from a sample written after the vendor's published format (the citations are at the top of
each preset): VOS3000's e_cdr table exported with `mysql -B` (epoch-millisecond times, gateways
as upstream and downstream, who hung up), 3CX's cdr.log (no header, "Call N" history ids,
h:mm:ss durations, its reason-terminated words), and OpenSIPS acc rows, which the kamailio
preset reads when the extra columns carry Kamailio's db_extra names. `--format auto` picks
each one, and picks the same preset as before for every older sample."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import get_layout
from tracehop.settings import Settings

LAYOUTS = Path(__file__).parent / "data" / "layouts"


def calls(settings: Settings) -> list[dict]:
    return query(
        "select call_id, start, caller, called, upstream, downstream, duration, disposition, "
        "sip_code, source_line, extra from calls order by source_file, source_line",
        settings,
    ).records()


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def row(c: dict) -> tuple:
    return (
        c["call_id"],
        c["start"],
        c["caller"],
        c["called"],
        c["upstream"],
        c["downstream"],
        c["duration"],
        c["disposition"],
        c["sip_code"],
    )


def three_cx_20_fields(tmp_path: Path) -> Path:
    """The 3CX sample as a release before the type and display-name fields writes it."""
    lines = (LAYOUTS / "3cx-cdr.log").read_text().splitlines()
    path = tmp_path / "cdr.log"
    path.write_text("".join(",".join(line.split(",")[:20]) + "\n" for line in lines))
    return path


def vos3000_csv(tmp_path: Path) -> Path:
    """The VOS3000 sample as a CSV export of the same rows."""
    lines = (LAYOUTS / "vos3000.tsv").read_text().splitlines()
    path = tmp_path / "e_cdr_20210207.csv"
    path.write_text("".join(line.replace("\t", ",") + "\n" for line in lines))
    return path


# --- --format auto ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "layout", "why"),
    [
        ("vos3000.tsv", "vos3000", "header names callere164, calleee164, callergatewayid"),
        ("3cx-cdr.log", "3cx", "27 fields; checked historyid, reason_terminated, time_start"),
        ("opensips-acc.tsv", "kamailio", "header names method, callid, sip_code, time"),
        ("audiocodes-sbc.log", "audiocodes", "records of up to 60 fields; checked f2, f20, f3"),
    ],
)
def test_auto_picks_the_vendor_preset(name: str, layout: str, why: str) -> None:
    found = detect(LAYOUTS / name)
    assert (found.layout.name, why in found.why) == (layout, True), found.why


def test_auto_picks_the_variants(tmp_path: Path) -> None:
    assert detect(three_cx_20_fields(tmp_path)).layout.name == "3cx"
    assert "20 fields" in detect(three_cx_20_fields(tmp_path)).why
    assert detect(vos3000_csv(tmp_path)).layout.name == "vos3000"


# every older sample is read as the same preset as before these presets
BEFORE = {
    "asterisk-custom.csv": "asterisk-custom",
    "asterisk-db.csv": "asterisk-db",
    "asterisk-db.tsv": "asterisk-db",
    "asterisk-forked.csv": "asterisk-newcdr",
    "asterisk-latin1.csv": "asterisk-newcdr",
    "asterisk-newcdr.csv": "asterisk-newcdr",
    "cisco-cucm.csv": "cisco-cucm",
    "freeswitch-asterisk.csv": "freeswitch-asterisk",
    "freeswitch-default.csv": "freeswitch",
    "freeswitch-linksys.csv": "freeswitch-linksys",
    "freeswitch-opencdrrate.csv": "freeswitch-opencdr",
    "freeswitch-snom.csv": "freeswitch-snom",  # 20 fields, as a 3CX line of an older release
    "freeswitch-sql.csv": "freeswitch-sql",
    "kamailio-acc.log": "kamailio-syslog",
    "kamailio-auth.csv": "kamailio",
    "kamailio-auth.tsv": "kamailio",
    "kamailio-reinvite.csv": "kamailio",
    "spreadsheet.csv": "generic",
}


@pytest.mark.parametrize(("name", "layout"), sorted(BEFORE.items()))
def test_older_samples_keep_their_preset(name: str, layout: str) -> None:
    assert detect(LAYOUTS / name).layout.name == layout


@pytest.mark.parametrize(
    ("alias", "name"),
    [("vos", "vos3000"), ("linknat", "vos3000"), ("vos3000-db", "vos3000"), ("3cx-cdr", "3cx")],
)
def test_aliases(alias: str, name: str) -> None:
    assert get_layout(alias).name == name


# --- VOS3000 ------------------------------------------------------------------------------

VOS3000 = [
    # answered, 32 s talked (holdtime; 60 s billed): the numbers as they came in, not the
    # billing callee with the route's 222 prefix; the mapping and routing gateways
    (
        "330455240",
        ts("2021-02-07T10:15:03+00:00"),  # 1612692903500 ms
        "+12025550143",
        "+12125551234",
        "caprus-in",
        "telco-a-out",
        32,
        "answered",
        None,
    ),
    # the caller hung up before an answer (enddirection 0)
    (
        "330455241",
        ts("2021-02-07T10:16:00+00:00"),
        "+12025550144",
        "+12125551235",
        "caprus-in",
        "telco-a-out",
        0,
        "cancelled",
        None,
    ),
    # the callee's side ended it unanswered (enddirection 1)
    (
        "330455242",
        ts("2021-02-07T10:17:00+00:00"),
        "+12025550145",
        "+12125551236",
        "bigfoot-in",
        "telco-b-out",
        0,
        "failed",
        None,
    ),
    # the server ended it (enddirection 2): no routing gateway
    (
        "330455243",
        ts("2021-02-07T10:18:00+00:00"),
        "+12025550146",
        "+12125551237",
        "bigfoot-in",
        None,
        0,
        "failed",
        None,
    ),
    # answered, the callee hung up; no inbound caller number (NULL): the billing one; no
    # mapping gateway: the caller's IP
    (
        "330455244",
        ts("2021-02-07T10:19:00+00:00"),
        "+12025550147",
        "+12125551238",
        "198.51.100.8",
        "telco-a-out",
        120,
        "answered",
        None,
    ),
]


def test_vos3000_calls(settings: Settings) -> None:
    result = ingest([LAYOUTS / "vos3000.tsv"], settings)
    f = result.files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected, f.rows_skipped) == ("vos3000", 5, 0, 0)
    got = calls(settings)
    assert [row(c) for c in got] == VOS3000
    assert [c["source_line"] for c in got] == [2, 3, 4, 5, 6]
    extra = [json.loads(c["extra"]) for c in got]
    # the end reason is kept as the switch wrote it, with who hung up and the billing numbers
    assert [(e["cause"], e["enddirection"]) for e in extra] == [
        ("200", "0"),
        ("487", "0"),
        ("503", "1"),
        ("-69", "2"),
        ("200", "1"),
    ]
    assert (extra[0]["calleee164"], extra[0]["feetime"]) == ("22212125551234", "60")
    assert extra[0]["callercallid"] == "a1@198.51.100.7"


def test_vos3000_csv_export_gives_the_same_calls(settings: Settings, tmp_path: Path) -> None:
    f = ingest([vos3000_csv(tmp_path)], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected) == ("vos3000", 5, 0)
    assert [row(c) for c in calls(settings)] == VOS3000


def test_vos3000_times_as_datetimes(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    """Older releases (and exports through FROM_UNIXTIME) print the start as a datetime in the
    switch's zone: read as it stands, not as milliseconds."""
    path = write_cdr(
        "e_cdr.csv",
        [
            "flowno,callere164,calleee164,callergatewayid,calleegatewayid,start,holdtime,"
            "enddirection,endreason",
            "7,2025550143,12125551234,caprus-in,telco-a-out,2021-02-07 10:15:03,32,0,200",
        ],
    )
    f = ingest([path], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected) == ("vos3000", 1, 0)
    [c] = calls(settings)
    assert (c["start"], c["duration"], c["disposition"]) == (
        ts("2021-02-07T10:15:03+00:00"),
        32,
        "answered",
    )


# --- 3CX ----------------------------------------------------------------------------------

THREE_CX = [
    # an extension's outbound call over the trunk (Line 10000), answered 10:15:09-10:15:41;
    # the caller is an extension (Ext.101: no phone number), the upstream its DN
    (
        "00000177D2E4A1B3_101",
        ts("2021-02-07T10:15:03+00:00"),
        None,
        "+12125551234",
        "101",
        "10000",
        32,
        "answered",
        200,
    ),
    # TerminatedBySrc without an answer time: the caller cancelled
    (
        "00000177D2E4A1B3_102",
        ts("2021-02-07T10:16:00+00:00"),
        None,
        "+12125551235",
        "101",
        "10000",
        0,
        "cancelled",
        487,
    ),
    ("00000177D2E4A1B3_103", ts("2021-02-07T10:17:00+00:00"), None, "+12125551236", "102",
     "10000", 0, "busy", 486),  # TargetBusy
    ("00000177D2E4A1B3_104", ts("2021-02-07T10:18:00+00:00"), None, "+12125551237", "102",
     "10000", 0, "no_answer", 480),  # NoAnswerTimeout
    ("00000177D2E4A1B3_105", ts("2021-02-07T10:19:00+00:00"), None, "+442079460000", "103",
     None, 0, "failed", 404),  # NoRouteExists: no trunk
    # a call from the trunk to extension 102, answered, ended by the extension: the caller's
    # number, the trunk's DN as upstream (the called number is the extension: none)
    ("00000177D2E4A1B3_106", ts("2021-02-07T10:20:00+00:00"), "+12025550143", None, "10000",
     "102", 120, "answered", None),  # TerminatedByDst
    ("00000177D2E4A1B3_107", ts("2021-02-07T10:21:00+00:00"), "+12025550144", None, "10000",
     "103", 0, "cancelled", 487),  # Failed_cancelled
]  # fmt: skip


def test_3cx_calls(settings: Settings) -> None:
    f = ingest([LAYOUTS / "3cx-cdr.log"], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected, f.rows_skipped) == ("3cx", 7, 0, 0)
    got = calls(settings)
    assert [row(c) for c in got] == THREE_CX
    assert [c["source_line"] for c in got] == list(range(1, 8))
    first = json.loads(got[0]["extra"])
    assert (first["cause"], first["historyid"], first["from_type"], first["to_type"]) == (
        "TerminatedBySrc",
        "Call 1001",
        "Extension",
        "Line",
    )
    assert first["start_format"] == "%Y/%m/%d %H:%M:%S"
    # the numbers as written stay: an extension is Ext.NNN in from-no, NNN in caller_raw
    raw = query("select caller_raw, called_raw from calls order by source_line", settings)
    assert raw.records()[0] == {"caller_raw": "101", "called_raw": "+12125551234"}


def test_3cx_older_release_20_fields(settings: Settings, tmp_path: Path) -> None:
    f = ingest([three_cx_20_fields(tmp_path)], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected) == ("3cx", 7, 0)
    assert [row(c) for c in calls(settings)] == THREE_CX


def test_3cx_local_times_in_the_pbx_zone(settings: Settings) -> None:
    """3CX writes the PBX's clock: --timezone says which zone that is."""
    eastern = settings.model_copy(update={"timezone": "America/New_York"})
    ingest([LAYOUTS / "3cx-cdr.log"], eastern)
    got = calls(eastern)
    assert got[0]["start"] == ts("2021-02-07T10:15:03-05:00")
    assert got[0]["duration"] == 32  # from the answer to the end, both in the same zone


# --- OpenSIPS -----------------------------------------------------------------------------


def test_opensips_acc_rows_read_as_kamailio(settings: Settings) -> None:
    """OpenSIPS' acc table (id, method, from_tag, to_tag, callid, sip_code, sip_reason, time,
    duration, ms_duration, setuptime, created) with extra_fields named as Kamailio's db_extra
    (src_user, src_ip, dst_ouser, dst_user, ...): the kamailio preset pairs the INVITE and BYE
    transactions as it does Kamailio's. OpenSIPS names no extra columns by default, so rows
    without them carry no numbers and no source: no preset of their own."""
    f = ingest([LAYOUTS / "opensips-acc.tsv"], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected, f.rows_merged) == ("kamailio", 3, 0, 1)
    assert [row(c) for c in calls(settings)] == [
        ("o1@198.51.100.7", ts("2021-02-07T10:15:03+00:00"), "+12025550143", "+12125551234",
         "198.51.100.7", None, 32, "answered", 200),  # BYE 10:15:35 - INVITE 10:15:03
        ("o2@192.0.2.44", ts("2021-02-07T10:16:00+00:00"), "+12025550144", "+12125551235",
         "192.0.2.44", None, 0, "busy", 486),
        ("o3@192.0.2.44", ts("2021-02-07T10:17:00+00:00"), "+12025550145", "+12125551236",
         "192.0.2.44", None, 0, "cancelled", 487),
    ]  # fmt: skip


# --- the CLI ------------------------------------------------------------------------------


def test_cli_ingest_says_which_preset(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("ingest", str(LAYOUTS / "vos3000.tsv"))
    assert code == 0 and "read as vos3000 (auto: header names callere164" in out
    code, out, _ = cli("ingest", str(LAYOUTS / "3cx-cdr.log"))
    assert code == 0 and "read as 3cx (auto: 27 fields" in out
    listed = {r["name"]: r for r in cli.json("layouts", "list", "--json")}
    assert {"vos3000", "3cx"} <= set(listed)
    code, out, _ = cli("layouts", "show", "vos")
    assert code == 0 and "Web 接口说明书" in out
