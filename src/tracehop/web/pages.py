"""The dashboard's pages: overview, customers, one customer, cases, one case, the traceback
review queue, the analysts' query page, and logging in and out. Each page calls the same
library functions as the JSON API (``tracehop.api.data``), and every page's data is also
reachable as JSON there.

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

import csv
import io
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from tracehop.analyst import jsonable
from tracehop.api.deps import need
from tracehop.auth.roles import Principal
from tracehop.auth.sessions import COOKIE, MAX_AGE, new_session
from tracehop.charts import line_chart, stacked_bars
from tracehop.errors import QueryError, TracehopError
from tracehop.settings import Settings
from tracehop.shared_engine import SharedEngine
from tracehop.store import Store
from tracehop.times import SYSTEM, Clock

TEMPLATES = Path(__file__).parent / "templates"
NAV = [("/", "Overview"), ("/customers", "Customers"), ("/cases", "Cases"),
       ("/tracebacks", "Tracebacks"), ("/rules", "Rules"), ("/query", "Query")]  # fmt: skip
Read = Annotated[Principal, Depends(need("read"))]
Act = Annotated[Principal, Depends(need("act"))]


def when(value: Any) -> str:
    """A time as people read it on a page: ``2026-11-30 17:45 UTC`` (ISO text or datetime)."""
    from datetime import UTC, datetime

    if not value:
        return ""
    try:
        t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M") + (" UTC" if t.tzinfo is not None else "")


def _safe_next(target: str) -> str:
    """Only a path on this site (never an open redirect to another)."""
    parsed = urlparse(target or "/")
    if parsed.scheme or parsed.netloc or not (parsed.path or "/").startswith("/"):
        return "/"
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


class Pages:
    def __init__(
        self, settings: Settings, store: Store, shared: SharedEngine, key: bytes, clock: Clock
    ) -> None:
        self.settings, self.store, self.key, self.clock = settings, store, key, clock
        self.shared = shared
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.templates.env.filters["when"] = when

    def render(
        self, request: Request, name: str, title: str, active: str, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        """A page; ``status`` other than 200 when it says why a form was refused (``refused``)."""
        who: Principal = request.state.holder
        base = {"title": title, "nav": NAV, "active": active, "who": who, "refused": "",
                "csrf": getattr(request.state, "csrf", ""), "provider": self.settings.provider_name
                or self.settings.provider, "can_act": who.can("act")}  # fmt: skip
        return self.templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)

    def overview(self, request: Request) -> HTMLResponse:
        from tracehop.cases.records import list_cases
        from tracehop.lakeviews import totals, traffic_by_day
        from tracehop.overview import customers_by_risk, latest_run, pending_tracebacks

        lake = self.shared.memo("totals", totals)
        traffic = self.shared.memo("traffic_by_day", traffic_by_day)
        chart = stacked_bars(
            [(date.fromisoformat(t["day"]), t["disposition"], t["calls"]) for t in traffic],
            label="calls a day by disposition",
        )
        return self.render(
            request, "overview.html.j2", "Overview", "/", lake=lake, traffic_chart=chart,
            detection=latest_run(self.store), risky=customers_by_risk(self.store, limit=10),
            cases=[c for c in list_cases(self.store) if c["status"] != "closed"],
            pending=pending_tracebacks(self.store, now=self.clock.now()),
        )  # fmt: skip

    def customers(self, request: Request) -> HTMLResponse:
        from tracehop.customers import list_customers
        from tracehop.overview import customers_by_risk

        risk = {r["customer"]: r for r in customers_by_risk(self.store, limit=10_000)}
        rows = []
        for c in list_customers(self.store):
            r = risk.get(c.id, {})
            rows.append({**c.as_row(), "score": r.get("score"), "flagged": r.get("flagged"),
                         "categories": r.get("categories", [])})  # fmt: skip
        rows.sort(key=lambda r: (-(r["score"] or 0), r["id"]))
        return self.render(request, "customers.html.j2", "Customers", "/customers", customers=rows)

    def customer(self, request: Request, customer_id: str, **extra: Any) -> HTMLResponse:
        from tracehop.api.data import customer_profile

        p = customer_profile(self.store, self.shared, customer_id, self.settings.home)
        daily = [(date.fromisoformat(d["day"]), d) for d in p["daily"]]
        calls = line_chart({"calls": [(d, r["calls"]) for d, r in daily],
                            "blocked": [(d, r["blocked"]) for d, r in daily]},
                           label=f"calls a day from {customer_id}")  # fmt: skip
        rates = line_chart({"answered share": [(d, r["asr"]) for d, r in daily],
                            "short answered share": [(d, r["short_share"]) for d, r in daily]},
                           label=f"answer rate and short calls of {customer_id}")  # fmt: skip
        return self.render(
            request, "customer.html.j2", f"Customer {customer_id}", "/customers", p=p,
            calls_chart=calls, rates_chart=rates, total_calls=sum(r["calls"] for _, r in daily),
            **extra,
        )  # fmt: skip

    def cases(self, request: Request) -> HTMLResponse:
        from tracehop.cases.records import list_cases

        return self.render(
            request, "cases.html.j2", "Cases", "/cases", cases=list_cases(self.store)
        )

    def case(self, request: Request, case_id: str, **extra: Any) -> HTMLResponse:
        from tracehop.cases.records import ACTION_TEXT, event_text, get_case
        from tracehop.screening.state import rules_of_case

        c = get_case(self.store, case_id).to_json()
        for e in c["events"]:
            e["text"] = event_text(e["kind"], e["detail"])
        nr = sum(r["no_response"] for r in c["rows"])
        customers = sorted({r["matched_customer"] for r in c["rows"] if r["matched_customer"]})
        return self.render(
            request, "case.html.j2", f"Case {case_id}", "/cases", c=c, no_response=nr,
            rules=rules_of_case(self.store, case_id), actions=ACTION_TEXT, customers=customers,
            **extra,
        )  # fmt: skip

    def tracebacks(self, request: Request) -> HTMLResponse:
        from tracehop.overview import pending_tracebacks
        from tracehop.tracebacks.answers import stored_answers

        answered = list(reversed(stored_answers(self.store)))[:50]
        return self.render(request, "tracebacks.html.j2", "Tracebacks", "/tracebacks",
                           pending=pending_tracebacks(self.store, now=self.clock.now()),
                           answered=answered)  # fmt: skip

    def query(self, request: Request, sql: str) -> HTMLResponse:
        from tracehop.analyst import query as run_query

        result, error = None, ""
        if sql.strip():
            try:
                result = run_query(sql, self.settings, store=self.store, max_rows=200)
            except QueryError as exc:
                error = exc.message
        return self.render(request, "query.html.j2", "Query", "/query", sql=sql, result=result,
                           error=error)  # fmt: skip


def web_router(
    settings: Settings, store: Store, shared: SharedEngine, key: bytes, *, clock: Clock = SYSTEM
) -> APIRouter:
    """The dashboard's routes over one home."""
    pages = Pages(settings, store, shared, key, clock)
    r = APIRouter(include_in_schema=False)
    login_routes(r, pages)
    _page_routes(r, pages)
    _action_routes(r, pages)
    from tracehop.web.rules_pages import rules_routes

    rules_routes(r, pages)
    return r


