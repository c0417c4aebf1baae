"""The screening HTTP API: POST /api/v1/screen/decide and /metrics behind the guard, in the one
error shape; blocks audited, emergency calls allowed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tracehop.api.screen import create_screen_app
from tracehop.errors import ConfigError
from tracehop.screening import state
from tracehop.screening.audit import read_log
from tracehop.screening.rules import Emergency, make_rule
from tracehop.screening.service import serving
from tracehop.settings import Settings
from tracehop.store import open_store

TOKEN = "s3cret-screen-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(settings: Settings) -> Iterator[tuple[TestClient, Settings]]:
    settings = settings.replace(screen_token=TOKEN)
    store = open_store(settings)
    state.add_rule(
        store, make_rule("customer", "bad-trunk", reason="finding 1", emergency=Emergency())
    )
    service = serving(settings, store, watch=False)
    try:
        yield TestClient(create_screen_app(service, settings, store)), settings
    finally:
        service.close()
        store.close()


def test_decide_needs_the_token(client: tuple[TestClient, Settings]) -> None:
    c, _ = client
    r = c.post("/api/v1/screen/decide", json={"caller": "2025550143", "called": "3125551234"})
    assert r.status_code == 401
    assert r.json() == {
        "ok": False,
        "error": "a valid token is required: Authorization: Bearer <token>",
        "status": 401,
    }
    assert c.get("/metrics").status_code == 401
    assert c.get("/api/v1/health").json()["rules"] == 1


def test_decide_blocks_allows_and_lets_911_through(client: tuple[TestClient, Settings]) -> None:
    c, settings = client
    body = {
        "caller": "2025550143",
        "called": "3125551234",
        "upstream": "bad-trunk",
        "call_id": "x1",
    }
    r = c.post("/api/v1/screen/decide", json=body, headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {
        "action": "block",
        "sip_code": 603,
        "reason": "rule 1: finding 1",
        "rule_id": 1,
        "monitored": [],
        "cause": "originating customer blocked",
    }
    r = c.post("/api/v1/screen/decide", json={**body, "called": "911"}, headers=AUTH)
    assert (r.json()["action"], r.json()["rule_id"]) == ("allow", None)
    r = c.post("/api/v1/screen/decide", json={**body, "upstream": "good"}, headers=AUTH)
    assert r.json()["action"] == "allow"
    metrics = c.get("/metrics", headers=AUTH).text
    assert 'tracehop_screen_decisions_total{action="block",source="http"} 1.0' in metrics
    assert 'tracehop_screen_decisions_total{action="allow",source="http"} 2.0' in metrics
    assert "tracehop_screen_emergency_calls_total 1.0" in metrics
    assert "tracehop_screen_decision_seconds_bucket" in metrics
    deadline = time.monotonic() + 5
    log: list[dict] = []
    while not log and time.monotonic() < deadline:
        log = read_log(settings.home / "screening")
        time.sleep(0.05)
    assert [(e["event"], e["rule_id"], e["call_id"], e["source"]) for e in log] == [
        ("block", 1, "x1", "http")
    ]


def test_bad_and_big_bodies_get_the_error_shape(client: tuple[TestClient, Settings]) -> None:
    c, _ = client
    r = c.post("/api/v1/screen/decide", json={"caller": "1"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "called: Field required"
    r = c.post("/api/v1/screen/decide", content=b"x" * 10_000, headers=AUTH)
    assert r.status_code == 413 and r.json()["ok"] is False


def test_no_token_no_app(settings: Settings) -> None:
    with open_store(settings) as store:
        service = serving(settings, store, watch=False)
        try:
            with pytest.raises(ConfigError, match="TRACEHOP_SCREEN_TOKEN"):
                create_screen_app(service, settings, store)
        finally:
            service.close()


def test_served_process_reloads_rules_added_while_it_runs(home, cli) -> None:  # type: ignore[no-untyped-def]
    """tracehop screen serve --sip --http as a real process: a rule added with the CLI while it
    runs is in force within the reload interval, on HTTP and SIP alike."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    from test_screen_kamailio import answers_options, free_port
    from tracehop.tracebacks.nodeprocs import free_port as free_tcp_port

    cli.json("block", "add", "--customer", "bad-trunk", "--reason", "x", "--json")
    # the SIP side is UDP, the decide API TCP: a free UDP number may be a busy TCP port
    sip, web = free_port(), free_tcp_port()
    log = home / "screen-serve.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRACEHOP_")},
        "TRACEHOP_SCREEN_TOKEN": TOKEN,
        "TRACEHOP_SCREEN_RELOAD": "0.2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracehop", "--home", str(home), "screen", "serve",
         "--sip", f"127.0.0.1:{sip}", "--http", f"127.0.0.1:{web}"],
        env=env, stdout=(out := log.open("wb")), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert answers_options(sip), log.read_text(errors="replace")
        url = f"http://127.0.0.1:{web}"
        deadline = time.monotonic() + 60
        ready = False
        while not ready and time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{url}/api/v1/health").status_code == 200
            except httpx.HTTPError:
                time.sleep(0.1)
        assert ready, f"exit {proc.poll()}: {log.read_text(errors='replace')}"
        body = {"caller": "2025550143", "called": "3125551234", "upstream": "good"}
        assert (
            httpx.post(f"{url}/api/v1/screen/decide", json=body, headers=AUTH).json()["action"]
            == "allow"
        )
        cli.json("block", "add", "--customer", "good", "--reason", "now", "--json")
        deadline = time.monotonic() + 10
        action = "allow"
        while action == "allow" and time.monotonic() < deadline:
            time.sleep(0.1)
            action = httpx.post(f"{url}/api/v1/screen/decide", json=body, headers=AUTH).json()[
                "action"
            ]
        assert action == "block"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.bind(("127.0.0.1", 0))
            s.sendto(
                (
                    b"INVITE sip:+13125551234@127.0.0.1 SIP/2.0\r\n"
                    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-live\r\n"
                    b"From: <sip:+12025550143@x>;tag=1\r\nTo: <sip:+13125551234@x>\r\n"
                    b"Call-ID: live1\r\nCSeq: 1 INVITE\r\nX-Upstream: good\r\n"
                    b"Content-Length: 0\r\n\r\n"
                ),
                ("127.0.0.1", sip),
            )
            assert s.recvfrom(65535)[0].startswith(b"SIP/2.0 603 Network Blocked")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def test_velocity_alerts_reach_the_state_db_and_the_webhook(settings: Settings, cli) -> None:  # type: ignore[no-untyped-def]
    from tracehop.screening.alerts import AlertSink
    from tracehop.screening.engine import Screener, StoreSource
    from tracehop.screening.index import make_call
    from tracehop.times import FakeClock

    posted: list[tuple[str, list[dict]]] = []

    def post(url: str, batch: list[dict]) -> str:
        posted.append((url, batch))
        return "http 204"

    clock = FakeClock()
    with open_store(settings) as store:
        rule = make_rule(
            "rate",
            "*",
            reason="burst",
            emergency=Emergency(),
            rate="2/s",
            subject="caller_id",
            action="alert",
        )
        state.add_rule(store, rule, clock=clock)
        sink = AlertSink(store, webhook="http://127.0.0.1:9/hook", post=post)
        s = Screener(StoreSource(store), emergency=Emergency(), clock=clock, on_alert=sink)
        actions = [s.decide(make_call("2025550143", "3125551234", "acme")).action for _ in range(5)]
        sink.close()
        assert actions == ["allow"] * 5  # an alert rule never blocks
        stored = state.list_alerts(store)
    assert [
        (a["rule_id"], a["action"], a["subject"], a["count"], a["webhook_status"]) for a in stored
    ] == [(1, "alert", "+12025550143", 3, "http 204")]
    assert posted[0][0] == "http://127.0.0.1:9/hook" and posted[0][1][0]["limit"] == 2
    got = cli.json("screen", "alerts", "--json")
    assert [(a["subject"], a["window_seconds"]) for a in got] == [("+12025550143", 1)]


