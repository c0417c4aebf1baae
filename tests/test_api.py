"""The node API: auth, error shape, answers, review-first, rate limit, audit; one real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import issue_token, revoke_token
from tracehop.api.node import create_node_app, node_service
from tracehop.cdr.ingest import ingest
from tracehop.customers import import_customers, parse_customers_csv
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store
from tracehop.times import SYSTEM, Clock, FakeClock

ASK = {
    "request_id": "r-1",
    "caller": "(202) 555-0143",
    "called": "212-555-1234",
    "at": "2021-02-07T10:15:00Z",
}


@pytest.fixture
def node_home(tmp_path: Path, data: Path, state_db: Callable[[], str | None]) -> Settings:
    """A node's home, its state DB on SQLite, then on PostgreSQL."""
    settings = load_settings(home=tmp_path / "node", provider="telco-x", database_url=state_db())
    ingest([data / "generic.csv"], settings)
    store = open_store(settings)
    import_customers(store, parse_customers_csv(data / "customers.csv"))
    store.close()
    return settings


def client(
    settings: Settings, *, clock: Clock = SYSTEM, **changes: object
) -> tuple[TestClient, str]:
    """The node app of ``settings`` with ``changes`` (e.g. ``node_mode="review"``)."""
    token = issue_token(settings, "hub")
    service = node_service(settings.replace(**changes), clock=clock)
    return TestClient(create_node_app(service)), token


def assert_error(resp: httpx.Response, status: int, text: str) -> None:
    assert resp.status_code == status
    body = resp.json()
    assert set(body) == {"ok", "error", "status"}
    assert body["ok"] is False and body["status"] == status and text in body["error"]


def test_answer_with_evidence(node_home: Settings) -> None:
    c, token = client(node_home)
    with c:
        assert c.get("/api/v1/health").json() == {"ok": True, "provider": "telco-x", "mode": "auto"}
        resp = c.post(
            "/api/v1/tracebacks/requests", json=ASK, headers={"Authorization": f"Bearer {token}"}
        )
    assert resp.status_code == 200
    body = resp.json()
    assert (body["answer"], body["upstream"], body["needs_review"]) == (
        "received_from",
        "caprus",
        False,
    )
    assert [m["call_id"] for m in body["matches"]] == ["g-1"]
    assert body["customer"]["name"] == "Caprus IT"
    assert body["due_at"] > body["received_at"]
    assert body["engine"] == "duckdb"  # where the lookup ran
    with c:  # asked again: the stored answer, which says it too
        again = c.get(
            "/api/v1/tracebacks/requests/" + ASK["request_id"],
            headers={"Authorization": f"Bearer {token}"},
        )
    assert again.status_code == 200 and again.json()["engine"] == "duckdb"


