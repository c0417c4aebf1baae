"""Ingest of every preset, rejects with their lines, re-ingest, atomicity of errors."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.formats import detect
from tracehop.cdr.ingest import ingest
from tracehop.cdr.lake import Lake
from tracehop.errors import FormatError, InputError
from tracehop.settings import Settings


def rows(settings: Settings, sql: str) -> list[dict]:
    return query(sql, settings).records()


def calls(settings: Settings) -> list[dict]:
    return rows(
        settings,
        "select call_id, start, caller, called, caller_raw, upstream, downstream, duration, "
        "disposition, sip_code, attest, orig_id, source_line, extra from calls "
        "order by source_line",
    )


def rejects(settings: Settings) -> list[tuple[int, str]]:
    return [
        (r["source_line"], r["reason"])
        for r in rows(settings, "select source_line, reason from rejects order by source_line")
    ]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("generic.csv", "generic"),
        ("freeswitch.csv", "freeswitch"),
        ("asterisk.csv", "asterisk"),
        ("kamailio.csv", "kamailio"),
    ],
)
def test_detect(data: Path, name: str, fmt: str) -> None:
    assert detect(data / name) == fmt


def test_generic(settings: Settings, data: Path) -> None:
    result = ingest([data / "generic.csv"], settings)
    assert (result.rows_ingested, result.rows_rejected, result.files_skipped) == (6, 5, 0)
    got = calls(settings)
    assert [c["call_id"] for c in got] == ["g-1", "g-2", "g-3", "g-4", "g-5", "g-11"]
    assert [c["source_line"] for c in got] == [2, 3, 4, 5, 6, 13]
    first = got[0]
    assert first["start"] == ts("2021-02-07T10:15:03+00:00")
    assert (first["caller"], first["called"]) == ("+12025550143", "+12125551234")
    assert first["caller_raw"] == "(202) 555-0143"
    assert (first["upstream"], first["downstream"]) == ("caprus", "telco-a")
    assert (first["duration"], first["disposition"], first["sip_code"]) == (32, "answered", 200)
    assert first["attest"] == "C"
    assert first["extra"] == '{"trunk_group":"TG1"}'
    # naive timestamp = UTC by default; epoch seconds; zone offsets honoured
    assert got[2]["start"] == ts("2021-02-07T05:15:05+00:00")
    assert got[2]["orig_id"] == "5f0c5c3e-6a4e-4c38-9b44-7d7c2f1f0a11"
    assert got[3]["start"] == ts("2021-02-07T10:15:06+00:00")
    assert got[3]["caller"] == "+447700900123"
    assert got[3]["disposition"] == "busy"
    assert got[4]["caller"] is None and got[4]["caller_raw"] == "anonymous"
    assert got[4]["disposition"] == "cancelled"  # from SIP 487
    assert got[5]["start"] == ts("2021-02-08T05:00:01+00:00")
    assert (got[5]["caller"], got[5]["called"]) == ("+12025550151", "+12125551243")
    assert got[5]["attest"] == "B"
    assert rejects(settings) == [
        (7, 'unreadable start time "not a time"'),
        (8, "missing called number"),
        (10, 'unreadable duration "five"'),
        (11, 'attestation must be A, B or C, not "D"'),
        # a row cut short: its missing fields are empty (exporters drop trailing empty ones)
        (12, "missing upstream (the customer or carrier the call came from)"),
    ]
    raw = rows(settings, "select raw from rejects where source_line = 10")[0]["raw"]
    assert (
        raw
        == "g-8,2021-02-07T10:15:10Z,2025550148,2125551240,caprus,telco-a,five,answered,200,,,TG1"
    )


@pytest.mark.parametrize("duration", ["99999999999", "2147483648", "-5", "1e400", "nan"])
def test_a_duration_out_of_range_is_a_rejected_row(
    settings: Settings, write_cdr, duration: str
) -> None:  # type: ignore[no-untyped-def]
    """A duration no integer column holds failed the whole file on the cast; it is a row
    rejected with its reason, the file's other rows stored."""
    path = write_cdr(
        "big.csv",
        [
            "start,caller,called,upstream,duration,disposition",
            f"2021-02-07T10:00:00Z,2025550143,2125551234,acme,{duration},answered",
            "2021-02-07T10:01:00Z,2025550143,2125551234,acme,30,answered",
        ],
    )
    result = ingest([path], settings)
    assert (result.rows_ingested, result.rows_rejected) == (1, 1)
    assert rejects(settings) == [(2, f'duration out of range "{duration}"')]


