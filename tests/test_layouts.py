"""Layouts as data: every shipped layout reads its sample file (written from the switch's own
documented or shipped format) into the right canonical rows; a user layout maps another
vendor's CDR without code; the right calls (answered whatever the cause, challenged INVITEs
folded, upstream from the channel name)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.detect import detect
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import (
    PRESETS,
    describe,
    get_layout,
    layout_text,
    load_layout_file,
    parse_layout,
)
from tracehop.errors import FormatError, InputError
from tracehop.settings import Settings

LAYOUTS = Path(__file__).parent / "data" / "layouts"


def rows(settings: Settings, sql: str) -> list[dict]:
    return query(sql, settings).records()


def calls(settings: Settings) -> list[dict]:
    return rows(
        settings,
        "select call_id, start, caller, called, upstream, downstream, duration, disposition, "
        "sip_code, source_line, extra from calls order by source_file, source_line",
    )


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("name", "layout", "why"),
    [
        ("asterisk-newcdr.csv", "asterisk-newcdr", "21 fields"),
        ("asterisk-custom.csv", "asterisk-custom", "19 fields"),
        ("freeswitch-default.csv", "freeswitch", "13 fields"),
        ("freeswitch-sql.csv", "freeswitch-sql", "13 fields"),
        ("freeswitch-asterisk.csv", "freeswitch-asterisk", "18 fields"),
        ("freeswitch-snom.csv", "freeswitch-snom", "20 fields"),
        ("freeswitch-linksys.csv", "freeswitch-linksys", "17 fields"),
        ("freeswitch-opencdrrate.csv", "freeswitch-opencdr", "13 fields"),
        ("asterisk-db.csv", "asterisk-db", "header names"),
        ("asterisk-db.tsv", "asterisk-db", "header names"),
        ("kamailio-auth.csv", "kamailio", "header names"),
        ("kamailio-auth.tsv", "kamailio", "header names"),
        ("kamailio-acc.log", "kamailio-syslog", "acc records"),
    ],
)
def test_auto_picks_the_layout_and_says_why(name: str, layout: str, why: str) -> None:
    found = detect(LAYOUTS / name)
    assert found.layout.name == layout
    assert why in found.why


# (file, [(upstream, downstream, duration, disposition, sip_code)] in line order)
EXPECTED = {
    "asterisk-newcdr.csv": [
        ("caprus", "telco-a", 32, "answered", None),
        ("bigfoot", "telco-b", 0, "no_answer", None),
        ("caprus", "telco-a", 0, "busy", None),
    ],
    "asterisk-custom.csv": [
        ("yodel", "telco-a", 120, "answered", None),
        ("pulse", None, 0, "failed", None),
    ],
    # answered whatever the hangup cause; NORMAL_CLEARING without an answer: cancelled
    "freeswitch-default.csv": [
        ("caprus", None, 32, "answered", 504),
        ("caprus", None, 120, "answered", 480),
        ("yodel", None, 0, "cancelled", 487),
        ("yodel", None, 0, "no_answer", 480),
    ],
    "freeswitch-sql.csv": [
        ("caprus", None, 32, "answered", 504),
        ("caprus", None, 120, "answered", 480),
    ],
    # empty accountcode: the gateway's name, else the host the call came from
    "freeswitch-asterisk.csv": [
        ("caprus-gw", "telco-a", 32, "answered", 200),
        ("198.51.100.7", None, 0, "no_answer", 480),
        ("bigfoot", "telco-b", 30, "answered", 200),
    ],
    "freeswitch-snom.csv": [("pulse", None, 60, "answered", 200)],
    "freeswitch-linksys.csv": [("pulse", None, 0, "busy", 486)],
    "freeswitch-opencdrrate.csv": [
        ("caprus-gw", None, 32, "answered", None),
        ("198.51.100.8", None, 0, "no_answer", None),
    ],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_layout_gives_the_right_calls(settings: Settings, name: str) -> None:
    result = ingest([LAYOUTS / name], settings)
    assert (result.rows_ingested, result.rows_rejected) == (len(EXPECTED[name]), 0)
    got = [
        (c["upstream"], c["downstream"], c["duration"], c["disposition"], c["sip_code"])
        for c in calls(settings)
    ]
    assert got == EXPECTED[name]
    lines = [c["source_line"] for c in calls(settings)]
    assert lines == list(range(1, len(lines) + 1))


def test_freeswitch_keeps_the_cause_and_reads_the_numbers(settings: Settings) -> None:
    ingest([LAYOUTS / "freeswitch-default.csv"], settings)
    first = calls(settings)[0]
    assert first["call_id"] == "6a1e4c2e-6f4a-4d6b-9a8e-1f2d3c4b5a71"
    assert (first["caller"], first["called"]) == ("+12025550143", "+12125551234")
    assert first["start"] == ts("2021-02-07T10:15:03+00:00")
    assert '"cause":"RECOVERY_ON_TIMER_EXPIRE"' in first["extra"]
    assert '"caller_id_name":"Apple Support"' in first["extra"]


def test_freeswitch_sql_template_strips_the_statement(settings: Settings) -> None:
    ingest([LAYOUTS / "freeswitch-sql.csv"], settings)
    got = calls(settings)
    assert '"caller_id_name":"Apple Support"' in got[0]["extra"]
    assert [c["upstream"] for c in got] == ["caprus", "caprus"]


def test_asterisk_newcdr_columns_are_kept(settings: Settings) -> None:
    ingest([LAYOUTS / "asterisk-newcdr.csv"], settings)
    first = calls(settings)[0]
    assert first["call_id"] == "1612692903.10"
    assert '"linkedid":"1612692903.10"' in first["extra"]
    assert '"sequence":"3"' in first["extra"]
    assert first["start"] == ts("2021-02-07T10:15:03+00:00")


def test_opencdrrate_start_is_the_answer_else_the_end(settings: Settings) -> None:
    ingest([LAYOUTS / "freeswitch-opencdrrate.csv"], settings)
    got = calls(settings)
    assert [c["start"] for c in got] == [
        ts("2021-02-07T13:00:09+00:00"),
        ts("2021-02-07T13:01:30+00:00"),
    ]


@pytest.mark.parametrize("name", ["kamailio-auth.csv", "kamailio-auth.tsv"])
def test_kamailio_challenged_invites_fold_into_one_call(settings: Settings, name: str) -> None:
    """401/407 then the same INVITE with credentials: one call per Call-ID and From tag, the
    challenge kept in extra; a challenge never answered is one failed call."""
    result = ingest([LAYOUTS / name], settings)
    f = result.files[0]
    assert (f.rows_ingested, f.rows_rejected, f.rows_merged) == (3, 0, 3)
    got = calls(settings)
    assert [c["call_id"] for c in got] == [
        "a1@198.51.100.7",
        "a2@198.51.100.7",
        "a3@198.51.100.7",
    ]
    assert [(c["disposition"], c["sip_code"], c["duration"]) for c in got] == [
        ("answered", 200, 32),  # BYE at 10:15:35 - INVITE (retried) at 10:15:03
        ("failed", 401, 0),
        ("busy", 486, 0),
    ]
    assert all('"auth_challenges":1' in c["extra"] for c in got)
    assert [c["source_line"] for c in got] == [3, 5, 7]
    # the answered call counts once for its upstream
    assert rows(settings, "select count(*) as n from calls where call_id like 'a1@%'") == [{"n": 1}]


def test_kamailio_session_refresh_does_not_move_the_call(settings: Settings) -> None:
    """A re-INVITE (session timer refresh, RFC 4028) accounted under the same Call-ID and
    From tag is not the call's start: the call starts at the first answered INVITE and
    lasts until the BYE."""
    result = ingest([LAYOUTS / "kamailio-reinvite.csv"], settings)
    assert result.files[0].rows_ingested == 1
    got = calls(settings)
    assert [(c["call_id"], c["disposition"], c["duration"], c["source_line"]) for c in got] == [
        ("r1@198.51.100.7", "answered", 600, 2)  # BYE 10:25:03 - first INVITE 10:15:03
    ]
    assert got[0]["start"] == ts("2021-02-07T10:15:03+00:00")


def test_kamailio_syslog_lines(settings: Settings) -> None:
    result = ingest([LAYOUTS / "kamailio-acc.log"], settings)
    f = result.files[0]
    assert f.format == "kamailio-syslog"
    assert (f.rows_ingested, f.rows_rejected, f.rows_skipped, f.rows_merged) == (2, 0, 2, 2)
    got = calls(settings)
    assert [(c["call_id"], c["disposition"], c["duration"], c["upstream"]) for c in got] == [
        ("s1@198.51.100.7", "answered", 32, "198.51.100.7"),
        ("s2@192.0.2.44", "cancelled", 0, "192.0.2.44"),
    ]
    assert got[0]["start"] == ts("2021-02-07T10:15:03+00:00")
    assert [c["source_line"] for c in got] == [3, 6]


def test_a_user_layout_maps_another_vendors_cdr(settings: Settings) -> None:
    """Cisco Unified CM's documented CDR columns, mapped by a layout file: no code change.
    Its second line (the columns' data types) is not a call."""
    result = ingest([LAYOUTS / "cisco-cucm.csv"], settings, layout=LAYOUTS / "cisco-cucm.toml")
    f = result.files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected, f.rows_skipped) == ("cisco-cucm", 4, 0, 1)
    got = calls(settings)
    assert [(c["upstream"], c["downstream"], c["duration"], c["disposition"]) for c in got] == [
        ("SIP_TRUNK_CAPRUS", "SIP_TRUNK_TELCO_A", 32, "answered"),
        ("SIP_TRUNK_BIGFOOT", "SIP_TRUNK_TELCO_A", 0, "busy"),
        ("SIP_TRUNK_CAPRUS", "SIP_TRUNK_TELCO_B", 0, "cancelled"),
        ("SIP_TRUNK_CAPRUS", "SIP_TRUNK_TELCO_B", 0, "no_answer"),
    ]
    assert got[0]["start"] == ts("2021-02-07T10:15:03+00:00")
    assert got[0]["call_id"] == "a3c0f7e2-0001-4c1e-9b1a-000000000001"
    assert [c["source_line"] for c in got] == [3, 4, 5, 6]


