"""``simulate()``: build a world from a seed and write its traffic, complaints and truth.

The loop is day by day, slice by slice (``traffic.py``), appending to open files, so memory
is bounded by one slice whatever ``scale`` and ``days`` are. Nothing in the output depends on
the clock or the machine: the same arguments give the same bytes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from tracehop.errors import InputError
from tracehop.simulate.complaints import (
    COMPLAINT_HEADER,
    HOPS_HEADER,
    TRUTH_HEADER,
    ComplaintLog,
    collect,
)
from tracehop.simulate.model import World
from tracehop.simulate.scenarios import get_scenario
from tracehop.simulate.shaken import CallSigner, create_ca
from tracehop.simulate.traffic import explode_hops, plan_day, slice_calls, source_arrays
from tracehop.simulate.world import build_world
from tracehop.simulate.writers import CdrWriter, write_csv, write_static


# Adjacent hops of one call start within this many seconds of each other in the CDRs:
# two switch clock offsets (each at most max_skew_seconds) plus post-dial delay and rounding.
def hop_tolerance(max_skew_seconds: float) -> float:
    return 2 * max_skew_seconds + 2.0


MARKER = "world.json"
OUTPUTS = (
    "cdrs",
    "customers",
    "truth",
    "shaken",
    "directory.csv",
    "number_blocks.csv",
    "complaints.csv",
)

Progress = Callable[[int, int], None]  # (slices done, slices in all)


@dataclass
class SimResult:
    out: str
    seed: int
    days: int
    scale: float
    scenario: str
    start: str
    providers: int
    customers: int
    calls: int
    cdr_rows: int
    complaints: int
    campaign_calls: dict[str, int] = field(default_factory=dict)
    cdr_files: dict[str, dict[str, object]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file: give a folder for the simulated world")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise InputError(
                f"{out} is not empty and holds no simulated world ({MARKER}): "
                "give a new or empty folder"
            )
        for name in OUTPUTS:  # a previous world: replace it, leave anything else alone
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def simulate(
    out: Path,
    *,
    seed: int = 1,
    days: int = 1,
    scale: float = 1.0,
    scenario: str = "default",
    progress: Progress | None = None,
) -> SimResult:
    """Write a simulated world into ``out`` (see docs/simulator.md for the layout)."""
    started = time.perf_counter()
    if days < 1 or days > 366:
        raise InputError(f"--days must be 1..366, not {days}")
    if not 0 < scale <= 1000:
        raise InputError(f"--scale must be above 0 and at most 1000, not {scale}")
    if seed < 0:
        raise InputError(f"--seed must be 0 or more, not {seed}")
    sc = get_scenario(scenario)
    out = Path(out)
    _prepare(out)
    world = build_world(sc, seed)
    static = write_static(out, world)
    signer = CallSigner(world, create_ca(out, world))
    sa = source_arrays(world)
    first = date.fromisoformat(sc.start)
    plans = [plan_day(world, d, (first + timedelta(days=d)).weekday(), scale) for d in range(days)]
    total_slices = sum(p.slices for p in plans)
    log = ComplaintLog()
    campaign_calls = np.zeros(len(sc.campaigns) + 1, dtype=np.int64)
    seq = 1
    done = 0
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # our own progress goes to `say`
    writer = CdrWriter(out, world, con)
    try:
        for plan in plans:
            day0 = datetime.combine(first + timedelta(days=plan.day), datetime.min.time(), UTC)
            for k in range(plan.slices):
                calls = slice_calls(world, sa, plan, k, day0.timestamp())
                if len(calls):
                    identity = signer.identities(sa, calls)
                    writer.write(explode_hops(world, sa, calls, seq, identity))
                    rng = np.random.default_rng(np.random.SeedSequence([seed, 4, plan.day, k]))
                    collect(world, sa, calls, seq, rng, log)
                    campaign_calls += np.bincount(
                        sa.campaign[calls.src] + 1, minlength=len(campaign_calls)
                    )
                    seq += len(calls)
                done += 1
                if progress:
                    progress(done, total_slices)
    finally:
        writer.close()
        con.close()
    write_csv(out / "complaints.csv", COMPLAINT_HEADER, log.complaints)
    write_csv(out / "truth" / "complaints.csv", TRUTH_HEADER, log.truth)
    write_csv(out / "truth" / "complaint_hops.csv", HOPS_HEADER, log.hops)
    result = SimResult(
        out=str(out),
        seed=seed,
        days=days,
        scale=scale,
        scenario=sc.name,
        start=sc.start,
        providers=world.n_providers,
        customers=static["customers_rows"],
        calls=seq - 1,
        cdr_rows=int(writer.rows.sum()),
        complaints=len(log.complaints),
        campaign_calls={c.kind: int(campaign_calls[i + 1]) for i, c in enumerate(sc.campaigns)},
        cdr_files={
            p.id: {
                "path": f"cdrs/{p.id}.csv",
                "format": p.cdr_format,
                "rows": int(writer.rows[p.idx]),
            }
            for p in world.providers
        },
    )
    _write_marker(out, world, result)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _write_marker(out: Path, world: World, result: SimResult) -> None:
    """world.json: the arguments and the figures of this world (no clock time: reproducible)."""
    sc = world.scenario
    data = {
        "tracehop_simulator": 1,
        **{k: v for k, v in result.to_dict().items() if k not in ("out", "seconds")},
        "timezone": "UTC",
        "max_skew_seconds": sc.max_skew_seconds,
        "hop_tolerance_seconds": hop_tolerance(sc.max_skew_seconds),
    }
    (out / MARKER).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_world_info(out: Path) -> dict[str, object]:
    """Read world.json of a simulated world."""
    path = Path(out) / MARKER
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: no simulated world here ({exc.strerror})") from exc
