"""Large CDR files are ingested in chunks of about CHUNK_BYTES, so memory stays bounded
whatever the file's size (no spilling, no load-all).

A chunk is a copy of a run of whole lines (with the header line first, for formats that have
one) in the ingest's staging folder; ``line_offset`` turns its line numbers back into the
source file's. Each chunk becomes its own sorted Parquet file per day.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tracehop.cdr.scan import FileScan
from tracehop.cdr.sources import is_compressed, open_binary
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
    gz = is_compressed(path)
    if not gz and scan.size <= chunk_bytes:
        yield from whole(path, scan)
        return
    folder.mkdir(parents=True, exist_ok=True)
    if gz:
        yield from _split_stream(path, folder, header=header, chunk_bytes=chunk_bytes)
    elif scan.newlines_at is not None and scan.block and chunk_bytes % scan.block == 0:
        yield from _split_indexed(path, scan, folder, header=header, chunk_bytes=chunk_bytes)
    else:
        yield from _split_plain(path, folder, header=header, chunk_bytes=chunk_bytes)


def _read_header(src: BinaryIO, header: bool) -> tuple[bytes, int]:
    """The header line (blank lines before it skipped) and the source lines it took."""
    if not header:
        return b"", 0
    head = src.readline()
    lines_done = 1
    while head and not head.strip():  # blank lines before the header
        head = src.readline()
        lines_done += 1
    if head and not head.endswith(b"\n"):
        head += b"\n"
    return head, lines_done


def _chunk(
    folder: Path, k: int, head: bytes, size: int, newlines: int, ends_nl: bool, lines_done: int
) -> Chunk:
    n = newlines + (0 if ends_nl else 1)
    scan = FileScan(
        sha256="",
        size=len(head) + size,
        lines=n + (1 if head else 0),
        blank_lines=array("q"),
        blanks_known=False,
    )
    return Chunk(
        path=folder / f"chunk-{k:05d}.csv",
        scan=scan,
        line_offset=lines_done - (1 if head else 0),
        temporary=True,
    )


def _split_plain(path: Path, folder: Path, *, header: bool, chunk_bytes: int) -> Iterator[Chunk]:
    """An uncompressed file: each chunk is a byte range ending after a newline, copied through
    one reused buffer (newlines counted on the way), never held whole in memory."""
    buf = bytearray(min(READ_BYTES, chunk_bytes))
    view = memoryview(buf)
    with path.open("rb") as src:
        size = os.fstat(src.fileno()).st_size
        head, lines_done = _read_header(src, header)
        if header and not head:
            return
        pos = src.tell()
        k = 0
        while pos < size:
            cut = _cut_after(src, pos + chunk_bytes, size)
            src.seek(pos)
            chunk_path = folder / f"chunk-{k:05d}.csv"
            newlines, last = 0, 0
            with chunk_path.open("wb") as dst:
                dst.write(head)
                left = cut - pos
                while left > 0:
                    got = src.readinto(view[: min(len(buf), left)])
                    if not got:  # the file shrank while read: stop at what is there
                        break
                    newlines += buf.count(b"\n", 0, got)
                    last = buf[got - 1]
                    dst.write(view[:got])
                    left -= got
            chunk = _chunk(folder, k, head, cut - pos - left, newlines, last == 10, lines_done)
            yield chunk
            chunk_path.unlink(missing_ok=True)
            lines_done += chunk.scan.lines - (1 if head else 0)
            pos = cut
            k += 1


def _split_indexed(
    path: Path, scan: FileScan, folder: Path, *, header: bool, chunk_bytes: int
) -> Iterator[Chunk]:
    """An uncompressed file whose scan counted the newlines before every ``scan.block`` bytes:
    chunks are cut after the first newline at or after each multiple of ``chunk_bytes``, so
    their line counts come from the scan and their bytes are copied by the kernel, unread."""
    size = scan.size  # the bytes the checksum covers, even if the file grew since
    index = scan.newlines_at
    assert index is not None
    with path.open("rb") as src:
        head, lines_done = _read_header(src, header)
        if header and not head:
            return
        pos = src.tell()
        ends_nl = size > 0 and os.pread(src.fileno(), 1, size - 1) == b"\n"
        k = 0
        target = chunk_bytes
        while pos < size:
            if target >= size:
                cut, before_cut = size, index[-1]
            else:
                cut = _cut_after(src, target, size)
                # a newline at target - 1 is counted before target; else the one ending the
                # cut is the only newline in [target, cut)
                before_cut = index[target // scan.block] + (0 if cut == target else 1)
                if cut == size:
                    before_cut = index[-1]
            target += chunk_bytes
            if cut <= pos:  # the header reached past this target
                continue
            newlines = before_cut - lines_done
            last_nl = cut < size or ends_nl
            chunk = _chunk(folder, k, head, cut - pos, newlines, last_nl, lines_done)
            _copy_range(src, pos, cut - pos, chunk.path, head)
            yield chunk
            chunk.path.unlink(missing_ok=True)
            lines_done = before_cut
            pos = cut
            k += 1


def _copy_range(src: BinaryIO, start: int, length: int, out: Path, head: bytes) -> None:
    """``head`` then ``length`` bytes of ``src`` from ``start`` into ``out`` (in the kernel
    where it can, else through a buffer)."""
    with out.open("wb") as dst:
        dst.write(head)
        dst.flush()
        done = 0
        copy = getattr(os, "copy_file_range", None)
        while copy is not None and done < length:
            try:
                n = copy(src.fileno(), dst.fileno(), length - done, start + done)
            except OSError:
                break
            if n == 0:
                break
            done += n
        if done < length:
            src.seek(start + done)
            left = length - done
            while left > 0:
                block = src.read(min(READ_BYTES, left))
                if not block:
                    break
                dst.write(block)
                left -= len(block)


def _cut_after(src: BinaryIO, target: int, size: int) -> int:
    """The offset just after the first newline at or after ``target - 1`` (or the end)."""
    if target >= size:
        return size
    src.seek(target - 1)
    offset = target - 1
    while block := src.read(1 << 16):
        i = block.find(b"\n")
        if i != -1:
            return offset + i + 1
        offset += len(block)
    return size


def _split_stream(path: Path, folder: Path, *, header: bool, chunk_bytes: int) -> Iterator[Chunk]:
    """A compressed file: read on, cutting after the last newline of each ``chunk_bytes``."""
    read_bytes = min(READ_BYTES, chunk_bytes)
    with open_binary(path) as src:
        head, lines_done = _read_header(src, header)
        if header and not head:
            return
        blocks: list[bytes] = []
        held = 0
        k = 0
        while True:
            block = src.read(read_bytes)
            if block:
                blocks.append(block)
                held += len(block)
                if held < chunk_bytes:
                    continue
                data = b"".join(blocks)
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # a line longer than a chunk: read on
                    blocks = [data]
                    continue
            else:
                data = b"".join(blocks)
                cut = len(data)
            body = data[:cut]
            rest = data[cut:]
            blocks, held = ([rest], len(rest)) if rest else ([], 0)
            del data
            if body:
                chunk = _chunk(
                    folder, k, head, len(body), body.count(b"\n"), body.endswith(b"\n"), lines_done
                )
                with chunk.path.open("wb") as dst:
                    dst.write(head)
                    dst.write(body)
                del body
                yield chunk
                chunk.path.unlink(missing_ok=True)
                lines_done += chunk.scan.lines - (1 if head else 0)
                k += 1
            if not block:
                return


def prefix_digests(path: Path, sizes: Iterable[int]) -> dict[int, str]:
    """SHA-256 of the first ``n`` bytes of the file's (decompressed) text, for each ``n`` of
    ``sizes`` the text reaches: one pass, however many sizes."""
    want = sorted({n for n in sizes if n > 0})
    out: dict[int, str] = {}
    if not want:
        return out
    digest = hashlib.sha256()
    done = 0
    with open_binary(path) as fh:
        for n in want:
            while done < n:
                block = fh.read(min(READ_BYTES, n - done))
                if not block:
                    return out
                digest.update(block)
                done += len(block)
            out[n] = digest.copy().hexdigest()
    return out


def _skip_prefix(src: BinaryIO, path: Path, start: int, header: bool) -> tuple[bytes, int]:
    """Read the first ``start`` bytes of ``src`` (where an earlier version of the file
    ended): the header line (blank lines before it skipped) and how many newlines those bytes
    held. An earlier version that ended inside a line is refused (that line was read cut)."""
    head = b""
    done = before = 0  # bytes and newlines read
    while header:
        line = src.readline()
        done += len(line)
        before += line.endswith(b"\n")
        if not line or line.strip():
            head = line if line.endswith(b"\n") or not line else line + b"\n"
            break
    left = start - done
    last = b"\n"
    while left > 0:
        block = src.read(min(READ_BYTES, left))
        if not block:
            break
        before += block.count(b"\n")
        left -= len(block)
        last = block[-1:]
    if left < 0 or (start and last != b"\n"):
        raise InputError(
            f"{path} continues a file ingested before whose last line was incomplete: ingest "
            "complete files (rotated CDR files) instead"
        )
    return head, before


def lines_before(path: Path, start: int, header: bool) -> int:
    """How many lines the first ``start`` bytes of the file's (decompressed) text hold (an
    earlier version of the file; checked as :func:`tail_file` does)."""
    with open_binary(path) as src:
        return _skip_prefix(src, path, start, header)[1]


def tail_file(path: Path, start: int, folder: Path, header: bool) -> tuple[Chunk, int]:
    """The lines after byte ``start`` of the file's (decompressed) text, where an earlier
    version of it ended, as a file of their own, with the header line first; and the line
    offset of its first data line."""
    folder.mkdir(parents=True, exist_ok=True)
    with open_binary(path) as src:
        head, before = _skip_prefix(src, path, start, header)
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
        blank_lines=array("q"),
        blanks_known=False,
    )
    # data line k of the tail file (k counts the header as 1) is source line before + k - 1
    return Chunk(path=out, scan=scan, line_offset=0, temporary=True), before - (1 if header else 0)