def test_cucm_recording_legs_are_no_calls(settings: Settings, tmp_path: Path) -> None:
    """The shipped cisco-cucm preset: a phone's built-in bridge calling the recorder (Cisco's
    call recording CDRs, callingPartyNumber b0...) is skipped, not stored as a failed call."""
    lines = (LAYOUTS / "cisco-cucm.csv").read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    leg = next(csv.reader([lines[2]]))
    leg[header.index("callingPartyNumber")] = "b002179144511001"
    leg[header.index("pkid")] = "recording-leg"
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(leg)
    path = tmp_path / "cdr_StandAloneCluster_01_202102071016_1"
    path.write_text("\n".join(lines) + "\n" + out.getvalue())
    f = ingest([path], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected, f.rows_skipped) == ("cisco-cucm", 4, 0, 2)
    assert "recording-leg" not in {c["call_id"] for c in calls(settings)}


def test_cucm_calls_released_by_the_originating_side(settings: Settings, tmp_path: Path) -> None:
    """The shipped cisco-cucm preset: with no destination cause (0), the originating party's
    cause says how the call ended: 16 or 0 the caller hung up (cancelled), 1 unallocated
    number or 41 temporary failure a failed call, 17 busy (Cisco's CDR guide: origCause_value
    is the cause of the originating party's release). Seen in a real lab's CDRs, where an
    inbound call to an unassigned number had been stored as cancelled."""
    lines = (LAYOUTS / "cisco-cucm.csv").read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for n, orig in enumerate(("1", "41", "17", "0", "16"), start=1):
        leg = next(csv.reader([lines[4]]))  # destCause 0, never connected
        leg[header.index("origCause_value")] = orig
        leg[header.index("pkid")] = f"orig-{orig}-{n}"
        writer.writerow(leg)
    path = tmp_path / "cdr_StandAloneCluster_01_202102071017_1"
    path.write_text("\n".join(lines[:2]) + "\n" + out.getvalue())
    f = ingest([path], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected) == ("cisco-cucm", 5, 0)
    got = {c["call_id"]: c["disposition"] for c in calls(settings)}
    assert got == {
        "orig-1-1": "failed",
        "orig-41-2": "failed",
        "orig-17-3": "busy",
        "orig-0-4": "cancelled",
        "orig-16-5": "cancelled",
    }


