"""One call per call, as the switch wrote it in several rows (Asterisk's CDRs: one per dial
attempt, one per Local channel, one when the caller goes on in the dialplan; all with the
call's linkedid), and rows whose bytes are not UTF-8 read as calls, not rejected. The sample
files follow what a real Asterisk wrote (a forked Dial, Local channels of a queue, a
display name in another charset); the property test folds random calls of 1-4 rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import load_layout_file
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings

LAYOUTS = Path(__file__).parent / "data" / "layouts"


def calls(settings: Settings) -> list[dict]:
    return query(
        "select call_id, start, upstream, downstream, disposition, duration, source_line, "
        "extra->>'cdrs' as cdrs, extra->>'clid' as clid from calls "
        "order by source_file, source_line",
        settings,
    ).records()


def test_a_calls_rows_are_one_call(settings: Settings) -> None:
    result = ingest([LAYOUTS / "asterisk-forked.csv"], settings)
    [file] = result.files
    # 8 rows: a forked Dial (2), a single call, a call through a Local channel (2), and a
    # call through a Local channel that goes on in the dialplan (3)
    assert (file.rows_ingested, file.rows_rejected, file.rows_merged) == (4, 0, 4)
    got = [
        (c["call_id"], c["upstream"], c["downstream"], c["disposition"], c["duration"])
        for c in calls(settings)
    ]
    assert got == [
        # the dial attempt that was answered tells the call: its seconds, its callee
        ("1612699200.30", "caprus", "301", "answered", 45),
        ("1612699260.35", "bigfoot", "telco-b", "no_answer", 0),
        # the Local channel's row has no account code and no peer: merged, not rejected
        ("1612699320.40", "yodel", None, "no_answer", 0),
        # unanswered Dial, then the PBX answered to play a message: answered, 7 s
        ("1612699380.45", "pulse", None, "answered", 7),
    ]
    by_id = {c["call_id"]: c for c in calls(settings)}
    assert [by_id[k]["cdrs"] for k in sorted(by_id)] == ["2", None, "2", "3"]
    # the call starts with its first row (the message's row started 20 s later)
    assert by_id["1612699380.45"]["start"] == datetime(2021, 2, 7, 12, 3, tzinfo=UTC)
    # the line is the row kept: the answered attempt, the message
    assert by_id["1612699200.30"]["source_line"] == 1
    assert by_id["1612699380.45"]["source_line"] == 8


def test_without_linkedid_the_uniqueid_is_the_call(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    # Asterisk cdr_csv with loguniqueid=yes (18 fields): a forked Dial is two rows of one
    # uniqueid; a row without a uniqueid stands alone
    lines = [
        '"caprus","2025550170","12125551270","from-trunk","","SIP/caprus-00000001",'
        '"SIP/301-00000002","Dial","SIP/301&SIP/302","2021-02-07 13:00:00","",'
        '"2021-02-07 13:00:20",20,0,"NO ANSWER","DOCUMENTATION","1612702800.1",""',
        '"caprus","2025550170","12125551270","from-trunk","","SIP/caprus-00000001",'
        '"SIP/302-00000003","Dial","SIP/301&SIP/302","2021-02-07 13:00:00","",'
        '"2021-02-07 13:00:05",5,0,"BUSY","DOCUMENTATION","1612702800.1",""',
        '"caprus","2025550171","12125551271","from-trunk","","SIP/caprus-00000004",'
        '"SIP/301-00000005","Dial","SIP/301","2021-02-07 13:01:00","",'
        '"2021-02-07 13:01:20",20,0,"NO ANSWER","DOCUMENTATION","",""',
        '"caprus","2025550171","12125551271","from-trunk","","SIP/caprus-00000006",'
        '"SIP/301-00000007","Dial","SIP/301","2021-02-07 13:02:00","",'
        '"2021-02-07 13:02:20",20,0,"NO ANSWER","DOCUMENTATION","",""',
    ]
    path = write_cdr("Master.csv", "\n".join(lines) + "\n")
    result = ingest([path], settings, format="asterisk")
    assert (result.rows_ingested, result.files[0].rows_merged) == (3, 1)
    got = calls(settings)
    # unanswered: the earliest row (the first line when they start together)
    assert [(c["disposition"], c["source_line"]) for c in got] == [
        ("no_answer", 1),
        ("no_answer", 3),
        ("no_answer", 4),
    ]
    assert got[0]["call_id"] == "1612702800.1" and got[0]["cdrs"] == "2"
    # no uniqueid: ingest names each row's call (th-...), two calls
    assert got[1]["call_id"].startswith("th-") and got[1]["call_id"] != got[2]["call_id"]


def test_a_growing_master_csv_adds_only_its_new_calls(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracehop.cdr import chunks

    # parts of a few hundred bytes: a call's rows would fall in two parts if the file (or
    # what was appended to it) were read in parts
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 300)
    rows = (LAYOUTS / "asterisk-forked.csv").read_text().splitlines(keepends=True)
    path = tmp_path / "Master.csv"
    path.write_text("".join(rows[:3]))  # the forked Dial (2 rows) and a single call
    first = ingest([path], settings, format="asterisk-newcdr")
    assert (first.rows_ingested, first.files[0].rows_merged) == (2, 1)
    path.write_text("".join(rows))  # Asterisk appended two more calls (5 rows)
    second = ingest([path], settings, format="asterisk-newcdr")
    [file] = second.files
    assert "only the lines appended since" in file.message
    assert (file.rows_ingested, file.rows_merged) == (2, 3)
    got = [(c["call_id"], c["source_line"]) for c in calls(settings)]
    assert sorted(got) == [
        ("1612699200.30", 1),
        ("1612699260.35", 3),
        ("1612699320.40", 4),
        ("1612699380.45", 8),
    ]


def test_the_cdr_table_of_a_database(settings: Settings) -> None:
    # FreePBX's asteriskcdrdb export (calldate, no answer time; linkedid) and Asterisk's own
    # cdr table printed by `mysql -B` (start/answer/end, NULL for no answer; no linkedid: the
    # uniqueid is the call)
    result = ingest([LAYOUTS / "asterisk-db.csv", LAYOUTS / "asterisk-db.tsv"], settings)
    assert [(f.format, f.rows_ingested, f.rows_rejected, f.rows_merged) for f in result.files] == [
        ("asterisk-db", 2, 0, 1),
        ("asterisk-db", 2, 0, 1),
    ]
    got = [
        (c["call_id"], c["start"], c["upstream"], c["downstream"], c["disposition"], c["duration"])
        for c in calls(settings)
    ]
    assert got == [
        ("1709287200.30", datetime(2024, 3, 1, 10, tzinfo=UTC), "caprus", "301", "answered", 45),
        (
            "1709287260.35",
            datetime(2024, 3, 1, 10, 1, tzinfo=UTC),
            "bigfoot",
            "telco-b",
            "no_answer",
            0,
        ),
        ("1709370000.5", datetime(2024, 3, 2, 9, tzinfo=UTC), "yodel", "301", "answered", 60),
        # answer NULL (as mysql -B prints it) is no answer time: busy, not answered
        ("1709370120.6", datetime(2024, 3, 2, 9, 2, tzinfo=UTC), "pulse", "telco-a", "busy", 0),
    ]


@pytest.mark.parametrize("marker", ["NULL", "\\N"])
def test_a_database_exports_null_is_no_value(settings: Settings, write_cdr, marker: str) -> None:  # type: ignore[no-untyped-def]
    # `mysql -B` prints a NULL column as NULL (PostgreSQL's COPY as \N): Kamailio's acc table
    # with a src_trunk column that only some rows fill; upstream falls back to src_ip
    head = "method\tfrom_tag\tto_tag\tcallid\tsip_code\tsip_reason\ttime\tsrc_user\tsrc_ip\tdst_user\tsrc_trunk"
    rows = [
        f"INVITE\tf1\tt1\tc1@x\t200\tOK\t2021-02-07 10:15:03\t2025550143\t198.51.100.7\t12125551234\t{marker}",
        "INVITE\tf2\tt2\tc2@x\t486\tBusy\t2021-02-07 10:16:03\t2025550144\t198.51.100.8\t12125551235\tcaprus",
    ]
    text = "\n".join([head, *rows]) + "\n"
    # a row that is not UTF-8 makes the file be read line by line: the same values there
    latin = f"INVITE\tf3\tt3\tc3@x\t486\tBusy\xff\t2021-02-07 10:17:03\t2025550145\t198.51.100.9\t12125551236\t{marker}\n"
    fast = ingest([write_cdr("fast.tsv", text)], settings, format="kamailio")
    slow = ingest(
        # other Call-IDs: the same calls again would be left out as already stored
        [write_cdr("slow.tsv", text.replace("@x", "@y").encode() + latin.encode("latin-1"))],
        settings,
        format="kamailio",
    )
    assert (fast.rows_ingested, slow.rows_ingested) == (2, 3)
    assert "not UTF-8" in slow.files[0].message
    got = query("select upstream from calls order by source_file, source_line", settings).records()
    assert [g["upstream"] for g in got] == [
        "198.51.100.7",
        "caprus",
        "198.51.100.7",
        "caprus",
        "198.51.100.9",
    ]


def test_a_call_with_no_readable_row_keeps_each_reject(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    row = (
        '"caprus","2025550172","12125551272","from-trunk","","PJSIP/caprus-00000040",'
        '"PJSIP/301-00000041","Dial","PJSIP/301","{start}","","2021-02-07 14:00:20",20,0,'
        '"NO ANSWER","DOCUMENTATION","1612706400.9","","","1612706400.9",1'
    )
    path = write_cdr(
        "Master.csv", "\n".join(row.format(start=s) for s in ("yesterday", "soon")) + "\n"
    )
    result = ingest([path], settings, format="asterisk-newcdr")
    assert (result.rows_ingested, result.rows_rejected, result.files[0].rows_merged) == (0, 2, 0)
    rejects = query("select source_line, reason from rejects order by 1", settings).records()
    assert [r["source_line"] for r in rejects] == [1, 2]
    assert all("start" in r["reason"] for r in rejects)


def test_rows_that_are_not_utf8_are_calls(settings: Settings) -> None:
    result = ingest([LAYOUTS / "asterisk-latin1.csv"], settings)
    [file] = result.files
    assert (file.rows_ingested, file.rows_rejected) == (3, 0)
    assert "1 row had bytes that are not UTF-8 (read as \\xNN)" in file.message
    got = calls(settings)
    assert [c["source_line"] for c in got] == [1, 2, 3]
    # the display name shows the bytes the file had
    assert got[1]["clid"] == '"Sup\\xa5\\xa5ort" <2025550164>'
    assert (got[1]["upstream"], got[1]["disposition"], got[1]["duration"]) == (
        "caprus",
        "answered",
        30,
    )


def test_a_caller_id_not_utf8_is_kept_as_written(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    good = (
        b'"caprus","2025550173","12125551273","from-trunk","","PJSIP/caprus-00000050",'
        b'"PJSIP/301-00000051","Dial","PJSIP/301","2021-02-07 15:00:00","",'
        b'"2021-02-07 15:00:20",20,0,"NO ANSWER","DOCUMENTATION","1612710000.1","","",'
        b'"1612710000.1",1\n'
    )
    bad = good.replace(b"1612710000.1", b"1612710060.2").replace(b'"2025550173"', b'"20\xff55"')
    path = write_cdr("Master.csv", good + bad)
    result = ingest([path], settings, format="asterisk-newcdr")
    assert (result.rows_ingested, result.rows_rejected) == (2, 0)
    got = query("select caller, caller_raw from calls order by source_line", settings).records()
    # a caller ID that cannot be a number is evidence (an invalid caller ID), not a bad row
    assert got == [
        {"caller": "+12025550173", "caller_raw": "2025550173"},
        {"caller": None, "caller_raw": "20\\xff55"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[legs]\nfirst='uniqueid'\n", "[legs] must name the field of the call"),
        ("[legs]\ncall='linkedid'\nby='x'\n", "[legs] has unknown key 'by'"),
        ("[legs]\ncall='nope'\n", "field 'nope' is used in [map]"),
        ("[legs]\ncall='linkedid'\n[transactions]\nmethod='lastapp'\n", "not both"),
    ],
)
def test_a_bad_legs_table_is_a_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    base = (LAYOUTS.parent.parent.parent / "src" / "tracehop" / "cdr" / "layouts").joinpath(
        "asterisk-newcdr.toml"
    )
    head = base.read_text().split("\n[legs]")[0]
    path = tmp_path / "mine.toml"
    path.write_text(head + "\n" + text)
    with pytest.raises(InputError) as info:
        load_layout_file(path)
    assert message in info.value.message and "\n" not in info.value.message


# --- property: random calls of 1-4 rows each -----------------------------------------------

BASE = datetime(2021, 3, 1, tzinfo=UTC)
DISPOSITIONS = {
    "ANSWERED": "answered",
    "NO ANSWER": "no_answer",
    "BUSY": "busy",
    "FAILED": "failed",
}


@st.composite
def asterisk_calls(draw):  # type: ignore[no-untyped-def]
    out = []
    for i in range(draw(st.integers(1, 6))):
        start = BASE + timedelta(minutes=10 * i)
        rows = []
        for k in range(draw(st.integers(1, 4))):
            first = k == 0 or draw(st.booleans())  # a Local channel's row, or the caller's
            disposition = draw(st.sampled_from(sorted(DISPOSITIONS)))
            billsec = draw(st.integers(1, 600)) if disposition == "ANSWERED" else 0
            later = draw(st.integers(0, 30)) if first else 0
            # a Local channel inherits the caller's account code, or has none
            account = "caprus" if first or draw(st.booleans()) else ""
            rows.append((first, disposition, billsec, start + timedelta(seconds=later), account))
        out.append(rows)
    return out


def _line(
    i: int, k: int, first: bool, disposition: str, billsec: int, start: datetime, account: str
) -> str:
    linked = f"16147000{i:02d}.{i}"
    unique = linked if first else f"{linked}{k}"
    channel = f"PJSIP/caprus-{i:04x}{k:04x}" if first else f"Local/q@queue-{i:04x}{k:04x};2"
    answer = start.strftime("%Y-%m-%d %H:%M:%S") if billsec else ""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow(
        [account, "2025550180", f"121255512{i:02d}", "from-trunk", "",
         channel, "PJSIP/301-00000001", "Dial", "PJSIP/301", start.strftime("%Y-%m-%d %H:%M:%S"),
         answer, start.strftime("%Y-%m-%d %H:%M:%S"), billsec, billsec, disposition,
         "DOCUMENTATION", unique, "", "", linked, k]
    )  # fmt: skip
    return out.getvalue()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=asterisk_calls())
def test_every_call_once_whatever_its_rows(tmp_path: Path, generated) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / f"run{abs(hash(repr(generated))) % 10**9}"
    run.mkdir()
    lines = [_line(i, k, *row) for i, rows in enumerate(generated) for k, row in enumerate(rows)]
    path = run / "Master.csv"
    path.write_text("\n".join(lines) + "\n")
    home = load_settings(home=run / "home")
    result = ingest([path], home, format="asterisk-newcdr")
    total = sum(len(rows) for rows in generated)
    assert (result.rows_ingested, result.rows_rejected) == (len(generated), 0)
    assert result.files[0].rows_merged == total - len(generated)
    got = calls(home)
    for i, (rows, call) in enumerate(zip(generated, got, strict=True)):
        assert call["call_id"] == f"16147000{i:02d}.{i}"
        answered = [billsec for first, _, billsec, _, _ in rows if first and billsec]
        if answered:  # the longest answer tells the call
            assert (call["disposition"], call["duration"]) == ("answered", max(answered))
        else:  # else the caller's earliest row (the first line when they start together)
            earliest = min((s, k) for k, (first, _, _, s, _) in enumerate(rows) if first)[1]
            expected = DISPOSITIONS[rows[earliest][1]]
            assert (call["disposition"], call["duration"]) == (expected, 0)
        assert call["start"] == min(s for first, _, _, s, _ in rows if first)
        assert call["cdrs"] == (str(len(rows)) if len(rows) > 1 else None)
