"""Rows of one file with different widths (a layout's ``optional`` trailing groups): every row
is read whole whatever the order of the rows, and a row wider than the layout is a reject,
never silently cut (DuckDB's lenient reader drops extra fields)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import load_layout_file
from tracehop.settings import Settings

LAYOUT = Path(__file__).parent / "data" / "layouts" / "variable-width.toml"
ANSWERED = [
    "INVITE,gK002a,8ravm,a1@192.0.2.45,200,OK,1570705611,2025550143,12125551234,192.0.2.45,5,"
    "1570705606,19,19102",
    "INVITE,c516ca,rg3QD,a2@192.0.2.45,200,OK,1564067518,2025550144,12125551235,192.0.2.45,0,"
    "1564067518,28,27531",
]
FAILED = [
    "INVITE,gK0414,KUQKF,f1@192.0.2.45,480,Temporarily Unavailable,1570705435,2025550145,"
    "12125551236,192.0.2.45",
    "INVITE,b25c5d,,f2@192.0.2.45,503,Service Unavailable,1564067458,2025550146,12125551237,"
    "192.0.2.45",
]
TOO_WIDE = ANSWERED[0].replace("a1@", "w1@") + ",surplus"


def stored(settings: Settings) -> dict[str, tuple]:
    rows = query("select call_id, duration, disposition, sip_code from calls", settings).records()
    return {r["call_id"]: (r["duration"], r["disposition"], r["sip_code"]) for r in rows}


WANT = {
    "a1@192.0.2.45": (19, "answered", 200),
    "a2@192.0.2.45": (28, "answered", 200),
    "f1@192.0.2.45": (0, "no_answer", 480),
    "f2@192.0.2.45": (0, "failed", 503),
}


@pytest.mark.parametrize(
    "lines",
    [
        [*ANSWERED, *FAILED, TOO_WIDE],
        [FAILED[0], ANSWERED[0], TOO_WIDE, FAILED[1], ANSWERED[1]],  # a short row first
        # a byte that is not UTF-8 sends the file to the line-by-line reader: the same calls
        [FAILED[0].replace("Temporarily", "Tempor\xe4rily"), ANSWERED[0], TOO_WIDE, FAILED[1],
         ANSWERED[1]],
    ],
)  # fmt: skip
def test_rows_of_every_width_read_whole(settings: Settings, write_cdr, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    content = "\n".join(lines).encode("latin-1") + b"\n"
    path = write_cdr("acc.log", content)
    res = ingest([path], settings, layout=load_layout_file(LAYOUT)).files[0]
    assert (res.rows_ingested, res.rows_rejected) == (4, 1)
    got = stored(settings)
    assert {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in WANT.items()}
    assert got["a1@192.0.2.45"][1] == "answered" and got["f1@192.0.2.45"][2] == 480
    (reject,) = query("select source_line, reason from rejects", settings).records()
    assert reject["source_line"] == lines.index(TOO_WIDE) + 1
    assert reject["reason"] == "unreadable row: more than 14 fields, the layout's widest"


@pytest.mark.parametrize("slow", [False, True])
def test_a_row_wider_than_the_header(settings: Settings, write_cdr, slow: bool) -> None:  # type: ignore[no-untyped-def]
    """An unquoted comma in a value shifts a row of a file with a header: rejected, not stored
    with its values in the wrong columns; a trailing empty field and a row that stops early
    (an exporter that drops trailing empty fields) are read."""
    name = "Bob\xe4" if slow else "Bob"  # a byte that is not UTF-8: the line-by-line reader
    lines = [
        "start,caller,called,upstream,disposition",
        "2021-02-07T10:15:03Z,2025550143,12125551234,caprus,answered",
        f"2021-02-07T10:16:03Z,2025550144,12125551235,caprus,answered,{name}, Jr.",
        "2021-02-07T10:17:03Z,2025550145,12125551236,caprus,answered,",
        "2021-02-07T10:18:03Z,2025550146,12125551237,caprus",
    ]
    path = write_cdr("calls.csv", ("\n".join(lines) + "\n").encode("latin-1"))
    res = ingest([path], settings).files[0]
    assert (res.rows_ingested, res.rows_rejected) == (3, 1)
    (reject,) = query("select source_line, reason from rejects", settings).records()
    assert reject == {
        "source_line": 3,
        "reason": "unreadable row: more than 5 fields, the header's",
    }
