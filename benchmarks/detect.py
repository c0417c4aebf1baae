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
- **baseline**: a straightforward pandas program computing the same per-customer indicators
  as tracehop's customer findings: it reads the lake's Parquet files (the columns it needs),
  sets per-call flags (answered, short, failed, refused 403/607/608, caller = called,
  neighbour, unsigned, attestation B/C, failed verification), classifies each distinct
  caller ID with ``tracehop.numbers.caller_id_class`` and maps the classes onto the calls
  (caller = called overriding them), then ``groupby("upstream")``: every entry of
  ``INDICATORS`` plus the busiest minute (group-by customer and minute), distinct called
  numbers and the three most-called ones (group-by customer and called number) and the
  share of sequential NANP called numbers. ``customer_kind`` and ``customer_age_days`` come
  from the customers table, not the calls, and are left out.
The check compares every baseline indicator with tracehop's value for every customer: counts
equal, floats within 1e-6 relative (or 1e-9), first/last call the same instant; it prints
the indicators that differ. Findings round shares to 4 decimals, so the tracehop child keeps
the run's own unrounded values (what ``customer_indicators`` returned to ``run_detection``).
Prints seconds, calls/s and peak memory (VmHWM). Not a test: figures go to
docs/performance.md.

    python benchmarks/detect.py [--sizes 10000000 50000000] [--keep DIR] [--seed N]

A quick run: ``--sizes 1000000``. With ``--keep DIR`` the lakes stay there and a second run
reuses them (only the measurements run again).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

# Lake rows per simulated day at --scale 1 (measured: scale 0.1, seed 1 gives 136,942).
ROWS_PER_SCALE_DAY = 1_370_000
# Customer indicators outside INDICATORS that the baseline computes too (customer_kind and
# customer_age_days come from the customers table, not from the calls: not compared).
EXTRA = (
    "peak_calls_per_minute",
    "distinct_called",
    "top3_called_share",
    "top3_called_calls",
    "top_called_per_hour",
    "sequential_share",
    "sequential_excess",
)


def indicator_names() -> list[str]:
    """The customer indicators both sides compute and the check compares."""
    from tracehop.detection.indicators import INDICATORS

    return [*INDICATORS, *EXTRA]


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
from datetime import UTC, datetime
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.detection import run
settings = load_settings(home=sys.argv[1])
store = open_store(settings)

# Findings round shares to 4 decimals (scoring._round); keep the run's own unrounded
# customer indicators, the values the findings' evidence["indicators"] are rounded from.
exact = {}
customer_indicators = run.customer_indicators
def keep_customer_indicators(*args, **kwargs):
    values = customer_indicators(*args, **kwargs)
    exact.update(values)
    return values
run.customer_indicators = keep_customer_indicators

t0, c0 = time.perf_counter(), time.process_time()
result = run.run_detection(settings, store)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
rss = peak_mb()

def plain(v):
    return v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v

customers = {f.subject for f in result.findings if f.kind == "customer"}
aggs = {c: {k: plain(v) for k, v in exact[c].items()} for c in customers}
print(json.dumps({"seconds": dt, "cpu_seconds": cpu, "customers": result.window["customers"],
                  "flagged": result.window["flagged"],
                  "findings": len(result.findings), "aggregates": aggs,
                  "max_rss_mb": rss}))
"""
)

PANDAS_CHILD = (
    PEAK
    + """
import json, sys, time
from pathlib import Path
import numpy as np
import pandas as pd
from tracehop.detection.indicators import FLOOD_MIN_CALLS
from tracehop.numbers import caller_id_class

files = sorted(str(p) for p in Path(sys.argv[1]).glob("day=*/*.parquet"))
t0, c0 = time.perf_counter(), time.process_time()
df = pd.read_parquet(files, columns=["upstream", "start", "caller", "called", "duration",
                                    "disposition", "sip_code", "attest", "identity_status"])

# Per-call flags.
df["answered"] = df["disposition"] == "answered"
df["short"] = df["answered"] & (df["duration"] < 6)
# the answered-call shape: answered calls under 6, 10, 30, 60, 120 and 300 s
EDGES = [6, 10, 30, 60, 120, 300]
for e in EDGES[1:]:
    df[f"a{e}"] = df["answered"] & (df["duration"] < e)
df["answered_seconds"] = df["duration"].where(df["answered"], 0)
df["capped_seconds"] = df["answered_seconds"].clip(upper=300)
df["failed"] = df["disposition"] == "failed"
df["refused"] = df["sip_code"].isin([403, 607, 608])
df["caller_equals_called"] = (df["caller"] != "") & (df["caller"] == df["called"])
df["neighbour"] = (df["caller"].str.startswith("+1") & df["called"].str.startswith("+1")
                   & (df["caller"].str[:8] == df["called"].str[:8])
                   & ~df["caller_equals_called"])
df["unsigned"] = df["attest"].isna()
df["attest_b"] = df["attest"] == "B"
df["attest_c"] = df["attest"] == "C"
df["verify_failed"] = df["identity_status"].str.lower().isin(
    ["failed", "tn-validation-failed", "invalid"])

