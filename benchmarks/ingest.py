"""Ingest benchmark (issue 2): tracehop ingest vs plain DuckDB CSV -> sorted Parquet.

Generates a generic CSV of N rows (default 5 M) with mixed number styles, then in one run:
- baseline: DuckDB reads the CSV and writes sorted Parquet (no normalisation, no checks);
- tracehop: ``tracehop.ingest()`` (the library call the CLI makes), in a child process so
  that its peak memory (max RSS) is measured alone; with ``--cli``, ``tracehop ingest FILE
  --json`` as a user runs it (a real subprocess, timed from start to exit: interpreter start,
  imports, store, format detection included) into a home that already exists.
Prints rows/s for both, their ratio and tracehop's peak memory. With ``--cli --before REV``
the CLI is also run with the package as it was at a git revision (``git archive``, first on
``PYTHONPATH``, as ``benchmarks/cli.py`` does), alternately with the current code beside each
baseline run, and the CPU seconds of each are printed. Not a test: figures go to
docs/performance.md.

    python benchmarks/ingest.py [--rows N] [--cli [--before REV]] [--repeat K] [--keep DIR]
"""

from __future__ import annotations

import argparse
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

GEN_SQL = """
COPY (
  WITH r AS (
    SELECT i,
      (200 + (hash(i) % 800))::INT AS npa, (200 + (hash(i * 7) % 800))::INT AS nxx,
      (hash(i * 13) % 10000)::INT AS line,
      (200 + (hash(i * 17) % 800))::INT AS npa2, (200 + (hash(i * 19) % 800))::INT AS nxx2,
      (hash(i * 23) % 10000)::INT AS line2,
      hash(i * 29) % 100 AS style, hash(i * 31) % 100 AS outcome
    FROM range({rows}) t(i)
  )
  SELECT
    'bench-' || i AS call_id,
    strftime(TIMESTAMP '2026-01-01' + to_seconds((i * 86400 * {days} // {rows})
             + (hash(i * 37) % 60)::BIGINT), '%Y-%m-%dT%H:%M:%SZ') AS start,
    CASE
      WHEN style < 25 THEN '(' || npa || ') ' || nxx || '-' || lpad(line::VARCHAR, 4, '0')
      WHEN style < 50 THEN npa::VARCHAR || nxx::VARCHAR || lpad(line::VARCHAR, 4, '0')
      WHEN style < 70 THEN '1' || npa || nxx || lpad(line::VARCHAR, 4, '0')
      WHEN style < 90 THEN '+1' || npa || nxx || lpad(line::VARCHAR, 4, '0')
      WHEN style < 99 THEN '+1 ' || npa || ' ' || nxx || ' ' || lpad(line::VARCHAR, 4, '0')
      ELSE '011 44 20 7' || lpad(line::VARCHAR, 4, '0') || '1' || (style % 10) || '1'
    END AS caller,
    CASE WHEN style % 2 = 0 THEN '+1' || npa2 || nxx2 || lpad(line2::VARCHAR, 4, '0')
         ELSE npa2::VARCHAR || '-' || nxx2 || '-' || lpad(line2::VARCHAR, 4, '0') END AS called,
    'cust-' || (hash(i * 41) % 500) AS upstream,
    'carrier-' || (hash(i * 43) % 20) AS downstream,
    CASE WHEN outcome < 55 THEN (hash(i * 47) % 600)::VARCHAR ELSE '0' END AS duration,
    CASE WHEN outcome < 55 THEN 'answered' WHEN outcome < 80 THEN 'no_answer'
         WHEN outcome < 90 THEN 'busy' ELSE 'failed' END AS disposition,
    CASE WHEN outcome < 55 THEN '200' WHEN outcome < 80 THEN '480'
         WHEN outcome < 90 THEN '486' ELSE '503' END AS sip_code,
    CASE WHEN style % 3 = 0 THEN 'A' WHEN style % 3 = 1 THEN 'B' ELSE 'C' END AS attest
  FROM r
) TO '{path}' (HEADER, DELIMITER ',')
"""


def generate(path: Path, rows: int, days: int) -> None:
    con = duckdb.connect()
    con.execute(GEN_SQL.format(rows=rows, days=days, path=str(path)))
    con.close()


BASELINE_CPU: list[float] = []


def baseline(csv_path: Path, out: Path) -> float:
    """Plain DuckDB: read the CSV, write Parquet sorted by start. No checks. Its CPU time
    (DuckDB's threads are this process's) goes to BASELINE_CPU."""
    con = duckdb.connect(config={"memory_limit": "1GB"})
    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{csv_path}') ORDER BY start) TO '{out}' "
        "(FORMAT parquet, COMPRESSION snappy)"
    )
    dt = time.perf_counter() - t0
    BASELINE_CPU.append(time.process_time() - c0)
    con.close()
    return dt


