"""The rules API and the actions that make rules (``tracehop.api.rules``) in the whole app of
``tracehop serve``: a rule added, hit by a real screener on the same home, listed with its
hit, removed; the library's refusals in the one error shape; roles; mitigation from a case;
a customer's review; every write audited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from letters import FIXTURE
from tracehop.api.app import create_app
from tracehop.auth import tokens
from tracehop.cases.records import import_notice
from tracehop.cdr.ingest import ingest
from tracehop.customers import import_customers, parse_customers_csv
from tracehop.screening.index import make_call
from tracehop.screening.service import serving
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store
from tracehop.store.models import AuditRow
from tracehop.times import FakeClock

NOW = datetime(2021, 3, 17, 15, 0, tzinfo=UTC)


@dataclass
class Served:
    client: TestClient
    settings: Settings
    clock: FakeClock
    case_id: str
    auth: dict[str, dict[str, str]]  # role -> headers


@pytest.fixture
def served(tmp_path: Path, data: Path) -> Iterator[Served]:
    settings = load_settings(home=tmp_path / "home", provider="icon", provider_name="Icon Global")
    ingest([data / "generic.csv"], settings)
    with open_store(settings) as store:
        import_customers(store, parse_customers_csv(data / "customers.csv"))
        case, _, _ = import_notice(store, FIXTURE, now=NOW)
        issued = {role: tokens.issue(store, f"{role}-script", role)
                  for role in ("analyst", "viewer", "hub", "screen")}  # fmt: skip
    clock = FakeClock(NOW + timedelta(hours=3))
    auth = {role: {"Authorization": f"Bearer {t}"} for role, t in issued.items()}
    with TestClient(create_app(settings, clock=clock)) as client:
        yield Served(client, settings, clock, case.case_id, auth)


def assert_error(resp: httpx.Response, status: int, text: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"ok", "error", "status"} and body["status"] == status
    assert text in body["error"], body["error"]


def test_a_rule_is_added_hit_listed_and_removed(served: Served) -> None:
    c, analyst = served.client, served.auth["analyst"]
    resp = c.post("/api/v1/rules", headers=analyst, json={
        "kind": "caller-id", "value": "(202) 555-0143", "reason": "complaints 14-20",
        "sip_code": 607, "expires": "7d"})  # fmt: skip
    assert resp.status_code == 201, resp.text
    rule = resp.json()
    assert (rule["kind"], rule["value"], rule["action"], rule["sip_code"], rule["author"]) == (
        "caller_id", "+12025550143", "block", 607, "analyst-script")  # fmt: skip
    assert rule["expires_at"] == "2021-03-24T18:00:00Z" and rule["hits"] == 0
    listed = c.get("/api/v1/rules", headers=served.auth["viewer"]).json()
    assert [(r["id"], r["hits"], r["last_hit"]) for r in listed] == [(rule["id"], 0, None)]
    assert c.get("/api/v1/decisions", headers=analyst).json() == []

    with open_store(served.settings) as store:  # a screener on the same home decides a call
        service = serving(served.settings, store, clock=served.clock, watch=False)
        try:
            d = service.screener.decide(make_call("2025550143", "2125551234", "caprus", "k-1"))
        finally:
            service.close()
    assert (d.action, d.sip_code, d.rule_id) == ("block", 607, rule["id"])
    listed = c.get("/api/v1/rules", headers=analyst).json()
    assert [(r["id"], r["hits"], r["last_hit"]) for r in listed] == [
        (rule["id"], 1, "2021-03-17T18:00:00Z")]  # fmt: skip
    blocked = c.get("/api/v1/decisions?limit=5", headers=analyst).json()
    assert [(b["call_id"], b["caller"], b["upstream"], b["rule_id"], b["sip_code"])
            for b in blocked] == [("k-1", "+12025550143", "caprus", rule["id"], 607)]  # fmt: skip

    gone = c.delete(f"/api/v1/rules/{rule['id']}", headers=analyst)
    assert gone.status_code == 200 and gone.json()["removed_by"] == "analyst-script"
    assert c.get("/api/v1/rules", headers=analyst).json() == []
    every = c.get("/api/v1/rules?include_removed=true", headers=analyst).json()
    assert [(r["id"], r["hits"]) for r in every] == [(rule["id"], 1)]
    assert_error(c.delete(f"/api/v1/rules/{rule['id']}", headers=analyst), 409, "already removed")
    assert_error(c.delete("/api/v1/rules/999", headers=analyst), 404, "no rule 999")
    with open_store(served.settings) as store, store.session() as s:
        audit = [
            (a.who, a.action, a.status) for a in s.scalars(select(AuditRow).order_by(AuditRow.id))
        ]
    assert audit == [
        ("analyst-script", "POST /api/v1/rules", 201),
        ("analyst-script", f"DELETE /api/v1/rules/{rule['id']}", 200),
        ("analyst-script", f"DELETE /api/v1/rules/{rule['id']}", 409),
        ("analyst-script", "DELETE /api/v1/rules/999", 404),
    ]


def test_the_librarys_refusals_and_the_roles(served: Served) -> None:
    c, analyst = served.client, served.auth["analyst"]
    assert_error(c.post("/api/v1/rules", headers=analyst, json={
        "kind": "called", "value": "911", "reason": "flood"}), 400, "emergency number")  # fmt: skip
    assert_error(c.post("/api/v1/rules", headers=analyst, json={
        "kind": "provider", "value": "caprus", "reason": "ITG notice"}),
        409, "needs a notice to the Commission first")  # fmt: skip
    assert_error(c.post("/api/v1/rules", headers=analyst, json={
        "kind": "customer", "value": "caprus", "reason": "x", "expires": "someday"}),
        400, "expires 'someday'")  # fmt: skip
    assert_error(c.post("/api/v1/rules", headers=analyst, json={"kind": "customer"}), 422, "reason")
    body = {"kind": "customer", "value": "caprus", "reason": "finding 1"}
    assert_error(c.post("/api/v1/rules", headers=served.auth["viewer"], json=body), 403,
                 "role viewer")  # fmt: skip
    assert_error(c.post("/api/v1/rules", json=body), 401, "log in, or send a token")
    for role in ("hub", "screen"):
        for path in ("/api/v1/decisions", "/api/v1/rules"):
            assert_error(c.get(path, headers=served.auth[role]), 403, f"role {role}")
    assert_error(c.delete("/api/v1/rules/1", headers=served.auth["viewer"]), 403, "role viewer")
    assert c.get("/api/v1/rules", headers=analyst).json() == []  # nothing was stored


def test_a_case_is_mitigated_through_the_api(served: Served) -> None:
    c, analyst, case_id = served.client, served.auth["analyst"], served.case_id
    path = f"/api/v1/cases/{case_id}/mitigate"
    assert_error(c.post(path, headers=analyst, json={"action": "block-provider",
                                                     "provider": "caprus"}),
                 409, "needs the notice to the Commission first")  # fmt: skip
    assert_error(c.post(path, headers=analyst, json={"action": "block-customer"}), 400,
                 "needs the customer")  # fmt: skip
    assert_error(c.post(path, headers=served.auth["viewer"], json={"action": "terminate"}), 403,
                 "role viewer")  # fmt: skip
    done = c.post(path, headers=analyst, json={"action": "block-customer", "customer": "caprus"})
    assert done.status_code == 200, done.text
    m = done.json()
    assert (m["status"], m["subject"], m["deadlines_met"]) == (
        "mitigated", "caprus", ["mitigation_48h"])  # fmt: skip
    assert [(r["kind"], r["value"], r["mode"]) for r in m["rules"]] == [
        ("customer", "caprus", "enforce")]  # fmt: skip
    case = c.get(f"/api/v1/cases/{case_id}", headers=analyst).json()
    assert case["status"] == "mitigated"
    rules = c.get("/api/v1/rules", headers=analyst).json()
    assert [(r["kind"], r["value"], r["case_id"]) for r in rules] == [
        ("customer", "caprus", case_id)]  # fmt: skip
    profile = c.get("/api/v1/customers/caprus", headers=analyst).json()
    assert [(r["id"], r["kind"]) for r in profile["rules"]] == [(m["rules"][0]["id"], "customer")]


def test_a_customer_is_put_under_review_and_taken_off(served: Served) -> None:
    c, analyst = served.client, served.auth["analyst"]
    path = "/api/v1/customers/caprus/review"
    assert_error(c.post(path, headers=analyst, json={"note": ""}), 400, "say why")
    assert_error(c.post("/api/v1/customers/ghost/review", headers=analyst, json={"note": "x"}),
                 404, "no customer 'ghost' on record")  # fmt: skip
    assert_error(c.post(path, headers=served.auth["viewer"], json={"note": "x"}), 403, "viewer")
    set_ = c.post(path, headers=analyst, json={"note": "KYC documents asked for"})
    assert set_.json() == {"customer": "caprus", "review": {
        "customer": "caprus", "note": "KYC documents asked for",
        "since": "2021-03-17T18:00:00+00:00", "by": "analyst-script"}}  # fmt: skip
    profile = c.get("/api/v1/customers/caprus", headers=served.auth["viewer"]).json()
    assert profile["review"]["note"] == "KYC documents asked for"
    assert "review" not in profile["customer"]  # the record (what a traceback answer sends)
    assert c.post(path, headers=analyst, json={"end": True}).json()["review"] is None
    assert c.get("/api/v1/customers/caprus", headers=analyst).json()["review"] is None