def test_outcomes_posted_feed_the_short_share_trigger(settings: Settings) -> None:
    settings = settings.replace(screen_token=TOKEN)
    with open_store(settings) as store:
        rule = make_rule(
            "short_share",
            "*",
            reason="short",
            emergency=Emergency(),
            subject="customer",
            share=0.5,
            min_answered=3,
        )
        state.add_rule(store, rule)
        service = serving(settings, store, watch=False)
        try:
            c = TestClient(create_screen_app(service, settings, store))
            call = {"caller": "2025550143", "called": "3125551234", "upstream": "robo"}
            for _ in range(3):
                r = c.post(
                    "/api/v1/screen/outcome",
                    json={**call, "answered": True, "duration": 1.5},
                    headers=AUTH,
                )
                assert r.json() == {"ok": True}
            r = c.post(
                "/api/v1/screen/outcome",
                json={**call, "answered": True, "duration": -1},
                headers=AUTH,
            )
            assert r.status_code == 422
            d = c.post("/api/v1/screen/decide", json=call, headers=AUTH).json()
            assert (d["action"], d["rule_id"], d["cause"]) == (
                "block",
                1,
                "short-call share exceeded",
            )
        finally:
            service.close()


def test_blocks_written_as_cdr_rows_ingest_into_the_lake(settings: Settings) -> None:
    """TRACEHOP_SCREEN_BLOCK_CDRS: each block is a generic CDR row that tracehop ingest loads,
    so detection and reports see the calls that were stopped."""
    from tracehop.analyst import query
    from tracehop.cdr.ingest import ingest
    from tracehop.screening.index import make_call

    settings = settings.replace(screen_block_cdrs=True)
    with open_store(settings) as store:
        state.add_rule(store, make_rule("customer", "bad-trunk", reason="x", emergency=Emergency()))
        service = serving(settings, store, watch=False)
        for i in range(3):
            service.screener.decide(
                make_call("2025550143", "3125551234", "bad-trunk", f"b{i}"), source="sip"
            )
        service.screener.decide(make_call("2025550143", "3125551234", "good", "ok"), source="sip")
        service.close()
    files = sorted((settings.home / "screening" / "cdrs").glob("blocked-*.csv"))
    assert len(files) == 1
    result = ingest(files, settings, format="generic", provider="me")
    assert (result.rows_ingested, result.rows_rejected) == (3, 0)
    rows = query(
        "select call_id, disposition, sip_code, upstream, caller from calls order by call_id",
        settings,
    ).records()
    assert rows == [
        {
            "call_id": f"b{i}",
            "disposition": "blocked",
            "sip_code": 603,
            "upstream": "bad-trunk",
            "caller": "+12025550143",
        }
        for i in range(3)
    ]


