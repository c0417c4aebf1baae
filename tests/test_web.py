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


def test_a_page_that_is_not_there_is_a_page(browser: Any, site: Site) -> None:
    """A person's browser gets an error as a page (its status, the message, links back), the
    API the one JSON error shape."""
    page = logged_in(browser, site)
    for path, status, text in (
        ("/customers/nosuch", 404, "nosuch"),
        ("/cases/nosuch", 404, "nosuch"),
        ("/no/such/page", 404, "Not Found"),
    ):
        response = page.goto(site.url + path)
        assert response is not None and response.status == status
        assert page.inner_text("h1") == str(status) and text in page.inner_text("main")
        assert page.locator("a[href='/']").count() == 1
    shot(page, "not-found")
    api = page.request.get(site.url + "/api/v1/customers/nosuch")
    assert api.status == 404 and api.json()["ok"] is False
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


def _decide(site: Site, caller: str, called: str, upstream: str, call_id: str) -> Any:
    """A call decided by a real screener on the site's home (what ``tracehop screen serve``
    does), its block written to the decision log the rules page reads."""
    from tracehop.screening.index import make_call
    from tracehop.screening.service import serving

    settings = load_settings(home=site.home, provider=site.provider)
    with open_store(settings) as store:
        service = serving(settings, store, watch=False)
        try:
            return service.screener.decide(make_call(caller, called, upstream, call_id))
        finally:
            service.close()


def test_a_rule_is_added_hit_and_removed_on_the_rules_page(browser: Any, site: Site) -> None:
    page = logged_in(browser, site)
    page.goto(site.url + "/rules")
    page.select_option("#kind", "called")  # refused: the page says why, nothing is stored
    page.fill("#value", "911")
    page.fill("#reason", "a flood")
    page.click("#add")
    assert "emergency calls are never blocked" in page.inner_text("#refused")
    assert page.input_value("#value") == "911"  # the form keeps what was typed
    page.select_option("#kind", "caller_id")
    page.fill("#value", "(202) 555-0188")
    page.fill("#reason", "complaints 1-3 name this caller ID")
    page.select_option("#sip_code", "607")
    page.click("#add")
    page.wait_for_url(re.compile(r".*/rules\?added=\d+$"))
    rule_id = int(page.url.rsplit("=", 1)[1])
    row = page.locator(f"#rule-{rule_id}")
    assert "+12025550188" in row.inner_text() and "alice" in row.inner_text()
    assert row.locator("td.hits").inner_text() == "0"
    d = _decide(site, "+12025550188", "+13125550100", "somebody", "web-hit-1")
    assert (d.action, d.sip_code, d.rule_id) == ("block", 607, rule_id)
    page.reload()
    assert page.locator(f"#rule-{rule_id} td.hits").inner_text() == "1"
    first = page.locator("#decisions tr").nth(1).inner_text()
    assert "+12025550188" in first and "607" in first  # the newest block: its caller and SIP code
    shot(page, "rules")
    page.locator(f"#rule-{rule_id} button").click()
    page.wait_for_url(site.url + "/rules")
    assert page.locator(f"#rule-{rule_id}").count() == 0
    page.close()


