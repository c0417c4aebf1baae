"""The certificate cache (issue 15): fetched once, kept while allowed (HTTP headers, notAfter,
bounds), failures remembered briefly, shared on disk by processes, owner-only, atomic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shakenkit import CertServer
from tracehop.shaken.ca import TestCA
from tracehop.shaken.cache import (
    MAX_TTL,
    MIN_TTL,
    CertCache,
    DirectoryFetcher,
    Fetched,
    HttpFetcher,
    check_url,
    http_ttl,
)
from tracehop.shaken.certs import TrustStore
from tracehop.shaken.passport import sign
from tracehop.shaken.result import Reason, VerificationFailure
from tracehop.shaken.verify import Verifier
from tracehop.times import FakeClock

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Setup:
    ca: TestCA
    server: CertServer
    chain: bytes

    def serve(
        self,
        path: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
    ) -> str:
        self.server.routes[f"/{path}"] = (
            status,
            headers or {},
            self.chain if body is None else body,
            delay,
        )
        return self.server.url(path)

    def identity(self, url: str, at: datetime = NOW) -> str:
        key = self.ca.provider("acme").key()
        return sign(orig="2155551212", dest="2155551213", attest="A", key=key, x5u=url, iat=at)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    ca = TestCA.create(tmp_path_factory.mktemp("ca") / "ca")
    provider = ca.issue("acme", "1234")
    with CertServer() as server:
        yield Setup(ca, server, provider.chain_path.read_bytes())


def _verifier(setup: Setup, cache: CertCache) -> Verifier:
    return Verifier(TrustStore.load(setup.ca.root_path), cache, clock=cache.clock)


def test_a_certificate_is_fetched_once_for_many_calls(setup: Setup) -> None:
    url = setup.serve("once.pem")
    verifier = _verifier(setup, CertCache())
    results = [verifier.verify(setup.identity(url), at=NOW) for _ in range(20)]
    assert all(r.valid for r in results)
    assert setup.server.hits["/once.pem"] == 1


def test_the_disk_cache_is_shared_owner_only_and_whole(setup: Setup, tmp_path: Path) -> None:
    url = setup.serve("shared.pem")
    folder = tmp_path / "home" / "shaken-cache"
    assert _verifier(setup, CertCache(folder)).verify(setup.identity(url), at=NOW).valid
    # another process of the same home: no fetch, the chain comes from disk
    code = "\n".join(
        [
            "import sys",
            "from pathlib import Path",
            "from tracehop.shaken.cache import CertCache",
            "def no(url): raise SystemExit('fetched ' + url)",
            "c = CertCache(Path(sys.argv[1]), fetcher=no)",
            "print(c.get(sys.argv[2]).signer()['spc'][0])",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(folder), url], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1234"
    assert setup.server.hits["/shared.pem"] == 1
    files = list(folder.iterdir())
    assert [f.suffix for f in files] == [".json"]  # no temporary file left behind
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "home").stat().st_mode & 0o777 == 0o700
    assert files[0].stat().st_mode & 0o777 == 0o600
    entry = json.loads(files[0].read_text())
    assert entry["url"] == url and entry["pem"].count("BEGIN CERTIFICATE") == 2


def test_a_corrupt_disk_entry_is_fetched_again(setup: Setup, tmp_path: Path) -> None:
    url = setup.serve("corrupt.pem")
    CertCache(tmp_path).get(url)
    for f in tmp_path.iterdir():
        f.write_text("{not json")
    assert CertCache(tmp_path).get(url).signer()["spc"] == ["1234"]
    assert setup.server.hits["/corrupt.pem"] == 2


@pytest.mark.parametrize(
    ("headers", "ttl"),
    [
        ({}, 3600.0),  # no headers: the default
        ({"Cache-Control": "public, max-age=600"}, 600.0),
        ({"Cache-Control": "max-age=5"}, MIN_TTL),  # floor
        ({"Cache-Control": "no-store"}, MIN_TTL),
        ({"Cache-Control": "max-age=99999999"}, MAX_TTL),  # ceiling
        ({"Expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, MIN_TTL),
    ],
)
def test_http_cache_headers_are_honoured_within_bounds(
    setup: Setup, headers: dict[str, str], ttl: float
) -> None:
    name = f"ttl-{abs(hash(str(headers)))}.pem"
    url = setup.serve(name, headers=headers)
    clock = FakeClock(NOW)
    cache = CertCache(clock=clock)
    cache.get(url)
    clock.advance(ttl - 1)
    cache.get(url)
    assert setup.server.hits[f"/{name}"] == 1
    clock.advance(2)
    cache.get(url)
    assert setup.server.hits[f"/{name}"] == 2


def test_an_entry_never_outlives_its_certificate(setup: Setup, tmp_path: Path) -> None:
    ca = TestCA.create(tmp_path / "ca")
    short = ca.issue("short", "4321", not_after=NOW + timedelta(minutes=10))
    setup.server.routes["/short.pem"] = (200, {}, short.chain_path.read_bytes(), 0.0)
    url = setup.server.url("short.pem")
    clock = FakeClock(NOW)
    cache = CertCache(clock=clock, default_ttl=86400)
    cache.get(url)
    clock.advance(9 * 60)
    cache.get(url)
    assert setup.server.hits["/short.pem"] == 1
    clock.advance(2 * 60)
    cache.get(url)
    assert setup.server.hits["/short.pem"] == 2


def test_a_dead_url_costs_one_fetch_per_negative_ttl(setup: Setup, tmp_path: Path) -> None:
    url = setup.serve("dead.pem", status=503, body=b"down")
    clock = FakeClock(NOW)
    cache = CertCache(tmp_path, clock=clock, negative_ttl=30)
    verifier = _verifier(setup, cache)
    results = [verifier.verify(setup.identity(url, clock.now()), at=clock.now()) for _ in range(10)]
    assert {r.reason for r in results} == {Reason.FETCH_FAILED}
    assert "HTTP 503" in results[-1].detail
    assert setup.server.hits["/dead.pem"] == 1
    # the failure is on disk too: another worker does not try either
    with pytest.raises(VerificationFailure) as err:
        CertCache(tmp_path, clock=clock).get(url)
    assert err.value.reason is Reason.FETCH_FAILED
    assert setup.server.hits["/dead.pem"] == 1
    clock.advance(31)
    setup.serve("dead.pem")  # back up
    assert verifier.verify(setup.identity(url, clock.now()), at=clock.now()).valid
    assert setup.server.hits["/dead.pem"] == 2


@pytest.mark.parametrize(
    ("route", "reason", "detail"),
    [
        ({"body": b"x" * 70_000}, Reason.FETCH_FAILED, "over 65536 bytes"),
        (
            {"status": 302, "headers": {"Location": "http://127.0.0.1:9/"}},
            Reason.FETCH_FAILED,
            "HTTP 302",
        ),
        ({"body": b"<html>hello</html>"}, Reason.BAD_CERTIFICATE, "not serve a PEM or DER"),
    ],
)
def test_what_a_server_sends_is_bounded(
    setup: Setup, route: dict[str, object], reason: Reason, detail: str
) -> None:
    url = setup.serve(f"bounded-{reason}-{len(str(route))}.pem", **route)  # type: ignore[arg-type]
    with pytest.raises(VerificationFailure) as err:
        CertCache().get(url)
    assert err.value.reason is reason and detail in err.value.message


def test_a_slow_server_is_cut_at_the_deadline(setup: Setup) -> None:
    url = setup.serve("slow.pem", delay=1.0)
    cache = CertCache(fetcher=HttpFetcher(timeout=0.2))
    with pytest.raises(VerificationFailure) as err:
        cache.get(url)
    assert err.value.reason is Reason.FETCH_FAILED
    assert "no answer within 0.2 s" in err.value.message


def test_threads_asking_for_one_url_share_one_fetch(setup: Setup) -> None:
    url = setup.serve("busy.pem", delay=0.2)
    cache = CertCache()
    got: list[str] = []

    def ask() -> None:
        got.append(cache.get(url).signer()["spc"][0])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["1234"] * 8
    assert setup.server.hits["/busy.pem"] == 1


def test_the_memory_cache_is_bounded(setup: Setup) -> None:
    urls = [setup.serve(f"many-{i}.pem") for i in range(5)]
    cache = CertCache(max_entries=3)
    for url in urls:
        cache.get(url)
    cache.get(urls[0])  # evicted: fetched again
    assert setup.server.hits["/many-0.pem"] == 2
    cache.get(urls[4])  # kept
    assert setup.server.hits["/many-4.pem"] == 1


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x/c.pem",
        "http:///c.pem",
        "http://u:p@x/c.pem",
        "http://x:0/c",
        "http://x/a b",
        "x" * 3000,
        "http://x:99999/",
    ],
)
def test_urls_a_verifier_will_not_fetch(url: str) -> None:
    with pytest.raises(VerificationFailure) as err:
        check_url(url)
    assert err.value.reason is Reason.BAD_URL


@pytest.mark.parametrize(
    ("headers", "ttl"),
    [
        ({}, None),
        ({"cache-control": "max-age=60"}, 60.0),
        ({"cache-control": 'max-age="120"'}, 120.0),
        ({"cache-control": "max-age=abc"}, None),
        ({"cache-control": "no-cache"}, 0.0),
        (
            {"expires": "Mon, 01 Jan 2024 01:00:00 GMT", "date": "Mon, 01 Jan 2024 00:00:00 GMT"},
            3600.0,
        ),
        ({"expires": "0"}, 0.0),
    ],
)
def test_http_ttl(headers: dict[str, str], ttl: float | None) -> None:
    assert http_ttl(headers, now=0.0) == ttl


def test_directory_fetcher_serves_local_files(setup: Setup) -> None:
    fetch = DirectoryFetcher({"https://certs.sim.example/": setup.ca.certs_dir})
    assert fetch("https://certs.sim.example/acme.pem") == Fetched(setup.chain)
    for url in [
        "https://certs.sim.example/../ca.json",
        "https://elsewhere/acme.pem",
        "https://certs.sim.example/none.pem",
    ]:
        with pytest.raises(VerificationFailure):
            fetch(url)
    verifier = Verifier(TrustStore.load(setup.ca.root_path), CertCache(fetcher=fetch))
    assert verifier.verify(setup.identity("https://certs.sim.example/acme.pem"), at=NOW).valid


def test_entries_and_prune(setup: Setup, tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    cache = CertCache(tmp_path, clock=clock, negative_ttl=30)
    cache.get(setup.serve("listed.pem"))
    with pytest.raises(VerificationFailure):
        cache.get(setup.serve("listed-dead.pem", status=404))
    rows = sorted(cache.entries(), key=lambda r: not r["ok"])
    assert [(r["ok"], r["reason"], r["expired"]) for r in rows] == [
        (True, None, False),
        (False, "fetch_failed", False),
    ]
    clock.advance(60)
    assert cache.prune() == 1
    assert cache.prune(everything=True) == 1
    assert os.listdir(tmp_path) == []