def test_freeswitch(settings: Settings, data: Path) -> None:
    result = ingest([data / "freeswitch.csv"], settings)
    assert (result.rows_ingested, result.rows_rejected) == (5, 1)
    got = calls(settings)
    assert [c["disposition"] for c in got] == [
        "answered",
        "no_answer",
        "busy",
        "cancelled",
        "answered",
    ]
    assert [c["sip_code"] for c in got] == [200, 480, 486, 487, 200]
    assert [c["duration"] for c in got] == [32, 0, 0, 0, 4]  # billsec, not duration
    assert [c["upstream"] for c in got] == ["caprus", "caprus", "yodel", "yodel", "yodel"]
    assert got[0]["call_id"] == "0b1e4c2e-6f4a-4d6b-9a8e-1f2d3c4b5a61"
    assert got[0]["downstream"] is None
    assert '"caller_id_name":"Apple Support"' in got[0]["extra"]
    assert rejects(settings) == [(6, 'unreadable start time "2021-13-45 10:20:00"')]


def test_asterisk(settings: Settings, data: Path) -> None:
    result = ingest([data / "asterisk.csv"], settings, format="asterisk")
    assert (result.rows_ingested, result.rows_rejected) == (4, 1)
    got = calls(settings)
    # accountcode when set, else the peer of the channel; downstream from dstchannel
    assert [c["upstream"] for c in got] == ["caprus", "bigfoot", "caprus", "caprus"]
    assert [c["downstream"] for c in got] == ["telco-a", "telco-b", "telco-a", None]
    assert [c["disposition"] for c in got] == ["answered", "no_answer", "busy", "failed"]
    assert [c["call_id"] for c in got] == [
        "1612692903.42",
        "1612692960.43",
        "1612693020.44",
        "1612693080.45",
    ]
    assert got[0]["duration"] == 32
    assert rejects(settings) == [(5, 'duration out of range "-6"')]


def test_kamailio_pairs_invite_and_bye(settings: Settings, data: Path) -> None:
    result = ingest([data / "kamailio.csv"], settings)
    assert (result.rows_ingested, result.rows_rejected) == (5, 0)
    got = calls(settings)
    assert [c["call_id"] for c in got] == [
        "4f1a9c2e-1@198.51.100.7",
        "4f1a9c2e-2@198.51.100.7",
        "7c2d-3@192.0.2.44",
        "7c2d-4@192.0.2.44",
        "7c2d-5@192.0.2.44",
    ]
    assert got[0]["duration"] == 32  # BYE at 10:15:35 - INVITE at 10:15:03
    assert got[4]["duration"] is None  # answered, but no BYE in this file
    assert [c["disposition"] for c in got] == [
        "answered", "busy", "cancelled", "blocked", "answered"
    ]  # fmt: skip
    # the trunk name when the acc extra has it, else the source IP
    assert [c["upstream"] for c in got] == ["caprus", "caprus", *["192.0.2.44"] * 3]
    # a call without a caller number is a call (withheld, or a robocaller's empty caller ID)
    assert (got[3]["caller"], got[3]["caller_raw"]) == (None, None)
    assert rejects(settings) == []


