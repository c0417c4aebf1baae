"""Dashboard and API benchmark (issue 16): server time of each page and main API list on a
large lake, side by side in one run with the same data fetched by ``tracehop query``.

A real ``tracehop serve`` process on loopback serves a home (``--home``: e.g. the 10 M-row
home that ``benchmarks/detect.py --keep DIR`` leaves, with a detection run in it); a user
logs in; each page and API list is requested ``--runs`` times (50 by default) in turn, and
the p50 and p95 of the response time are printed. In the same run, the baseline: the SQL
behind the page's heaviest figure run by ``tracehop query`` in a subprocess (what an analyst
does without the dashboard). Goal: every page's p95 under 300 ms on this machine.
Not a test: figures go to docs/performance.md.

    python benchmarks/web.py --home DIR [--runs 50] [--blocks 1000000]

``--blocks N``: the home's screening decision log is first filled up to N blocked calls
(rules 1-20, as a screener that has run for weeks writes them), so that the rules page's
hit counts are measured on a large log; its baseline is counting the hits by reading the
whole log once (what the page did before it kept a tally).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tracehop.auth.users import add_user, remove_user
from tracehop.errors import NotFoundError
from tracehop.screening.audit import LOG_NAME, iter_log, screening_dir
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.tracebacks.nodeprocs import free_port

PASSWORD = "benchmark password 123"
TRACEHOP = Path(sys.executable).with_name("tracehop")
BASELINE = {
    "overview": "select day, disposition, count(*) from calls group by 1, 2",
    "customer": "select day, count(*), avg((disposition = 'answered')::int) from calls "
    "where upstream = '{customer}' group by 1",
    "calls": "select * from calls order by start desc limit 100",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fill_decision_log(home: Path, blocks: int) -> Path:
    """Append synthetic block lines (the screener's own format) until the log holds
    ``blocks`` lines."""
    path = screening_dir(home) / LOG_NAME
    have = sum(1 for _ in path.open("rb")) if path.exists() else 0
    with path.open("a", encoding="utf-8") as fh:
        for i in range(have, blocks):
            at = f"2025-03-0{1 + i % 9}T{i % 24:02d}:{i % 60:02d}:00+00:00"
            fh.write(json.dumps({"at": at, "event": "block", "source": "sip",
                                 "rule_id": 1 + i % 20, "sip_code": 603, "reason": "bench",
                                 "call_id": f"b{i}", "caller": f"+1202555{i % 10000:04d}",
                                 "called": "+13125551234", "upstream": "bench"}) + "\n")  # fmt: skip
    return path


def full_read_hits(home: Path) -> int:
    """The baseline: hits per rule by reading the whole log (``audit.iter_log``)."""
    hits: dict[object, int] = {}
    for e in iter_log(screening_dir(home)):
        if e.get("event") == "block":
            hits[e.get("rule_id")] = hits.get(e.get("rule_id"), 0) + 1
    return len(hits)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--blocks", type=int, default=1_000_000)
    args = ap.parse_args()
    settings = load_settings(home=args.home)
    fill_decision_log(args.home, args.blocks)
    with open_store(settings) as store:
        with contextlib.suppress(NotFoundError):
            remove_user(store, "bench")
        add_user(store, "bench", "analyst", PASSWORD)
    port = free_port()
    proc = subprocess.Popen([str(TRACEHOP), "--home", str(args.home), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        run(base, args)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    return 0


def run(base: str, args: argparse.Namespace) -> None:
    with httpx.Client(base_url=base, timeout=120, follow_redirects=False) as c:
        c.post("/login", data={"user": "bench", "password": PASSWORD, "next": "/"})
        customers = c.get("/api/v1/findings?limit=1").json()["customers"]
        customer = customers[0]["customer"] if customers else "nobody"
        cases = c.get("/api/v1/cases").json()
        pages = {
            "overview": "/",
            "customers": "/customers",
            "customer": f"/customers/{customer}",
            "cases": "/cases",
            "tracebacks": "/tracebacks",
            "api overview": "/api/v1/overview",
            "api calls": "/api/v1/calls?limit=100",
            "api customers": "/api/v1/customers",
            "api findings": "/api/v1/findings",
            "rules": "/rules",
            "api rules": "/api/v1/rules",
            "api decisions": "/api/v1/decisions?limit=100",
        }
        if cases:
            pages["case"] = f"/cases/{cases[0]['case_id']}"
        times: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(args.runs):
            for name, path in pages.items():
                t0 = time.perf_counter()
                r = c.get(path)
                times[name].append(time.perf_counter() - t0)
                assert r.status_code == 200, (path, r.status_code, r.text[:200])
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.runs} requests each")
    print(f"{'page or API list':<24}{'p50 ms':>10}{'p95 ms':>10}")
    for name, ts in times.items():
        print(f"{name:<24}{1000 * statistics.median(ts):>10.1f}{1000 * pct(ts, 0.95):>10.1f}")
    print("baseline: the same data with tracehop query (a subprocess each, 5 runs, median)")
    for name, sql in BASELINE.items():
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([str(TRACEHOP), "--home", str(args.home), "query",
                            sql.format(customer=customer), "--json"],
                           check=True, capture_output=True)  # fmt: skip
            runs.append(time.perf_counter() - t0)
        print(f"{'query: ' + name:<24}{1000 * statistics.median(runs):>10.1f}")
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        full_read_hits(args.home)
        runs.append(time.perf_counter() - t0)
    print(f"{'rules: whole log read':<24}{1000 * statistics.median(runs):>10.1f}  "
          f"({args.blocks:,} blocks, in process)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