def test_never_answers_about_other_calls(node_home: Settings) -> None:
    c, token = client(node_home)
    with c:
        resp = c.post(
            "/api/v1/tracebacks/requests",
            json={**ASK, "request_id": "r-2", "caller": "2025559999"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert resp.json()["answer"] == "not_found" and resp.json()["matches"] == []


def test_auth_and_error_shape(node_home: Settings) -> None:
    c, token = client(node_home)
    with c:
        assert_error(c.post("/api/v1/tracebacks/requests", json=ASK), 401, "valid token")
        # no token: 401 even with a malformed body (the body is not read)
        assert_error(c.post("/api/v1/tracebacks/requests", json={"x": 1}), 401, "valid token")
        assert_error(
            c.post(
                "/api/v1/tracebacks/requests", json=ASK, headers={"Authorization": "Bearer nope"}
            ),
            401,
            "valid token",
        )
        auth = {"Authorization": f"Bearer {token}"}
        assert_error(
            c.post("/api/v1/tracebacks/requests", json={"request_id": "a"}, headers=auth),
            422,
            "caller",
        )
        assert_error(
            c.post(
                "/api/v1/tracebacks/requests",
                content=b"{not json",
                headers={**auth, "content-type": "application/json"},
            ),
            422,
            "",
        )
        assert_error(
            c.post("/api/v1/tracebacks/requests", json={**ASK, "at": "last tuesday"}, headers=auth),
            400,
            "last tuesday",
        )
        assert_error(c.get("/api/v1/tracebacks/requests/zzz", headers=auth), 404, "zzz")
    audit = [json.loads(line) for line in (node_home.home / "audit.log").read_text().splitlines()]
    # every refusal is audited, with who asked when the token was good
    refused = [(a["status"], a.get("token")) for a in audit if a["event"] == "refused"]
    assert refused == [(401, None)] * 3 + [(422, "hub"), (422, "hub"), (400, "hub"), (404, "hub")]
    assert all(a["request"].startswith(("POST /api/v1/", "GET /api/v1/")) for a in audit)


def test_revoked_token_is_refused(node_home: Settings) -> None:
    c, token = client(node_home)
    revoke_token(node_home, "hub")
    with c:
        resp = c.post(
            "/api/v1/tracebacks/requests", json=ASK, headers={"Authorization": f"Bearer {token}"}
        )
    assert_error(resp, 401, "valid token")


def test_review_first_mode(node_home: Settings) -> None:
    c, token = client(node_home, node_mode="review")
    auth = {"Authorization": f"Bearer {token}"}
    with c:
        resp = c.post("/api/v1/tracebacks/requests", json=ASK, headers=auth)
        assert resp.status_code == 202 and resp.json() == {
            "request_id": "r-1",
            "status": "pending_review",
        }
        again = c.get("/api/v1/tracebacks/requests/r-1", headers=auth)
        assert again.status_code == 202
    # the request and its computed answer are stored, waiting for a person
    from tracehop.tracebacks.answers import stored_answers

    store = open_store(node_home)
    stored = stored_answers(store)
    store.close()
    assert [(s["request_id"], s["status"], s["upstream"]) for s in stored] == [
        ("r-1", "pending_review", "caprus")
    ]


def test_rate_limit(node_home: Settings) -> None:
    clock = FakeClock()
    c, token = client(node_home, clock=clock, node_rate=0.5)  # a burst of 1, then 1 every 2 s
    auth = {"Authorization": f"Bearer {token}"}

    def ask(i: int) -> int:
        body = {**ASK, "request_id": f"q{i}"}
        return c.post("/api/v1/tracebacks/requests", json=body, headers=auth).status_code

    with c:
        assert [ask(1), ask(2), ask(3)] == [200, 429, 429]
        clock.advance(1.9)
        assert ask(4) == 429
        clock.advance(0.1)
        assert [ask(5), ask(6)] == [200, 429]
    events = [(e["event"], e.get("status")) for e in c.app.state.node.auditlog.read()]
    assert events.count(("refused", 429)) == 4 and events.count(("answered", None)) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_process(node_home: Settings) -> None:
    token = issue_token(node_home, "hub")
    port = _free_port()
    env = {**os.environ, "TRACEHOP_PROVIDER": "telco-x"}
    if node_home.database_url:
        env["TRACEHOP_DATABASE_URL"] = node_home.database_url
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracehop",
            "--home",
            str(node_home.home),
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        resp = httpx.post(
            f"{base}/api/v1/tracebacks/requests",
            json=ASK,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert resp.status_code == 200 and resp.json()["upstream"] == "caprus"
        assert (
            httpx.post(f"{base}/api/v1/tracebacks/requests", json=ASK, timeout=10).status_code
            == 401
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reaps it and closes its pipes


def test_a_request_id_belongs_to_its_requester(node_home: Settings) -> None:
    c, token_a = client(node_home)
    token_b = issue_token(node_home, "other-hub")
    a = {"Authorization": f"Bearer {token_a}"}
    b = {"Authorization": f"Bearer {token_b}"}
    with c:
        assert c.post("/api/v1/tracebacks/requests", json=ASK, headers=a).status_code == 200
        # another token holder can neither read nor overwrite it
        assert_error(c.get("/api/v1/tracebacks/requests/r-1", headers=b), 404, "r-1")
        clash = {**ASK, "caller": "9999999999"}
        assert_error(c.post("/api/v1/tracebacks/requests", json=clash, headers=b), 409, "r-1")
        mine = c.get("/api/v1/tracebacks/requests/r-1", headers=a)
    assert mine.status_code == 200 and mine.json()["upstream"] == "caprus"


def test_a_retry_gets_the_confirmed_answer(node_home: Settings) -> None:
    """A person corrected the answer; the hub asking again must get that, not a new one."""
    from tracehop.tracebacks.answers import confirm

    c, token = client(node_home)
    auth = {"Authorization": f"Bearer {token}"}
    with c:
        assert (
            c.post("/api/v1/tracebacks/requests", json=ASK, headers=auth).json()["upstream"]
            == "caprus"
        )
        store = open_store(node_home)
        confirm(store, "r-1", upstream="bigfoot")
        store.close()
        again = c.post("/api/v1/tracebacks/requests", json=ASK, headers=auth)
    assert again.status_code == 200
    assert (again.json()["upstream"], again.json()["status"]) == ("bigfoot", "answered")


def test_unexpected_errors_keep_the_error_shape(node_home: Settings) -> None:
    c, token = client(node_home)
    with open_store(node_home) as store, store.engine.begin() as db:  # broken under the node
        db.exec_driver_sql("DROP TABLE traceback_answers")
    with TestClient(c.app, raise_server_exceptions=False) as raw:
        resp = raw.post(
            "/api/v1/tracebacks/requests", json=ASK, headers={"Authorization": f"Bearer {token}"}
        )
    # a store error: 503 (the hub retries), in the one shape
    assert_error(resp, 503, "")
    assert "traceback_answers" in resp.json()["error"] or "state" in resp.json()["error"]


def test_local_transport_rejects_bad_bodies(node_home: Settings) -> None:
    from tracehop.api.inprocess import InProcessNodes, node_url
    from tracehop.node.service import NodeService

    token = issue_token(node_home, "hub")
    service = NodeService(node_home, open_store(node_home))
    transport = InProcessNodes.serving({"telco-x": service})
    with httpx.Client(transport=transport) as http:
        url = node_url("telco-x") + "/api/v1/tracebacks/requests"
        auth = {"Authorization": f"Bearer {token}"}
        assert http.post(url, json=[1, 2], headers=auth).status_code == 422
        assert http.post(url, json={**ASK, "window": 5}, headers=auth).status_code == 422
        ok = http.post(url, json=ASK, headers=auth)
    service.close()
    assert ok.status_code == 200 and ok.json()["upstream"] == "caprus"