def test_reingest_is_a_noop(settings: Settings, data: Path) -> None:
    first = ingest([data / "generic.csv"], settings)
    again = ingest([data / "generic.csv"], settings)
    assert again.files_skipped == 1 and again.rows_ingested == 0
    assert "already ingested" in again.files[0].message
    assert again.files[0].ingest_id == first.files[0].ingest_id
    assert rows(settings, "select count(*) as n from calls") == [{"n": 6}]
    assert rows(settings, "select count(*) as n from rejects") == [{"n": 5}]


def test_gzip_folder_and_glob(settings: Settings, data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cdrs"
    (folder / "sub").mkdir(parents=True)
    with (data / "freeswitch.csv").open("rb") as src, gzip.open(folder / "fs.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copy(data / "asterisk.csv", folder / "sub" / "Master.csv")
    (folder / "README").write_text("not a CDR file\n")
    result = ingest([folder], settings)
    assert sorted(f.format for f in result.files) == ["asterisk", "freeswitch"]
    assert result.rows_ingested == 9
    # the gzip reject keeps its line number and text
    assert rows(
        settings,
        "select source_line, source_file like '%.gz' as gz from rejects where reason like '%13-45%'",
    ) == [{"source_line": 6, "gz": True}]
    again = ingest([str(folder / "**" / "*.csv*")], settings)
    assert again.files_skipped == 2


def test_timezone_for_naive_timestamps(home: Path, data: Path) -> None:
    from tracehop.settings import load_settings

    settings = load_settings(home=home, timezone="America/New_York")
    ingest([data / "asterisk.csv"], settings)
    got = calls(settings)
    assert got[0]["start"] == ts("2021-02-07T15:15:03+00:00")  # 10:15 EST


def test_partitions_are_sorted_by_start(settings: Settings, write_cdr) -> None:
    lines = ["call_id,start,caller,called,upstream"]
    # three days, written out of order
    for i in range(300):
        day = 1 + (i * 7) % 3
        minute = (i * 37) % 1440
        lines.append(
            f"c{i},2021-03-0{day}T{minute // 60:02d}:{minute % 60:02d}:00Z,2025550100,2125550100,u1"
        )
    ingest([write_cdr("three-days.csv", lines)], settings)
    files = Lake(settings.lake_dir).call_files()
    assert [f.parent.name for f in files] == ["day=2021-03-01", "day=2021-03-02", "day=2021-03-03"]
    for f in files:
        starts = [r["start"] for r in rows(settings, f"select start from read_parquet('{f}')")]
        assert starts == sorted(starts) and len(starts) == 100
    # every row kept its own line
    got = rows(settings, "select call_id, source_line from calls")
    assert all(int(r["call_id"][1:]) + 2 == r["source_line"] for r in got)


def test_line_numbers_with_many_skipped_lines(settings: Settings, write_cdr) -> None:
    """More skipped lines than fit one SQL expression: the numpy path gives the same answer."""
    lines = ["call_id,start,caller,called,upstream"]
    expected_good, expected_bad = {}, []
    for i in range(400):
        n = len(lines) + 1
        if i % 5 == 0:
            lines.append("")  # blank line
        elif i % 7 == 0:
            lines.append(f"b{i},2021-03-01T00:00:00Z,2025550100")  # too few fields
            expected_bad.append(n)
        elif i % 11 == 0:
            lines.append(f"v{i},yesterday,2025550100,2125550100,u1")  # bad value
            expected_bad.append(n)
        else:
            lines.append(f"c{i},2021-03-01T00:00:{i % 60:02d}Z,2025550100,2125550100,u1")
            expected_good[f"c{i}"] = n
    result = ingest([write_cdr("skips.csv", lines)], settings)
    assert result.files[0].line_numbers_exact
    got = {
        r["call_id"]: r["source_line"]
        for r in rows(settings, "select call_id, source_line from calls")
    }
    assert got == expected_good
    assert [line for line, _ in rejects(settings)] == expected_bad


def test_parquet_preset_round_trip(settings: Settings, data: Path, tmp_path: Path) -> None:
    ingest([data / "generic.csv"], settings)
    out = tmp_path / "export.parquet"
    rows(settings, "select 1")  # opens the views
    from tracehop.analyst import open_engine
    from tracehop.store import open_store

    store = open_store(settings)
    con = open_engine(settings, store)
    con.execute(f"COPY (SELECT * EXCLUDE (day) FROM calls) TO '{out}' (FORMAT parquet)")
    con.close()
    store.close()
    from tracehop.settings import load_settings

    other = load_settings(home=tmp_path / "other")
    result = ingest([out], other)
    assert result.files[0].format == "parquet"
    assert result.rows_ingested == 6 and result.rows_rejected == 0
    a = rows(
        settings, "select call_id, start, caller, called, duration, attest from calls order by 1"
    )
    b = rows(other, "select call_id, start, caller, called, duration, attest from calls order by 1")
    assert a == b


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"a,b,c\n1,2,3\n", "cannot tell the format"),
        (b"\x1f\x8b\x08\x00garbage", "cannot read"),
    ],
)
def test_bad_file_is_one_line_error_and_changes_nothing(
    settings: Settings, data: Path, write_cdr, content: bytes, message: str
) -> None:
    ingest([data / "generic.csv"], settings)
    before = sorted(p.relative_to(settings.home) for p in settings.home.rglob("*") if p.is_file())
    bad = write_cdr("bad.csv", content)
    with pytest.raises(FormatError) as info:
        ingest([bad], settings)
    assert message in info.value.message and "\n" not in info.value.message
    after = sorted(p.relative_to(settings.home) for p in settings.home.rglob("*") if p.is_file())
    assert after == before
    assert rows(settings, "select count(*) as n from calls") == [{"n": 6}]


