"""The hub's pages (``tracehop hub serve``): traces with each one's chain of providers,
campaigns across providers (``tracehop hub campaigns``), per-provider scorecards and the
providers that did not respond. Over the same library
functions as the hub's JSON API.

(No ``from __future__ import annotations``: FastAPI reads the route annotations.)
"""

from collections import Counter
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from tracehop.api.deps import need
from tracehop.auth.roles import Principal
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.tracebacks.campaigns import find_campaigns
from tracehop.tracebacks.scorecards import non_responsive, scorecards
from tracehop.tracebacks.traces import get_trace, list_traces
from tracehop.web.pages import TEMPLATES, login_routes, when

NAV = [("/", "Traces"), ("/campaigns", "Campaigns"), ("/providers", "Providers")]
Read = Annotated[Principal, Depends(need("read"))]


class HubPages:
    """What ``login_routes`` and the pages need: the home, its store, the session key."""

    def __init__(self, settings: Settings, store: Store, key: bytes) -> None:
        self.settings, self.store, self.key = settings, store, key
        self.templates = Jinja2Templates(directory=str(Path(TEMPLATES)))
        self.templates.env.filters["when"] = when

    def render(
        self, request: Request, name: str, title: str, active: str, **ctx: object
    ) -> HTMLResponse:
        who: Principal = request.state.holder
        base = {"title": title, "nav": NAV, "active": active, "who": who, "can_act": False,
                "csrf": getattr(request.state, "csrf", ""), "provider": "Traceback hub"}  # fmt: skip
        return self.templates.TemplateResponse(request, name, {**base, **ctx})


def hub_router(settings: Settings, store: Store, key: bytes) -> APIRouter:
    pages = HubPages(settings, store, key)
    r = APIRouter(include_in_schema=False)
    login_routes(r, pages)

    @r.get("/", response_class=HTMLResponse)
    def traces(request: Request, _who: Read) -> HTMLResponse:
        found = list_traces(store, limit=500)
        outcomes = sorted(Counter(t.outcome or "?" for t in found).items())
        return pages.render(request, "hub_traces.html.j2", "Traces", "/",
                            traces=[t.to_json(raw=False) for t in found], outcomes=outcomes)  # fmt: skip

    @r.get("/traces/{trace_id}", response_class=HTMLResponse)
    def trace(request: Request, trace_id: str, _who: Read) -> HTMLResponse:
        t = get_trace(store, trace_id).to_json(raw=False)
        return pages.render(request, "hub_trace.html.j2", f"Trace {trace_id}", "/", t=t)

    @r.get("/campaigns", response_class=HTMLResponse)
    def campaigns(request: Request, _who: Read) -> HTMLResponse:
        report = find_campaigns(store).to_json()
        return pages.render(request, "hub_campaigns.html.j2", "Campaigns", "/campaigns",
                            report=report)  # fmt: skip

    @r.get("/providers", response_class=HTMLResponse)
    def providers(request: Request, _who: Read) -> HTMLResponse:
        return pages.render(request, "hub_providers.html.j2", "Providers", "/providers",
                            cards=scorecards(store), silent=non_responsive(store))  # fmt: skip

    return r