# Caller-ID class: once per distinct caller ID, mapped onto the calls; caller = called is a
# property of the call and overrides the caller's class.
callers = df["caller"].dropna().unique()
class_of = pd.Series([str(caller_id_class(c)) for c in callers], index=callers)
cls = df["caller"].map(class_of).fillna("missing")
cls = cls.where(~df["caller_equals_called"], "caller_equals_called")
df["invalid"] = cls.isin(["invalid_length", "invalid_npa", "unassigned_npa", "n11",
                          "fictional", "caller_equals_called"])
df["invalid_npa"] = cls.isin(["invalid_npa", "unassigned_npa"])
for name in ["invalid_length", "n11", "fictional", "missing", "toll_free"]:
    df[name] = cls == name
df["premium"] = cls == "premium_international"
df["one_ring"] = df["premium"] & ~df["answered"]
del cls

# Per customer.
g = df.groupby("upstream")
calls = g.size()
s = g[["answered", "short", "failed", "refused", "caller_equals_called", "neighbour",
       "unsigned", "attest_b", "attest_c", "verify_failed", "invalid", "invalid_npa",
       "invalid_length", "n11", "fictional", "missing", "toll_free", "premium", "one_ring",
       "answered_seconds", "capped_seconds", "a10", "a30", "a60", "a120", "a300"]].sum()
out = pd.DataFrame({"calls": calls, "first_seen": g["start"].min(),
                    "last_seen": g["start"].max()})
span = (out["last_seen"] - out["first_seen"]).dt.total_seconds().clip(lower=3600)
out["calls_per_hour"] = calls / span * 3600
out["asr"] = s["answered"] / calls
out["acd"] = (s["answered_seconds"] / s["answered"]).fillna(0.0)
out["talk_per_attempt"] = s["answered_seconds"] / calls
# each answered call counted up to 300 s, and its upper bound: mean + two standard errors
out["capped_talk_per_attempt"] = s["capped_seconds"] / calls
out["capped_talk_upper"] = (out["capped_talk_per_attempt"]
                            + 2 * g["capped_seconds"].std(ddof=0) / calls ** 0.5)
out["short_share"] = (s["short"] / s["answered"]).fillna(0.0)
out["under10_share"] = (s["a10"] / s["answered"]).fillna(0.0)
out["under30_share"] = (s["a30"] / s["answered"]).fillna(0.0)

def median_answered(row):
    # linear inside the bucket where half of the answered calls is reached (as the SQL)
    half, lo_edge, lo_count = row["answered"] / 2.0, 0.0, 0.0
    if row["answered"] == 0:
        return 0.0
    for edge, col in zip(EDGES, ["short", "a10", "a30", "a60", "a120", "a300"]):
        count = row[col]
        if count >= half:
            width = edge - lo_edge
            return lo_edge + width * ((half - lo_count) / (count - lo_count)
                                      if count != lo_count else 0.0)
        lo_edge, lo_count = float(edge), float(count)
    return 300.0

out["median_answered"] = s.apply(median_answered, axis=1)
out["failed_share"] = s["failed"] / calls
out["refused_share"] = s["refused"] / calls
out["distinct_callers"] = g["caller"].nunique()
out["caller_rotation"] = out["distinct_callers"] / calls
out["invalid_share"] = s["invalid"] / calls
out["invalid_npa_share"] = s["invalid_npa"] / calls
out["invalid_length_share"] = s["invalid_length"] / calls
out["n11_share"] = s["n11"] / calls
out["fictional_share"] = s["fictional"] / calls
out["caller_equals_called_share"] = s["caller_equals_called"] / calls
out["missing_caller_share"] = s["missing"] / calls
out["toll_free_share"] = s["toll_free"] / calls
out["toll_free_callers"] = (df[df["toll_free"]].groupby("upstream")["caller"].nunique()
                            .reindex(out.index, fill_value=0))
out["premium_share"] = s["premium"] / calls
out["one_ring_share"] = s["one_ring"] / calls
out["neighbour_share"] = s["neighbour"] / calls
out["unsigned_share"] = s["unsigned"] / calls
out["attest_b_share"] = s["attest_b"] / calls
out["attest_c_share"] = s["attest_c"] / calls
out["verify_failed_share"] = s["verify_failed"] / calls

# Busiest minute.
per_minute = df.groupby(["upstream", df["start"].dt.floor("min")]).size()
out["peak_calls_per_minute"] = per_minute.groupby(level="upstream").max()

# Called numbers: how many, and how concentrated on the three most called (TDoS).
per_called = df.groupby(["upstream", "called"]).size()
out["distinct_called"] = per_called.groupby(level="upstream").size()
top3 = (per_called.sort_values(ascending=False).groupby(level="upstream").head(3)
        .groupby(level="upstream").sum())
