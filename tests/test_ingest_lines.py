"""Line numbers of a file DuckDB reads in several parts at once (over 8 MiB): every row keeps
the line it came from, so the normalising query must keep the file's order (a query that
loses it gave rows the lines of others, with nothing else wrong)."""

from __future__ import annotations

from pathlib import Path

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.settings import Settings

ROWS = 100_000  # about 9.5 MB: more than one of DuckDB's CSV buffers


def _write(path: Path) -> tuple[set[int], set[int]]:
    """Row k's call id names its line; some rows are bad, some lines blank. Returns the lines
    of the bad rows and of the blank lines."""
    out = ["call_id,start,caller,called,upstream,downstream,duration,disposition,sip_code,attest"]
    bad: set[int] = set()
    blank: set[int] = set()
    dispositions = ("answered", "no_answer", " Busy ", "COMPLETED", "failed")
    for k in range(ROWS):
        line = len(out) + 1
        if k % 20011 == 5:
            out.append("")
            blank.add(line)
            line += 1
        start = f"2026-01-01T00:{k // 60 % 60:02d}:{k % 60:02d}Z"
        if k % 9973 == 7:
            start = "not a time"
            bad.add(line)
        caller = f"+44 20 7946 {k % 10000:04d}" if k % 97 == 0 else f"212555{k % 10000:04d}"
        attest = "ABC"[k % 3] if k % 11 else " b "
        out.append(
            f"L{line},{start},{caller},+1917555{k % 10000:04d},cust-{k % 50},carrier-{k % 7},"
            f"{k % 300},{dispositions[k % len(dispositions)]},200,{attest}"
        )
    path.write_text("\n".join(out) + "\n")
    return bad, blank


def test_every_row_keeps_its_line_in_a_file_read_in_parts(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    bad, blank = _write(path)
    assert path.stat().st_size > 8 << 20
    result = ingest([path], settings)
    assert (result.rows_ingested, result.rows_rejected) == (ROWS - len(bad), len(bad))
    wrong = query(
        "select count(*) as n, count(*) filter (where call_id <> 'L' || source_line) as wrong, "
        "count(*) filter (where caller like '+44%') as intl from calls",
        settings,
    ).records()[0]
    assert wrong == {"n": ROWS - len(bad), "wrong": 0, "intl": ROWS // 97 + 1}
    rejects = query("select source_line, raw, reason from rejects", settings).records()
    assert {r["source_line"] for r in rejects} == bad
    assert all(r["raw"].startswith(f"L{r['source_line']},not a time,") for r in rejects)
    assert {r["reason"] for r in rejects} == {'unreadable start time "not a time"'}
    assert not blank & {r["source_line"] for r in rejects}
