"""Hypothesis feeds every reader random malformed rows: no crash, every line accounted for."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import PRESETS
from tracehop.errors import FormatError
from tracehop.settings import load_settings

GOOD_VALUES = {
    "start": [
        "2021-02-07T10:15:03Z",
        "2021-02-07 10:15:03",
        "1612692903",
        "2021-02-07T10:15:03-05:00",
    ],
    "caller": ["2025550143", "+1 (202) 555-0143", "anonymous", "011447700900123"],
    "called": ["12125551234", "sip:+12125551234@x", "911"],
    "upstream": ["caprus", "bigfoot"],
    "duration": ["0", "32", "4.5", ""],
    "disposition": ["answered", "NO ANSWER", "busy", ""],
    "sip_code": ["200", "486", ""],
    "attest": ["A", "b", ""],
}
junk = st.one_of(
    st.text(max_size=30),
    st.sampled_from(['"', '""', '"a,b"', ",", ";", "\\", "\x00", "\r", "é", "\ufeff", "  "]),
    st.binary(max_size=12).map(lambda b: b.decode("latin-1")),
)


def cell(column: str):  # type: ignore[no-untyped-def]
    good = st.sampled_from(GOOD_VALUES.get(column, ["x", "", "1"]))
    return st.one_of(good, good, junk)


def row_for(columns: list[str]):  # type: ignore[no-untyped-def]
    """A row of about the right width, sometimes too short or too long."""
    return st.tuples(*[cell(c) for c in columns]).flatmap(
        lambda cells: st.sampled_from(
            [list(cells), list(cells)[:-1], [*cells, "extra"], list(cells)]
        )
    )


def to_line(cells: list[str]) -> str:
    out = []
    for c in cells:
        if any(ch in c for ch in ',"\n\r') and not c.startswith('"'):
            c = '"' + c.replace('"', '""') + '"'
        out.append(c)
    return ",".join(out).replace("\n", " ").replace("\r", " ")


GENERIC = [
    "call_id",
    "start",
    "caller",
    "called",
    "upstream",
    "duration",
    "disposition",
    "sip_code",
    "attest",
]
FORMATS = {
    "generic": (GENERIC, True),
    "freeswitch": (list(PRESETS["freeswitch"].columns), False),
    "asterisk": (list(PRESETS["asterisk"].columns), False),
    "kamailio": ([*PRESETS["kamailio"].required, "dst_user"], True),
}
counter = itertools.count()


@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_rows_never_crash(tmp_path: Path, fmt: str, data: st.DataObject) -> None:
    columns, header = FORMATS[fmt]
    rows = data.draw(st.lists(row_for(columns), min_size=1, max_size=25))
    lines = ([",".join(columns)] if header else []) + [to_line(r) for r in rows]
    run = next(counter)
    path = tmp_path / f"{fmt}-{run}.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass"))
    settings_ = load_settings(home=tmp_path / f"home-{run}")
    try:
        result = ingest([path], settings_, format=fmt)
    except FormatError as exc:
        # only a whole-file problem may stop a file, in one line
        assert "\n" not in exc.message
        return
    f = result.files[0]
    nonblank = sum(1 for ln in lines[1 if header else 0 :] if ln.strip() != "")
    if fmt == "kamailio":
        # BYE/ACK rows are merged into their call, not counted as calls
        assert f.rows_ingested + f.rows_rejected <= nonblank
    else:
        # Asterisk rows of one uniqueid are one call: the others are merged into it
        assert f.rows_ingested + f.rows_rejected + f.rows_merged == nonblank
    n = query("select count(*) from calls", settings_).rows[0][0]
    bad = query("select count(*), count(reason), min(source_line) from rejects", settings_).rows[0]
    assert n == f.rows_ingested
    assert bad[0] == bad[1] == f.rows_rejected
    if f.rows_rejected:
        assert bad[2] >= (2 if header else 1)
