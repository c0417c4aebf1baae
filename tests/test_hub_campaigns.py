"""Campaigns across providers at the hub (tracehop.tracebacks.campaigns): hand-made traces for
each key, then the simulated network's complaints traced hop by hop and grouped, every
campaign checked against the truth; ``tracehop hub campaigns`` and the campaign counts of
``hub summary``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tracehop.csvfiles import read_rows as read
from tracehop.store import Store
from tracehop.times import FakeClock
from tracehop.tracebacks.batch import trace_batch
from tracehop.tracebacks.campaigns import caller_style, find_campaigns, group_traces, trace_keys
from tracehop.tracebacks.traces import Hop, Trace, list_traces

if TYPE_CHECKING:
    from conftest import Cli, SimNet

T0 = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
_n = iter(range(10_000))


def trace(
    caller: str,
    called: str,
    *,
    at: datetime | date = T0,
    path: tuple[str, ...] = ("term", "transit", "gw"),
    outcome: str = "foreign_entry",
    named: str | None = "far-away-telecom",
    orig_id: str | None = None,
) -> Trace:
    """A finished trace through ``path`` that ended at its last provider with ``outcome``
    (naming ``named``); the first node's match carries the caller and ``orig_id``."""
    k = next(_n)
    hops = []
    for i, p in enumerate(path):
        last = i == len(path) - 1
        match: dict[str, Any] = {"caller": caller, "called": called, "orig_id": orig_id}
        hops.append(
            Hop(
                hop=i + 1,
                provider=p,
                request_id=f"r{k}-{i}",
                asked_at=T0,
                due_at=T0 + timedelta(hours=24),
                answer="origin" if last and outcome == "origin" else "received_from",
                upstream=named if last else path[i + 1],
                raw={"matches": [match] if i == 0 else []},
            )
        )
    return Trace(
        trace_id=f"tb-{k}",
        caller=caller,
        called=called,
        at=at,
        started_at=T0,
        reference=f"C{k}",
        outcome=outcome,
        outcome_provider=path[-1],
        outcome_customer=named,
        gateway=path[-1] if outcome == "foreign_entry" else None,
        hops=hops,
    )


def test_caller_styles() -> None:
    assert caller_style("+12125551234", "+12125559876") == "neighbour"
    assert caller_style("+18005551234", "+12125559876") == "toll_free"
    assert caller_style("+449091234567", "+12125559876") == "premium"
    assert caller_style("+12115551234", "+12125559876") == "invalid"
    assert caller_style("+12125559876", "+12125559876") == "invalid"  # caller = called
    assert caller_style(None, "+12125559876") == "missing"
    assert caller_style("+13125551234", "+12125559876") == "valid"


def test_look_alikes_through_two_gateways_are_one_campaign() -> None:
    """Look-alikes of one toll-free line (the caller ID's 100-block) tie traces that entered
    through different gateways from different upstreams; an unrelated trace through the same
    gateway stays apart."""
    a = trace("+18555402011", "+12125550001", path=("t1", "x", "gw-east"), named="up-1")
    b = trace("+18555402077", "+13125550002", path=("t2", "y", "gw-west"), named="up-2")
    c = trace("+18555402040", "+14155550003", path=("t3", "gw-east"), named="up-3")
    other = trace("+16175550123", "+12125550004", path=("t1", "x", "gw-east"), named="up-1")
    report = group_traces([a, b, c, other])
    assert len(report.campaigns) == 1 and report.unlinked == 1
    camp = report.campaigns[0].to_json()
    assert camp["traces"] == 3 and camp["style"] == "toll_free"
    assert camp["keys"] == {"caller_block:+185554020XX": 3}
    assert camp["gateways"] == {"gw-east": 2, "gw-west": 1}
    assert set(camp["entries"]) == {"gw-east/up-1", "gw-west/up-2", "gw-east/up-3"}
    assert camp["providers"][0] == "gw-east" and set(camp["providers"]) == {
        "t1", "t2", "t3", "x", "y", "gw-east", "gw-west"
    }  # fmt: skip
    assert camp["trace_ids"] == sorted(camp["trace_ids"], key=lambda t: int(t[3:]))
    assert report.per_provider["gw-west"] == 1 and "t9" not in report.per_provider


