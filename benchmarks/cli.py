"""CLI startup benchmark (issue 9): how long a person waits for ``tracehop`` to answer.

Real subprocesses, in one run, round-robin (so a busy moment hits every command alike):
- baseline: ``python -c "import typer, rich"`` (what any Typer + Rich CLI pays to start);
- ``tracehop --help``;
- ``tracehop query 'select 1'`` in an existing home;
- ``tracehop ingest`` of a new 10-row CSV into that existing home (a new file each run: the
  manifest makes a re-ingest of the same file a no-op).
Prints the median and the fastest of N runs of each and the ratio of the medians to the
baseline. ``--before REV`` (repeatable) also runs the same commands with the package as it was
at a git revision (``git archive`` into a temporary folder, put first on ``PYTHONPATH``), side
by side. Not a test: figures go to docs/performance.md.

    python benchmarks/cli.py [--runs N] [--before REV ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRACEHOP = Path(sys.executable).with_name("tracehop")
HEADER = "call_id,start,caller,called,upstream,downstream,duration,disposition,sip_code,attest"


def write_cdr(path: Path, run: str, rows: int = 10) -> Path:
    """A tiny generic CSV whose call ids (and so checksum) are new for each run."""
    lines = [HEADER]
    for i in range(rows):
        lines.append(
            f"bench-{run}-{i},2026-01-05T10:{i:02d}:00Z,+1202555{i:04d},+1212555{i:04d},"
            f"cust-{i % 3},carrier-a,{i * 7},answered,200,A"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return dt


def checkout(rev: str, into: Path) -> Path:
    """The package's source at a git revision, for ``PYTHONPATH``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=11, help="runs of each command (median shown)")
    ap.add_argument(
        "--before",
        metavar="REV",
        action="append",
        default=[],
        help="also measure the code at this git revision (repeat for several)",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tracehop-bench-cli-"))
    try:
        variants: dict[str, dict[str, str]] = {}
        for i, rev in enumerate(args.before):
            src = checkout(rev, work / f"before{i}")
            sha = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", rev],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            variants[f"{sha}: "] = {"PYTHONPATH": str(src)}
        variants["now: " if variants else ""] = {}
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c 'import typer, rich'": (
                [sys.executable, "-c", "import typer, rich"],
                {},
            )
        }
        homes: dict[str, Path] = {}
        for label, extra in variants.items():
            home = work / f"home{len(homes)}"
            homes[label] = home
            base = [str(TRACEHOP), "--home", str(home)]
            commands[f"{label}tracehop --help"] = ([str(TRACEHOP), "--help"], extra)
            commands[f"{label}tracehop query 'select 1'"] = ([*base, "query", "select 1"], extra)
            commands[f"{label}tracehop ingest (10 rows)"] = ([*base, "ingest"], extra)
        # As installed for users: bytecode cached (pip compiles it; here the warm-up writes it).
        env0 = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env0["NO_COLOR"] = "1"
        # An existing home: created, migrated and holding a day of calls before timing starts
        # (and every module's bytecode written).
        files = iter(range(1_000_000))

        def new_cdr() -> str:
            n = next(files)
            return str(write_cdr(work / f"cdr-{n}.csv", str(n)))

        for label, home in homes.items():
            env = {**env0, **variants[label]}
            timed([str(TRACEHOP), "--home", str(home), "ingest", new_cdr()], env)
            timed([str(TRACEHOP), "--home", str(home), "query", "select 1"], env)
            timed([str(TRACEHOP), "--help"], env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        load_before = os.getloadavg()
        for _ in range(args.runs):
            for name, (cmd, extra) in commands.items():
                if cmd[-1] == "ingest":
                    cmd = [*cmd, new_cdr()]
                times[name].append(timed(cmd, {**env0, **extra}))
        load_after = os.getloadavg()
        print(
            f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
            f"{platform.python_version()}; {args.runs} runs of each command"
        )
        print(
            "load average (1, 5, 15 min) before: "
            + ", ".join(f"{x:.2f}" for x in load_before)
            + "; after: "
            + ", ".join(f"{x:.2f}" for x in load_after)
        )
        base = statistics.median(next(iter(times.values())))
        width = max(len(n) for n in times) + 2
        print(f"{'command':{width}}{'median s':>10}{'fastest s':>11}{'ratio':>8}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"{name:{width}}{med:>10.3f}{min(ts):>11.3f}{med / base:>7.1f}x")
        print("goals: --help <= 3x the baseline; query 'select 1' and the ingest < 0.5 s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