def test_wrong_header_names_what_is_missing(settings: Settings, write_cdr) -> None:
    path = write_cdr("x.csv", ["start,caller,called,trunk", "2021-01-01,1,2,3"])
    with pytest.raises(FormatError, match="header lacks upstream"):
        ingest([path], settings, format="generic")


def test_missing_path(settings: Settings) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        ingest(["does/not/exist.csv"], settings)


def test_unknown_format(settings: Settings, data: Path) -> None:
    with pytest.raises(InputError, match="unknown format 'nortel'"):
        ingest([data / "generic.csv"], settings, format="nortel")


def test_unbalanced_quote_loses_only_its_line(settings: Settings, write_cdr) -> None:
    """DuckDB would let the open quote swallow the lines after it; tracehop rejects one line."""
    path = write_cdr(
        "quote.csv",
        [
            "call_id,start,caller,called,upstream",
            "a,2021-01-01T00:00:00Z,2025550100,2125550100,u",
            'b,2021-01-01T00:00:00Z,"2025550100,2125550100,u',
            "c,2021-01-01T00:00:01Z,2025550100,2125550100,u",
            "",
            'd,2021-01-01T00:00:02Z,"202""5550100",2125550100,u',
        ],
    )
    result = ingest([path], settings)
    assert (result.rows_ingested, result.rows_rejected) == (3, 1)
    got = rows(settings, "select call_id, source_line from calls order by source_line")
    assert [(r["call_id"], r["source_line"]) for r in got] == [("a", 2), ("c", 4), ("d", 6)]
    bad = rows(settings, "select source_line, reason, raw from rejects")
    assert bad[0]["source_line"] == 3
    assert "quoted value must end on its line" in bad[0]["reason"]
    assert bad[0]["raw"] == 'b,2021-01-01T00:00:00Z,"2025550100,2125550100,u'


