"""A Kamailio acc file pairs its SIP transactions within the engine's memory limit.

The pairing (challenged INVITEs folded, BYE rows ending their calls) used to run window
functions over every column of every row: a 2.1 GB acc file with Identity headers ran out of
memory at 1 GB and at 2.5 GB (docs/performance.md, "Kamailio acc files: memory"). Here, at a
small scale: a generated acc table whose INVITEs carry a ~500-byte Identity header, paired
at a 96 MB limit where the old statement failed with "Out of Memory Error".
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from tracehop.cdr import pipeline
from tracehop.cdr.detect import for_file
from tracehop.cdr.layouts import PRESETS
from tracehop.cdr.scan import scan_file
from tracehop.engine import connect
from tracehop.settings import Settings, load_settings

HEADER = (
    "method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_domain,src_ip,"
    "dst_ouser,dst_user,dst_domain,src_trunk,identity\n"
)


def write_acc(path: Path, calls: int) -> None:
    """An acc table in time order: call i starts at second i. Every 5th call is challenged
    with 407 first (every 50th with 401, never answered); then 200 (with a BYE after
    ``i % 90 + 10`` s), 486 or 487; every 200th INVITE has no caller (a reject)."""
    sig = "".join(random.Random(7).choices("abcdefghijklmnopqrstuvwxyz0123456789-_", k=360))
    t0 = datetime(2026, 1, 5)
    with path.open("w") as f:
        f.write(HEADER)
        for i in range(calls):

            def row(method: str, code: int, at: int, to_tag: str = "", i: int = i) -> str:
                # a call with no called number is a reject (no caller number is a call)
                called = "" if i % 200 == 7 and method == "INVITE" else f"21255{i:05d}"
                identity = (
                    f"eyJhbGciOiJFUzI1NiJ9.{i:08x}.{sig};info=<https://c.example.net/a.pem>"
                    if method == "INVITE"
                    else ""
                )
                time = (t0 + timedelta(seconds=i + at)).strftime("%Y-%m-%d %H:%M:%S")
                return (
                    f"{method},ft{i},{to_tag},c{i}@198.51.100.7,{code},R,{time},20255{i:05d},"
                    f"example.net,198.51.100.7,{called},{called},example.com,"
                    f"cust-{i % 7},{identity}\n"
                )

            if i % 50 == 1:
                f.write(row("INVITE", 401, 0))
                continue
            if i % 5 == 0:
                f.write(row("INVITE", 407, 0))
            code = (200, 200, 486, 200, 487)[i % 5]
            f.write(row("INVITE", code, 1, f"tt{i}"))
            if code == 200:
                f.write(row("BYE", 200, 1 + i % 90 + 10, f"tt{i}"))


def test_an_acc_file_pairs_within_a_small_memory_limit(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "acc.csv"
    calls = 150_000
    write_acc(path, calls)
    # Two threads whatever the machine: DuckDB's memory per query grows with its threads.
    settings: Settings = load_settings(home=home, memory_limit="96MB", threads=2)
    con = connect(settings)
    try:
        layout = for_file(PRESETS["kamailio"], path)
        staged = pipeline.stage(con, layout, path, scan_file(path), zone="UTC")
        rows = con.execute(
            "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason "
            "IS NOT NULL), count(*) FILTER (WHERE extra LIKE '%auth_challenges%') FROM lined"
        ).fetchall()[0]
        picked = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT call_id, disposition, sip_code, duration, extra, source_line FROM lined "
                "WHERE call_id IN ('c0@198.51.100.7', 'c1@198.51.100.7', 'c2@198.51.100.7', "
                "'c7@198.51.100.7', 'c10@198.51.100.7')"
            ).fetchall()
        }
    finally:
        con.close()
    rejected = len(range(7, calls, 200))
    assert staged.rows == path.read_text().count("\n") - 1
    assert rows == (calls - rejected, rejected, calls // 5 + calls // 50)
    # call 0: 407 on line 2, the INVITE again (200) on line 3, its BYE 11 s after the 200
    assert picked["c0@198.51.100.7"][:3] == ("answered", 200, 10)
    assert json.loads(picked["c0@198.51.100.7"][3])["auth_challenges"] == 1
    assert picked["c0@198.51.100.7"][4] == 3
    # call 1: a 401 never sent again: one failed call, challenged once
    assert picked["c1@198.51.100.7"][:3] == ("failed", 401, 0)
    assert json.loads(picked["c1@198.51.100.7"][3])["auth_challenges"] == 1
    # call 2: busy, not challenged; call 10: challenged, then answered, 10 s
    assert picked["c2@198.51.100.7"][:3] == ("busy", 486, 0)
    assert "auth_challenges" not in json.loads(picked["c2@198.51.100.7"][3])
    assert picked["c10@198.51.100.7"][:3] == ("answered", 200, 20)
    # call 7 has no caller: kept as a reject with its line
    assert "c7@198.51.100.7" in picked
