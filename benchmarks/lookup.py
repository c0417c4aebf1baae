"""Traceback lookup benchmark (issue 4): "who sent us this call?" on a large lake.

Builds a lake of D days x N calls/day (default 90 x 1,000,000) from generated generic CSV
files (one per day, calls in random time order as a switch's log may have them) with
``tracehop ingest`` (which writes the index by called number), indexes what a lake kept from
before the index lacks (``tracehop lake reindex``), then measures, in the same run:
- tracehop with the index by called number and without it (every day read from the calls,
  as before the index): p50 and p99 of a single lookup (``Responder.answer``, the two
  responders taking turns), and the throughput of a 10,000-request batch (``answer_batch``,
  which also stores every request and answer), twice each in turns;
- baseline: the same lookup as a full scan of the unsorted CSV files with plain DuckDB.
Wall and CPU seconds and the load average are printed (the machine may be shared). Figures
go to docs/performance.md; nothing here is a test.

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


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*.parquet"))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--per-day", type=int, default=1_000_000)
    ap.add_argument("--single", type=int, default=300, help="single lookups timed")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--batch-turns", type=int, default=2, help="batches per variant, in turns")
    ap.add_argument("--baseline-lookups", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="keep CSVs and lake here (reused when present)")
    args = ap.parse_args()

    from tracehop.cdr.ingest import ingest
    from tracehop.cdr.lake import Lake
    from tracehop.cdr.reindex import reindex
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

        t0, c0 = time.perf_counter(), time.process_time()
        indexed = reindex(settings)
        if indexed.written:
            print(
                f"reindex: {indexed.written} index files written in "
                f"{time.perf_counter() - t0:.0f} s ({time.process_time() - c0:.0f} CPU s)",
                flush=True,
            )
        lake = Lake(settings.lake_dir)
        print(
            f"disk: calls {_size(lake.calls_dir) / 2**30:.2f} GiB, index by called "
            f"{_size(lake.by_called_dir) / 2**30:.2f} GiB; "
            f"{indexed.days}/{indexed.days_total} days indexed",
            flush=True,
        )

        calls = sample_calls(args.days, args.per_day, args.single + args.batch)
        singles, batch = calls[: args.single], calls[args.single :]
        load = [os.getloadavg()]

        store = open_store(settings)
        responders = {
            "index": Responder(settings, store),
            "no index": Responder(settings, store, use_index=False),
        }
        times: dict[str, list[float]] = {k: [] for k in responders}
        cpu = dict.fromkeys(responders, 0.0)  # CPU seconds: the machine may be shared
        right = dict.fromkeys(responders, 0)
        for r in responders.values():
            r.answer(to_request(singles[0], "warm"))  # open the engine once
        for k, call in enumerate(singles):
            req = to_request(call, f"s{k}")
            for name, r in responders.items():  # in turns: the same load for both
                t, c = time.perf_counter(), time.process_time()
                ans = r.answer(req)
                times[name].append(time.perf_counter() - t)
                cpu[name] += time.process_time() - c
                right[name] += ans.upstream == call[4]
        for r in responders.values():
            r.close()
        store.close()

        # New request ids on every run: with --keep the state DB holds the last run's, and a
        # batch of requests answered before would measure re-answering instead.
        run = time.strftime("%Y%m%dT%H%M%S")
        batch_s: dict[str, list[tuple[float, float]]] = {"no index": [], "index": []}
        batch_right = {}
        for turn in range(args.batch_turns):
            for name in batch_s:
                reqs = [to_request(c, f"b{run}-{name[0]}{turn}-{k}") for k, c in enumerate(batch)]
                t, cpu0 = time.perf_counter(), time.process_time()
                answers = answer_batch(settings, reqs, use_index=name == "index")
                batch_s[name].append((time.perf_counter() - t, time.process_time() - cpu0))
                batch_right[name] = sum(
                    a.upstream == c[4] for a, c in zip(answers, batch, strict=True)
                )
        load.append(os.getloadavg())

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
            "load average (1, 5, 15 min) before the lookups "
            + " ".join(f"{x:.2f}" for x in load[0])
            + ", after the batches "
            + " ".join(f"{x:.2f}" for x in load[1])
        )
        for name, ts in times.items():
            print(
                f"single lookup (tracehop, {name}): p50 {pct(ts, 0.5) * 1000:.1f} ms, "
                f"p99 {pct(ts, 0.99) * 1000:.1f} ms over {len(ts)} lookups, "
                f"{cpu[name] / len(ts) * 1000:.1f} ms CPU each on average "
                f"(goal p50 < 10 ms); right upstream {right[name]}/{len(ts)}"
            )
        for name, runs in batch_s.items():
            each = ", ".join(
                f"{w:.2f} s ({len(batch) / w:,.0f}/s, {cpu:.1f} CPU s)" for w, cpu in runs
            )
            best = min(w for w, _ in runs)
            print(
                f"batch of {len(batch):,} (tracehop, {name}, stored): {each}; best "
                f"{len(batch) / best:,.0f} requests/s (goal >= 5,000/s); "
                f"right upstream {batch_right[name]}/{len(batch)}"
            )
        base = statistics.median(base_times)
        print(
            f"baseline (full scan of the unsorted CSV): median "
            f"{base:.2f} s per lookup over {len(base_times)}"
        )
        print(
            "ratio baseline/tracehop single lookup (p50): "
            + ", ".join(f"{name} {base / pct(ts, 0.5):,.0f}x" for name, ts in times.items())
        )
        best = {n: min(w for w, _ in r) for n, r in batch_s.items()}
        print(f"batch: index {best['no index'] / best['index']:.1f}x faster than no index")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