def login_routes(r: APIRouter, pages: Any) -> None:
    """``/login`` and ``/logout`` (``pages``: anything with settings, store, key, templates)."""

    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/", error: str = "") -> HTMLResponse:
        ctx = {"next": _safe_next(next), "error": error,
               "provider": pages.settings.provider_name or pages.settings.provider}  # fmt: skip
        return pages.templates.TemplateResponse(request, "login.html.j2", ctx)

    @r.post("/login")
    def login(
        user: Annotated[str, Form(max_length=100)],
        password: Annotated[str, Form(max_length=1000)],
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        from tracehop.auth.users import login as check

        try:
            who = check(pages.store, user, password)
        except TracehopError:
            return RedirectResponse(f"/login?error=wrong+user+name+or+password&next={next}", 303)
        cookie, _session = new_session(pages.key, who.name)
        resp = RedirectResponse(_safe_next(next), 303)
        resp.set_cookie(COOKIE, cookie, max_age=MAX_AGE, httponly=True, samesite="lax",
                        secure=pages.settings.session_secure)  # fmt: skip
        return resp

    @r.post("/logout")
    def logout() -> Response:
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(COOKIE)
        return resp


def _page_routes(r: APIRouter, pages: Pages) -> None:
    @r.get("/", response_class=HTMLResponse)
    def overview(request: Request, _who: Read) -> HTMLResponse:
        return pages.overview(request)

    @r.get("/customers", response_class=HTMLResponse)
    def customers(request: Request, _who: Read) -> HTMLResponse:
        return pages.customers(request)

    @r.get("/customers/{customer_id}", response_class=HTMLResponse)
    def customer(request: Request, customer_id: str, _who: Read) -> HTMLResponse:
        return pages.customer(request, customer_id)

    @r.get("/cases", response_class=HTMLResponse)
    def cases(request: Request, _who: Read) -> HTMLResponse:
        return pages.cases(request)

    @r.get("/cases/{case_id}", response_class=HTMLResponse)
    def case(request: Request, case_id: str, _who: Read) -> HTMLResponse:
        return pages.case(request, case_id)

    @r.get("/tracebacks", response_class=HTMLResponse)
    def tracebacks(request: Request, _who: Read) -> HTMLResponse:
        return pages.tracebacks(request)

    @r.get("/query", response_class=HTMLResponse)
    def query(request: Request, _who: Read, sql: str = "") -> HTMLResponse:
        return pages.query(request, sql[:20_000])

    @r.get("/query.csv")
    def query_csv(_who: Read, sql: str) -> Response:
        from tracehop.analyst import query as run_query

        result = run_query(sql[:20_000], pages.settings, store=pages.store)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(result.columns)
        for row in result.rows:
            w.writerow(["" if v is None else jsonable(v) for v in row])
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"content-disposition": "attachment; filename=query.csv"})  # fmt: skip


