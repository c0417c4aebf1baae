"""Ingest into a lake that already holds calls of the same day: what looking for the calls
already stored costs (docs/ingest.md, "Overlapping exports").

A generic CSV ``a`` of N rows in one day (benchmarks/ingest.py's generator), ``b`` the same
rows with other call ids, ``c`` the same bytes as ``a`` plus a newline (the same calls in a
file of other bytes). Through the CLI, as a user runs it, each run times: ``b`` into an empty
home (nothing to read), ``b`` into a home holding ``a`` (the stored day read, nothing left
out), ``c`` into a home holding ``a`` (every call left out). Wall and CPU seconds of the
``tracehop ingest`` subprocess.

    python benchmarks/ingest_again.py --rows 500000 --repeat 2
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ingest import generate


def cli(path: Path, home: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``tracehop ingest PATH --json`` into ``home``."""
    cmd = [sys.executable, "-m", "tracehop", "--home", str(home), "ingest", str(path), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        a, b, c = d / "a.csv", d / "b.csv", d / "c.csv"
        generate(a, args.rows, 1)
        lines = a.read_text().splitlines(True)
        b.write_text(lines[0] + "".join("x" + line for line in lines[1:]))
        c.write_text("".join(lines) + "\n")
        for run in range(1, args.repeat + 1):
            homes = {name: d / f"{name}{run}" for name in ("empty", "holding", "again")}
            cli(a, homes["holding"])
            cli(a, homes["again"])
            figures = {
                "b into an empty home": cli(b, homes["empty"]),
                "b into a home holding a (same day)": cli(b, homes["holding"]),
                "c (a's calls, other bytes) into a home holding a": cli(c, homes["again"]),
            }
            for what, (wall, cpu) in figures.items():
                print(f"run {run}: {what}: wall {wall:.2f} s, CPU {cpu:.2f} s")
            for home in homes.values():
                shutil.rmtree(home)


if __name__ == "__main__":
    main()
