"""Detection benchmark (issue 5): ``tracehop detect`` over 10 M and 50 M simulated calls
against a plain pandas group-by computing the same per-customer aggregates.

For each size N (CDR rows in the lake) the lake is built once, in ONE home:
- the simulator writes one day at ``--scale N / ROWS_PER_SCALE_DAY`` (scale 1 gives about
  1.37 M lake rows a day: one row per provider per call); every provider's CDR file is
  ingested into the same home with tracehop's real ingest (``--provider <id>``), and every
  provider's customers are imported into it. So the home holds all 28 providers' rows, about
  N calls (a customer id that two providers share, such as a carrier, is one customer here);
then, in the same run, each in its own child process so that its peak memory (max RSS) is
measured alone:
- **tracehop**: ``run_detection`` on the whole lake (indicators per customer and per caller
  ID, scores, campaigns, the run stored in the state DB), default settings;
- **baseline**: pandas reads the lake's Parquet files (the columns it needs) and computes,
  per customer, attempts, ASR, ACD, short-call share, distinct callers and distinct called
  numbers with a straightforward ``groupby``.
The two agree on those six aggregates for every customer (checked and printed). Prints
seconds, calls/s and peak memory. Not a test: figures go to docs/performance.md.

    python benchmarks/detect.py [--sizes 10000000 50000000] [--keep DIR] [--seed N]

A quick run: ``--sizes 1000000``. With ``--keep DIR`` the lakes stay there and a second run
reuses them (only the measurements run again).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

# Lake rows per simulated day at --scale 1 (measured: scale 0.1, seed 1 gives 136,942).
ROWS_PER_SCALE_DAY = 1_370_000
AGGREGATES = ("calls", "asr", "acd", "short_share", "distinct_callers", "distinct_called")


def build_lake(work: Path, rows: int, seed: int, scenario: str) -> Path:
    """Simulate a world of about ``rows`` lake rows and ingest all of it into one home."""
    from tracehop.cdr.ingest import ingest
    from tracehop.customers import import_customers, parse_customers_csv
    from tracehop.settings import load_settings
    from tracehop.simulate import simulate
    from tracehop.store import open_store

    home = work / f"home-{rows}"
    done = home / "bench-lake.json"
    if done.exists():
        return home
    world = work / f"world-{rows}"
    scale = rows / ROWS_PER_SCALE_DAY
    t0 = time.perf_counter()
    simulate(world, seed=seed, days=1, scale=scale, scenario=scenario)
    sim_s = time.perf_counter() - t0
    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(home=home)
    store = open_store(settings)
    t0 = time.perf_counter()
    ingested = 0
    with (world / "directory.csv").open(newline="") as fh:
        directory = list(csv.DictReader(fh))
    for row in directory:
        import_customers(store, parse_customers_csv(world / "customers" / f"{row['id']}.csv"))
        result = ingest([world / row["cdr_file"]], settings, provider=row["id"], store=store)
        ingested += result.rows_ingested
    ingest_s = time.perf_counter() - t0
    store.close()
    size = sum(f.stat().st_size for f in (home / "lake" / "calls").rglob("*.parquet"))
    info = {
        "scale": scale,
        "seed": seed,
        "scenario": scenario,
        "providers": len(directory),
        "rows": ingested,
        "simulate_seconds": sim_s,
        "ingest_seconds": ingest_s,
        "parquet_bytes": size,
    }
    done.write_text(json.dumps(info))
    shutil.rmtree(world, ignore_errors=True)  # the CSVs are not needed any more
    print(
        f"built lake of {ingested:,} rows ({size / 1e9:.2f} GB Parquet): simulate "
        f"--scale {scale:.2f} in {sim_s:.0f} s, ingest of {len(directory)} providers' files "
        f"in {ingest_s:.0f} s",
        flush=True,
    )
    return home


# A child's peak memory: VmHWM of its own address space. (ru_maxrss would not do: after
# fork + exec it starts at the parent's peak, which built the lakes.)
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

DETECT_CHILD = (
    PEAK
    + """
import json, sys, time
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.detection.run import run_detection
settings = load_settings(home=sys.argv[1])
store = open_store(settings)
t0 = time.perf_counter()
result = run_detection(settings, store)
dt = time.perf_counter() - t0
aggs = {f.subject: [f.evidence["indicators"].get(k) for k in json.loads(sys.argv[2])]
        for f in result.findings if f.kind == "customer"}
print(json.dumps({"seconds": dt, "customers": result.window["customers"],
                  "flagged": result.window["flagged"],
                  "findings": len(result.findings), "aggregates": aggs,
                  "max_rss_mb": peak_mb()}))