def test_freeswitch_both_legs_are_one_call(settings: Settings) -> None:
    """FreeSWITCH's mod_cdr_csv with legs="ab" writes a row for each leg of a bridged call;
    the A leg names its B leg in bleg_uuid. One call per A leg (its call id, its upstream: the
    account code, or the context it came in to when the dialplan set none), the B leg merged;
    a B leg whose A leg is not in the file stays a call. The shape of a real Master.csv
    (a Raspberry Pi PBX's, published), where the inbound A legs had been rejected for their
    empty account code and the B legs stored as calls from the extension that answered."""
    f = ingest([LAYOUTS / "freeswitch-legs-ab.csv"], settings).files[0]
    assert (f.format, f.rows_ingested, f.rows_rejected, f.rows_merged) == ("freeswitch", 3, 0, 2)
    got = calls(settings)
    assert [(c["call_id"][-2:], c["upstream"], c["disposition"], c["duration"]) for c in got] == [
        ("a1", "public", "answered", 32),
        ("a2", "yodel", "no_answer", 0),
        ("b3", "1002", "answered", 7),
    ]
    assert [c["source_line"] for c in got] == [1, 3, 5]
    assert [json.loads(c["extra"]).get("cdrs") for c in got] == [2, 2, None]


def test_freeswitch_legs_that_name_each_other_are_one_call(
    settings: Settings, tmp_path: Path
) -> None:
    """Should a B leg name its A leg too, the pair is still one call (told by the lesser id)."""
    lines = (LAYOUTS / "freeswitch-legs-ab.csv").read_text().splitlines()
    b = lines[1].replace(
        '"7b2d5f3e-0001-4c1e-9b1a-0000000000b1","",',
        ('"7b2d5f3e-0001-4c1e-9b1a-0000000000b1","7b2d5f3e-0001-4c1e-9b1a-0000000000a1",'),
    )
    path = tmp_path / "Master.csv"
    path.write_text("\n".join([lines[0], b]) + "\n")
    f = ingest([path], settings).files[0]
    assert (f.rows_ingested, f.rows_merged) == (1, 1)
    (call,) = calls(settings)
    assert (call["call_id"][-2:], call["upstream"]) == ("a1", "public")


