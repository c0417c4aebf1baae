"""Bad input, no loss: long fields, lines over the limit, bytes that are not UTF-8, rotated
and compressed files, tab-separated files, names only --glob finds."""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import shutil
from pathlib import Path

import pytest
import zstandard

from tracehop.analyst import query
from tracehop.cdr.ingest import expand_paths, ingest
from tracehop.cdr.sources import looks_like_cdr
from tracehop.errors import InputError
from tracehop.settings import Settings

HEADER = "call_id,start,caller,called,upstream,extra_notes"


def line(i: int, notes: str = "") -> str:
    return f"c{i},2021-03-01T00:00:{i % 60:02d}Z,2025550100,2125550100,u1,{notes}"


def rows(settings: Settings, sql: str) -> list[dict]:
    return query(sql, settings).records()


def test_a_long_first_field_loads(settings: Settings, write_cdr) -> None:
    """A 200 KB field (over the csv module's 128 KB limit) in the first row: no traceback."""
    long = "x" * 200_000
    path = write_cdr("long.csv", [HEADER, line(1, long), line(2)])
    result = ingest([path], settings)
    assert (result.rows_ingested, result.rows_rejected) == (2, 0)
    got = rows(settings, "select length(extra) as n from calls order by source_line")
    assert got[0]["n"] > 200_000


@pytest.mark.parametrize("where", ["first", "middle"])
def test_a_line_over_the_limit_is_rejected_alone(settings: Settings, write_cdr, where: str) -> None:
    long = line(99, "y" * 10_000)
    body = [line(i) for i in range(1, 6)]
    body.insert(0 if where == "first" else 2, long)
    path = write_cdr("limit.csv", [HEADER, *body])
    result = ingest([path], settings, max_line_size=4096)
    assert (result.rows_ingested, result.rows_rejected) == (5, 1)
    long_line = 2 if where == "first" else 4
    bad = rows(settings, "select source_line, reason, raw from rejects")
    assert bad[0]["source_line"] == long_line
    assert bad[0]["reason"] == "line longer than 4096 bytes (max_line_size)"
    assert bad[0]["raw"].startswith("c99,2021-03-01")
    got = [r["source_line"] for r in rows(settings, "select source_line from calls order by 1")]
    assert got == [n for n in range(2, 8) if n != long_line]


def test_raw_lines_keep_their_bytes(settings: Settings, write_cdr) -> None:
    """A line that is not UTF-8 is still a call, its bytes that are not UTF-8 read as \\xNN;
    a rejected one is stored as base64 of its bytes (raw_encoding says so), never with ? in
    place of what the file had; UTF-8 lines stay text."""
    latin = line(2).encode().replace(b"u1", b"caf\xe9")
    bad_latin = b"c4,when,1,2,caf\xe9,"
    data = (
        (HEADER + "\n" + line(1) + "\n").encode()
        + latin
        + b"\n"
        + b"c3,when,1,2,caf\xc3\xa9\n"
        + bad_latin
        + b"\n"
    )
    path = write_cdr("latin.csv", data)
    result = ingest([path], settings)
    assert (result.rows_ingested, result.rows_rejected) == (2, 2)
    assert "2 rows had bytes that are not UTF-8 (read as" in result.files[0].message
    got = rows(settings, "select source_line, upstream from calls order by 1")
    assert got == [{"source_line": 2, "upstream": "u1"}, {"source_line": 3, "upstream": "caf\\xe9"}]
    bad = rows(settings, "select source_line, reason, raw, raw_encoding from rejects order by 1")
    assert [b["source_line"] for b in bad] == [4, 5]
    assert (bad[0]["raw"], bad[0]["raw_encoding"]) == ("c3,when,1,2,café", "utf-8")
    assert bad[1]["raw_encoding"] == "base64"
    assert base64.b64decode(bad[1]["raw"]) == bad_latin
    assert "start" in bad[1]["reason"]


