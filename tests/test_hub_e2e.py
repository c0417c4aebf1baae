"""End to end: a hub traces complaints across real node processes on loopback.

A small simulated network; every provider on a traced complaint's path gets its own home
(its CDRs and customers), a token issued with ``tracehop tokens issue`` and a node process
(``tracehop serve``). The non-responsive provider is in the directory with a node URL on
which nothing listens (its node is down). The hub (``tracehop hub ...``, real processes too)
imports the directory, the nodes file and the number blocks, traces every complaint, and each
hop chain is checked against the simulator's truth.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tracehop.cdr.ingest import ingest
from tracehop.csvfiles import read_rows as read
from tracehop.customers import import_customers, parse_customers_csv
from tracehop.settings import load_settings
from tracehop.simulate import simulate
from tracehop.store import open_store
from tracehop.tracebacks.nodeprocs import free_port, start_node, stop_all, wait_healthy

SEED, SCALE = 1, 0.05
HOP_TIMEOUT = 5.0  # seconds: a cold first lookup on a busy machine stays well inside it


def tracehop(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracehop", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass
class Network:
    out: Path
    hub_home: Path
    nodes: dict[str, str]  # provider -> base URL of its running node
    down: set[str]  # in the directory with a node URL, nothing listening


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    base = tmp_path_factory.mktemp("hub-e2e")
    out = base / "world"
    simulate(out, seed=SEED, days=1, scale=SCALE)
    directory = {r["id"]: r for r in read(out / "directory.csv")}
    on_paths = {h["provider"] for h in read(out / "truth" / "complaint_hops.csv")}
    down = {p for p in on_paths if directory[p]["responsive"] == "false"}
    up = sorted(on_paths - down)
    assert len(up) >= 5 and down
    procs: list[subprocess.Popen] = []
    logs = []
    nodes: dict[str, str] = {}
    rows = [["id", "node_url", "token"]]
    try:
        for pid in up:
            home = base / "homes" / pid
            s = load_settings(home=home, provider=pid)
            store = open_store(s)
            import_customers(store, parse_customers_csv(out / "customers" / f"{pid}.csv"))
            assert ingest([out / directory[pid]["cdr_file"]], s, provider=pid, store=store)
            store.close()
            issued = tracehop(home, "tokens", "issue", "hub", "--json")
            assert issued.returncode == 0, issued.stderr
            token = json.loads(issued.stdout)["token"]
            log = (base / f"{pid}.log").open("w")
            logs.append(log)
            proc, nodes[pid] = start_node(home, pid, directory=out / "directory.csv", log=log)
            procs.append(proc)
            rows.append([pid, nodes[pid], token])
        for pid in down:
            rows.append([pid, f"http://127.0.0.1:{free_port()}", "never-used"])
        wait_healthy(nodes, procs)
        with (base / "nodes.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        hub_home = base / "hub"
        r = tracehop(
            hub_home, "hub", "directory", "import", str(out / "directory.csv"),
            "--nodes", str(base / "nodes.csv"), "--json",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {
            "created": len(directory),
            "updated": 0,
            "nodes": len(up) + len(down),
        }
        r = tracehop(hub_home, "hub", "blocks", "import", str(out / "number_blocks.csv"), "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["blocks"] == len(read(out / "number_blocks.csv"))
        yield Network(out, hub_home, nodes, down)
    finally:
        stop_all(procs)
        for log in logs:
            log.close()


def test_complaints_traced_across_node_processes_match_the_truth(network: Network) -> None:
    out = network.out
    r = tracehop(
        network.hub_home, "hub", "trace-batch", str(out / "complaints.csv"),
        "--hop-timeout", f"{HOP_TIMEOUT:g}s", "--workers", "4", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    truth = {c["complaint_id"]: c for c in read(out / "truth" / "complaints.csv")}
    want: dict[str, list[tuple[str, str, str]]] = {}
    for h in read(out / "truth" / "complaint_hops.csv"):
        hops = want.setdefault(h["complaint_id"], [])
        if hops and hops[-1][1] == "no_response":
            continue
        answer = h["answer"] if h["responsive"] == "true" else "no_response"
        hops.append((h["provider"], answer, h["named"] if answer != "no_response" else ""))
    assert result["errors"] == []
    traces = result["traces"]
    assert [t["reference"] for t in traces] == list(truth)
    right = 0
    for t in traces:
        got = [(h["provider"], h["answer"], h["upstream"] or "") for h in t["hops"]]
        exp = truth[t["reference"]]
        ok = got == want[t["reference"]] and (
            t["outcome"],
            t["outcome_provider"],
            t["outcome_customer"] or "",
        ) == (exp["outcome"], exp["outcome_provider"], exp["outcome_customer"])
        right += ok
    assert right == len(traces) >= 5
    outcomes = result["outcomes"]
    assert outcomes.get("no_response", 0) >= 1 and outcomes.get("foreign_entry", 0) >= 1
    assert outcomes.get("origin", 0) >= 1
    # the down node: no answer, retried until the hop deadline
    silent = [t for t in traces if t["outcome"] == "no_response"]
    for t in silent:
        last = t["hops"][-1]
        assert last["provider"] in network.down and last["answered_at"] is None
        assert last["reason"].startswith("cannot reach http://127.0.0.1:")
        assert last["attempts"] >= 2 and t["seconds"] >= HOP_TIMEOUT
    # a foreign point of entry: the gateway named a foreign upstream outside the consortium
    foreign = [t for t in traces if t["outcome"] == "foreign_entry"]
    for t in foreign:
        assert t["gateway"] == t["outcome_provider"]
        assert t["hops"][-1]["answer"] == "provider_not_listed"
    # answered hops carry the node's evidence: the matching call of that provider
    answered = [h for t in traces for h in t["hops"] if h["answer"] != "no_response"]
    assert all(h["http_status"] == 200 and h["seconds"] is not None for h in answered)
    # the node's JSON is kept, not printed without --raw
    assert all("raw" not in h for h in answered)
    done = [t["seconds"] for t in traces if t["outcome"] != "no_response"]
    hop_seconds = [h["seconds"] for h in answered]
    print(
        f"\nhub e2e: {len(traces)} traces ({outcomes}), {len(answered)} answered hops, "
        f"{right}/{len(traces)} match the truth; median {statistics.median(done):.3f} s per "
        f"completed traceback, median {statistics.median(hop_seconds):.3f} s per hop, "
        f"{len(network.nodes)} node processes"
    )

    # the summary, through the CLI
    r = tracehop(network.hub_home, "hub", "summary", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["provider"]: row for row in json.loads(r.stdout)}
    for pid in network.down & set(rows):
        assert rows[pid]["no_response"] == rows[pid]["asked"] >= 1
    for t in foreign:
        assert rows[t["gateway"]]["gateway"] >= 1
    origins = [t["outcome_provider"] for t in traces if t["outcome"] == "origin"]
    assert sum(row["origin"] for row in rows.values()) == len(origins)

    # one trace again, through `hub show`, with the nodes' raw answers
    one = next(t for t in traces if t["outcome"] == "origin")
    r = tracehop(network.hub_home, "hub", "show", one["trace_id"], "--json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert [h["answer"] for h in shown["hops"]] == [h["answer"] for h in one["hops"]]
    assert shown["hops"][-1]["raw"]["customer"]["id"] == one["outcome_customer"]
    assert shown["hops"][0]["raw"]["matches"][0]["called"] == "+1" + one["called"]
    # the hub's own service (`tracehop hub serve`) shows the same
    _hub_service_agrees(network, rows, traces)
    # in the same test: a module's tests may run on two workers, each starting the nodes
    _single_trace_and_a_refused_token(network)


def _hub_service_agrees(network: Network, rows: dict, traces: list[dict]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracehop", "--home", str(network.hub_home), "hub", "serve",
         "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy({"hub": base}, [proc])
        served = httpx.get(f"{base}/api/v1/summary", timeout=10).json()
        assert {r["provider"]: r for r in served} == rows
        listed = httpx.get(f"{base}/api/v1/traces", params={"limit": 1000}, timeout=10).json()
        assert {t["trace_id"] for t in listed} == {t["trace_id"] for t in traces}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _single_trace_and_a_refused_token(network: Network) -> None:
    c = next(
        c
        for c in read(network.out / "complaints.csv")
        if c["time_utc"] and c["source"] == "honeypot"
    )
    args = ["--caller", c["caller_id"], "--called", c["called"]]
    at = f"{c['date']}T{c['time_utc']}Z"
    r = tracehop(network.hub_home, "hub", "trace", *args, "--at", at, "--hop-timeout", "5s")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] in ("origin", "foreign_entry", "not_listed", "no_response")
    assert "hop 1:" in r.stdout
    # a node that does not accept the hub's token: refused at once, recorded as No Response
    start = next(iter(network.nodes))
    bad = network.hub_home.parent / "bad-nodes.csv"
    bad.write_text(f"id,node_url,token\n{start},{network.nodes[start]},wrong\n")
    d = network.out / "directory.csv"
    r = tracehop(network.hub_home, "hub", "directory", "import", str(d), "--nodes", str(bad))
    assert r.returncode == 0, r.stderr
    began = time.monotonic()
    r = tracehop(
        network.hub_home, "hub", "trace", *args, "--at", at, "--start-at", start,
        "--hop-timeout", "60s", "--json",
    )  # fmt: skip
    assert time.monotonic() - began < 30
    t = json.loads(r.stdout)
    assert (t["outcome"], t["outcome_provider"]) == ("no_response", start)
    assert t["hops"][0]["http_status"] == 401 and t["reason"].startswith("refused: HTTP 401")
