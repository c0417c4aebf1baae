"""The certificate cache: each x5u URL fetched once, its chain kept while it may be, failures
remembered briefly, and all of it shared by the processes of one home.

- **Two levels.** In the process, a bounded LRU of parsed chains (with their validation
  memo, ``certs.CertChain.memo``): a warm verification touches no file. On disk, one JSON
  file per URL under ``HOME/shaken-cache/`` (folder 0700, files 0600, each written to a
  temporary name, fsynced and renamed into place, so a reader sees a whole entry or none):
  worker processes share what any of them fetched.
- **How long.** The server's HTTP cache headers (``Cache-Control: max-age``, ``no-cache``,
  ``no-store``, ``Expires``) are honoured, bounded to [``MIN_TTL``, ``MAX_TTL``] (a server
  asking for no caching would otherwise cost every call a fetch); without headers
  ``default_ttl`` (setting ``shaken_cache_ttl``). Never past the end certificate's notAfter
  (unless it has already passed: then a verification of an older call still needs it).
  RFC 8224 section 6.2.1 and ATIS-1000074 ask verifiers to cache certificates and honour
  the HTTP caching headers.
- **Failures** (fetch failed, not a certificate, not a SHAKEN certificate) are kept for
  ``negative_ttl`` (setting ``shaken_negative_ttl``, 30 s), in memory and on disk: a dead
  URL costs one timeout per home every 30 s, not one per call.
- **One fetch at a time per URL** in a process (threads asking for the same URL wait for the
  first fetch). Two processes may fetch the same URL at once; the last rename wins.
- **Fetching** (``HttpFetcher``, HTTPX): http(s) only, no redirects, a whole-fetch deadline
  (``shaken_fetch_timeout``, 2 s) and at most ``MAX_CERT_BYTES``. ``DirectoryFetcher`` serves
  URLs from local folders (the simulator's and demo's certificates, no server needed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tracehop.settings import ensure_home
from tracehop.shaken.certs import CertChain, parse_chain
from tracehop.shaken.result import Reason, VerificationFailure
from tracehop.times import SYSTEM, Clock

log = logging.getLogger(__name__)

MIN_TTL = 60.0
MAX_TTL = 86400.0
MAX_CERT_BYTES = 65536
MAX_URL = 2048
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Fetched:
    """What a fetcher got: the body, and how long the server allows keeping it (None: it
    did not say)."""

    body: bytes
    ttl: float | None = None


Fetcher = Callable[[str], Fetched]


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL a verifier may fetch, else ``bad_url``."""
    if not isinstance(url, str) or len(url) > MAX_URL or not url.isprintable() or " " in url:
        raise VerificationFailure(Reason.BAD_URL, "x5u is not a URL")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError:
        raise VerificationFailure(Reason.BAD_URL, "x5u is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VerificationFailure(Reason.BAD_URL, "x5u is not an http(s) URL")
    if parts.username is not None or parts.password is not None or port == 0:
        raise VerificationFailure(Reason.BAD_URL, "x5u has credentials or port 0")
    return url


def http_ttl(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the response may be kept according to its headers (RFC 9111), None if they
    do not say. ``no-store``/``no-cache`` give 0 (the caller's floor applies)."""
    directives: dict[str, str] = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    if "max-age" in directives:
        with contextlib.suppress(ValueError):
            return max(0.0, float(int(directives["max-age"])))
    expires = headers.get("expires")
    if expires:
        try:
            when = parsedate_to_datetime(expires).timestamp()
            date = headers.get("date")
            base = parsedate_to_datetime(date).timestamp() if date else now
        except (TypeError, ValueError, IndexError, OverflowError):
            return 0.0  # an invalid Expires means "already expired" (RFC 9111 5.3)
        return max(0.0, when - base)
    return None


class HttpFetcher:
    """GET over HTTP(S) with HTTPX: one client (connection reuse), no redirects, a deadline
    for the whole fetch, a size cap."""

    def __init__(self, *, timeout: float = 2.0, max_bytes: int = MAX_CERT_BYTES) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={
                "User-Agent": "tracehop-shaken",
                "Accept": "application/pem-certificate-chain, */*",
            },
        )

    def close(self) -> None:
        self._client.close()

    def __call__(self, url: str) -> Fetched:
        # Real network time, whatever clock the verifier judges calls with.
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise VerificationFailure(
                        Reason.FETCH_FAILED, f"fetching {url}: HTTP {response.status_code}"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise VerificationFailure(
                            Reason.FETCH_FAILED, f"fetching {url}: over {self.max_bytes} bytes"
                        )
                    if time.monotonic() > deadline:
                        raise VerificationFailure(
                            Reason.FETCH_FAILED, f"fetching {url}: over {self.timeout:g} s"
                        )
                return Fetched(bytes(body), http_ttl(response.headers, time.time()))
        except httpx.TimeoutException:
            raise VerificationFailure(
                Reason.FETCH_FAILED, f"fetching {url}: no answer within {self.timeout:g} s"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
            raise VerificationFailure(
                Reason.FETCH_FAILED, f"fetching {url}: {type(exc).__name__}: {exc}"
            ) from None


class DirectoryFetcher:
    """Serves URLs under given prefixes from local folders (``{"https://certs.example/":
    Path("ca/certs")}``), for the simulator and the demo: no server needed."""

    def __init__(
        self, prefixes: Mapping[str, Path | str], *, fallback: Fetcher | None = None
    ) -> None:
        self.prefixes = {p: Path(d) for p, d in prefixes.items()}
        self.fallback = fallback  # for URLs under none of the prefixes (else fetch_failed)

    def __call__(self, url: str) -> Fetched:
        for prefix, folder in self.prefixes.items():
            if url.startswith(prefix):
                name = url[len(prefix) :]
                if not name or "/" in name or "\\" in name or name.startswith("."):
                    break
                try:
                    return Fetched((folder / name).read_bytes())
                except OSError as exc:
                    raise VerificationFailure(
                        Reason.FETCH_FAILED, f"fetching {url}: {exc.strerror}"
                    ) from None
        if self.fallback is not None and not any(url.startswith(p) for p in self.prefixes):
            return self.fallback(url)
        raise VerificationFailure(Reason.FETCH_FAILED, f"fetching {url}: not a known location")


@dataclass
class Entry:
    """One URL's cached outcome: a chain, or a failure, until ``expires_at``."""

    url: str
    fetched_at: float
    expires_at: float
    chain: CertChain | None = None
    reason: Reason | None = None
    detail: str = ""

    def result(self) -> CertChain:
        if self.chain is None:
            raise VerificationFailure(self.reason or Reason.FETCH_FAILED, self.detail)
        return self.chain

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "fetched_at": self.fetched_at,
            "expires_at": self.expires_at,
            "pem": self.chain.pem().decode("ascii") if self.chain else None,
            "failure": {"reason": str(self.reason), "detail": self.detail}
            if self.chain is None
            else None,
        }


def _iso(epoch: object) -> str | None:
    try:
        return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds")  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class CertCache:
    """x5u URL -> certificate chain, in memory and (with ``directory``) on disk."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        fetcher: Fetcher | None = None,
        clock: Clock = SYSTEM,
        default_ttl: float = 3600.0,
        negative_ttl: float = 30.0,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.fetcher: Fetcher = fetcher if fetcher is not None else HttpFetcher()
        self.clock = clock
        self.default_ttl = default_ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._url_locks = [threading.Lock() for _ in range(64)]
        self.fetches = 0  # how many fetches this cache made (tests and benchmarks read it)

    def close(self) -> None:
        close = getattr(self.fetcher, "close", None)
        if callable(close):
            close()

    def get(self, url: str) -> CertChain:
        """The chain at ``url``: from memory, else from disk, else fetched (and kept).
        Raises the failure (``bad_url``, ``fetch_failed``, ``bad_certificate``,
        ``unsupported_certificate``), remembered for ``negative_ttl``."""
        now = self.clock.now().timestamp()
        with self._lock:
            entry = self._memory.get(url)
            if entry is not None and entry.expires_at > now:
                self._memory.move_to_end(url)
                return entry.result()
        check_url(url)
        with self._url_locks[hash(url) % len(self._url_locks)]:
            with self._lock:  # another thread may have fetched it while this one waited
                entry = self._memory.get(url)
            if entry is None or entry.expires_at <= now:
                entry = self._read_disk(url, now)
                if entry is None:
                    entry = self._fetch(url, now)
                    self._write_disk(entry)
                with self._lock:
                    self._memory[url] = entry
                    self._memory.move_to_end(url)
                    while len(self._memory) > self.max_entries:
                        self._memory.popitem(last=False)
        return entry.result()

    def _fetch(self, url: str, now: float) -> Entry:
        self.fetches += 1
        try:
            fetched = self.fetcher(url)
            chain = parse_chain(fetched.body)
        except VerificationFailure as failure:
            log.info("x5u %s: %s (%s)", url, failure.reason, failure.message)
            return Entry(url, now, now + self.negative_ttl, None, failure.reason, failure.message)
        ttl = self.default_ttl if fetched.ttl is None else fetched.ttl
        expires = now + min(MAX_TTL, max(MIN_TTL, ttl))
        not_after = chain.windows[0][1]
        if not_after > now:
            expires = min(expires, not_after)
        return Entry(url, now, expires, chain)

    def _path(self, url: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / (hashlib.sha256(url.encode()).hexdigest()[:40] + ".json")

    def _read_disk(self, url: str, now: float) -> Entry | None:
        path = self._path(url)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("url") != url or float(data["expires_at"]) <= now:
                return None
            fetched_at, expires_at = float(data["fetched_at"]), float(data["expires_at"])
            if data.get("pem"):
                return Entry(url, fetched_at, expires_at, parse_chain(data["pem"].encode()))
            failure = data.get("failure") or {}
            return Entry(
                url, fetched_at, expires_at, None, Reason(failure["reason"]), failure["detail"]
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, VerificationFailure) as exc:
            log.warning("ignoring the unreadable cache entry %s: %s", path, exc)
            return None

    def _write_disk(self, entry: Entry) -> None:
        path = self._path(entry.url)
        if path is None:
            return
        try:
            self._ensure_directory()
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(entry.to_json(), out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:  # a cache that cannot be written only costs fetches
            log.warning("cannot write the certificate cache %s: %s", path, exc)

    def _ensure_directory(self) -> None:
        assert self.directory is not None
        if not self.directory.is_dir():
            ensure_home(self.directory.parent)  # a new home is owner-only (docs/security.md)
            self.directory.mkdir(exist_ok=True, mode=0o700)
            self.directory.chmod(0o700)

    def _disk_entries(self) -> list[tuple[Path, dict[str, Any]]]:
        if self.directory is None or not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                out.append((path, json.loads(path.read_text())))
            except (OSError, ValueError):
                out.append((path, {}))
        return out

    def entries(self) -> list[dict[str, Any]]:
        """What the disk cache holds: url, fetched/expires (epoch s), ok or failure reason."""
        now = self.clock.now().timestamp()
        rows = []
        for _path, data in self._disk_entries():
            failure = data.get("failure") or {}
            expires = float(data.get("expires_at") or 0)
            rows.append(
                {
                    "url": data.get("url"),
                    "ok": bool(data.get("pem")),
                    "reason": failure.get("reason"),
                    "fetched_at": _iso(data.get("fetched_at")),
                    "expires_at": _iso(expires),
                    "expired": not expires > now,
                }
            )
        return rows

    def prune(self, *, everything: bool = False) -> int:
        """Delete expired (or, with ``everything``, all) disk entries; forget memory too.
        Returns how many files were deleted."""
        now = self.clock.now().timestamp()
        deleted = 0
        for path, data in self._disk_entries():
            if everything or not float(data.get("expires_at") or 0) > now:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    deleted += 1
        with self._lock:
            if everything:
                self._memory.clear()
            else:
                for url in [u for u, e in self._memory.items() if e.expires_at <= now]:
                    del self._memory[url]
        return deleted