def test_each_key_links_and_what_does_not() -> None:
    # one orig_id: two traces whose caller IDs and called numbers have nothing in common
    same_origin = [
        trace("+16175550100", "+12125550001", orig_id="oid-1", outcome="no_response"),
        trace("+19175550200", "+13125550002", orig_id="oid-1", outcome="no_response"),
    ]
    # the same origin customer
    origin = [
        trace("+12065550300", "+14045550003", outcome="origin", named="bad"),
        trace("+13035550400", "+15035550004", outcome="origin", named="bad"),
    ]
    # neighbour-spoofed calls from the same unlisted upstream
    neighbour = [
        trace("+12125551111", "+12125559999", outcome="not_listed", named="reseller-x"),
        trace("+14155552222", "+14155558888", outcome="not_listed", named="reseller-x"),
    ]
    # a flood: one number three times on one day (twice is not enough)
    flood = [
        trace(c, "+17075550101", outcome="no_response")
        for c in ("+16025550500", "+17025550600", "+18015550700")
    ]
    two = [
        trace(c, "+17135550202", outcome="no_response") for c in ("+19045550800", "+19165550900")
    ]
    # the same gateway with valid caller IDs from different upstreams: not a campaign
    apart = [
        trace("+16515551000", "+17205550011", named="up-a"),
        trace("+17725551100", "+18135550012", named="up-b"),
    ]
    report = group_traces(same_origin + origin + neighbour + flood + two + apart)
    keys = [sorted(c.keys) for c in report.campaigns]
    assert ["orig_id:oid-1"] in keys
    assert ["origin:gw/bad"] in keys
    assert ["source:reseller-x|neighbour"] in keys
    assert ["target:+17075550101|2025-03-03"] in keys
    assert len(report.campaigns) == 4
    assert report.unlinked == 4  # the two calls to one number, the two through one gateway


def test_keys_of_a_date_only_trace_and_a_reported_caller() -> None:
    t = trace("+12025550143", "+12125550001", at=date(2025, 3, 4))
    t.hops[0].raw = {}  # no match recorded: the reported caller is used, normalised
    t.caller = "(617) 555-0123"
    keys = trace_keys(t)
    assert "caller:+16175550123" in keys and "caller_block:+161755501XX" in keys
    assert "target:+12125550001|2025-03-04" in keys
    assert group_traces([t]).to_json() == {
        "traces": 1,
        "campaigns": 0,
        "traces_in_campaigns": 0,
        "unlinked_traces": 1,
        "per_provider": {},
        "items": [],
    }


# --- the simulated network: complaints traced hop by hop, then grouped -------------------------


@pytest.fixture(scope="module")
def traced_hub(sim_net: SimNet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A hub that traced every complaint of the simulated network (seed 1, scale 0.05)."""
    store = sim_net.hub_store(tmp_path_factory.mktemp("campaigns") / "hub")
    with sim_net.hub(store, clock=FakeClock()) as hub:
        trace_batch(hub, sim_net.world / "complaints.csv", workers=3, hop_timeout=3.0)
    yield store
    store.close()


def test_campaigns_of_a_simulated_network_match_the_truth(
    sim_net: SimNet, traced_hub: Store
) -> None:
    truth = {r["complaint_id"]: r for r in read(sim_net.world / "truth" / "complaints.csv")}
    report = find_campaigns(traced_hub)
    assert report.traces == len(truth)
    campaigns = {}
    for c in report.campaigns:
        kinds = Counter(truth[t.reference or ""]["campaign"] or "legal" for t in c.traces)
        assert len(kinds) == 1, (c.campaign_id, kinds, c.keys)  # never two campaigns in one
        kind = next(iter(kinds))
        assert kind not in campaigns, kind  # one campaign is not split in two
        campaigns[kind] = c
    reported = Counter(r["campaign"] for r in truth.values() if r["campaign"])
    # every campaign reported at least three times is found as one
    assert {k for k, n in reported.items() if n >= 3} <= set(campaigns)
    # a source abroad: every trace ends at a gateway that names the same foreign provider
    gov = campaigns["gov_imposter"].to_json()
    assert len({e.split("/")[1] for e in gov["entries"]}) == 1
    assert set(gov["gateways"]) == {e.split("/")[0] for e in gov["entries"]}
    assert gov["style"] == "valid" and gov["traces"] == reported["gov_imposter"]


def test_campaigns_and_summary_commands(sim_net: SimNet, traced_hub: Store, cli: Cli) -> None:
    assert traced_hub.settings is not None
    cli.home = Path(traced_hub.settings.home)
    data = cli.json("hub", "campaigns", "--json")
    report = find_campaigns(traced_hub)
    assert data == report.to_json()
    assert data["campaigns"] >= 1 and data["traces"] == len(list_traces(traced_hub))
    code, text, err = cli("hub", "campaigns")
    assert code == 0, err
    assert f"{data['campaigns']} campaigns hold {data['traces_in_campaigns']} of" in text
    rows = {r["provider"]: r for r in cli.json("hub", "summary", "--json")}
    for pid, n in data["per_provider"].items():
        assert rows[pid]["campaigns"] == n
    assert all(r["campaigns"] == data["per_provider"].get(p, 0) for p, r in rows.items())
    code, _, err = cli("hub", "campaigns", "--min-traces", "1")
    assert code == 1 and "--min-traces must be 2 or more" in err
    big = cli.json("hub", "campaigns", "--json", "--min-traces", "5")
    assert big["items"] and all(c["traces"] >= 5 for c in big["items"])
