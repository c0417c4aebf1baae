"""STIR/SHAKEN verification benchmark (issue 15): verifications per second with a warm
certificate cache on one core, and secsipidx's HTTP check in the same run.

Setup: a test CA with P provider certificates served over HTTP on loopback; N Identity
headers signed by them (random numbers, attestation A/B/C). Then, in the same run:
- **tracehop, in process** (the ingest and screening case): one ``Verifier`` (disk cache in a
  temporary home), the process pinned to CPU 0; the cache is warmed with one verification per
  provider, then every header is verified (``verify`` with From/To, judged at a fixed time
  within the freshness window) and timed one by one; also ``verify_many`` on the batch;
- **secsipidx over HTTP** (the baseline: ``secsipidx -http-srv``, ``POST /v1/check``, x5u
  downloaded once into its ``-cache-dir``, dates and chain checked with ``-cert-verify 5``),
  pinned to CPU 0 with ``GOMAXPROCS=1``, loaded by ``wrk`` on CPU 1;
- **tracehop over HTTP** (``POST /api/v1/shaken/verify``, uvicorn, one process pinned to CPU
  0), loaded the same way: the like-for-like row against secsipidx.
Each row gives the wall-clock rate and the rate per CPU-second the verifier itself used (its
process's user + system time): on a shared machine the second says what one core can do.
The HTTP rows post one header again and again (wrk sends one body): a warm cache by design.
Both HTTP verifiers get a freshness window of an hour so the run's length does not matter.
Figures go to docs/performance.md; nothing here is a test.

    python benchmarks/shaken.py [--identities 20000] [--providers 10] [--seconds 5]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tracehop.shaken.ca import TestCA
from tracehop.shaken.cache import CertCache
from tracehop.shaken.certs import TrustStore
from tracehop.shaken.passport import sign
from tracehop.shaken.verify import Verifier

HOUR = 3600.0


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def number(rng: random.Random) -> str:
    return f"1{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def make_calls(
    ca: TestCA, providers: list, base: str, n: int, iat: datetime
) -> list[tuple[str, str, str]]:
    rng = random.Random(15)
    keys = [p.key() for p in providers]
    calls = []
    for i in range(n):
        k = i % len(providers)
        orig, dest = number(rng), number(rng)
        identity = sign(orig=orig, dest=dest, attest=rng.choice("ABC"), key=keys[k],
                        x5u=f"{base}/{providers[k].name}.pem", iat=iat)  # fmt: skip
        calls.append((identity, orig, dest))
    return calls


def in_process(ca: TestCA, home: Path, calls: list[tuple[str, str, str]], at: datetime) -> dict:
    os.sched_setaffinity(0, {0})
    verifier = Verifier(TrustStore.load(ca.root_path), CertCache(home / "shaken-cache"))
    seen: set[str] = set()
    for identity, orig, dest in calls:  # warm: one verification per certificate
        url = identity.split("info=<", 1)[1].split(">", 1)[0]
        if url not in seen:
            seen.add(url)
            assert verifier.verify(identity, orig=orig, dest=dest, at=at).valid
    times = []
    clock = time.perf_counter
    cpu = time.process_time()
    start = clock()
    for identity, orig, dest in calls:
        t = clock()
        result = verifier.verify(identity, orig=orig, dest=dest, at=at)
        times.append(clock() - t)
        if not result.valid:
            raise SystemExit(f"not valid: {result.reason} {result.detail}")
    total = clock() - start
    cpu = time.process_time() - cpu
    start = clock()
    batch = verifier.verify_many(
        [c[0] for c in calls], orig=[c[1] for c in calls], dest=[c[2] for c in calls], at=at
    )
    batch_total = clock() - start
    assert all(r.valid for r in batch)
    times.sort()
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return {
        "n": len(calls),
        "per_s": len(calls) / total,
        "per_cpu_s": len(calls) / cpu,
        "batch_per_s": len(calls) / batch_total,
        "p50_us": statistics.median(times) * 1e6,
        "p99_us": times[int(len(times) * 0.99)] * 1e6,
        "fetches": verifier.cache.fetches,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, body: str, seconds: int, tmp: Path, pid: int) -> dict:
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    cpu = cpu_seconds(pid)
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(pid) - cpu
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"per_s": rate, "per_cpu_s": total / cpu, "non_2xx": int(bad.group(1)) if bad else 0}


def secsipidx_http(ca: TestCA, identity: str, seconds: int, tmp: Path) -> dict | None:
    binary = shutil.which("secsipidx")
    if binary is None or shutil.which("wrk") is None:
        print("secsipidx or wrk missing (apt-get install secsipidx wrk): baseline skipped")
        return None
    port = free_port()
    cache = tmp / "secsipidx-cache"
    cache.mkdir()
    proc = subprocess.Popen(
        ["taskset", "-c", "0", binary, "-http-srv", f"127.0.0.1:{port}", "-expire", str(int(HOUR)),
         "-timeout", "2", "-cert-verify", "5", "-ca-file", str(ca.root_path),
         "-cache-dir", str(cache), "-cache-expire", str(int(HOUR))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "GOMAXPROCS": "1"},
    )  # fmt: skip
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/v1/check"
        import httpx

        first = httpx.post(url, content=identity, timeout=10)
        if first.status_code != 200:
            raise SystemExit(f"secsipidx refused the header: {first.status_code} {first.text}")
        return wrk(url, identity, seconds, tmp, proc.pid)
    finally:
        proc.terminate()
        proc.wait()


def serve_app(port: int, home: str, root: str) -> None:
    """The child process of tracehop_http: the router on uvicorn, one process."""
    import uvicorn
    from fastapi import FastAPI

    from tracehop.api.errors import install_error_shape
    from tracehop.api.shaken import shaken_router
    from tracehop.settings import load_settings

    settings = load_settings(home=home, shaken_trust=root, shaken_max_age=HOUR)
    app = FastAPI()
    install_error_shape(app, name="benchmark")
    app.include_router(shaken_router(Verifier.from_settings(settings)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def tracehop_http(ca: TestCA, identity: str, seconds: int, tmp: Path) -> dict | None:
    if shutil.which("wrk") is None:
        return None
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, __file__, "--serve", str(port),
         str(tmp / "http-home"), str(ca.root_path)],
    )  # fmt: skip
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/api/v1/shaken/verify"
        import httpx

        body = json.dumps({"identity": identity})
        first = httpx.post(
            url, content=body, headers={"Content-Type": "application/json"}, timeout=10
        )
        if not first.json().get("valid"):
            raise SystemExit(f"tracehop refused the header: {first.text}")
        return wrk(url, body, seconds, tmp, proc.pid)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=20_000)
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=5, help="length of each HTTP run")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_app(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-shaken-"))
    try:
        ca = TestCA.create(tmp / "ca")
        providers = [ca.issue(f"p{i}", f"{1000 + i}") for i in range(args.providers)]
        handler = functools.partial(Quiet, directory=str(ca.certs_dir))
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{httpd.server_port}"
        now = datetime.now(UTC).replace(microsecond=0)
        calls = make_calls(ca, providers, base, args.identities, now)
        local = in_process(ca, tmp / "home", calls, now + timedelta(seconds=1))
        theirs = secsipidx_http(ca, sign(orig="12155551212", dest="12155551213", attest="A",
                                         key=providers[0].key(), x5u=f"{base}/p0.pem"),
                                args.seconds, tmp)  # fmt: skip
        ours = tracehop_http(ca, sign(orig="12155551212", dest="12155551213", attest="A",
                                      key=providers[0].key(), x5u=f"{base}/p0.pem"),
                             args.seconds, tmp)  # fmt: skip
        httpd.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"\n{args.identities} headers, {args.providers} certificates (fetched {local['fetches']}x)"
    )
    print("| what | verifications/s (wall) | per CPU-second | notes |")
    print("| --- | --- | --- | --- |")
    print(f"| tracehop in process, verify() | {local['per_s']:,.0f} | {local['per_cpu_s']:,.0f} | "
          f"p50 {local['p50_us']:.0f} µs, p99 {local['p99_us']:.0f} µs |")  # fmt: skip
    print(f"| tracehop in process, verify_many() | {local['batch_per_s']:,.0f} | | |")
    for name, row in (("secsipidx -http-srv /v1/check", theirs),
                      ("tracehop POST /api/v1/shaken/verify", ours)):  # fmt: skip
        if row:
            print(f"| {name} | {row['per_s']:,.0f} | {row['per_cpu_s']:,.0f} | "
                  f"non-2xx {row['non_2xx']} |")  # fmt: skip
    if theirs:
        print(f"\nratio tracehop in process / secsipidx HTTP: {local['per_s'] / theirs['per_s']:.2f}x"
              f" (per CPU-second {local['per_cpu_s'] / theirs['per_cpu_s']:.2f}x)")  # fmt: skip
        if ours:
            print(f"ratio tracehop HTTP / secsipidx HTTP: {ours['per_s'] / theirs['per_s']:.2f}x"
                  f" (per CPU-second {ours['per_cpu_s'] / theirs['per_cpu_s']:.2f}x)")  # fmt: skip
    print("goal (issue 15): >= 3,000 verifications/s per core with a warm cache")


if __name__ == "__main__":
    main()
