"""Scale-out benchmark (issue 17): the same detection run on DuckDB and on Spark ``local[2]``
over the same lake, side by side in one run.

For each size N the lake is built once in one home (``benchmarks/detect.py``'s
``build_lake``: one simulated day, every provider's CDRs ingested); then, each in its own
child process so that its peak memory is its own:
- **duckdb**: ``run_detection`` with ``TRACEHOP_ENGINE=duckdb`` (the default);
- **spark**: ``run_detection`` with ``engine="spark"`` on ``local[2]``: the SparkSession is
  started first and timed apart (the JVM's start), then the same run;
then, in the same child, a batch of 10,000 traceback requests (``Responder.answer_many``)
for calls sampled from the lake (the same requests for both engines, reported to the
minute as a complaint would be), timed from opening the responder to the last answer.
Peak memory is VmHWM: the Python process's, plus for Spark the JVM's (a process of its own).
The two runs' findings are compared (the same flagged subjects, scores within 1e-9), and
their answers (the same upstream for every request).
Prints seconds, the Spark/DuckDB ratio and peak memory. Not a test: figures go to
docs/performance.md ("Engines").

    python benchmarks/scale.py [--sizes 1000000] [--keep DIR] [--master local[2]]

The issue's sizes (10 M, 50 M, 100 M) are the same command with ``--sizes``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from detect import PEAK, build_lake  # the lake builder of benchmarks/detect.py

RUN_CHILD = (
    PEAK
    + """
import json, sys, time
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.detection.run import run_detection

home, engine, master, requests_file = sys.argv[1:5]
settings = load_settings(home=home, engine=engine, spark_master=master)
start_s, jvm_mb = 0.0, None
if engine == "spark":
    from tracehop.spark_engine import spark_session
    t0 = time.perf_counter()
    spark = spark_session(master)
    start_s = time.perf_counter() - t0
store = open_store(settings)
t0 = time.perf_counter()
result = run_detection(settings, store, save=False)
dt = time.perf_counter() - t0
if engine == "spark":
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            jvm_mb = int(line.split()[1]) / 1024
findings = {f"{f.kind}:{f.subject}": [f.flagged, f.score] for f in result.findings}
from tracehop.tracebacks.requests import make_request
from tracehop.tracebacks.responder import Responder
calls = json.load(open(requests_file))
reqs = [make_request(f"r{i}", *call) for i, call in enumerate(calls)]
t0 = time.perf_counter()
responder = Responder(settings, store)
try:
    answers = responder.answer_many(reqs)
finally:
    responder.close()
batch_s = time.perf_counter() - t0
if engine == "spark":
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            jvm_mb = int(line.split()[1]) / 1024
print(json.dumps({"engine": result.engine, "start_seconds": start_s, "seconds": dt,
                  "python_mb": peak_mb(), "jvm_mb": jvm_mb, "findings": findings,
                  "batch_seconds": batch_s, "batch_engines": sorted({a.engine for a in answers}),
                  "answers": {a.request_id: a.upstream for a in answers}}))
"""
)


def child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN_CHILD, *args], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"child process failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


BATCH = 10_000


def sample_requests(home: Path, out: Path, seed: int) -> Path:
    """BATCH calls of the lake as [caller, called, start to the minute], in ``out``."""
    if out.exists():
        return out
    import duckdb

    from tracehop.cdr.lake import Lake

    files = [str(f) for f in Lake(home / "lake").call_files()]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # the sample of the filtered calls (a SAMPLE clause is applied before the WHERE)
    rows = con.execute(
        "SELECT * FROM (SELECT caller, called, strftime(start, '%Y-%m-%dT%H:%MZ') "
        "FROM read_parquet(?) WHERE caller IS NOT NULL AND called IS NOT NULL) "
        f"USING SAMPLE reservoir({BATCH} ROWS) REPEATABLE ({seed})",
        [files],
    ).fetchall()
    con.close()
    out.write_text(json.dumps([list(r) for r in rows]))
    return out


def compare_answers(a: dict, b: dict) -> str:
    differ = [k for k in a if a[k] != b.get(k)]
    if a.keys() != b.keys() or differ:
        return f"{len(differ)} of {len(a)} answers differ: {differ[:5]}"
    found = sum(v is not None for v in a.values())
    return f"same answers ({len(a)}, {found} with an upstream)"


def compare(a: dict, b: dict) -> str:
    if a.keys() != b.keys():
        return f"different subjects: {sorted(set(a) ^ set(b))[:5]}"
    flagged_a = {k for k, (f, _) in a.items() if f}
    flagged_b = {k for k, (f, _) in b.items() if f}
    if flagged_a != flagged_b:
        return f"different flagged sets: {sorted(flagged_a ^ flagged_b)[:5]}"
    worst = max((abs(a[k][1] - b[k][1]) for k in a), default=0.0)
    if worst > 1e-9:
        return f"scores differ by up to {worst:.3g}"
    return f"same findings ({len(a)}, {len(flagged_a)} flagged; scores equal to 1e-9)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--keep", type=Path, help="keep (and reuse) the lakes in this folder")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="tracehop-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    try:
        for rows in args.sizes:
            home = build_lake(work, rows, args.seed, "default")
            info = json.loads((home / "bench-lake.json").read_text())
            reqs = str(sample_requests(home, work / f"requests-{rows}.json", args.seed))
            duck = child(str(home), "duckdb", args.master, reqs)
            spark = child(str(home), "spark", args.master, reqs)
            total = spark["start_seconds"] + spark["seconds"]
            print(f"\n{info['rows']:,} rows ({info['parquet_bytes'] / 1e6:.0f} MB Parquet)")
            print(f"  duckdb: detection {duck['seconds']:.1f} s, peak {duck['python_mb']:.0f} MB")
            print(
                f"  spark {args.master}: session start {spark['start_seconds']:.1f} s, detection "
                f"{spark['seconds']:.1f} s (total {total:.1f} s), peak {spark['python_mb']:.0f} MB "
                f"Python + {spark['jvm_mb'] or 0:.0f} MB JVM"
            )
            print(
                f"  spark / duckdb: {spark['seconds'] / duck['seconds']:.1f}x the detection, "
                f"{total / duck['seconds']:.1f}x with the session start"
            )
            print(f"  check: {compare(duck['findings'], spark['findings'])}")
            print(
                f"  batch of {BATCH:,}: duckdb {duck['batch_seconds']:.1f} s "
                f"({BATCH / duck['batch_seconds']:,.0f}/s), spark {spark['batch_seconds']:.1f} s "
                f"({BATCH / spark['batch_seconds']:,.0f}/s), "
                f"{spark['batch_seconds'] / duck['batch_seconds']:.1f}x; answered on "
                f"{duck['batch_engines']} / {spark['batch_engines']}"
            )
            print(f"  check: {compare_answers(duck['answers'], spark['answers'])}")
        load = os.getloadavg()
        print(f"\nload average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
