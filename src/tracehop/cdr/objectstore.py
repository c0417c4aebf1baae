"""The lake on an object store (S3 or an S3-compatible server: MinIO, Ceph, ...): the setting
``lake_url`` (``TRACEHOP_LAKE_URL=s3://bucket/prefix``) puts the lake's Parquet files
(``calls/day=YYYY-MM-DD/...``, ``rejects/...``) there instead of under ``<home>/lake``.

Nothing is downloaded at run time: the S3 client is pyarrow's own (``pyarrow.fs.S3FileSystem``,
in the pyarrow wheel), and DuckDB reads and writes through it as an fsspec filesystem
(``fsspec``'s ``ArrowFSWrapper``, registered with ``register_filesystem``), not through its
``httpfs`` extension, which DuckDB would fetch from the network on first use (no PyPI package
carries one built for DuckDB 2.0). Spark would need the hadoop-aws jars, which pyspark does
not ship: ``TRACEHOP_ENGINE=spark`` refuses an object-store lake (docs/architecture.md).

An ingest still stages its files on local disk (``<home>/lake/_staging``) and commits them
by its plan (``lake.py``); applying the plan uploads each file to its key (an object appears
whole or not at all) and removes the staged copy, so a crash between two uploads is finished
by the next ingest as a crash between two renames is.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracehop.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem

INSTALL_S3 = "pip install 'tracehop[s3]'"
# s3://bucket[/prefix]: S3's bucket naming rules (3-63 of a-z 0-9 . -), a prefix of key
# characters without empty parts
_URL = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])((?:/[A-Za-z0-9!_.*'()=-]+)*)/?")


def parse_lake_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as ``(bucket, prefix)``; any other text is a ValueError."""
    m = _URL.fullmatch(url.strip())
    if m is None:
        raise ValueError(
            f"{url!r} is not an object-store lake: give s3://bucket or s3://bucket/prefix"
        )
    return m.group(1), m.group(2).strip("/")


@dataclass(frozen=True)
class ObjectStore:
    """Where the lake's files are kept: a bucket and a prefix on an S3 endpoint."""

    url: str
    endpoint: str | None = None  # http(s)://host:port of an S3-compatible server; None: AWS
    region: str = "us-east-1"
    key_id: str | None = None  # None: pyarrow's default credential chain
    secret: str | None = field(default=None, repr=False)

    @property
    def bucket(self) -> str:
        return parse_lake_url(self.url)[0]

    @property
    def root(self) -> str:
        """``bucket/prefix``: the lake's folder as the filesystem names it."""
        bucket, prefix = parse_lake_url(self.url)
        return f"{bucket}/{prefix}" if prefix else bucket

    def url_of(self, rel: str) -> str:
        return f"s3://{self.root}/{rel}"

    def filesystem(self) -> S3FileSystem:
        return _filesystem(self)

    def fsspec(self) -> Any:
        """The same filesystem as fsspec sees it (``s3://`` paths), for DuckDB's
        ``register_filesystem``."""
        try:
            from fsspec.implementations.arrow import ArrowFSWrapper
        except ImportError:
            raise ConfigError(f"an s3:// lake needs fsspec: {INSTALL_S3}") from None

        class S3Lake(ArrowFSWrapper):  # type: ignore[misc]
            protocol = ("s3",)  # the prefix DuckDB hands to this filesystem
            root_marker = ""

        return S3Lake(self.filesystem())

    def files(self, rel: str, pattern: str) -> list[str]:
        """URLs of the files under ``rel`` whose path below it matches ``pattern`` (a glob
        of ``fnmatch``), sorted."""
        import fnmatch

        from pyarrow.fs import FileSelector, FileType

        base = f"{self.root}/{rel}"
        with self._reached():
            found = self.filesystem().get_file_info(
                FileSelector(base, recursive=True, allow_not_found=True)
            )
        out = []
        for info in found:
            below = info.path[len(base) + 1 :]
            if info.type == FileType.File and fnmatch.fnmatchcase(below, pattern):
                out.append(f"s3://{info.path}")
        return sorted(out)

    def exists(self, rel: str) -> bool:
        from pyarrow.fs import FileType

        with self._reached():
            return self.filesystem().get_file_info(f"{self.root}/{rel}").type == FileType.File

    def upload(self, local: Path, rel: str) -> None:
        """Put a file at ``rel`` (one PUT, or a multipart upload completed at the end: the
        object is there whole or not at all)."""
        key = f"{self.root}/{rel}"
        with (
            self._reached(),
            local.open("rb") as src,
            self.filesystem().open_output_stream(key) as dst,
        ):
            while chunk := src.read(8 << 20):
                dst.write(chunk)

    def check(self) -> None:
        """The bucket is there and answers (before an ingest stages anything: a committed
        ingest whose upload cannot be done would stay pending)."""
        from pyarrow.fs import FileType

        with self._reached():
            found = self.filesystem().get_file_info(self.bucket).type
        if found != FileType.Directory:
            raise StoreError(f"the object-store lake {self.url}: no bucket {self.bucket!r}")

    @contextmanager
    def _reached(self) -> Iterator[None]:
        """The store's errors (unreachable, refused, no such bucket) as one line."""
        try:
            yield
        except OSError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            where = f" at {self.endpoint}" if self.endpoint else ""
            raise StoreError(f"the object-store lake {self.url}{where}: {first}") from exc


@functools.lru_cache(maxsize=8)
def _filesystem(store: ObjectStore) -> S3FileSystem:
    from pyarrow.fs import S3FileSystem

    options: dict[str, Any] = {"region": store.region}
    if store.endpoint:
        scheme, _, host = store.endpoint.partition("://")
        if scheme not in ("http", "https") or not host:
            raise ConfigError(
                f"setting lake_endpoint: {store.endpoint!r} is not http(s)://host[:port]"
            )
        options |= {"endpoint_override": host.rstrip("/"), "scheme": scheme}
    if store.key_id or store.secret:
        options |= {"access_key": store.key_id or "", "secret_key": store.secret or ""}
    return S3FileSystem(**options)
