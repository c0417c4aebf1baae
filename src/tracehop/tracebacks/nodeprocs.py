"""Node processes on this machine (``tracehop serve``), for end-to-end tests and benchmarks:
start one per home, wait until each answers its health check, stop them all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from tracehop.errors import TracehopError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(
    home: Path,
    provider: str,
    *,
    directory: Path | None = None,
    log: IO[str] | int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """``tracehop serve`` for ``home`` on a free loopback port; returns (process, base URL).
    ``env``: more settings for the node process (``TRACEHOP_...`` variables)."""
    port = free_port()
    command = [sys.executable, "-m", "tracehop", "--home", str(home), "serve",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    if directory is not None:
        command += ["--directory", str(directory)]
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TRACEHOP_PROVIDER": provider, **(env or {})},
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(
    nodes: dict[str, str], procs: list[subprocess.Popen], *, timeout: float = 90.0
) -> None:
    """Wait until every node answers ``/api/v1/health``; fail if one exits or is late."""
    waiting = dict(nodes)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for pid, url in list(waiting.items()):
            try:
                r = httpx.get(f"{url}/api/v1/health", timeout=1)
                if r.status_code == 200 and r.json()["ok"] is True:
                    del waiting[pid]
            except httpx.TransportError:
                pass
        dead = [p.args for p in procs if p.poll() is not None]
        if dead:
            raise TracehopError(f"a node process exited: {dead}")
        time.sleep(0.2)
    if waiting:
        raise TracehopError(f"nodes not healthy after {timeout:g} s: {sorted(waiting)}")


def stop_all(procs: list[subprocess.Popen]) -> None:
    """Terminate every node process, killing those that do not stop within 10 s."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