CHILD = """
import json, resource, sys, time
from tracehop.settings import load_settings
from tracehop.cdr.ingest import ingest
settings = load_settings(home=sys.argv[2])
t0 = time.perf_counter()
result = ingest([sys.argv[1]], settings)
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "rows": result.rows_ingested, "rejected": result.rows_rejected,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_tracehop(csv_path: Path, home: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(csv_path), str(home)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_cli(
    csv_path: Path, home: Path, work: Path, env: dict[str, str] | None = None
) -> dict[str, float]:
    """``tracehop ingest`` in a real subprocess, into a home created beforehand (its state DB
    and lake exist: what a user's second and later ingests find). ``env``: the child's
    environment (``PYTHONPATH`` for ``--before``)."""
    tiny = work / "tiny.csv"
    tiny.write_text(
        "call_id,start,caller,called,upstream\nt1,2026-01-01T00:00:00Z,2025550100,2125550100,u\n"
    )
    cmd = [sys.executable, "-m", "tracehop", "--home", str(home), "ingest"]
    subprocess.run([*cmd, str(tiny), "--json"], check=True, capture_output=True, env=env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cmd, str(csv_path), "--json"], check=True, capture_output=True, text=True, env=env
    )
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(proc.stdout)
    return {
        "seconds": dt,
        "rows": result["rows_ingested"],
        "rejected": result["rows_rejected"],
        "max_rss_mb": after.ru_maxrss / 1024,
        "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--days", type=int, default=1, help="days the calls span")
    ap.add_argument("--keep", type=Path, help="keep the generated data in this folder")
    ap.add_argument(
        "--cli", action="store_true", help="time `tracehop ingest` as a subprocess (as a user)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side (all printed)")
    ap.add_argument(
        "--before", metavar="REV", help="with --cli: also run the code at this git revision"
    )
    args = ap.parse_args()
    if args.before and not args.cli:
        ap.error("--before needs --cli")
    work = args.keep or Path(tempfile.mkdtemp(prefix="tracehop-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / f"generic-{args.rows}.csv"
    try:
        if not csv_path.exists():
            t0 = time.perf_counter()
            generate(csv_path, args.rows, args.days)
            print(
                f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) "
                f"in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
        # warm the page cache so neither side pays for the first read
        with csv_path.open("rb") as fh:
            while fh.read(16 << 20):
                pass
        old_env = None
        if args.before:
            from cli import checkout  # benchmarks/cli.py, beside this file

            src = checkout(args.before, work / "before")
            old_env = {**os.environ, "PYTHONPATH": str(src)}
        load_before = os.getloadavg()
        runs = []
        for k in range(args.repeat):
            base_s = baseline(csv_path, work / "baseline.parquet")
            home = work / "home"
            if old_env is not None and k % 2 == 0:  # alternate which side runs first
                shutil.rmtree(home, ignore_errors=True)
                old = run_cli(csv_path, home, work, old_env)
            shutil.rmtree(home, ignore_errors=True)
            th = run_cli(csv_path, home, work) if args.cli else run_tracehop(csv_path, home)
            if old_env is not None and k % 2 == 1:
                shutil.rmtree(home, ignore_errors=True)
                old = run_cli(csv_path, home, work, old_env)
            if old_env is not None:
                print(
                    f"run {k + 1}: baseline CPU {BASELINE_CPU[-1]:.2f} s; CPU {args.before} "
                    f"{old['cpu']:.2f} s, now {th['cpu']:.2f} s; wall {args.before} "
                    f"{old['seconds']:.2f} s, now {th['seconds']:.2f} s",
                    flush=True,
                )
            runs.append((base_s, th))
            if args.repeat > 1:
                print(
                    f"run {len(runs)}: baseline {base_s:.2f} s, tracehop {th['seconds']:.2f} s, "
                    f"ratio {th['seconds'] / base_s:.2f}x"
                    + (f", tracehop CPU {th['cpu']:.2f} s" if "cpu" in th else ""),
                    flush=True,
                )
        # the run with the median ratio (each run pairs a baseline with tracehop, back to back)
        base_s, th = sorted(runs, key=lambda r: r[1]["seconds"] / r[0])[len(runs) // 2]
        base_rate = args.rows / base_s
        th_rate = th["rows"] / th["seconds"]
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}, duckdb {duckdb.__version__}"
        )
        # other work on the machine changes both timings (and their ratio): say how much ran
        print(
            "load average (1, 5, 15 min) before: "
            + ", ".join(f"{x:.2f}" for x in load_before)
            + "; after: "
            + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        )
        print(f"{'':24}{'seconds':>10}{'rows/s':>14}")
        label = "tracehop ingest (CLI)" if args.cli else "tracehop.ingest()"
        print(f"{'baseline (DuckDB)':24}{base_s:>10.2f}{base_rate:>14,.0f}")
        print(f"{label:24}{th['seconds']:>10.2f}{th_rate:>14,.0f}")
        print(
            f"ratio (tracehop time / baseline time): {th['seconds'] / base_s:.2f}x "
            f"(goal <= 2.5x); tracehop rows/s goal >= 500,000"
        )
        if "cpu" in th:
            # CPU seconds (user + system, all threads) change less with other work on the
            # machine than wall time; the CLI's include its start (interpreter, imports)
            base_cpu = BASELINE_CPU[runs.index((base_s, th))]
            print(
                f"CPU seconds: baseline {base_cpu:.2f}, tracehop {th['cpu']:.2f}, "
                f"ratio {th['cpu'] / base_cpu:.2f}x"
            )
        print(
            f"tracehop peak memory (max RSS): {th['max_rss_mb']:.0f} MB (goal < 2048 MB); "
            f"rows ingested {th['rows']:,}, rejected {th['rejected']:,}"
        )
        print(
            f"benchmark process max RSS: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