def test_rotated_and_dated_files_are_found(settings: Settings, data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cdr-csv"
    folder.mkdir()
    source = (data / "asterisk.csv").read_bytes()
    (folder / "Master.csv").write_bytes(source[:0] + source.splitlines(keepends=True)[0])
    (folder / "Master.csv.1").write_bytes(source.splitlines(keepends=True)[1])
    (folder / "Master.csv.2023-10-11-00-36-14").write_bytes(source.splitlines(keepends=True)[2])
    (folder / "Master.csv.2.gz").write_bytes(gzip.compress(source.splitlines(keepends=True)[3]))
    (folder / "README").write_text("not a CDR file\n")
    (folder / "Master.csv.bak").write_text("an editor's backup\n")
    found = sorted(p.name for p in expand_paths([folder]))
    assert found == [
        "Master.csv",
        "Master.csv.1",
        "Master.csv.2.gz",
        "Master.csv.2023-10-11-00-36-14",
    ]
    result = ingest([folder], settings, format="asterisk")
    assert result.rows_ingested == 4


@pytest.mark.parametrize(
    "name",
    [
        "calls.csv",
        "Master.csv.1",
        "Master.csv.12",
        "Master.csv.2023-10-11-00-36-14",
        "acc.log.2.gz",
        "cdr.tsv.zst",
        "cdr-20240101.csv.bz2",
        "calls.csv-20240101",
        "calls.csv.xz",
        "export.parquet",
        "1000003.ACT",  # a Ribbon SBC's accounting file
        "vsx-20210207.cdr",
        "cdr202102071500a",  # an Oracle SBC's local CDR file
        "CDC_cdr202102071500b",  # pushed with a receiver's prefix
        "cdr202102071500a.gz",
    ],
)
def test_cdr_names(name: str) -> None:
    assert looks_like_cdr(name)


@pytest.mark.parametrize(
    "name",
    ["README", "Master.csv.bak", "notes.md", "image.png.1", "temp-cdr202102071500a"],
)
def test_not_cdr_names(name: str) -> None:
    assert not looks_like_cdr(name)


COMPRESSORS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("kind", list(COMPRESSORS))
@pytest.mark.parametrize("name", ["asterisk.csv", "kamailio.csv"])
def test_compressed_files(
    settings: Settings, data: Path, tmp_path: Path, kind: str, name: str
) -> None:
    path = tmp_path / f"{name}.1.{kind}"
    path.write_bytes(COMPRESSORS[kind]((data / name).read_bytes()))
    result = ingest([path], settings)
    plain = {"asterisk.csv": (4, 1), "kamailio.csv": (5, 0)}[name]
    assert (result.rows_ingested, result.rows_rejected) == plain
    bad = rows(settings, "select source_line, raw from rejects")
    assert len(bad) == plain[1]
    if not bad:
        return
    want = (data / name).read_text().splitlines()[bad[0]["source_line"] - 1]
    assert bad[0]["raw"] == want


def test_a_damaged_compressed_file_is_one_line_error(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "Master.csv.bz2"
    path.write_bytes(b"BZh91AY&SYgarbage")
    from tracehop.errors import FormatError

    with pytest.raises(FormatError, match="cannot read") as info:
        ingest([path], settings)
    assert "\n" not in info.value.message


def test_tab_separated_generic(settings: Settings, data: Path, tmp_path: Path) -> None:
    text = (data / "generic.csv").read_text()
    good = [ln for ln in text.splitlines() if "," in ln and '"' not in ln]
    path = tmp_path / "calls.tsv"
    path.write_text("\n".join(ln.replace(",", "\t") for ln in good) + "\n")
    result = ingest([path], settings)
    csv_settings = Settings(home=tmp_path / "csv")
    baseline = ingest([data / "generic.csv"], csv_settings)
    assert result.files[0].format == "generic"
    assert result.rows_ingested == baseline.rows_ingested
    a = rows(settings, "select call_id, caller, upstream, duration from calls order by 1")
    b = rows(csv_settings, "select call_id, caller, upstream, duration from calls order by 1")
    assert a == b


def test_glob_takes_other_names(settings: Settings, data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sbc"
    folder.mkdir()
    shutil.copy(data / "generic.csv", folder / "day1.acc")
    with pytest.raises(InputError, match="--glob"):
        expand_paths([folder])
    assert [p.name for p in expand_paths([folder], glob_pattern="*.acc")] == ["day1.acc"]
    assert ingest([folder], settings, glob_pattern="*.acc").rows_ingested == 6
