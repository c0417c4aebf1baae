"""Large CDR files are ingested in chunks of about CHUNK_BYTES, so memory stays bounded
whatever the file's size (no spilling, no load-all).

A chunk is a copy of a run of whole lines (with the header line first, for formats that have
one) in the ingest's staging folder; ``line_offset`` turns its line numbers back into the
source file's. Each chunk becomes its own sorted Parquet file per day.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracehop.cdr.lake import FileScan
from tracehop.errors import InputError

CHUNK_BYTES = 128 << 20
READ_BYTES = 16 << 20


@dataclass
class Chunk:
    path: Path
    scan: FileScan  # lines of the chunk file (header included)
    line_offset: int  # source line = chunk line + line_offset
    temporary: bool


def whole(path: Path, scan: FileScan) -> Iterator[Chunk]:
    yield Chunk(path=path, scan=scan, line_offset=0, temporary=False)


def split(
    path: Path, scan: FileScan, folder: Path, *, header: bool, chunk_bytes: int | None = None
) -> Iterator[Chunk]:
    """Yield chunk files one at a time (each is written only when the previous one is done)."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    read_bytes = min(READ_BYTES, chunk_bytes)
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if not gz and scan.size <= chunk_bytes:
        yield from whole(path, scan)
        return
    folder.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "rb") as src:
        head = b""
        lines_done = 0  # source lines before the current chunk's first data line
        if header:
            head = src.readline()
            lines_done = 1
            while head and not head.strip():  # blank lines before the header
                head = src.readline()
                lines_done += 1
            if head and not head.endswith(b"\n"):
                head += b"\n"
        buf = b""
        k = 0
        while True:
            block = src.read(read_bytes)
            buf += block
            if block and len(buf) < chunk_bytes:
                continue
            if block:
                cut = buf.rfind(b"\n") + 1
                if cut == 0:  # a line longer than a chunk: read on
                    continue
            else:
                cut = len(buf)
            body, buf = buf[:cut], buf[cut:]
            if body:
                chunk_path = folder / f"chunk-{k:05d}.csv"
                chunk_path.write_bytes(head + body)
                n = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
                chunk_scan = FileScan(
                    sha256="",
                    size=len(head) + len(body),
                    lines=n + (1 if header else 0),
                    blank_lines=np.empty(0, dtype=np.int64),
                    blanks_known=False,
                )
                yield Chunk(
                    path=chunk_path,
                    scan=chunk_scan,
                    line_offset=lines_done - (1 if header else 0),
                    temporary=True,
                )
                chunk_path.unlink(missing_ok=True)
                lines_done += n
                k += 1
            if not block:
                return


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def prefix_sha256(path: Path, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of a file."""
    digest = hashlib.sha256()
    left = size
    with path.open("rb") as fh:
        while left > 0:
            block = fh.read(min(READ_BYTES, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def tail_file(path: Path, start: int, folder: Path, header: bool) -> tuple[Chunk, int]:
    """The lines after byte ``start`` (where an earlier version of the file ended) as a file
    of their own, with the header line first; and the line offset of its first data line."""
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as src:
        head = src.readline() if header else b""
        while header and head and not head.strip():
            head = src.readline()
        if head and not head.endswith(b"\n"):
            head += b"\n"
        src.seek(0)
        before = 0
        left = start
        last = b"\n"
        while left > 0:
            block = src.read(min(READ_BYTES, left))
            if not block:
                break
            before += block.count(b"\n")
            left -= len(block)
            last = block[-1:]
        if start and last != b"\n":
            raise InputError(
                f"{path} grew, but the last line ingested before was incomplete: ingest "
                "complete files (rotated CDR files) instead"
            )
        out = folder / "appended.csv"
        with out.open("wb") as dst:
            dst.write(head)
            n = 0
            ends_nl = True
            while block := src.read(READ_BYTES):
                dst.write(block)
                n += block.count(b"\n")
                ends_nl = block.endswith(b"\n")
    lines = n + (0 if ends_nl else 1) + (1 if header else 0)
    scan = FileScan(
        sha256="",
        size=out.stat().st_size,
        lines=lines,
        blank_lines=np.empty(0, dtype=np.int64),
        blanks_known=False,
    )
    # data line k of the tail file (k counts the header as 1) is source line before + k - 1
    return Chunk(path=out, scan=scan, line_offset=0, temporary=True), before - (1 if header else 0)