def test_a_restart_while_the_state_db_is_down_serves_the_last_rules(
    settings: Settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The last good rules are kept on disk; a server started while the state DB cannot be
    opened starts with them, and takes the state DB's rules as soon as it answers."""
    import shutil

    from tracehop.errors import StoreError
    from tracehop.screening.index import make_call
    from tracehop.screening.service import RetryingStore

    call = make_call("2025550143", "3125551234", "bad-trunk")
    with open_store(settings) as store:
        state.add_rule(store, make_rule("customer", "bad-trunk", reason="x", emergency=Emergency()))
        first = serving(settings, store, watch=False)
        assert first.screener.decide(call).action == "block"
        first.close()
    assert (settings.home / "screening" / "snapshot" / "rules.json").exists()
    later = tmp_path / "later"
    down = settings.replace(database_url=f"sqlite:///{later}/state.db")  # its folder is missing
    store = RetryingStore(down)
    service = serving(down, store, watch=False)
    try:
        assert service.screener.from_snapshot
        d = service.screener.decide(call)
        assert (d.action, d.rule_id) == ("block", 1)
        assert service.screener.reload() is False  # still down
        later.mkdir()
        shutil.copy(settings.home / "state.db", later / "state.db")  # the database is back
        with open_store(down) as back:
            state.remove_rule(back, 1, by="me")
        assert service.screener.reload() is True
        assert not service.screener.from_snapshot
        assert service.screener.decide(call).action == "allow"
    finally:
        service.close()
        store.close()
    fresh = settings.replace(
        home=tmp_path / "fresh", database_url=f"sqlite:///{tmp_path}/nowhere/x.db"
    )
    with pytest.raises(StoreError):  # no snapshot to fall back on: a clear error
        serving(fresh, RetryingStore(fresh), watch=False)


def test_rules_through_the_api(client: tuple[TestClient, Settings]) -> None:
    c, _ = client
    assert [r["id"] for r in c.get("/api/v1/screen/rules", headers=AUTH).json()] == [1]
    r = c.post(
        "/api/v1/screen/rules",
        json={"kind": "caller_id", "value": "(202) 555-0143", "reason": "spoofed", "author": "noc"},
        headers=AUTH,
    )
    assert r.status_code == 201 and (r.json()["id"], r.json()["value"]) == (2, "+12025550143")
    body = {"caller": "2025550143", "called": "3125551234", "upstream": "good"}
    assert c.post("/api/v1/screen/decide", json=body, headers=AUTH).json()["rule_id"] == 2
    refused = [
        ({"kind": "called", "value": "911", "reason": "x", "author": "a"}, 400, "emergency"),
        (
            {"kind": "provider", "value": "badco", "reason": "x", "author": "a"},
            409,
            "64.1200(k)(4)",
        ),
        ({"kind": "caller_id", "value": "2025550143", "reason": "x", "author": "a"}, 409, "rule 2"),
    ]
    for rule, status, text in refused:
        r = c.post("/api/v1/screen/rules", json=rule, headers=AUTH)
        assert (r.status_code, r.json()["ok"]) == (status, False) and text in r.json()["error"]
    r = c.delete("/api/v1/screen/rules/2", params={"author": "noc"}, headers=AUTH)
    assert r.json()["removed_by"] == "noc"
    assert c.post("/api/v1/screen/decide", json=body, headers=AUTH).json()["action"] == "allow"
    assert (
        c.delete("/api/v1/screen/rules/99", params={"author": "x"}, headers=AUTH).status_code == 404
    )
    assert c.get("/api/v1/screen/rules", headers={}).status_code == 401
