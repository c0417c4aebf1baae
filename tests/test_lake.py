"""The checksum/line scan that gives rows their line numbers."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.cdr.scan import _blank_lines, scan_file


def expected_blanks(data: str) -> tuple[list[int], int]:
    if data == "":
        return [], 0
    lines = data.split("\n")
    ends_with_newline = data.endswith("\n")
    if ends_with_newline:
        lines = lines[:-1]
    blanks = [
        i + 1
        for i, line in enumerate(lines)
        if line in ("", "\r") and (i < len(lines) - 1 or ends_with_newline)
    ]
    return blanks, len(lines)


text = (
    st.lists(st.sampled_from(["", "\r", "a,b", "x", "\r\r", " ", '"q"']), max_size=60)
    .map("\n".join)
    .flatmap(lambda body: st.sampled_from(["", "\n", "\r\n"]).map(lambda end: body + end))
)


@settings(max_examples=200, deadline=None)
@given(data=text, chunk=st.sampled_from([1, 2, 3, 7, 1 << 20]))
def test_scan_finds_blank_lines_and_counts_lines(tmp_path_factory, data: str, chunk: int) -> None:
    path = tmp_path_factory.mktemp("scan") / "f.csv"
    path.write_bytes(data.encode())
    blanks, lines = expected_blanks(data)
    scan = scan_file(path, chunk=chunk)
    assert scan.blank_lines.tolist() == blanks
    assert scan.lines == lines
    assert scan.sha256 == hashlib.sha256(data.encode()).hexdigest()
    # the numpy path (used when a chunk has many blank lines) agrees
    assert _blank_lines(data.encode(), b"\n", 0, few=0).tolist() == blanks


def test_gzip_checksum_is_of_the_file_and_lines_of_the_text(tmp_path: Path) -> None:
    path = tmp_path / "f.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"a,b\n\n1,2\n")
    scan = scan_file(path)
    assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (scan.lines, scan.blank_lines.tolist()) == (3, [2])
