"""The dashboard in a real browser (Playwright driving Debian's Chromium) against a real
``tracehop serve`` process on loopback, on a simulated provider's home: log in, open every
page, check that the figures are the home's own numbers, investigate a case and render its
report, confirm a traceback answer from the review queue. Screenshots of each page go to
``.artifacts/screenshots/`` (kept by CI as artifacts, ignored by git)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tracehop.analyst import query
from tracehop.auth import tokens
from tracehop.auth.users import add_user
from tracehop.cases.draft import draft_notice
from tracehop.cases.records import import_notice
from tracehop.detection.run import run_detection
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.times import FakeClock
from tracehop.tracebacks.batch import trace_batch
from tracehop.tracebacks.nodeprocs import start_node, stop_all, wait_healthy

if TYPE_CHECKING:
    from conftest import SimNet

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / ".artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-quic"]  # fmt: skip


@dataclass
class Site:
    url: str
    home: Path
    provider: str
    case_id: str
    hub_token: str


@pytest.fixture(scope="module")
def site(sim_net: SimNet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A copy of the gateway's home with a user, a detection run, a case from the hub's
    drafted notice, served in review-first mode by a real ``tracehop serve``."""
    base = tmp_path_factory.mktemp("web")
    hub = sim_net.hub_store(base / "hub")
    with sim_net.hub(hub, clock=FakeClock()) as h:
        traced = trace_batch(h, sim_net.world / "complaints.csv", workers=2, hop_timeout=3)
    gateways = [t.gateway for t in traced.traces if t.gateway]
    gateway = max(set(gateways), key=gateways.count)
    text, _rows = draft_notice(hub, gateway, letter_date=date(2025, 3, 6))
    hub.close()
    home = base / gateway
    shutil.copytree(sim_net.nodes[gateway].settings.home, home)
    settings = load_settings(home=home, provider=gateway)
    (base / "notice.txt").write_text(text)
    with open_store(settings) as store:
        add_user(store, "alice", "analyst", PASSWORD)
        hub_token = tokens.issue(store, "hub", "hub")
        run_detection(settings, store)
        case, _, _ = import_notice(store, base / "notice.txt", now=datetime(2025, 3, 6, tzinfo=UTC))
    proc, url = start_node(home, gateway, env={"TRACEHOP_NODE_MODE": "review"})
    try:
        wait_healthy({gateway: url}, [proc])
        yield Site(url, home, gateway, case.case_id, hub_token)
    finally:
        stop_all([proc])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def logged_in(browser: Any, site: Site) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site.url + "/cases")
    assert page.url.startswith(site.url + "/login?next=")  # no session: the login page
    page.fill("#user", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/cases")
    return page


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def number(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


def test_every_page_shows_the_homes_own_numbers(browser: Any, site: Site) -> None:
    settings = load_settings(home=site.home, provider=site.provider)
    calls = query("select count(*) as n from calls", settings).records()[0]["n"]
    top = query(
        "select upstream, count(*) as n from calls group by 1 order by 2 desc limit 1", settings
    ).records()[0]
    page = logged_in(browser, site)
    page.goto(site.url + "/")
    assert number(page.inner_text("#lake-calls")) == calls
    assert page.locator("svg.chart").count() >= 1  # the traffic chart, drawn by the server
    assert page.locator("#risk tr").count() > 1
    shot(page, "overview")
    page.goto(site.url + "/customers")
    assert page.locator("#customers tr").count() > 1
    shot(page, "customers")
    page.goto(site.url + f"/customers/{top['upstream']}")
    assert number(page.inner_text("#calls-total")) == top["n"]
    assert page.locator("svg.chart").count() == 2
    shot(page, "customer")
    page.goto(site.url + "/query?sql=" + "select count(*) as n from calls")
    assert number(page.inner_text("#result")) == calls
    shot(page, "query")
    page.goto(site.url + "/cases")
    assert site.case_id in page.inner_text("#cases")
    shot(page, "cases")
    page.close()


def test_a_case_is_investigated_and_its_report_rendered(browser: Any, site: Site) -> None:
    page = logged_in(browser, site)
    page.goto(site.url + f"/cases/{site.case_id}")
    assert page.locator("#deadlines tr").count() == 3  # a heading and two deadlines
    page.click("#investigate")
    page.wait_for_url(site.url + f"/cases/{site.case_id}")
    assert page.inner_text("#status") == "investigating"
    assert "found" in page.inner_text("#rows")  # each row says what our records show
    shot(page, "case")
    with page.expect_download() as download:
        page.click("#report-report-14d")
    path = download.value.path()
    assert Path(path).read_bytes()[:5] == b"%PDF-"
    page.close()


def test_a_traceback_answer_is_confirmed_from_the_review_queue(browser: Any, site: Site) -> None:
    """The node is review-first: the hub's request waits for a person, who confirms it in the
    dashboard; the hub then gets the answer."""
    settings = load_settings(home=site.home, provider=site.provider)
    row = query("select caller, called, start from calls where caller is not null limit 1",
                settings).records()[0]  # fmt: skip
    auth = {"Authorization": f"Bearer {site.hub_token}"}
    ask = {"request_id": "web-1", "caller": row["caller"], "called": row["called"],
           "at": row["start"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
    first = httpx.post(site.url + "/api/v1/tracebacks/requests", json=ask, headers=auth, timeout=30)
    assert first.status_code == 202
    page = logged_in(browser, site)
    page.goto(site.url + "/tracebacks")
    assert "web-1" in page.inner_text("#pending")
    shot(page, "tracebacks")
    page.locator("#pending form button").first.click()
    page.wait_for_url(site.url + "/tracebacks")
    assert page.locator("#no-pending").count() == 1
    answer = httpx.get(site.url + "/api/v1/tracebacks/requests/web-1", headers=auth, timeout=30)
    assert answer.status_code == 200 and answer.json()["status"] == "answered"
    page.close()


def test_roles_and_csrf_hold(site: Site) -> None:
    """A hub token reads no calls; a viewer cannot act; a session changes nothing without its
    CSRF token; every refusal has the one error shape."""
    settings = load_settings(home=site.home, provider=site.provider)
    with open_store(settings) as store:
        viewer = tokens.issue(store, "viewer-script", "viewer")
        screen = tokens.issue(store, "sbc", "screen")
    for token, path, status in (
        (site.hub_token, "/api/v1/calls", 403),
        (screen, "/api/v1/cases", 403),
        (viewer, "/api/v1/calls", 200),
        (viewer, "/api/v1/tracebacks/requests/web-1", 403),
    ):
        r = httpx.get(site.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == status, (path, r.text)
    r = httpx.post(site.url + f"/api/v1/cases/{site.case_id}/investigate",
                   headers={"Authorization": f"Bearer {viewer}"}, timeout=30)  # fmt: skip
    assert r.status_code == 403 and set(r.json()) == {"ok", "error", "status"}
    with httpx.Client(base_url=site.url, timeout=30, follow_redirects=False) as c:
        login = c.post("/login", data={"user": "alice", "password": PASSWORD, "next": "/"})
        assert login.status_code == 303
        r = c.post(f"/cases/{site.case_id}/investigate", data={"csrf": "forged"})
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
        bad = c.post("/login", data={"user": "alice", "password": "nope", "next": "/"})
        assert bad.headers["location"].startswith("/login?error=")


def test_the_hubs_pages_draw_traces_and_scorecards(
    browser: Any, sim_net: SimNet, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import subprocess
    import sys

    from tracehop.tracebacks.scorecards import non_responsive
    from tracehop.tracebacks.traces import list_traces

    base = tmp_path_factory.mktemp("hubweb")
    hub = sim_net.hub_store(base / "hub")
    with sim_net.hub(hub, clock=FakeClock()) as h:
        trace_batch(h, sim_net.world / "complaints.csv", workers=2, hop_timeout=3)
    add_user(hub, "ana", "viewer", PASSWORD)
    traces = list_traces(hub)
    silent = non_responsive(hub)
    hub.close()
    from tracehop.tracebacks.nodeprocs import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tracehop", "--home", str(base / "hub"), "hub",
                             "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy({"hub": url}, [proc])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.fill("#user", "ana")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")
        assert page.locator("#traces tr").count() == len(traces) + 1
        shot(page, "hub-traces")
        longest = max(traces, key=lambda t: len(t.hops))
        page.goto(url + f"/traces/{longest.trace_id}")
        assert page.inner_text("#outcome") == longest.outcome
        chain = page.inner_text("#chain")
        assert all(h.provider in chain for h in longest.hops)
        shot(page, "hub-trace")
        page.goto(url + "/providers")
        table = page.inner_text("#non-responsive")
        assert silent and all(r["provider"] in table for r in silent)
        shot(page, "hub-providers")
        page.close()
    finally:
        stop_all([proc])


def test_pages_fit_a_phone(browser: Any, site: Site) -> None:
    """No page is wider than a phone's screen (tables scroll inside themselves)."""
    page = logged_in(browser, site)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/customers", "/cases", f"/cases/{site.case_id}", "/tracebacks", "/query"):
        page.goto(site.url + path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, (path, wide)
    shot(page, "overview-phone")
    page.close()