"""
)

PANDAS_CHILD = (
    PEAK
    + """
import json, sys, time
from pathlib import Path
import pandas as pd
files = sorted(str(p) for p in Path(sys.argv[1]).rglob("*.parquet"))
t0 = time.perf_counter()
df = pd.read_parquet(files, columns=["upstream", "caller", "called", "disposition",
                                    "duration"])
df["answered"] = df["disposition"] == "answered"
df["short"] = df["answered"] & (df["duration"] < 6)
df["answered_duration"] = df["duration"].where(df["answered"])
g = df.groupby("upstream")
out = pd.DataFrame({
    "calls": g.size(),
    "asr": g["answered"].mean(),
    "acd": g["answered_duration"].mean(),
    "short_share": g["short"].sum() / g["answered"].sum(),
    "distinct_callers": g["caller"].nunique(),
    "distinct_called": g["called"].nunique(),
})
dt = time.perf_counter() - t0
out = out.fillna(0.0)
print(json.dumps({"seconds": dt, "rows": len(df), "customers": len(out),
                  "aggregates": {k: [float(x) for x in v] for k, v in
                                 zip(out.index, out.itertuples(index=False))},
                  "max_rss_mb": peak_mb()}))
"""
)


def child(code: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(a: dict[str, list], b: dict[str, list]) -> str:
    """Whether both sides found the same customers and the same six aggregates (findings
    round shares and seconds to 4 decimals)."""
    if set(a) != set(b):
        return f"no: customers differ ({len(set(a) ^ set(b))} only on one side)"
    bad = 0
    for k, va in a.items():
        for x, y in zip(va, b[k], strict=True):
            if abs(float(x or 0) - float(y or 0)) > 6e-5 + 1e-9 * abs(float(y or 0)):
                bad += 1
    return "yes" if not bad else f"no: {bad} values differ"


def mem_available_mb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000_000, 50_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--keep", type=Path, help="keep (and reuse) the lakes in this folder")
    ap.add_argument("--no-baseline", action="store_true", help="skip the pandas baseline")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="tracehop-bench-detect-"))
    work.mkdir(parents=True, exist_ok=True)
    rows_out = []
    baseline_rss_per_row = None
    try:
        for size in args.sizes:
            home = build_lake(work, size, args.seed, args.scenario)
            info = json.loads((home / "bench-lake.json").read_text())
            th = child(DETECT_CHILD, str(home), json.dumps(list(AGGREGATES)))
            print(
                f"{info['rows']:,} rows: tracehop {th['seconds']:.2f} s, "
                f"{th['max_rss_mb']:.0f} MB; {th['flagged']} of {th['customers']} customers "
                "flagged",
                flush=True,
            )
            base = None
            agree = "-"
            projected = (
                baseline_rss_per_row * info["rows"] if baseline_rss_per_row is not None else 0
            )
            if args.no_baseline:
                agree = "baseline skipped"
            elif projected > 0.8 * mem_available_mb():
                agree = f"baseline skipped: projected {projected / 1024:.1f} GB RSS"
            else:
                base = child(PANDAS_CHILD, str(home / "lake" / "calls"))
                baseline_rss_per_row = base["max_rss_mb"] / max(1, info["rows"])
                agree = compare(th["aggregates"], base["aggregates"])
                print(
                    f"{info['rows']:,} rows: pandas {base['seconds']:.2f} s, "
                    f"{base['max_rss_mb']:.0f} MB",
                    flush=True,
                )
            rows_out.append((info, th, base, agree))
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}, duckdb {duckdb.__version__}"
        )
        print(
            "| calls (lake rows) | Parquet | tracehop s | tracehop calls/s | tracehop peak RSS "
            "| pandas s | pandas peak RSS | tracehop / pandas | same aggregates |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for info, th, base, agree in rows_out:
            n = info["rows"]
            bs = f"{base['seconds']:.2f}" if base else "-"
            br = f"{base['max_rss_mb']:,.0f} MB" if base else "-"
            ratio = f"{th['seconds'] / base['seconds']:.2f}x" if base else "-"
            print(
                f"| {n:,} | {info['parquet_bytes'] / 1e9:.2f} GB | {th['seconds']:.2f} | "
                f"{n / th['seconds']:,.0f} | {th['max_rss_mb']:,.0f} MB | {bs} | {br} | "
                f"{ratio} | {agree} |"
            )
        print(
            "goals: 10 M calls < 20 s, linear growth, peak memory < 4 GB, faster than pandas; "
            f"benchmark process max RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