def _action_routes(r: APIRouter, pages: Pages) -> None:
    @r.post("/cases/{case_id}/investigate")
    def investigate(case_id: str, who: Act) -> Response:
        from tracehop.cases.investigate import investigate as run

        run(pages.settings, pages.store, case_id, actor=who.name, now=pages.clock.now())
        return RedirectResponse(f"/cases/{case_id}", 303)

    @r.post("/cases/{case_id}/reported")
    def reported(case_id: str, who: Act) -> Response:
        """The report went to the Commission: its report deadlines are met."""
        from tracehop.cases.records import set_status

        set_status(pages.store, case_id, "reported", actor=who.name, now=pages.clock.now())
        return RedirectResponse(f"/cases/{case_id}", 303)

    @r.post("/cases/{case_id}/report")
    def report(case_id: str, who: Act, kind: Annotated[str, Form(max_length=40)]) -> FileResponse:
        from tracehop.cases.reports import write_report

        out = Path(pages.settings.home) / "reports" / f"{case_id}-{kind}.pdf"
        write_report(pages.settings, pages.store, case_id, kind, out, actor=who.name,
                     now=pages.clock.now())  # fmt: skip
        return FileResponse(out, media_type="application/pdf", filename=out.name)

    @r.post("/tracebacks/{request_id}/confirm")
    def confirm(
        request_id: str, who: Act, upstream: Annotated[str, Form(max_length=200)] = ""
    ) -> Response:
        from tracehop.tracebacks.answers import confirm as confirm_answer

        confirm_answer(pages.store, request_id, upstream=upstream.strip() or None,
                       now=pages.clock.now())  # fmt: skip
        return RedirectResponse("/tracebacks", 303)
