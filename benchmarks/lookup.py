"""Traceback lookup benchmark (issue 4): "who sent us this call?" on a large lake.

Builds a lake of D days x N calls/day (default 90 x 1,000,000) from generated generic CSV
files (one per day, calls in random time order as a switch's log may have them) with
``tracehop ingest``, then measures, in the same run:
- tracehop: p50 and p99 of a single lookup (``Responder.answer``), and the throughput of a
  10,000-request batch (``answer_batch``, which also stores every request and answer);
- baseline: the same lookup as a full scan of the unsorted CSV files with plain DuckDB.
Figures go to docs/performance.md; nothing here is a test.

    python benchmarks/lookup.py [--days 90] [--per-day 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

# One call: every field a function of its number i and its day d (so requests can be made for
# calls without reading the files back).
FIELDS = """
    'L' || {d} || '-' || i AS call_id,
    TIMESTAMP '{day}' + to_seconds((hash(i * 31 + {d}) % 86400)::BIGINT) AS start,
    '+1' || (200 + hash(i * 7 + {d}) % 800)::VARCHAR || lpad((hash(i * 11 + {d}) % 10000000)::VARCHAR, 7, '0') AS caller,
    '+1' || (200 + hash(i * 13 + {d}) % 800)::VARCHAR || lpad((hash(i * 17 + {d}) % 10000000)::VARCHAR, 7, '0') AS called,
    'cust-' || (hash(i * 19 + {d}) % 2000)::VARCHAR AS upstream,
    'carrier-' || (hash(i * 23 + {d}) % 40)::VARCHAR AS downstream,
    (hash(i * 29 + {d}) % 300)::VARCHAR AS duration,
    CASE WHEN hash(i * 37 + {d}) % 10 < 6 THEN 'answered' ELSE 'no_answer' END AS disposition,
    CASE hash(i * 41 + {d}) % 3 WHEN 0 THEN 'A' WHEN 1 THEN 'B' ELSE 'C' END AS attest
"""
START = date(2026, 1, 1)


def generate(folder: Path, days: int, per_day: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    paths = []
    for d in range(days):
        day = START + timedelta(days=d)
        path = folder / f"cdr-{day}.csv"
        paths.append(path)
        if path.exists():
            continue
        fields = FIELDS.format(d=d, day=day.isoformat())
        con.execute(
            f"COPY (SELECT {fields} FROM range({per_day}) t(i)) TO '{path}' (HEADER, DELIMITER ',')"
        )
    con.close()
    return paths


def sample_calls(days: int, per_day: int, n: int, seed: int = 1) -> list[tuple]:
    """n calls that are in the files: (call_id, start, caller, called, upstream)."""
    rng = random.Random(seed)
    picks: dict[int, list[int]] = {}
    for _ in range(n):
        picks.setdefault(rng.randrange(days), []).append(rng.randrange(per_day))
    con = duckdb.connect()
    out = []
    for d, ids in sorted(picks.items()):
        day = START + timedelta(days=d)
        fields = FIELDS.format(d=d, day=day.isoformat())
        out += con.execute(
            f"SELECT call_id, start, caller, called, upstream FROM "
            f"(SELECT {fields} FROM (SELECT unnest(?::BIGINT[]) AS i))",
            [ids],
        ).fetchall()
    con.close()
    rng.shuffle(out)
    return out


def to_request(call: tuple, rid: str):  # type: ignore[no-untyped-def]
    from tracehop.tracebacks.requests import make_request

    start: datetime = call[1].replace(tzinfo=UTC)
    # reported to the minute, as a complaint would be
    return make_request(rid, call[2], call[3], start.strftime("%Y-%m-%dT%H:%MZ"))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--per-day", type=int, default=1_000_000)
    ap.add_argument("--single", type=int, default=300, help="single lookups timed")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--baseline-lookups", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="keep CSVs and lake here (reused when present)")
    args = ap.parse_args()

    from tracehop.cdr.ingest import ingest
    from tracehop.settings import load_settings
    from tracehop.store import open_store
    from tracehop.tracebacks.responder import Responder, answer_batch

    work = args.keep or Path(tempfile.mkdtemp(prefix="tracehop-lookup-"))
    csv_dir, home = work / "csv", work / "home"
    try:
        t0 = time.perf_counter()
        files = generate(csv_dir, args.days, args.per_day)
        print(
            f"CSV: {args.days} days x {args.per_day:,} calls in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        settings = load_settings(home=home)
        t0 = time.perf_counter()
        result = ingest(files, settings)
        if result.rows_ingested:
            print(
                f"ingested {result.rows_ingested:,} rows in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        total = args.days * args.per_day

        calls = sample_calls(args.days, args.per_day, args.single + args.batch)
        singles, batch = calls[: args.single], calls[args.single :]

        store = open_store(settings)
        responder = Responder(settings, store)
        responder.answer(to_request(singles[0], "warm"))  # open the engine once
        times, right = [], 0
        for k, call in enumerate(singles):
            req = to_request(call, f"s{k}")
            t = time.perf_counter()
            ans = responder.answer(req)
            times.append(time.perf_counter() - t)
            right += ans.upstream == call[4]
        responder.close()
        store.close()

        # New request ids on every run: with --keep the state DB holds the last run's, and a
        # batch of requests answered before would measure re-answering instead.
        run = time.strftime("%Y%m%dT%H%M%S")
        reqs = [to_request(c, f"b{run}-{k}") for k, c in enumerate(batch)]
        t = time.perf_counter()
        answers = answer_batch(settings, reqs)
        batch_s = time.perf_counter() - t
        batch_right = sum(a.upstream == c[4] for a, c in zip(answers, batch, strict=True))

        con = duckdb.connect()
        base_times = []
        glob = str(csv_dir / "*.csv")
        for call in singles[: args.baseline_lookups]:
            start = call[1]
            t = time.perf_counter()
            con.execute(
                f"SELECT upstream FROM read_csv('{glob}') WHERE caller = ? AND called = ? "
                "AND start BETWEEN ? AND ?",
                [call[2], call[3], start - timedelta(minutes=5), start + timedelta(minutes=6)],
            ).fetchall()
            base_times.append(time.perf_counter() - t)
        con.close()

        print(f"machine: {os.cpu_count()} cores; lake: {total:,} calls over {args.days} days")
        print(
            f"single lookup (tracehop): p50 {pct(times, 0.5) * 1000:.1f} ms, "
            f"p99 {pct(times, 0.99) * 1000:.1f} ms over {len(times)} lookups "
            f"(goal p50 < 50 ms, p99 < 200 ms); right upstream {right}/{len(times)}"
        )
        print(
            f"batch of {len(reqs):,} (tracehop, stored): {batch_s:.2f} s = "
            f"{len(reqs) / batch_s:,.0f} requests/s (goal >= 2,000/s); "
            f"right upstream {batch_right}/{len(reqs)}"
        )
        print(
            f"baseline (full scan of the unsorted CSV): median "
            f"{statistics.median(base_times):.2f} s per lookup over {len(base_times)}"
        )
        print(
            f"ratio baseline/tracehop single lookup (p50): "
            f"{statistics.median(base_times) / pct(times, 0.5):,.0f}x"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
