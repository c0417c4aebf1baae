"""A real SIGKILL of a child process mid-ingest loses nothing and leaves nothing partial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.called_index import snapshot
from tracehop.cdr.ingest import ingest
from tracehop.cdr.lake import Lake
from tracehop.settings import load_settings

ROWS = 60_000
DAYS = 4


def big_cdr(path: Path) -> Path:
    lines = ["call_id,start,caller,called,upstream,duration"]
    for i in range(ROWS):
        day = 1 + i % DAYS
        sec = (i * 7919) % 86400
        lines.append(
            f"k{i},2021-04-0{day}T{sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}Z,"
            f"202555{i % 10000:04d},212555{(i * 3) % 10000:04d},cust{i % 17},{i % 300}"
        )
    lines.append("bad,not-a-time,1,2,x,0")
    path.write_text("\n".join(lines) + "\n")
    return path


def child(home: Path, cdr: Path, crash_at: str | None) -> subprocess.Popen:
    env = {**os.environ}
    if crash_at:
        env["TRACEHOP_CRASH_AT"] = crash_at
    else:
        env.pop("TRACEHOP_CRASH_AT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tracehop", "--home", str(home), "ingest", str(cdr), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,  # only its exit matters; unread pipes would leak
        stderr=subprocess.DEVNULL,
    )


def state(home: Path) -> tuple[int, int]:
    settings = load_settings(home=home)
    n = query("select count(*) as n from calls", settings).rows[0][0]
    r = query("select count(*) as n from rejects", settings).rows[0][0]
    # the index by called number moves with its calls: every day with calls has its twins
    snap = snapshot(Lake(home / "lake"))
    assert snap.indexed == snap.days and len(snap.twins) == len(snap.calls)
    return n, r


@pytest.mark.parametrize("crash_at", ["staged", "committed", "moving", "moved"])
def test_sigkill_at_each_commit_step(tmp_path: Path, crash_at: str) -> None:
    cdr = big_cdr(tmp_path / "big.csv")
    home = tmp_path / "home"
    proc = child(home, cdr, crash_at)
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    # Before the plan is written nothing is visible; after it, the ingest is completed by
    # whoever opens the lake next. Never a part.
    n, r = state(home)
    if crash_at == "staged":
        assert (n, r) == (0, 0)
    else:
        assert (n, r) == (ROWS, 1)
    assert not any(Lake(home / "lake").staging_dir.iterdir())
    # Ingesting the file again after the crash gives exactly one copy of it.
    result = ingest([cdr], load_settings(home=home))
    assert result.files_skipped == (0 if crash_at == "staged" else 1)
    assert state(home) == (ROWS, 1)


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    cdr = big_cdr(tmp_path / "big.csv")
    for delay in (0.3, 0.6, 0.9, 1.2, 1.6, 2.0):
        home = tmp_path / f"home-{delay}"
        proc = child(home, cdr, None)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        n, r = state(home)
        assert (n, r) in {(0, 0), (ROWS, 1)}
        ingest([cdr], load_settings(home=home))
        assert state(home) == (ROWS, 1)