@pytest.mark.parametrize("gz", [False, True])
def test_large_files_go_in_chunks_with_the_same_result(
    home: Path, tmp_path: Path, write_cdr, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    from tracehop.cdr import chunks
    from tracehop.settings import load_settings

    lines = ["call_id,start,caller,called,upstream,duration"]
    good, bad = {}, []
    for i in range(3000):
        n = len(lines) + 1
        if i % 97 == 0:
            lines.append("")
        elif i % 89 == 0:
            lines.append(f"x{i},then,2025550100,2125550100,u,1")
            bad.append(n)
        else:
            lines.append(
                f"c{i},2021-05-0{1 + i % 3}T00:{i % 60:02d}:00Z,2025550{i % 1000:03d},2125550100,u{i % 7},{i % 90}"
            )
            good[f"c{i}"] = n
    path = write_cdr("big.csv", lines)
    if gz:
        gz_path = tmp_path / "big.csv.gz"
        gz_path.write_bytes(gzip.compress(path.read_bytes()))
        path = gz_path
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 8192)
    settings = load_settings(home=home)
    result = ingest([path], settings)
    assert (result.rows_ingested, result.rows_rejected) == (len(good), len(bad))
    got = {
        r["call_id"]: r["source_line"]
        for r in rows(settings, "select call_id, source_line from calls")
    }
    assert got == good
    assert [line for line, _ in rejects(settings)] == bad
    assert rows(settings, "select raw from rejects order by source_line limit 1") == [
        {"raw": lines[bad[0] - 1]}
    ]
    files = Lake(settings.lake_dir).call_files()
    assert len(files) > 3  # several chunks, each sorted
    for f in files:
        starts = [r["start"] for r in rows(settings, f"select start from read_parquet('{f}')")]
        assert starts == sorted(starts)
    assert not list((settings.lake_dir / "_staging").iterdir())


def test_kamailio_bye_with_other_users_still_ends_its_call(settings: Settings, write_cdr) -> None:
    """A BYE sent by the callee has other From/R-URI users (or none): it is not a call and
    not a reject, and its INVITE gets its duration."""
    path = write_cdr(
        "acc.csv",
        [
            "method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_domain,src_ip,dst_ouser,dst_user,dst_domain",
            "INVITE,a,b,c5,200,OK,2021-02-07 10:00:00,2025550143,x,198.51.100.7,2125551234,2125551234,y",
            "BYE,b,a,c5,200,OK,2021-02-07 10:01:40,,y,203.0.113.9,,,x",
        ],
    )
    result = ingest([path], settings, format="kamailio")
    assert (result.rows_ingested, result.rows_rejected) == (1, 0)
    assert rows(settings, "select call_id, duration from calls") == [
        {"call_id": "c5", "duration": 100}
    ]


@pytest.mark.parametrize("fmt", ["generic", "asterisk"])
def test_a_grown_file_adds_only_its_new_lines(
    settings: Settings, data: Path, tmp_path: Path, fmt: str
) -> None:
    """Switches append to their CDR file (Asterisk's Master.csv): ingesting it again reads only
    the lines appended since, with their own line numbers."""
    source = (data / f"{fmt}.csv").read_text().splitlines(keepends=True)
    cut = 6 if fmt == "generic" else 3
    live = tmp_path / "Master.csv"
    live.write_text("".join(source[:cut]))
    first = ingest([live], settings, format=fmt)
    live.write_text("".join(source))  # the switch appended the rest
    second = ingest([live], settings, format=fmt)
    assert "appended" in second.files[0].message
    whole = ingest([data / f"{fmt}.csv"], load_settings_for(tmp_path / "whole"), format=fmt)
    assert first.rows_ingested + second.rows_ingested == whole.rows_ingested
    assert first.rows_rejected + second.rows_rejected == whole.rows_rejected
    got = rows(settings, "select call_id, source_line from calls order by source_line")
    want = rows(
        load_settings_for(tmp_path / "whole"),
        "select call_id, source_line from calls order by source_line",
    )
    assert got == want
    assert ingest([live], settings, format=fmt).files_skipped == 1


def load_settings_for(home: Path) -> Settings:
    from tracehop.settings import load_settings

    return load_settings(home=home)