def test_a_viewer_sees_no_forms_and_forms_need_their_csrf_token(browser: Any, site: Site) -> None:
    settings = load_settings(home=site.home, provider=site.provider)
    with open_store(settings) as store:
        add_user(store, "vera", "viewer", PASSWORD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(site.url + "/login?next=/rules")
    page.fill("#user", "vera")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/rules")
    assert page.locator("#add-rule").count() == 0 and page.locator("#rules button").count() == 0
    page.goto(site.url + f"/cases/{site.case_id}")
    assert page.locator("#mitigate").count() == 0
    page.close()
    form = {"kind": "customer", "value": "anyone", "reason": "a test", "action": "block"}
    with httpx.Client(base_url=site.url, timeout=30, follow_redirects=False) as c:
        c.post("/login", data={"user": "alice", "password": PASSWORD, "next": "/"})
        r = c.post("/rules", data=form)  # a session without its CSRF token
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
        r = c.post(f"/cases/{site.case_id}/mitigate", data={"action": "terminate"})
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
    with httpx.Client(base_url=site.url, timeout=30, follow_redirects=False) as c:
        c.post("/login", data={"user": "vera", "password": PASSWORD, "next": "/"})
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/rules").text)
        assert csrf is not None
        r = c.post("/rules", data={**form, "csrf": csrf.group(1)})  # with it, but a viewer
        assert r.status_code == 403 and "role viewer" in r.json()["error"]


def test_a_case_is_mitigated_from_its_page(browser: Any, site: Site) -> None:
    """A provider block without its notice is refused on the page; blocking the letter's
    caller IDs puts rules in place, meets the 48-hour deadline and marks the case mitigated;
    "Report sent" meets the report deadline."""
    from tracehop.cases.records import get_case
    from tracehop.numbers import to_e164

    settings = load_settings(home=site.home, provider=site.provider)
    with open_store(settings) as store:
        rows = get_case(store, site.case_id).rows
        callers = {to_e164(r["caller_id"]) for r in rows if r["caller_id"]}
    assert callers
    page = logged_in(browser, site)
    page.goto(site.url + f"/cases/{site.case_id}")
    assert page.locator("#no-case-rules").count() == 1
    page.select_option("#mitigate-action", "block-provider")
    page.fill("#mitigate-provider", "some-carrier")
    page.click("#mitigate-submit")
    assert "notice to the Commission first" in page.inner_text("#refused")
    page.select_option("#mitigate-action", "block-caller-ids")
    page.fill("#mitigate-provider", "")
    page.fill("#mitigate-customer", "")
    page.click("#mitigate-submit")
    page.wait_for_url(site.url + f"/cases/{site.case_id}")
    assert page.inner_text("#status") == "mitigated"
    table = page.inner_text("#case-rules")
    assert all(c in table for c in callers) and "caller_id" in table
    assert page.locator("#case-rules tr").count() == len(callers) + 1
    met = page.locator("#deadlines tr", has_text="mitigation_48h").inner_text()
    assert "met" in met
    shot(page, "case-mitigated")
    # the 14-day report went to the Commission: recorded from the page, its deadline met
    page.click("#reported")
    page.wait_for_url(site.url + f"/cases/{site.case_id}")
    assert page.inner_text("#status") == "reported" and page.locator("#reported").count() == 0
    report = page.locator("#deadlines tr", has_text="report_14d").inner_text()
    assert "met" in report and "overdue" not in report
    page.goto(site.url + "/rules")
    assert page.locator("#rules a", has_text=f"case {site.case_id}").count() == len(callers)
    page.close()


def test_a_customer_is_blocked_and_put_under_review(browser: Any, site: Site) -> None:
    from tracehop.customers import list_customers

    settings = load_settings(home=site.home, provider=site.provider)
    with open_store(settings) as store:
        customer = list_customers(store)[-1].id
    page = logged_in(browser, site)
    page.goto(site.url + f"/customers/{customer}")
    assert page.locator("#no-customer-rules").count() == 1
    page.fill("#review-note", "KYC documents asked for")
    page.click("#review")
    page.wait_for_url(site.url + f"/customers/{customer}")
    assert "under review since" in page.inner_text("#review-status")
    page.fill("#block-reason", "complaints and a failed KYC check")
    page.select_option("#block-sip", "608")
    page.click("#block")
    page.wait_for_url(site.url + f"/customers/{customer}")
    rules = page.inner_text("#customer-rules")
    assert "complaints and a failed KYC check" in rules and "608" in rules
    page.fill("#block-reason", "again")
    page.click("#block")
    assert "already applies" in page.inner_text("#refused")
    shot(page, "customer-actions")
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

    from tracehop.tracebacks.campaigns import find_campaigns
    from tracehop.tracebacks.scorecards import non_responsive
    from tracehop.tracebacks.traces import list_traces

    base = tmp_path_factory.mktemp("hubweb")
    hub = sim_net.hub_store(base / "hub")
    with sim_net.hub(hub, clock=FakeClock()) as h:
        trace_batch(h, sim_net.world / "complaints.csv", workers=2, hop_timeout=3)
    add_user(hub, "ana", "viewer", PASSWORD)
    traces = list_traces(hub)
    silent = non_responsive(hub)
    campaigns = find_campaigns(hub).to_json()
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
        page.goto(url + "/campaigns")
        assert campaigns["campaigns"] > 0
        assert number(page.inner_text("#campaign-count")) == campaigns["campaigns"]
        table = page.inner_text("#campaigns")
        for c in campaigns["items"]:
            row = page.locator(f"#campaign-{c['campaign_id']}").inner_text()
            assert str(c["traces"]) in row and all(g in row for g in c["gateways"])
            assert all(t in table for t in c["trace_ids"])
        shot(page, "hub-campaigns")
        first = campaigns["items"][0]
        page.click(f"a[href='/traces/{first['trace_ids'][0]}']")
        page.wait_for_url(url + f"/traces/{first['trace_ids'][0]}")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url + "/campaigns")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "hub-campaigns-phone")
        page.close()
        served = httpx.get(url + "/api/v1/campaigns", timeout=30).json()
        assert served == campaigns
    finally:
        stop_all([proc])


def test_pages_fit_a_phone(browser: Any, site: Site) -> None:
    """No page is wider than a phone's screen (tables scroll inside themselves)."""
    page = logged_in(browser, site)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/customers", "/cases", f"/cases/{site.case_id}", "/tracebacks", "/rules",
                 "/query"):  # fmt: skip
        page.goto(site.url + path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, (path, wide)
        if path in ("/rules", f"/cases/{site.case_id}"):
            shot(page, "rules-phone" if path == "/rules" else "case-phone")
    shot(page, "overview-phone")
    page.close()
