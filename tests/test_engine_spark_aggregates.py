"""The lake's other readers on Spark: the cases' aggregates and reports, the dashboard's and
the API's lake views, and the screening replay give on Spark (local mode) what they give on
DuckDB, over the same lake, and say where they ran (``"engine"``).

One SparkSession per test process, as in ``test_engine_spark.py`` (``spark_session`` hands
back the running one); each engine opened gets a session of its own on it (its own views)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import simulated_homes
from letters import FIXTURE
from tracehop.analyst import open_analytics
from tracehop.cases import queries
from tracehop.cases.investigate import investigate
from tracehop.cases.records import get_case, import_notice
from tracehop.cases.reports import report_context
from tracehop.engine import Engine
from tracehop.lakeviews import customer_daily, search_calls, totals, traffic_by_day
from tracehop.screening import state
from tracehop.screening.replay import replay
from tracehop.screening.rules import Emergency, make_rule
from tracehop.settings import Settings, load_settings
from tracehop.spark_engine import spark_session
from tracehop.store import open_store

pytestmark = pytest.mark.spark

ENGINES = ("duckdb", "spark")
NOW = datetime(2021, 3, 17, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def spark() -> Any:
    return spark_session("local[2]")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """A gateway of a small simulated world (seed 57, two days): its folder (for the truth)
    and its home."""
    out = tmp_path_factory.mktemp("spark-aggregates")
    homes = simulated_homes(out, ("transitnet",), days=2, scale=0.05)
    return out / "world", homes["transitnet"]


def _on(settings: Settings, name: str) -> Iterator[Engine]:
    with open_store(settings) as store:
        engine = open_analytics(settings.replace(engine=name), store)
    try:
        yield engine
    finally:
        engine.close()


def _both(settings: Settings, read: Any) -> dict[str, Any]:
    """``read(engine)`` on each engine."""
    out = {}
    for name in ENGINES:
        for engine in _on(settings, name):
            assert engine.name == name
            out[name] = read(engine)
    return out


def test_the_dashboards_lake_views_are_the_same(spark: Any, world: tuple[Path, Settings]) -> None:
    _, settings = world

    def views(e: Engine) -> dict[str, Any]:
        lake = totals(e)
        busiest = [r[0] for r in e.sql(
            "SELECT upstream FROM calls GROUP BY upstream ORDER BY count(*) DESC, upstream "
            "LIMIT 6").rows]  # fmt: skip
        caller = e.sql("SELECT min(caller) FROM calls WHERE upstream = ?", [busiest[0]]).scalar()
        first = datetime.fromisoformat(lake["first_day"]).replace(tzinfo=UTC)
        pages = [
            search_calls(e, limit=50, offset=off, **f)
            for f in ({}, {"upstream": busiest[1]}, {"caller": caller},
                      {"since": first + timedelta(hours=20), "until": first + timedelta(hours=30)})
            for off in (0, 50)
        ]  # fmt: skip
        return {"totals": lake, "traffic": traffic_by_day(e, days=14), "pages": pages,
                "daily": {c: customer_daily(e, c) for c in busiest}}  # fmt: skip

    got = _both(settings, views)
    assert got["spark"] == got["duckdb"]
    d = got["duckdb"]
    # the world gave what the comparison needs: two days, pages that fill, customers
    assert d["totals"]["first_day"] != d["totals"]["last_day"] and d["totals"]["calls"] > 1000
    assert all(len(p["calls"]) == 50 for p in d["pages"][:2]) and len(d["daily"]) == 6
    assert d["pages"][6]["total"] > 0 and d["pages"][4]["total"] > 0


def test_the_cases_aggregates_are_the_same(spark: Any, world: tuple[Path, Settings]) -> None:
    _, settings = world

    def aggregates(e: Engine) -> dict[str, Any]:
        lo, hi = queries.lake_span(e)
        customers = sorted(r[0] for r in e.sql("SELECT DISTINCT upstream FROM calls").rows)
        return {
            "span": (lo, hi),
            "daily": queries.daily_calls(e, customers, lo, hi),
            "days": [queries.customer_day(e, c, d) for c in customers[:12] for d in (lo, hi)],
        }

    got = _both(settings, aggregates)
    assert got["spark"] == got["duckdb"]
    assert len(got["duckdb"]["daily"]) > 20 and any(d["calls"] for d in got["duckdb"]["days"])


@pytest.fixture(scope="module")
def case_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """The fixture letter's provider (tests/data: four named customers with calls), the
    letter opened as a case."""
    from tracehop.cdr.ingest import ingest
    from tracehop.customers import import_customers, parse_customers_csv

    data = Path(__file__).parent / "data"
    home = tmp_path_factory.mktemp("spark-case") / "home"
    settings = load_settings(home=home, provider="icon", provider_name="Icon Global")
    ingest([data / "generic.csv"], settings)
    with open_store(settings) as store:
        import_customers(store, parse_customers_csv(data / "customers.csv"))
        case, _, _ = import_notice(store, FIXTURE, now=NOW)
    return settings, case.case_id


def test_a_cases_investigation_and_reports_are_the_same(
    spark: Any, case_home: tuple[Settings, str]
) -> None:
    settings, case_id = case_home
    found: dict[str, Any] = {}
    for name in ENGINES:
        on = settings.replace(engine=name)
        with open_store(on) as store:
            summary = investigate(on, store, case_id, actor="analyst", now=NOW)
            rows = [r["investigation"] for r in get_case(store, case_id).rows]
            reports = {
                kind: report_context(on, store, case_id, kind, now=NOW)
                for kind in ("mitigation", "report-14d")
            }
        found[name] = (summary, rows, reports)
    (dsum, drows, drep), (ssum, srows, srep) = found["duckdb"], found["spark"]
    assert (dsum.pop("engine"), ssum.pop("engine")) == ENGINES
    assert ssum == dsum and srows == drows
    for kind, ctx in drep.items():
        assert (ctx["engine"], srep[kind]["engine"]) == ENGINES
        # the report's figures from the lake: the chart of calls a day, the customers
        for key in ("chart", "customers", "traffic", "no_response"):
            assert srep[kind][key] == ctx[key], (kind, key)
    # the figures are there: days of traffic read from the lake for the redacted rows
    traffic = [r["day_traffic"]["calls"] for r in drows if r.get("day_traffic")]
    assert len(traffic) >= 10 and sum(traffic) > 0 and "<svg" in drep["report-14d"]["chart"]


def test_the_replay_counts_are_the_same(spark: Any, world: tuple[Path, Settings]) -> None:
    folder, settings = world
    with open_store(settings) as store:
        busiest = [
            r[0] for r in _both(settings, lambda e: e.sql(
                "SELECT upstream, count(*) FROM calls GROUP BY upstream "
                "ORDER BY 2 DESC, 1 LIMIT 3").rows)["duckdb"]
        ]  # fmt: skip
        e = Emergency()
        rules = [
            make_rule("customer", busiest[0], reason="a", emergency=e),
            make_rule("customer", busiest[1], reason="b", emergency=e, mode="monitor"),
            make_rule("rate", "*", reason="c", emergency=e, rate="2/min", subject="caller_id"),
        ]
        for rule in rules:
            state.add_rule(store, rule)
        got, windowed = {}, {}
        for name in ENGINES:
            on = settings.replace(engine=name)
            report = replay(on, store, truth=folder)
            got[name] = (report.as_dict(), report.blocked_truth_calls, report.monitor_truth_calls)
            # a window across midnight, without the truth
            since = datetime(2025, 3, 3, 20, tzinfo=UTC)
            windowed[name] = replay(on, store, since=since, until=since + timedelta(hours=8))
    d, s = got["duckdb"][0], got["spark"][0]
    assert (d.pop("engine"), s.pop("engine")) == ENGINES
    assert s == d and got["spark"][1:] == got["duckdb"][1:]
    w = {n: r.as_dict() for n, r in windowed.items()}
    assert (w["duckdb"].pop("engine"), w["spark"].pop("engine")) == ENGINES
    assert w["spark"] == w["duckdb"] and 0 < w["duckdb"]["calls"] < d["calls"]
    # every rule did something and the truth was joined
    assert all(r["blocked"] or r["matched_in_monitor"] for r in d["per_rule"]), d["per_rule"]
    assert d["truth"]["illegal"] > 0 and d["truth"]["legal"] > 0 and d["blocked"] > 0


def test_the_api_and_cli_say_where_they_ran(
    spark: Any, world: tuple[Path, Settings], monkeypatch: Any
) -> None:
    from tracehop.api.app import create_app
    from tracehop.auth import tokens
    from tracehop.cli import _register, app

    folder, settings = world
    with open_store(settings) as store:
        auth = {"Authorization": f"Bearer {tokens.issue(store, 'spark-reader', 'viewer')}"}
    got: dict[str, Any] = {}
    for name in ENGINES:
        with TestClient(create_app(settings.replace(engine=name))) as client:
            overview = client.get("/api/v1/overview", headers=auth).json()
            calls = client.get("/api/v1/calls?limit=20", headers=auth).json()
            customer = calls["calls"][0]["upstream"]
            profile = client.get(f"/api/v1/customers/{customer}", headers=auth).json()
        assert overview["engine"] == calls["engine"] == profile["engine"] == name
        got[name] = (overview["lake"], overview["traffic"], calls["calls"], profile["daily"])
    assert got["spark"] == got["duckdb"]
    _register()
    for name in ENGINES:
        monkeypatch.setenv("TRACEHOP_ENGINE", name)
        result = CliRunner().invoke(
            app, ["--home", str(settings.home), "screen", "replay", "--json", "--truth",
                  str(folder)])  # fmt: skip
        assert result.exit_code == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["engine"] == name and out["calls"] > 1000