def test_non_iso_times_only_where_the_layout_says(settings: Settings, home: Path) -> None:
    """DuckDB would read 2020/2/10 22:41 silently; tracehop reads it only with a layout that
    names the format, and records which format read it."""
    generic = ingest([LAYOUTS / "spreadsheet.csv"], settings, format="generic")
    assert generic.rows_rejected == 3  # only the ISO time is read as generic
    bad = rows(settings, "select reason from rejects order by source_line")
    assert bad[0]["reason"] == 'unreadable start time "2020/2/10 22:41"'
    from tracehop.settings import load_settings

    other = load_settings(home=home.parent / "other")
    result = ingest([LAYOUTS / "spreadsheet.csv"], other, layout=LAYOUTS / "spreadsheet.toml")
    assert (result.rows_ingested, result.rows_rejected) == (3, 1)
    got = calls(other)
    assert [c["start"] for c in got] == [
        ts("2020-02-10T22:41:00+00:00"),
        ts("2020-02-11T08:05:00+00:00"),
        ts("2020-02-12T09:00:00+00:00"),
    ]
    assert got[0]["extra"] == '{"start_format":"%Y/%m/%d %H:%M"}'
    assert got[1]["extra"] == '{"start_format":"%m/%d/%Y %H:%M"}'
    assert got[2]["extra"] is None  # ISO: nothing to record
    # durations in milliseconds
    assert [c["duration"] for c in got] == [32, 0, 2]


@pytest.mark.parametrize("name", ["asterisk", "freeswitch", "kamailio", "generic"])
def test_the_old_format_names_are_presets(name: str) -> None:
    assert PRESETS[name].name == name


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("asterisk-csv", "asterisk"),
        ("freeswitch-example", "freeswitch"),
        ("kamailio-acc", "kamailio"),
    ],
)
def test_aliases(alias: str, name: str) -> None:
    assert get_layout(alias).name == name


