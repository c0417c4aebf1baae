"""The dashboard's reads of the lake give what a plain query over all of it gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.analyst import open_engine, query
from tracehop.cdr.ingest import ingest
from tracehop.lakeviews import customer_daily, search_calls, totals, traffic_by_day
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """600 calls over 60 days, from three customers, some days quiet."""
    base = tmp_path_factory.mktemp("lakeviews")
    rows = ["call_id,start,caller,called,upstream,duration,disposition"]
    for i in range(600):
        day = 1 + (i * 7) % 60
        if day % 9 == 0:
            continue  # quiet days
        month, dom = (3, day) if day <= 31 else (4, day - 31)
        rows.append(
            f"c{i},2025-{month:02d}-{dom:02d}T{i % 24:02d}:{i % 60:02d}:00Z,+1202555{i % 100:04d},"
            f"+1212555{i:04d},cust{i % 3},{i % 40},{'answered' if i % 4 else 'failed'}"
        )
    path = base / "calls.csv"
    path.write_text("\n".join(rows) + "\n")
    settings = load_settings(home=base / "home")
    ingest([path], settings)
    return settings


def all_ids(settings: Settings, where: str = "TRUE") -> list[str]:
    sql = f"select call_id from calls where {where} order by start desc, call_id"
    return [r["call_id"] for r in query(sql, settings).records()]


@pytest.mark.parametrize("filters", [{}, {"upstream": "cust1"}, {"caller": "(202) 555-0007"}])
def test_pages_of_calls_are_the_newest_first_of_the_whole_lake(
    lake: Settings, filters: dict
) -> None:
    where = {"upstream": "upstream = 'cust1'", "caller": "caller = '+12025550007'"}
    cond = " AND ".join(where[k] for k in filters) or "TRUE"
    want = all_ids(lake, cond)
    with open_store(lake) as store:
        con = open_engine(lake, store)
        try:
            got: list[str] = []
            for offset in range(0, len(want) + 50, 50):
                page = search_calls(con, limit=50, offset=offset, **filters)
                assert page["total"] == len(want)
                got += [c["call_id"] for c in page["calls"]]
            daily = customer_daily(con, "cust1")
            lake_totals = totals(con)
            traffic = traffic_by_day(con, days=100)
        finally:
            con.close()
    assert got == want
    n = query("select count(*) as n from calls where upstream = 'cust1'", lake).records()[0]["n"]
    assert sum(d["calls"] for d in daily) == n
    assert lake_totals["calls"] == sum(t["calls"] for t in traffic) == len(all_ids(lake))
    assert {t["disposition"] for t in traffic} == {"answered", "failed"}


def test_a_search_with_a_time_window(lake: Settings) -> None:
    from datetime import UTC, datetime

    since, until = datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 20, tzinfo=UTC)
    want = all_ids(
        lake, "start >= TIMESTAMPTZ '2025-03-10 00:00Z' AND start < TIMESTAMPTZ '2025-03-20 00:00Z'"
    )
    with open_store(lake) as store:
        con = open_engine(lake, store)
        try:
            page = search_calls(con, since=since, until=until, limit=1000)
        finally:
            con.close()
    assert [c["call_id"] for c in page["calls"]] == want and page["total"] == len(want) > 0
    assert Path(lake.home).exists()
