"""Hub benchmark (issue 4): complaints traced across a simulated network of real nodes.

Simulates a world, gives every responsive provider its own home and a node process
(``tracehop serve``) on loopback, imports the directory, nodes and number blocks into a hub,
then traces N complaints (default 200) with ``trace_batch`` and prints the median and p90
time per completed traceback (goal: median < 1 s), hops per trace and the outcomes.

    python benchmarks/hub.py [--complaints 200] [--scale 1] [--days 2] [--workers 4]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--complaints", type=int, default=200)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--hop-timeout", type=float, default=10.0)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()

    from tracehop.auth import tokens
    from tracehop.cdr.ingest import ingest
    from tracehop.customers import import_customers, parse_customers_csv
    from tracehop.settings import load_settings
    from tracehop.simulate import simulate
    from tracehop.store import open_store
    from tracehop.tracebacks.batch import trace_batch
    from tracehop.tracebacks.directory import import_blocks, import_directory
    from tracehop.tracebacks.hub import open_hub
    from tracehop.tracebacks.nodeprocs import start_node, stop_all, wait_healthy

    base = args.keep or Path(tempfile.mkdtemp(prefix="tracehop-hub-"))
    procs: list[subprocess.Popen] = []
    try:
        out = base / "world"
        t0 = time.perf_counter()
        simulate(out, seed=args.seed, days=args.days, scale=args.scale)
        complaints = read(out / "complaints.csv")
        print(
            f"world: {len(complaints)} complaints, simulated in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        directory = read(out / "directory.csv")
        rows = [["id", "node_url", "token"]]
        t0 = time.perf_counter()
        for p in directory:
            if p["responsive"] != "true":
                continue  # in the directory without a node: its hops are no_response
            pid, home = p["id"], base / "homes" / p["id"]
            settings = load_settings(home=home, provider=pid)
            store = open_store(settings)
            import_customers(store, parse_customers_csv(out / "customers" / f"{pid}.csv"))
            ingest([out / p["cdr_file"]], settings, provider=pid, store=store)
            token = tokens.issue(store, "hub")
            store.close()
            proc, url = start_node(home, pid, directory=out / "directory.csv")
            procs.append(proc)
            rows.append([pid, url, token])
        wait_healthy({r[0]: r[1] for r in rows[1:]}, procs, timeout=300)
        print(
            f"{len(procs)} node processes loaded and listening in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        nodes = base / "nodes.csv"
        with nodes.open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        hub_settings = load_settings(home=base / "hub")
        store = open_store(hub_settings)
        import_directory(store, out / "directory.csv", nodes)
        import_blocks(store, out / "number_blocks.csv")
        store.close()

        hub = open_hub(hub_settings)
        t0 = time.perf_counter()
        result = trace_batch(
            hub, out / "complaints.csv", workers=args.workers, hop_timeout=args.hop_timeout,
            limit=args.complaints,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        traces = result.traces
        done = [t for t in traces if t.outcome != "no_response" and t.seconds is not None]
        secs = sorted(t.seconds for t in done)
        hops = [len(t.hops) for t in traces]
        print(f"machine: {os.cpu_count()} cores; {len(procs)} nodes; workers {args.workers}")
        print(
            f"traced {len(traces)} complaints in {wall:.1f} s "
            f"({len(traces) / wall:.1f} traces/s); {len(result.errors)} unreadable rows"
        )
        if secs:
            print(
                f"completed tracebacks: {len(done)}; median {statistics.median(secs):.3f} s, "
                f"p90 {secs[int(0.9 * (len(secs) - 1))]:.3f} s per traceback (goal median < 1 s)"
            )
        print(f"hops per trace: mean {statistics.mean(hops):.2f}, max {max(hops)}")
        print("outcomes:", dict(sorted(Counter(t.outcome for t in traces).items())))
    finally:
        stop_all(procs)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