def test_no_match_names_the_nearest_layouts(write_cdr) -> None:
    path = write_cdr("odd.csv", ['"a","b","c","d","e","f","g","h","i","j","k","l","m","n"'])
    with pytest.raises(FormatError) as info:
        detect(path)
    message = info.value.message
    assert "14 fields" in message and "Nearest:" in message
    assert "freeswitch (13/15 fields)" in message
    assert "--layout FILE" in message and "\n" not in message


def test_no_match_names_the_value_that_did_not_match(write_cdr) -> None:
    # FreeSWITCH's example template, with times a spreadsheet rewrote (a real file's shape)
    row = (
        "Outbound Call,1002,&,default,2020/2/10 22:41,2020/2/10 22:41,2020/2/10 22:41,11,9,"
        "NORMAL_CLEARING,d80e22e0-4c15-11ea-97a0-9dd79410affb,,1002,PCMU,PCMU"
    )
    with pytest.raises(FormatError) as info:
        detect(write_cdr("fs.csv", [row]))
    # the start that is not a time this layout reads, not every probe of the layout
    assert "freeswitch (15 fields, but start_stamp '2020/2/10 22:41' did not match)" in (
        info.value.message
    )


def test_a_header_that_matches_nothing_names_what_is_missing(write_cdr) -> None:
    path = write_cdr("h.csv", ["when,from,to,trunk", "2021-01-01T00:00:00Z,1,2,x"])
    with pytest.raises(FormatError) as info:
        detect(path)
    assert "generic (header lacks start, caller, called, upstream)" in info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'\n[map]\nstart = 'a'\n", "must say where caller comes from"),
        (
            "[read]\ncolumns=['a','b','c','d']\n[map]\nstart='a'\ncaller='b'\ncalled='c'\n"
            "upstream='zz'\n",
            "field 'zz' is used in [map] but is not one of read.columns",
        ),
        (
            "[read]\nheader=true\n[map]\nstart='a'\ncaller='b'\ncalled='c'\nupstream='d'\n"
            "duration={field='e', unit='min'}\n",
            "unit must be one of s, ms, cs",
        ),
        (
            "[read]\nheader=true\n[map]\nstart='a'\ncaller='b'\ncalled='c'\nupstream='d'\n"
            "colour='e'\n",
            "not a canonical column",
        ),
        (
            "[read]\nheader=true\n[map]\nstart='a'\ncaller='b'\ncalled='c'\n"
            "upstream={field='d', pattern='[a-z]+'}\n",
            "needs a (group)",
        ),
        (
            "[read]\nheader=true\n[map]\nstart='a'\ncaller='b'\ncalled='c'\nupstream='d'\n"
            "disposition={field='e', table={'0'=''}, fallback=[{field='f', table={'1'='gone'}}]}\n",
            "disposition table value 'gone' is not one of answered",
        ),
        ("[read\n", "is not valid TOML"),
    ],
)
def test_a_bad_layout_file_is_a_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_layout_file(path)
    assert message in info.value.message and "\n" not in info.value.message


def test_every_preset_cites_its_source_and_describes_itself() -> None:
    for name, layout in PRESETS.items():
        assert layout.source, name
        assert len(name) <= 20, name  # the manifest's format column
        assert layout.path is not None and layout.path.read_text().startswith("#"), name
        data = describe(layout)
        assert data["name"] == name and data["map"]["start"]


def test_parse_layout_from_a_dict() -> None:
    layout = parse_layout(
        {
            "read": {"delimiter": "|", "columns": ["t", "a", "b", "up"]},
            "map": {"start": "t", "caller": "a", "called": "b", "upstream": "up"},
        },
        name="pipes",
    )
    assert layout.widths() == [4] and layout.delimiter == "|"


