"""CDR source files as bytes: compression (by magic bytes, whatever the name), the names of
rotated and dated files, the first lines of a file, and lines read back exactly as written.

Compressed files: gzip, bzip2 and xz through the standard library, zstd through
``zstandard`` (PyPI). Ingest decompresses them into its staging folder, in chunks, before
DuckDB reads them (chunks.py), so every reader sees plain text.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import re
import zlib
from pathlib import Path
from typing import BinaryIO

from tracehop.errors import FormatError

MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
# What a folder scan takes as a CDR file, once compression and rotation suffixes are removed.
# .act: Ribbon / Sonus SBC accounting files (1000003.ACT, "Billing Introduction").
SOURCE_SUFFIXES = (".csv", ".txt", ".log", ".tsv", ".cdr", ".act", ".parquet")
# Rotation suffixes: logrotate's numbers (Master.csv.1), FreeSWITCH mod_cdr_csv's
# "%Y-%m-%d-%H-%M-%S" (Master.csv.2023-10-11-00-36-14), dateext's -YYYYMMDD and .YYYYMMDD.
ROTATED = re.compile(
    r"(\.[0-9]{1,4}|[.-][0-9]{8}(-?[0-9]{2,6})?|\.[0-9]{4}-[0-9]{2}-[0-9]{2}(-[0-9]{2}-[0-9]{2}-[0-9]{2})?)$"
)
# Read errors of a damaged compressed file.
DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
)


def compression(path: Path) -> str | None:
    """``gzip``, ``bzip2``, ``xz``, ``zstd`` or None, from the file's first bytes."""
    with path.open("rb") as fh:
        head = fh.read(6)
    for magic, name in MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def is_compressed(path: Path) -> bool:
    return compression(path) is not None


def open_binary(path: Path, raw: BinaryIO | None = None) -> BinaryIO:
    """The file's (decompressed) bytes as a binary stream; ``raw``: read through this object
    instead of opening the path (the scan hashes the compressed bytes on the way)."""
    kind = compression(path)
    if kind is None:
        return raw if raw is not None else path.open("rb")
    # given a path, each opener closes the file it opened; given ``raw``, the caller does
    src = raw if raw is not None else path
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw) if raw is not None else gzip.open(path, "rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(src)  # type: ignore[return-value, arg-type]
    if kind == "xz":
        return lzma.LZMAFile(src)  # type: ignore[return-value, arg-type]
    import zstandard  # only for .zst files

    fh = raw if raw is not None else path.open("rb")
    reader = zstandard.ZstdDecompressor().stream_reader(
        fh, read_across_frames=True, closefd=raw is None
    )
    return io.BufferedReader(reader)  # type: ignore[arg-type]  # readline, like the others


def rotation_base(name: str) -> str:
    """The name a switch writes to, of a file rotated from it: ``Master.csv`` for
    ``Master.csv.1``, ``Master.csv.2.gz``, ``Master.csv.2023-10-11-00-36-14`` (FreeSWITCH's
    rotate-on-hup) or ``Master.csv-20231011`` (logrotate's dateext); any other name is its
    own base. A rotation suffix counts only after a CDR file's suffix (``calls.csv.1``, not
    ``report.2023``)."""
    base = name
    for _ in range(3):  # e.g. .csv.1.gz: compression, then rotation
        stripped = False
        for suffix in COMPRESSED_SUFFIXES:
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
                stripped = True
        m = ROTATED.search(base)
        if m and any(base[: m.start()].lower().endswith(s) for s in SOURCE_SUFFIXES):
            base = base[: m.start()]
            stripped = True
        if not stripped:
            break
    return base


# Oracle (Acme Packet) SBC local CDR files: cdrYYYYMMDDHHMM[a-j], with a push receiver's
# prefix (CDC_cdr...) and maybe an extension; "temp-cdr..." is the file still being written
# (Accounting Guide, "Local CDR File Naming Convention").
ORACLE_SBC_NAME = re.compile(r"(?:[A-Za-z0-9]+_)?cdr[0-9]{12}[a-j]?(?:\.[A-Za-z]+)?")


def looks_like_cdr(name: str) -> bool:
    """A folder scan's test: ``calls.csv``, ``Master.csv.1``, ``Master.csv.2023-10-11-00-36-14``,
    ``acc.log.2.gz``, ``cdr.tsv.zst``, ``export.parquet``, ``cdr202102071500a``."""
    base = rotation_base(name)
    return base.lower().endswith(SOURCE_SUFFIXES) or ORACLE_SBC_NAME.fullmatch(base) is not None


def first_lines(path: Path, count: int, max_line_size: int) -> list[tuple[int, bytes | None]]:
    """Up to ``count`` non-blank lines with their 1-based numbers; a line longer than
    ``max_line_size`` comes back as None (it is never read whole into memory)."""
    out: list[tuple[int, bytes | None]] = []
    try:
        with open_binary(path) as fh:
            number = 0
            while len(out) < count:
                line = fh.readline(max_line_size + 2)
                if not line:
                    break
                number += 1
                if not line.endswith(b"\n") and len(line) > max_line_size:
                    while line and not line.endswith(b"\n"):  # skip the rest of the long line
                        line = fh.readline(1 << 20)
                    out.append((number, None))
                    continue
                data = line.rstrip(b"\r\n")
                if data.strip():
                    out.append((number, data))
    except DECOMPRESS_ERRORS as exc:
        raise FormatError(f"cannot read {path}: {exc}") from exc
    return out


def decode_raw(data: bytes) -> tuple[str, str]:
    """A line as stored in the rejects: its text when it is UTF-8, else base64 of its bytes
    (the second value says which: ``utf-8`` or ``base64``)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def read_lines(path: Path, wanted: set[int], limit: int = 1 << 20) -> dict[int, tuple[str, str]]:
    """The given (1-based) physical lines of a file exactly as written (see :func:`decode_raw`),
    each cut at ``limit`` bytes (a line over the reader's limit is kept as its first bytes)."""
    if not wanted:
        return {}
    last = max(wanted)
    out: dict[int, tuple[str, str]] = {}
    with open_binary(path) as fh:
        number = 0
        while number < last:
            line = fh.readline(limit + 2)
            if not line:
                break
            number += 1
            keep = line
            while line and not line.endswith(b"\n"):  # a longer line: skip to its end
                line = fh.readline(1 << 20)
            if number in wanted:
                out[number] = decode_raw(keep[:limit].rstrip(b"\r\n"))
    return out
