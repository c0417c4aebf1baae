"""Reading a source file once before ingest: its SHA-256 (the manifest's key), its size, its
lines, and where its blank lines and every 16 MB of newlines are (so that chunks can be cut
and line numbers kept exact). The hash runs in a second thread while this one counts the
newlines (``bytes.count``: NumPy is imported only for a chunk with many blank lines, its
import costs more than it saves on the ingest path)."""

from __future__ import annotations

import hashlib
from array import array
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tracehop.cdr.sources import compression, open_binary


@dataclass
class FileScan:
    sha256: str
    size: int
    lines: int  # physical lines of the (decompressed) text
    blank_lines: array = field(repr=False)  # 1-based numbers of empty lines (array("q"))
    blanks_known: bool = True  # False when scanned without looking for blank lines
    # Uncompressed files: newlines_at[i] is the number of newlines before byte i * block (the
    # last entry: before the end), so a chunk cut after a newline knows its lines unread.
    block: int = 0
    newlines_at: list[int] | None = field(default=None, repr=False)


def scan_file(path: Path, chunk: int = 16 << 20, *, find_blanks: bool = True) -> FileScan:
    """One pass over a source file: its checksum, its line count and (``find_blanks``) its
    blank lines.

    The CSV reader skips blank lines silently; knowing them lets ingest give every row the
    physical line number it came from. Most CDR files have none, so ingest first scans without
    looking for them and asks again only when the counts show some.
    """
    digest = hashlib.sha256()
    size = path.stat().st_size
    gz = compression(path) is not None  # any compressed file: its text is read through it
    blanks = array("q")
    lines = 0  # newlines seen so far
    tail = b"\n"  # last bytes seen; a virtual newline before line 1
    last_byte = -1
    offset = 0
    newlines_at: list[int] | None = None if gz else []
    # A big uncompressed file is hashed in a second thread (hashlib lets go of the GIL) while
    # this one counts its lines.
    pool = ThreadPoolExecutor(max_workers=1) if not gz and size > chunk else None
    hashing: Future[None] | None = None
    try:
        with path.open("rb") as raw:
            text = open_binary(path, raw=_Tee(raw, digest)) if gz else None  # type: ignore[arg-type]
            while True:
                buf = text.read(chunk) if text is not None else raw.read(chunk)
                if not buf:
                    break
                if hashing is not None:
                    hashing.result()
                    hashing = None
                if pool is not None:
                    hashing = pool.submit(digest.update, buf)
                elif text is None:
                    digest.update(buf)
                if newlines_at is not None:
                    if len(buf) != chunk and offset + len(buf) != size:  # a short read: no index
                        newlines_at = None
                    else:
                        newlines_at.append(lines)
                if find_blanks:
                    blanks.extend(_blank_lines(buf, tail, lines))
                lines += buf.count(b"\n")
                tail = (tail + buf[-2:])[-2:]
                last_byte = buf[-1]
                offset += len(buf)
            if hashing is not None:
                hashing.result()
    finally:
        if pool is not None:
            pool.shutdown()
    total_lines = lines + (1 if offset and last_byte != 10 else 0)
    if newlines_at is not None:
        if offset != size:  # the file changed while read
            newlines_at = None
        else:
            newlines_at.append(lines)
    return FileScan(
        digest.hexdigest(),
        size,
        total_lines,
        blanks,
        find_blanks,
        block=chunk,
        newlines_at=newlines_at,
    )


def _blank_lines(buf: bytes, tail: bytes, lines_before: int, few: int = 64) -> array:
    """1-based numbers of the empty lines ("" or "\r") that end in ``buf``.

    CDR files rarely have any: ``bytes.find`` (C speed) finds them, and only a chunk with many
    falls back to numpy over every newline.
    """
    window = tail + buf
    ends: list[int] = []
    for pattern in (b"\n\n", b"\n\r\n"):
        i = window.find(pattern)
        while i != -1:
            end = i + len(pattern) - 1  # the blank line's own newline
            if end >= len(tail):
                ends.append(end - len(tail))
                if len(ends) > few:
                    return _blank_lines_numpy(window, len(tail), lines_before)
            i = window.find(pattern, i + 1)
    ends.sort()
    numbers = []
    counted, pos = 0, 0
    for end in ends:
        counted += buf.count(b"\n", pos, end + 1)
        pos = end + 1
        numbers.append(lines_before + counted)
    return array("q", numbers)


def _blank_lines_numpy(window: bytes, skip: int, lines_before: int) -> array:
    import numpy as np  # only for a chunk with many blank lines

    arr = np.frombuffer(window, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    gap = np.diff(nl)
    blank = gap == 1
    two = np.flatnonzero(gap == 2)
    blank[two] = arr[nl[two + 1] - 1] == 13
    ends = nl[1:][blank]  # positions of blank lines' newlines in window
    ends = ends[ends >= skip] - skip
    # line number = newlines in buf up to and including the end, plus those before
    buf_nl = nl[nl >= skip] - skip
    return array("q", (np.searchsorted(buf_nl, ends, side="right") + lines_before).tolist())


class _Tee:
    """A read-only file wrapper that hashes what is read through it (compressed input)."""

    def __init__(self, raw, digest) -> None:  # type: ignore[no-untyped-def]
        self.raw, self.digest = raw, digest

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        return data

    def readable(self) -> bool:
        return True


# --- staging, commit, recovery -----------------------------------------------------------------