out["top3_called_calls"] = top3
out["top3_called_share"] = top3 / per_called.groupby(level="upstream").sum()
# A flood on one number: the most attempts to one called number in one clock hour, among the
# numbers called FLOOD_MIN_CALLS times or more in the window (0 when none is).
flooded = per_called[per_called >= FLOOD_MIN_CALLS].rename("n").reset_index()[["upstream", "called"]]
hours = df[["upstream", "called", "start"]].merge(flooded, on=["upstream", "called"])
per_hour = hours.groupby(["upstream", "called", hours["start"].dt.floor("h")]).size()
out["top_called_per_hour"] = (per_hour.groupby(level="upstream").max()
                              .reindex(out.index).fillna(0).astype("int64"))

# Sequential dialling: of each customer's distinct NANP called numbers (sorted), the share
# that directly follows the previous one (number - 1 was called too).
nanp = per_called.rename("calls").reset_index()[["upstream", "called", "calls"]]
nanp = nanp[nanp["called"].str.startswith("+1")]
nanp["number"] = pd.to_numeric(nanp["called"].str[2:], errors="coerce")
nanp = (nanp.dropna(subset=["number"]).drop_duplicates(["upstream", "number"])
        .sort_values(["upstream", "number"]))
nanp["follows"] = ((nanp["number"].diff() == 1)
                   & (nanp["upstream"] == nanp["upstream"].shift()))
out["sequential_share"] = nanp.groupby("upstream")["follows"].mean()
# ... beyond what as many random calls into the same blocks give: per NPA-NXX block,
# numbers x (1 - exp(-calls / 10,000)).
nanp["block"] = nanp["number"] // 10000
blocks = nanp.groupby(["upstream", "block"]).agg(numbers=("number", "size"),
                                                 calls=("calls", "sum"))
blocks["expected"] = blocks["numbers"] * (1 - np.exp(-blocks["calls"] / 10000.0))
per_customer = blocks.groupby(level="upstream")["expected"].sum()
out["sequential_excess"] = (nanp.groupby("upstream")["follows"].sum() - per_customer).clip(
    lower=0.0)
dt = time.perf_counter() - t0
rss = peak_mb()

def plain(v):
    if pd.isna(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v.item() if hasattr(v, "item") else v

aggs = {c: {k: plain(v) for k, v in row.items()} for c, row in out.iterrows()}
print(json.dumps({"seconds": dt, "cpu_seconds": time.process_time() - c0, "rows": len(df),
                  "customers": len(out),
                  "aggregates": aggs, "max_rss_mb": rss}))
"""
)


def child(code: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"child process failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same(x: object, y: object) -> bool:
    """One indicator value: counts equal, floats within 1e-6 (relative) or 1e-9, datetimes
    (ISO strings) the same instant, missing (None) on both sides."""
    if x is None or y is None:
        return x is None and y is None
    if isinstance(x, str) or isinstance(y, str):
        return datetime.fromisoformat(str(x)) == datetime.fromisoformat(str(y))
    if isinstance(x, int) and isinstance(y, int):
        return x == y
    return math.isclose(float(x), float(y), rel_tol=1e-6, abs_tol=1e-9)


def compare(a: dict[str, dict], b: dict[str, dict]) -> str:
    """Whether tracehop (``a``) and the baseline (``b``) found the same customers and the
    same value of every :func:`indicator_names` indicator for each; prints what differs."""
    if set(a) != set(b):
        print(
            f"customers only in tracehop: {sorted(set(a) - set(b))[:10]}; only in pandas: "
            f"{sorted(set(b) - set(a))[:10]}"
        )
        return f"no: customers differ ({len(set(a) ^ set(b))} only on one side)"
    names = indicator_names()
    computed = set().union(*(v.keys() for v in b.values())) if b else set(names)
    missing = [n for n in names if n not in computed]
    if missing:
        print(f"indicators the baseline does not compute: {missing}")
        return f"no: baseline lacks {', '.join(missing)}"
    skipped = sorted(set().union(*(v.keys() for v in a.values())) - set(names)) if a else []
    if skipped:
        print(f"tracehop indicators not compared (not from the calls): {skipped}")
    unknown = sorted(computed - set(names))
    if unknown:
        print(f"baseline indicators tracehop does not have (not compared): {unknown}")
    differ: dict[str, list] = {}
    for customer, va in sorted(a.items()):
        for name in names:
            x, y = va.get(name), b[customer].get(name)
            if not same(x, y):
                differ.setdefault(name, []).append((customer, x, y))
    for name, bad in differ.items():
        examples = "; ".join(f"{c}: tracehop {x!r}, pandas {y!r}" for c, x, y in bad[:3])
        print(f"{name} differs for {len(bad)} of {len(a)} customers, e.g. {examples}")
    if not differ:
        return f"yes ({len(names)} indicators x {len(a):,} customers)"
    return f"no: {', '.join(differ)} differ"


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
            th = child(DETECT_CHILD, str(home))
            print(
                f"{info['rows']:,} rows: tracehop {th['seconds']:.2f} s "
                f"({th['cpu_seconds']:.1f} CPU s), "
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
                    f"{info['rows']:,} rows: pandas {base['seconds']:.2f} s "
                    f"({base['cpu_seconds']:.1f} CPU s), "
                    f"{base['max_rss_mb']:.0f} MB",
                    flush=True,
                )
            rows_out.append((info, th, base, agree))
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}, duckdb {duckdb.__version__}, load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
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
