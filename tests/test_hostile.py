"""Hostile peers against the real servers on loopback (issue 10): a node process flooded with
huge unauthenticated bodies, a node that trickles its answer, a node that answers 100 MB,
requests with dates out of range, and fuzzed request bodies and node answers."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import issue_token
from tracehop.errors import TracehopError
from tracehop.node.service import RequestBody
from tracehop.settings import load_settings
from tracehop.store import Store, open_store
from tracehop.times import FakeClock
from tracehop.tracebacks.directory import import_blocks, import_directory
from tracehop.tracebacks.hub import Hub, trace
from tracehop.tracebacks.nodeclient import read_answer
from tracehop.tracebacks.nodeprocs import start_node, stop_all, wait_healthy
from tracehop.tracebacks.protocol import ANSWERS
from tracehop.tracebacks.requests import make_request
from tracehop.tracebacks.traces import Hop, get_trace

MB = 1024 * 1024
PATH = "/api/v1/tracebacks/requests"
ASK = {"request_id": "h-1", "caller": "2025550143", "called": "2125551234", "at": "2025-03-03"}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, int, Path]]:
    """A real ``tracehop serve`` process: (base URL, token, pid, home)."""
    home = tmp_path_factory.mktemp("hostile") / "node"
    settings = load_settings(home=home, provider="term")
    open_store(settings).close()
    token = issue_token(home, "hub")
    # a short header deadline, so the silent-connection test waits one second, not ten
    proc, url = start_node(home, "term", env={"TRACEHOP_HTTP_HEADER_TIMEOUT": "1"})
    try:
        wait_healthy({"term": url}, [proc])
        yield url, token, proc.pid, home
    finally:
        stop_all([proc])


def _huge(total: int) -> Iterator[bytes]:
    chunk = b"x" * MB
    for _ in range(total // MB):
        yield chunk


def _post_huge(url: str, headers: dict[str, str], results: list[object]) -> None:
    try:
        with httpx.Client(timeout=30) as c:
            r = c.post(url + PATH, content=_huge(100 * MB), headers=headers)
            results.append(r.status_code)
    except httpx.TransportError as exc:  # the node closed the connection unread: fine
        results.append(exc.__class__.__name__)


def test_huge_unauthenticated_posts_are_refused_unread(node: tuple[str, str, int, Path]) -> None:
    url, token, pid, home = node
    before = rss_kb(pid)
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(rss_kb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    results: list[object] = []
    posts = [
        threading.Thread(
            target=_post_huge, args=(url, {"content-type": "application/json"}, results)
        )
        for _ in range(10)
    ]
    for t in posts:
        t.start()
    for t in posts:
        t.join()
    stop.set()
    sampler.join()
    assert len(results) == 10 and all(r in (401, "WriteError", "RemoteProtocolError",
                                            "ReadError") for r in results), results  # fmt: skip
    assert 401 in results
    # ten 100 MB bodies, none read: the node's memory stays flat (measured, not timed)
    assert max(peak) - before < 64 * 1024, (before, max(peak))
    # with a valid token, a body over the limit is 413, also unread
    r = httpx.post(
        url + PATH,
        content=b"{" + b" " * (2 * MB) + b"}",
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 413 and r.json()["error"].startswith("request body over")
    # random bytes without a token: 401, not a JSON error; and audited
    r = httpx.post(url + PATH, content=bytes(range(256)) * 4, timeout=10)
    assert r.status_code == 401 and set(r.json()) == {"ok", "error", "status"}
    audit = [json.loads(x) for x in (home / "audit.log").read_text().splitlines()]
    statuses = [a["status"] for a in audit if a["event"] == "refused"]
    assert 401 in statuses and 413 in statuses


def test_out_of_range_dates_are_a_400_and_nothing_is_stored(
    node: tuple[str, str, int, Path],
) -> None:
    url, token, _pid, _home = node
    auth = {"Authorization": f"Bearer {token}"}
    for at in ("0001-01-01", "9999-12-31T23:59:59Z", "1900-01-01T00:00Z"):
        r = httpx.post(url + PATH, json={**ASK, "request_id": f"d-{at}", "at": at},
                       headers=auth, timeout=10)  # fmt: skip
        assert r.status_code == 400, r.text
        assert r.json()["error"] == f"time {at!r} is outside 1990-2100"
        again = httpx.get(f"{url}{PATH}/d-{at}", headers=auth, timeout=10)
        assert again.status_code == 404  # never stored, so never retried


def test_a_connection_that_sends_nothing_is_closed(node: tuple[str, str, int, Path]) -> None:
    """Half-open and silent connections are not held forever (the header deadline)."""
    url, _token, _pid, _home = node
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall(b"POST /api/v1/tracebacks/requests HTTP/1.1\r\nHost: x\r\n")  # never finished
    s.settimeout(30)  # a node that held the connection would fail the test here
    try:
        assert s.recv(100) == b""  # closed by the node after http_header_timeout
    finally:
        s.close()


# --- hostile nodes, seen from the hub ------------------------------------------------------------


class FakeNode:
    """A socket server that answers every request with ``respond(conn)``; counts bytes sent."""

    def __init__(self, respond) -> None:  # type: ignore[no-untyped-def]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.respond, self.sent = respond, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    self.respond(self, conn)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.listener.close()


def hub_for(tmp_path: Path, port: int) -> Store:
    d = tmp_path / "dir.csv"
    d.write_text(f"id,name,country,node_url,token\nterm,Term,US,http://127.0.0.1:{port},t\n")
    b = tmp_path / "blocks.csv"
    b.write_text("npa_nxx,provider\n212555,term\n")
    store = open_store(load_settings(home=tmp_path / "hub"))
    import_directory(store, d)
    import_blocks(store, b)
    return store


def test_a_trickling_node_is_cut_at_the_hop_deadline(tmp_path: Path) -> None:
    def trickle(node: FakeNode, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n")  # fmt: skip
        while not node.stop.is_set():
            conn.sendall(b" ")
            node.sent += 1
            time.sleep(0.25)

    fake = FakeNode(trickle)
    store = hub_for(tmp_path, fake.port)
    try:
        with Hub(store) as hub:  # a real socket: the real clock, a one-second deadline
            t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=1.0)
    finally:
        fake.close()
        store.close()
    assert t.outcome == "no_response"
    assert "still arriving at the deadline" in t.reason
    # cut at the deadline: a few bytes, not the 100,000 the node meant to send (25 s)
    assert fake.sent < 40, fake.sent


def test_a_100_mb_answer_is_refused_and_not_stored(tmp_path: Path) -> None:
    def flood(node: FakeNode, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        head = b'{"answer": "origin", "upstream": "x", "reason": "'
        conn.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        chunk = b"y" * MB
        for _ in range(100):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            node.sent += len(chunk)

    fake = FakeNode(flood)
    store = hub_for(tmp_path, fake.port)
    try:
        with Hub(store, clock=FakeClock()) as hub:
            t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=30)
        stored = get_trace(store, t.trace_id)
    finally:
        fake.close()
        store.close()
    assert (t.outcome, stored.hops[0].raw) == ("no_response", None)
    assert t.reason == "the node's answer is over 1048576 bytes: refused"
    assert fake.sent < 100 * MB  # the hub stopped reading


# --- fuzzing the boundaries -----------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(["request_id", "caller", "called", "at", "window", "description", "x"]),
        st.one_of(st.text(max_size=80), st.integers(), st.none(), st.floats(), st.booleans()),
    )
)
def test_any_request_body_is_a_request_or_a_clear_refusal(body: dict[str, object]) -> None:
    from pydantic import ValidationError

    try:
        req = RequestBody.model_validate(body)
    except ValidationError:
        return  # a 422 in the one error shape (tests/test_api_errors.py)
    try:
        r = make_request(req.request_id, req.caller, req.called, req.at, window=req.window)
    except TracehopError as exc:
        assert exc.status == 400 and exc.message
        return
    assert r.request_id and any(ch.isdigit() for ch in r.caller)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(
    answer=st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"answer": st.sampled_from([*ANSWERS, "maybe"])},
            optional={
                "upstream": JSON,
                "confidence": JSON,
                "matches": JSON,
                "customer": JSON,
                "reason": JSON,
                "needs_review": JSON,
            },
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_node_answer_is_a_hop_or_a_recorded_refusal(answer: bytes) -> None:
    from datetime import UTC, datetime

    now = datetime(2025, 3, 3, tzinfo=UTC)
    hop = Hop(hop=1, provider="p", request_id="r", asked_at=now, due_at=now)
    read_answer(hop, answer, now)
    if hop.answer == "no_response":
        assert hop.reason and hop.raw is None and hop.answered_at is None
    else:
        assert hop.answer in ANSWERS and isinstance(hop.raw, dict)
        assert hop.upstream or hop.answer == "not_found"
        json.dumps(hop.raw)  # storable as it is


# --- hostile data on the operator's terminal ------------------------------------------------------

HOSTILE = "bad[/x]cust\x1b[2J[link=http://evil.example]click[/link]:smile:"
SHOWN = "bad[/x]cust\\x1b[2J[link=http://evil.example]click[/link]:smile:"


def test_cdr_values_print_literally_in_query_and_detect(cli, write_cdr) -> None:  # type: ignore[no-untyped-def]
    rows = ["call_id,start,caller,called,upstream,duration,disposition"]
    for i in range(30):
        rows.append(f"h{i},2025-03-03T10:{i:02d}:00Z,+12025550{i:03d},+12125551234,"
                    f'"{HOSTILE}",0,failed')  # fmt: skip
    code, _out, err = cli("ingest", str(write_cdr("hostile.csv", rows)))
    assert code == 0, err
    code, out, err = cli("query", "select distinct upstream from calls")
    assert code == 0, err
    assert SHOWN in out and "\x1b" not in out
    code, out, err = cli("detect", "--min-calls", "1")
    assert code == 0, err
    assert "bad[/x]cust\\x1b[2J" in out and "\x1b" not in out


def test_a_node_answer_prints_literally_in_hub_show(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    def answer(_node: FakeNode, conn: socket.socket) -> None:
        body = json.dumps({"answer": "origin", "upstream": "[/bold]" + HOSTILE,
                           "reason": "\x1b]8;;http://evil\x1b\\"}).encode()  # fmt: skip
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip

    fake = FakeNode(answer)
    store = hub_for(tmp_path, fake.port)
    try:
        with Hub(store, clock=FakeClock()) as hub:
            t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=30)
    finally:
        fake.close()
        store.close()
    assert t.outcome == "origin"
    cli.home = tmp_path / "hub"
    code, out, err = cli("hub", "show", t.trace_id)
    assert code == 0, err
    assert "[/bold]" + SHOWN in out and "\x1b" not in out


# --- tracehop query reads the lake and nothing else ----------------------------------------------

ESCAPES = [
    "select * from read_text('/etc/shadow')",
    "select * from read_csv('/etc/passwd')",
    "select * from read_blob('/etc/hostname')",
    "select * from glob('/root/**')",
    "select * from glob('/etc/*')",
    "select * from read_text('{home}/hub-secret.key')",
    "select * from read_text('{home}/api-tokens.json')",
    "select * from read_text('{home}/state.db')",
    "select * from read_text('{home}/lake/../api-tokens.json')",
    "select * from read_parquet('/tmp/*.parquet')",
    "select * from sqlite_scan('{home}/state.db', 'customers')",
    "select * from read_json_auto('{home}/audit.log')",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_query_cannot_read_outside_the_lake(sql: str, tmp_path: Path, data: Path) -> None:
    from tracehop.analyst import query
    from tracehop.cdr.ingest import ingest
    from tracehop.errors import QueryError

    home = tmp_path / "home"
    settings = load_settings(home=home)
    ingest([data / "generic.csv"], settings)
    issue_token(home, "hub")
    (home / "hub-secret.key").write_text("secret")
    (home / "audit.log").write_text('{"a": 1}\n')
    with pytest.raises(QueryError, match="SQL error"):
        query(sql.format(home=home), settings)
    # and the lake itself still reads
    assert query("select count(*) as n from calls", settings).records()[0]["n"] > 0


def test_a_query_that_runs_forever_is_stopped(tmp_path: Path) -> None:
    from tracehop.analyst import query
    from tracehop.errors import QueryError

    settings = load_settings(home=tmp_path / "home")
    endless = (
        "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r"
    )
    with pytest.raises(QueryError, match=r"stopped after 0.5 s \(setting query_timeout\)"):
        query(endless, settings, timeout=0.5)


# --- call records are CPNI: owner-only files -------------------------------------------------------


def test_a_new_home_and_its_files_are_owner_only(tmp_path: Path, data: Path) -> None:
    """Through a real ``tracehop`` process (its umask is set at start) and the library."""
    import stat
    import sys

    home = tmp_path / "home"
    for args in (["ingest", str(data / "generic.csv")], ["tokens", "issue", "hub"]):
        proc = subprocess.run([sys.executable, "-m", "tracehop", "--home", str(home), *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    from tracehop.node.audit import AuditLog

    AuditLog(home / "audit.log").write(event="test")

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(home) == 0o700
    files = [home / "state.db", home / "audit.log",
             *(home / "lake").rglob("*.parquet")]  # fmt: skip
    assert len(files) > 3 and {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert {mode(d) for d in (home / "lake").rglob("*") if d.is_dir()} == {0o700}
    # the library alone (no umask set by the CLI) still makes the home owner-only
    library_home = tmp_path / "lib-home"
    open_store(load_settings(home=library_home)).close()
    assert mode(library_home) == 0o700