def test_a_user_header_layout_names_a_missing_column(settings: Settings, tmp_path: Path) -> None:
    layout = tmp_path / "mine.toml"
    layout.write_text(
        "[read]\nheader = true\n[map]\nstart = 'when'\ncaller = 'from'\ncalled = 'to'\n"
        "upstream = ['trunk', 'peer']\n"
    )
    path = tmp_path / "calls.csv"
    path.write_text("when,from,to,gateway\n2021-01-01T00:00:00Z,2025550100,2125550100,x\n")
    with pytest.raises(FormatError, match="the header has no trunk or peer for upstream"):
        ingest([path], settings, layout=layout)


def test_cli_layouts_list_and_show(cli) -> None:  # type: ignore[no-untyped-def]
    listed = cli.json("layouts", "list", "--json")
    names = {row["name"] for row in listed}
    assert {"asterisk", "asterisk-newcdr", "asterisk-custom", "freeswitch", "kamailio"} <= names
    assert next(r for r in listed if r["name"] == "asterisk")["fields"] == "16/17/18"
    code, out, _ = cli("layouts", "show", "asterisk-newcdr")
    assert code == 0 and "newcdrcolumns=yes" in out and "cdr_csv.c" in out
    # the file as written, line by line (not one line with \x0a in it)
    assert out.splitlines() == layout_text(get_layout("asterisk-newcdr")).splitlines()
    assert '[legs]\ncall = "linkedid"\nfirst = "uniqueid"\n' in out
    shown = cli.json("layouts", "show", "asterisk-newcdr", "--json")
    assert shown["legs"] == {"call": ["linkedid"], "first": "uniqueid"}
    shown = cli.json("layouts", "show", "freeswitch", "--json")
    assert shown["widths"] == [13, 15] and shown["causes"]["RECOVERY_ON_TIMER_EXPIRE"] == [
        "failed",
        504,
    ]
    code, _, err = cli("layouts", "show", "nope")
    assert code == 1 and err.startswith("Error: unknown layout 'nope'")


def test_cli_ingest_with_a_layout_file_and_auto(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    got = cli.json(
        "ingest",
        str(LAYOUTS / "cisco-cucm.csv"),
        "--layout",
        str(LAYOUTS / "cisco-cucm.toml"),
        "--json",
    )
    detail = got["details"][0]
    assert (detail["format"], detail["rows_ingested"], detail["rows_skipped"]) == (
        "cisco-cucm",
        4,
        1,
    )
    code, out, _ = cli("ingest", str(LAYOUTS / "asterisk-newcdr.csv"))
    assert code == 0
    assert "read as asterisk-newcdr (auto: 21 fields" in out
    other = tmp_path / "cdr_StandAloneCluster_01_202102071015_1234"
    other.write_bytes((LAYOUTS / "cisco-cucm.csv").read_bytes() + b"\n")  # not ingested yet
    code, out, _ = cli("ingest", str(other))
    assert code == 0 and "read as cisco-cucm (auto: header names globalcallid_callid" in out
    odd = tmp_path / "odd.csv"
    odd.write_text("when,from,to\n2021-02-07 10:15:03,2025550143,12125551234\n")
    code, _, err = cli("ingest", str(odd))
    assert code == 1 and "matches no layout" in err and "Nearest:" in err


def test_a_layout_names_the_zone_of_naive_times(settings: Settings, write_cdr) -> None:
    """A switch that writes GMT (Asterisk usegmtime=yes) or a known zone: the layout says so,
    whatever --timezone says."""
    layout = parse_layout(
        {
            "read": {"header": True, "required": ["start"]},
            "map": {
                "start": {"field": "start", "zone": "America/New_York"},
                "caller": "caller",
                "called": "called",
                "upstream": "upstream",
            },
        },
        name="eastern",
    )
    path = write_cdr(
        "east.csv",
        ["start,caller,called,upstream", "2021-02-07 10:15:03,2025550143,2125551234,caprus"],
    )
    ingest([path], settings, layout=layout)
    assert calls(settings)[0]["start"] == ts("2021-02-07T15:15:03+00:00")
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        parse_layout(
            {
                "map": {
                    "start": {"field": "s", "zone": "Mars/Olympus"},
                    "caller": "a",
                    "called": "b",
                    "upstream": "c",
                },
                "read": {"header": True},
            },
            name="mars",
        )
