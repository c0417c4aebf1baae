"""chunks.split: the chunks put back together are the file, with the right line numbers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tracehop.cdr import chunks
from tracehop.cdr.scan import scan_file

BODIES = [
    b"a,1\nb,2\nc,3\n",
    b"a,1\nb,2\nc,3",  # no newline at the end
    b"a,1\r\n\r\nb,2\r\n" + b"x" * 300 + b"\r\nc,3\r\n",  # CRLF, a blank line, a long line
    b"\n\n" + b"a,1\n" * 50,
]


@pytest.mark.parametrize("block", [16 << 20, 1, 4])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("chunk_bytes", [1, 5, 64, 1 << 20])
@pytest.mark.parametrize("body", BODIES)
def test_chunks_put_back_together_are_the_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    block: int,
    gz: bool,
    header: bool,
    chunk_bytes: int,
    body: bytes,
) -> None:
    """``block``: the scan's read size; when it divides the chunk size, an uncompressed file
    is cut using the scan's newline counts (and the fallback that reads the bytes is not used)."""
    head = b"\n\nh1,h2\n" if header else b""
    data = head + body
    path = tmp_path / "src.csv"
    path.write_bytes(gzip.compress(data) if gz else data)
    scan = scan_file(path, chunk=block)
    if not gz and chunk_bytes % block == 0:

        def no_fallback(*args: object, **kwargs: object) -> None:
            raise AssertionError("the scan's newline counts were not used")

        monkeypatch.setattr(chunks, "_split_plain", no_fallback)
    source_lines = data.split(b"\n")
    if data.endswith(b"\n"):
        source_lines.pop()
    got = b""
    lines_seen = 0
    for chunk in chunks.split(path, scan, tmp_path / "c", header=header, chunk_bytes=chunk_bytes):
        if not chunk.temporary:  # small enough: the file itself
            assert (chunk.path, chunk.line_offset, gz) == (path, 0, False)
            got, lines_seen = body, len(source_lines) - (3 if header else 0)
            continue
        text = chunk.path.read_bytes()
        lines = text.split(b"\n")
        if text.endswith(b"\n"):
            lines.pop()
        assert chunk.scan.lines == len(lines)
        assert chunk.scan.size == len(text)
        first = 1
        if header:
            assert lines[0] == b"h1,h2"
            first = 2
        for n in range(first, len(lines) + 1):  # chunk line n is source line n + offset
            assert lines[n - 1] == source_lines[n + chunk.line_offset - 1]
        lines_seen += len(lines) - (first - 1)
        got += text[len(b"h1,h2\n") :] if header else text
    assert got == body
    assert lines_seen == len(source_lines) - (3 if header else 0)
    assert not list((tmp_path / "c").glob("chunk-*"))