def test_a_file_that_grew_from_a_cut_line_is_refused(settings: Settings, tmp_path: Path) -> None:
    live = tmp_path / "cdr.csv"
    live.write_text(
        "call_id,start,caller,called,upstream\na,2021-01-01T00:00:00Z,2025550100,2125550100,u"
    )
    ingest([live], settings)
    live.write_text(live.read_text() + "x\nb,2021-01-01T00:00:01Z,2025550100,2125550100,u\n")
    with pytest.raises(InputError, match="incomplete"):
        ingest([live], settings)


@pytest.mark.parametrize("chunked", [False, True])
def test_blank_lines_before_the_header(
    settings: Settings, write_cdr, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    from tracehop.cdr import chunks

    if chunked:
        monkeypatch.setattr(chunks, "CHUNK_BYTES", 64)
    lines = ["", "", "call_id,start,caller,called,upstream"]
    lines += [f"c{i},2021-01-01T00:00:{i:02d}Z,2025550100,2125550100,u" for i in range(5)]
    result = ingest([write_cdr("lead.csv", lines)], settings)
    assert (result.rows_ingested, result.rows_rejected) == (5, 0)
    got = rows(settings, "select call_id, source_line from calls order by source_line")
    assert [(r["call_id"], r["source_line"]) for r in got] == [(f"c{i}", 4 + i) for i in range(5)]


def test_number_rules_are_the_same_text_in_sql_and_python() -> None:
    """cdr/sql.py keeps its own copy of the number rules' character classes (so that ingest
    need not import phonenumbers): they must stay equal to tracehop.numbers'."""
    from tracehop import numbers
    from tracehop.cdr import sql

    assert (sql.NUMBER_CHARS, sql.STRIP, sql.SCHEME) == (
        numbers.NUMBER_CHARS,
        numbers.STRIP,
        numbers.SCHEME,
    )


def test_a_file_read_while_its_checksum_is_computed(
    settings: Settings, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-chunk file no earlier ingest read from its path is read while it is hashed; the
    same bytes under another name are then found in the manifest: nothing added, nothing left
    in the staging folder."""
    from tracehop.cdr import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "OVERLAP_BYTES", 1)
    first = ingest([data / "generic.csv"], settings)
    assert (first.rows_ingested, first.rows_rejected) == (6, 5)
    assert first.files[0].ingest_id and len(first.files[0].ingest_id) <= 40
    copy = tmp_path / "copy-of-generic.csv"
    shutil.copy(data / "generic.csv", copy)
    again = ingest([copy], settings)
    assert again.files_skipped == 1 and "already ingested" in again.files[0].message
    assert ingest([data / "generic.csv"], settings).files_skipped == 1
    assert rows(settings, "select count(*) as n from calls") == [{"n": 6}]
    assert rows(settings, "select count(*) as n from rejects") == [{"n": 5}]
    assert not list((settings.lake_dir / "_staging").iterdir())


def test_international_numbers_phonenumbers_cannot_place(settings: Settings, write_cdr) -> None:
    """phonenumbers answers inside the query, for these rows only; a number it finds impossible
    has no E.164 form (NULL), its raw form is kept, the call is not lost."""
    path = write_cdr(
        "intl.csv",
        [
            "call_id,start,caller,called,upstream",
            "i1,2021-01-01T00:00:00Z,+442072054191,2125550100,u",
            "i2,2021-01-01T00:00:01Z,+8881,011 44 20 7205 4191,u",
            "i3,2021-01-01T00:00:02Z,011999123,2125550100,u",
        ],
    )
    result = ingest([path], settings)
    assert (result.rows_ingested, result.rows_rejected) == (3, 0)
    got = rows(settings, "select caller, caller_raw, called from calls order by call_id")
    assert got == [
        {"caller": "+442072054191", "caller_raw": "+442072054191", "called": "+12125550100"},
        {"caller": None, "caller_raw": "+8881", "called": "+442072054191"},
        {"caller": None, "caller_raw": "011999123", "called": "+12125550100"},
    ]
