"""Rotated CDR files: a switch writes to one file (Asterisk's ``Master.csv``, FreeSWITCH's,
Kamailio's acc log) and logrotate or the switch itself renames it (``Master.csv.1``,
``Master.csv.2023-10-11-00-36-14``, ``Master.csv-20231011.gz``) and starts a new one. A
provider that ingests the live file during the day and then the rotated copy must not get
the morning's calls twice; nor must a file that grew, whatever layout reads it (a call whose
rows lie on both sides of where the earlier ingest stopped is one call)."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.cdr.sources import rotation_base
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings

LAYOUTS = Path(__file__).parent / "data" / "layouts"
HEADER = "call_id,start,caller,called,upstream,duration,disposition\n"


def _generic(n: int, first: int = 0) -> list[str]:
    return [
        f"g{i},2021-02-07T10:{i // 60:02d}:{i % 60:02d}Z,20255501{i % 100:02d},"
        f"21255501{i % 100:02d},cust-{i % 3},{i % 50},{'answered' if i % 2 else 'no_answer'}\n"
        for i in range(first, first + n)
    ]


def _calls(s: Settings, sql: str = "select call_id, source_line from calls order by 1") -> list:
    return [tuple(r.values()) for r in query(sql, s).records()]


@pytest.mark.parametrize(
    "name", ["Master.csv.1", "Master.csv.2021-02-07-23-59-59", "Master.csv-20210207"]
)
def test_a_rotated_copy_of_a_file_ingested_while_written_adds_only_its_new_calls(
    settings: Settings, tmp_path: Path, name: str
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    rows = _generic(8)
    live = logs / "Master.csv"
    live.write_text(HEADER + "".join(rows[:3]))
    assert ingest([live], settings).rows_ingested == 3  # the morning's calls
    # the switch wrote two more, then the file was rotated and a new one begun
    live.write_text(HEADER + "".join(rows[:5]))
    live.rename(logs / name)
    live.write_text(HEADER + "".join(rows[5:]))
    result = ingest([logs], settings)
    by_name = {Path(f.path).name: f for f in result.files}
    assert by_name[name].rows_ingested == 2
    assert "a rotated copy" in by_name[name].message and "Master.csv" in by_name[name].message
    assert by_name["Master.csv"].rows_ingested == 3
    got = _calls(settings)
    # every call once, each with the line it has in the file it was read from
    assert got == [(f"g{i}", (i + 2) if i < 5 else (i - 5 + 2)) for i in range(8)]
    # the rotated copy again: nothing new
    assert ingest([logs / name], settings).files_skipped == 1


def test_a_compressed_rotated_copy(settings: Settings, tmp_path: Path) -> None:
    rows = _generic(6)
    live = tmp_path / "Master.csv"
    live.write_text(HEADER + "".join(rows[:4]))
    ingest([live], settings)
    # logrotate's compress: the same text, compressed ...
    (tmp_path / "Master.csv.1.gz").write_bytes(gzip.compress(live.read_bytes()))
    # ... and a later copy that also holds what the switch wrote before it was rotated
    (tmp_path / "Master.csv.2.bz2").write_bytes(bz2.compress((HEADER + "".join(rows)).encode()))
    same = ingest([tmp_path / "Master.csv.1.gz"], settings)
    assert same.rows_ingested == 0 and "a rotated copy" in same.files[0].message
    more = ingest([tmp_path / "Master.csv.2.bz2"], settings)
    assert more.rows_ingested == 2
    assert _calls(settings, "select count(*), count(distinct call_id) from calls") == [(6, 6)]


def test_a_file_of_the_same_name_elsewhere_is_not_taken_for_a_copy(
    settings: Settings, tmp_path: Path
) -> None:
    """Two switches both write Master.csv: only the same bytes make a continuation."""
    for i, where in enumerate(("switch-a", "switch-b")):
        (tmp_path / where).mkdir()
        (tmp_path / where / "Master.csv").write_text(HEADER + "".join(_generic(3, 10 * i)))
    ingest([tmp_path / "switch-a" / "Master.csv"], settings)
    other = ingest([tmp_path / "switch-b" / "Master.csv"], settings)
    assert other.rows_ingested == 3 and "rotated" not in other.files[0].message


def test_a_call_split_by_the_rotation_is_one_call(settings: Settings, tmp_path: Path) -> None:
    """Asterisk writes a call's CDRs as its channels end: the caller's Playback row (the
    call answered by the PBX) came after the rotation began. The call was stored with the
    earlier version; its late row is merged into it, never a second call."""
    rows = (LAYOUTS / "asterisk-forked.csv").read_text().splitlines(keepends=True)
    live = tmp_path / "Master.csv"
    live.write_text("".join(rows[:7]))  # the last call's first two rows
    first = ingest([live], settings, format="asterisk-newcdr")
    assert first.rows_ingested == 4
    live.write_text("".join(rows))
    live.rename(tmp_path / "Master.csv.1")
    second = ingest([tmp_path / "Master.csv.1"], settings, format="asterisk-newcdr")
    [file] = second.files
    assert (file.rows_ingested, file.rows_rejected, file.rows_merged) == (0, 0, 1)
    assert _calls(settings, "select call_id, count(*) from calls group by 1 order by 1") == [
        ("1612699200.30", 1),
        ("1612699260.35", 1),
        ("1612699320.40", 1),
        ("1612699380.45", 1),
    ]


def test_a_growing_acc_file_is_paired_whole_and_stores_each_call_once(
    settings: Settings, tmp_path: Path
) -> None:
    """Kamailio acc rows are SIP transactions paired into calls across the file; a file
    that grew is read whole, and the calls of the lines ingested before are not stored
    again (before, every one of them was: the grown file was read again as new)."""
    rows = (LAYOUTS / "kamailio-auth.csv").read_text().splitlines(keepends=True)
    live = tmp_path / "acc.csv"
    live.write_text("".join(rows[:3]))  # the challenged INVITE and its retry, no BYE yet
    assert ingest([live], settings).rows_ingested == 1
    live.write_text("".join(rows))  # the BYE of that call, and two more calls
    grown = ingest([live], settings)
    [file] = grown.files
    assert "the file grew" in file.message
    assert (file.rows_ingested, file.rows_merged) == (2, 2)  # the BYE and a 407 folded
    got = _calls(settings, "select call_id, source_line from calls order by 1")
    assert got == [("a1@198.51.100.7", 3), ("a2@198.51.100.7", 5), ("a3@198.51.100.7", 7)]
    assert ingest([live], settings).files_skipped == 1


def test_a_rotated_copy_of_a_cut_line_is_refused(settings: Settings, tmp_path: Path) -> None:
    live = tmp_path / "cdr.csv"
    rows = _generic(2)
    live.write_text(HEADER + rows[0] + rows[1][:10])  # the switch was writing a line
    ingest([live], settings)
    (tmp_path / "cdr.csv.1").write_text(HEADER + "".join(rows))
    with pytest.raises(InputError, match="incomplete"):
        ingest([tmp_path / "cdr.csv.1"], settings)


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("Master.csv", "Master.csv"),
        ("Master.csv.1", "Master.csv"),
        ("Master.csv.12.gz", "Master.csv"),
        ("Master.CSV.2023-10-11-00-36-14.zst", "Master.CSV"),
        ("acc.log-20231011", "acc.log"),
        ("acc.log.20231011.xz", "acc.log"),
        ("report.2023", "report.2023"),  # no CDR suffix before the number
        ("calls.csv.bak", "calls.csv.bak"),
    ],
)
def test_rotation_base(name: str, base: str) -> None:
    assert rotation_base(name) == base


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(cuts=[10], rotate=[False, False, False], fmt="kamailio")  # grew: an INVITE's BYE later
@example(cuts=[7, 20], rotate=[True, False, True], fmt="kamailio")
@example(cuts=[5, 30], rotate=[False, True, True], fmt="generic")
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=3),
    rotate=st.lists(st.booleans(), min_size=3, max_size=3),
    fmt=st.sampled_from(["generic", "kamailio"]),
)
def test_any_sequence_of_growth_and_rotation_stores_each_call_once(
    tmp_path_factory: pytest.TempPathFactory, cuts: list[int], rotate: list[bool], fmt: str
) -> None:
    """A file read at any points while it grows, each time under its live name or a rotated
    one, gives the calls of the whole file read once."""
    tmp = tmp_path_factory.mktemp("rot")
    if fmt == "generic":
        lines = [HEADER, *_generic(40)]
    else:  # acc rows: each call an INVITE and, for the answered ones, a BYE later on
        lines = [
            "method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_ip,dst_user\n"
        ]
        for i in range(20):
            code = "200,OK" if i % 2 else "486,Busy Here"
            lines.append(
                f"INVITE,f{i},t{i},c{i},{code},2021-02-07 10:00:{i:02d},20255501{i:02d},"
                "192.0.2.1,2125550100\n"
            )
            if i % 2:
                lines.append(
                    f"BYE,t{i},f{i},c{i},200,OK,2021-02-07 10:01:{i:02d},2125550100,192.0.2.2,x\n"
                )
    home = load_settings(home=tmp / "home")
    logs = tmp / "logs"
    logs.mkdir()
    ends = [*sorted({min(c, len(lines) - 1) for c in cuts}), len(lines) - 1]
    for k, end in enumerate(ends):
        text = "".join(lines[: end + 1])
        name = f"cdr.csv.{k + 1}" if rotate[min(k, 2)] else "cdr.csv"
        (logs / name).write_text(text)
        ingest([logs / name], home, format=fmt)
    whole = load_settings(home=tmp / "whole")
    (tmp / "all.csv").write_text("".join(lines))
    ingest([tmp / "all.csv"], whole, format=fmt)
    sql = "select call_id, disposition, start from calls order by 1"
    want = _calls(whole, sql)
    assert len(want) == (40 if fmt == "generic" else 20)
    assert _calls(home, sql) == want


def test_calls_in_overlapping_exports_are_stored_once(settings: Settings, tmp_path: Path) -> None:
    """CDR exports for overlapping dates (Monday-Tuesday, then Tuesday-Wednesday) hold
    Tuesday's calls twice, in files of other bytes: each call is stored once, the file says
    how many it left out."""
    rows = _generic(10)
    (tmp_path / "mon-tue.csv").write_text(HEADER + "".join(rows[:7]))
    (tmp_path / "tue-wed.csv").write_text(HEADER + "".join(rows[3:]))
    first = ingest([tmp_path / "mon-tue.csv"], settings)
    second = ingest([tmp_path / "tue-wed.csv"], settings)
    assert first.rows_ingested == 7 and first.files[0].rows_duplicate == 0
    [file] = second.files
    assert (file.rows_ingested, file.rows_duplicate) == (3, 4)
    assert "4 calls were already in the lake" in file.message
    assert _calls(settings, "select call_id, source_file like '%tue-wed.csv' from calls") == [
        (f"g{i}", i >= 7) for i in range(10)
    ]


def test_only_the_same_call_is_left_out(settings: Settings, tmp_path: Path) -> None:
    """A call id seen again with another start, upstream or number is another call (a
    switch's counter restarted); rows without a call id of their own are never taken for
    one another; another provider's copy of a call is that provider's record."""
    base = "c1,2021-02-07T10:00:00Z,2025550101,2125550101,cust-1,30,answered\n"
    (tmp_path / "a.csv").write_text(HEADER + base)
    ingest([tmp_path / "a.csv"], settings)
    variants = [
        "c1,2021-02-07T10:00:01Z,2025550101,2125550101,cust-1,30,answered\n",  # start
        "c1,2021-02-07T10:00:00Z,2025550101,2125550101,cust-2,30,answered\n",  # upstream
        "c1,2021-02-07T10:00:00Z,2025550199,2125550101,cust-1,30,answered\n",  # caller
        "c1,2021-02-07T10:00:00Z,2025550101,2125550199,cust-1,30,answered\n",  # called
        base,  # the same call: left out
    ]
    (tmp_path / "b.csv").write_text(HEADER + "".join(variants))
    [file] = ingest([tmp_path / "b.csv"], settings).files
    assert (file.rows_ingested, file.rows_duplicate) == (4, 1)
    no_id = "call_id,start,caller,called,upstream\n,2021-02-07T11:00:00Z,2025550101,2125550101,u\n"
    (tmp_path / "c.csv").write_text(no_id)
    (tmp_path / "d.csv").write_text(no_id + "\n")  # other bytes, the same row
    assert ingest([tmp_path / "c.csv", tmp_path / "d.csv"], settings).rows_ingested == 2
    (tmp_path / "a-copy.csv").write_text(HEADER + base + "\n")  # other bytes, the same call
    other = ingest([tmp_path / "a-copy.csv"], settings, provider="telco-b")
    assert other.rows_ingested == 1 and other.files[0].rows_duplicate == 0
    assert _calls(settings, "select count(*) from calls where call_id = 'c1'") == [(6,)]
