"""One error shape on every route of every app: the test walks each app's own route table, so
a route added later is covered without touching this file.

For every route and method it sends what a careless or hostile client sends (no token, a
wrong token, unknown ids, query parameters of the wrong type, bodies that are not JSON or not
the model) and checks that every refusal is ``{"ok": false, "error": ..., "status": N}`` with
N the HTTP status, and that bad input is refused (4xx), never a 500 or a success.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from conftest import issue_token
from tracehop.api.hub import create_hub_app
from tracehop.api.node import create_node_app, node_service
from tracehop.settings import load_settings

OPEN = {"/api/v1/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/login"}


@dataclass
class Served:
    name: str
    app: FastAPI
    token: str


def _node(tmp: Path) -> Served:
    settings = load_settings(home=tmp / "node", provider="telco-x")
    token = issue_token(settings.home, "hub")
    return Served("node", create_node_app(node_service(settings)), token)


def _hub(tmp: Path) -> Served:
    settings = load_settings(home=tmp / "hub", hub_token="hub-secret")
    return Served("hub", create_hub_app(settings), "hub-secret")


def _full(tmp: Path) -> Served:
    """``tracehop serve``: the node, the JSON API and the dashboard in one app."""
    from tracehop.api.app import create_app

    settings = load_settings(home=tmp / "full", provider="telco-x")
    token = issue_token(settings.home, "admin-script", "admin")
    return Served("full", create_app(settings), token)


@pytest.fixture(params=[_node, _hub, _full], ids=["node", "hub", "full"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    make: Callable[[Path], Served] = request.param
    yield make(tmp_path)


def assert_shape(resp: httpx.Response, what: str) -> None:
    assert resp.headers["content-type"].startswith("application/json"), what
    body = resp.json()
    assert set(body) == {"ok", "error", "status"}, (what, body)
    assert body["ok"] is False and body["status"] == resp.status_code, (what, body)
    assert isinstance(body["error"], str) and body["error"].strip(), (what, body)


def api_routes(routes: list) -> Iterator[APIRoute]:  # type: ignore[type-arg]
    """Every API route, those of included routers too (FastAPI keeps those apart)."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from api_routes(r.original_router.routes)


def _query_params(route: APIRoute) -> dict[str, type]:
    """The route's query parameters that are numbers (to send them a word)."""
    out: dict[str, type] = {}
    for param in route.dependant.query_params:
        annotation = param.field_info.annotation
        base = typing.get_origin(annotation) or annotation
        if inspect.isclass(base) and issubclass(base, int | float):
            out[param.name] = base
    return out


def _path(route: APIRoute) -> str:
    path = route.path
    for param in route.dependant.path_params:
        path = path.replace("{" + param.name + "}", "no-such-id")
    return path


BAD_BODIES: list[tuple[str, dict[str, object]]] = [
    ("not JSON", {"content": b"\x00\xffnot json"}),
    ("a JSON list", {"json": [1, 2]}),
    ("an empty object", {"json": {}}),
    ("wrong types", {"json": {"request_id": 5, "caller": [], "called": {}, "at": None}}),
]


def test_every_route_answers_bad_input_in_the_one_error_shape(served: Served) -> None:
    routes = list(api_routes(served.app.routes))
    assert routes, "the app has no routes?"
    good = {"Authorization": f"Bearer {served.token}"}
    with TestClient(served.app, raise_server_exceptions=False, follow_redirects=False) as client:
        for route in routes:
            path = _path(route)
            for method in sorted(route.methods):
                what = f"{served.name} {method} {route.path}"
                send = getattr(client, method.lower())
                if route.path not in OPEN:
                    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "x"}):
                        resp = send(path, headers=headers)
                        page = not route.path.startswith("/api/") and served.name in ("full", "hub")
                        if page and "Bearer" not in headers.get("Authorization", ""):
                            # a browser without a session is sent to the login page
                            assert resp.status_code == 303, (what, headers, resp.text)
                            assert resp.headers["location"].startswith("/login?next=")
                            continue
                        assert resp.status_code == 401, (what, headers, resp.text)
                        assert_shape(resp, what)
                required = {
                    q.name: "1" for q in route.dependant.query_params if q.field_info.is_required()
                }
                for name in _query_params(route):
                    resp = send(path, params={**required, name: "abc"}, headers=good)
                    assert resp.status_code == 422, (what, name, resp.text)
                    assert_shape(resp, what)
                    assert resp.json()["error"].startswith(f"query.{name}:"), resp.json()
                    resp = send(path, params={**required, name: "-1"}, headers=good)
                    assert resp.status_code == 422, (what, name, resp.text)
                if route.dependant.path_params and method == "GET":
                    resp = send(path, headers=good)
                    assert resp.status_code == 404, (what, resp.text)
                    assert_shape(resp, what)
                if route.dependant.body_params:
                    for label, kwargs in BAD_BODIES:
                        headers = {**good, "content-type": "application/json"}
                        resp = client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
                        assert 400 <= resp.status_code < 500, (what, label, resp.text)
                        assert_shape(resp, f"{what} with {label}")
            # a method the route does not have
            other = "DELETE" if "DELETE" not in route.methods else "PUT"
            resp = client.request(other, path, headers=good)
            assert resp.status_code == 405, (route.path, resp.text)
            assert_shape(resp, f"{served.name} {other} {route.path}")
        resp = client.get("/api/v1/no-such-route", headers=good)
        assert resp.status_code in (401, 404)
        assert_shape(resp, f"{served.name} unknown route")
