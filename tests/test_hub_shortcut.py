"""The hub's STIR/SHAKEN shortcut (``tracehop.tracebacks.shortcut``), on the simulator's world.

Every provider's node is its real tracehop home (``tracehop.demo.load_homes``) answering
through the node API's own service in this process (``tracehop.api.inprocess.InProcessNodes``: the real node app). The
complaints are traced once hop by hop (the hub learns orig_id -> origin provider from the
A-attested origins), then again with ``shortcut=True``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracehop.csvfiles import read_rows as read
from tracehop.errors import InputError
from tracehop.settings import load_settings
from tracehop.simulate.shaken import verify_settings
from tracehop.store import Store, open_store
from tracehop.store.models import HubOrigin
from tracehop.times import FakeClock
from tracehop.tracebacks.batch import Complaint, read_complaints, trace_batch
from tracehop.tracebacks.hub import trace
from tracehop.tracebacks.protocol import parse_at
from tracehop.tracebacks.shortcut import (
    best_match,
    import_origins,
    list_origins,
    signed_orig_id,
)
from tracehop.tracebacks.traces import Trace, get_trace

if TYPE_CHECKING:
    from conftest import Cli, SimNet

SEED, SCALE = 1, 0.05
DEADLINE = 3.0  # fake seconds: the non-responsive provider's hop waits this long
# The world's complaints are mostly about illegal campaigns, rarely signed A; as many again
# A-signed calls of the world (truth/calls.csv) are reported too, one per originating provider.
SIGNED_CALLS = 13


@pytest.fixture(scope="module")
def net(sim_net: SimNet) -> SimNet:
    """The simulated network of conftest.py (seed 1, scale 0.05)."""
    return sim_net


@dataclass
class Runs:
    store: Store
    first: dict[str, Trace]  # by complaint id: hop by hop
    second: dict[str, Trace]  # the same complaints with shortcut=True


@pytest.fixture(scope="module")
def runs(net: SimNet, state_db: Callable[[], str | None]) -> Iterator[Runs]:
    store = net.hub_store(
        net.base / f"shortcut-hub-{uuid.uuid4().hex[:8]}", database_url=state_db()
    )
    complaints, bad = read_complaints(net.world / "complaints.csv")
    assert bad == []
    complaints += signed_calls(net.world)
    with net.hub(store, clock=FakeClock()) as hub:
        first = trace_batch(hub, complaints, workers=2, hop_timeout=DEADLINE)
        second = trace_batch(hub, complaints, workers=2, hop_timeout=DEADLINE, shortcut=True)
    assert first.errors == second.errors == []
    yield Runs(
        store,
        {t.reference: t for t in first.traces},  # type: ignore[misc]
        {t.reference: t for t in second.traces},  # type: ignore[misc]
    )
    store.close()


def signed_calls(world: Path) -> list[Complaint]:
    """Answered A-signed calls of three hops or more, the first of each originating provider,
    whose caller and called pair is unique in the world."""
    calls = read(world / "truth" / "calls.csv")
    pairs = Counter((c["caller"], c["called"]) for c in calls)
    out: dict[str, Complaint] = {}
    for c in calls:
        origin = c["path"].split(">")[0]
        if (
            c["attest"] == "A"
            and c["disposition"] == "answered"
            and int(c["hops"]) >= 3
            and pairs[c["caller"], c["called"]] == 1
            and origin not in out
        ):
            at = parse_at(c["start"])
            out[origin] = Complaint(0, f"call-{c['call']}", c["caller"], c["called"], at)
    return list(out.values())[:SIGNED_CALLS]


def a_signed_origin(t: Trace) -> str | None:
    """The orig_id the hub learns from a trace: origin, A-attested best match at the origin."""
    if t.outcome != "origin":
        return None
    return signed_orig_id(best_match(t.hops[-1]))


def chain(t: Trace) -> list[tuple[str, str, str | None]]:
    return [(h.provider, h.answer, h.upstream) for h in t.hops]


def test_the_hub_learns_orig_ids_from_a_attested_origins(runs: Runs) -> None:
    learned = {r["orig_id"]: r for r in list_origins(runs.store)}
    want = {oid: t.outcome_provider for t in runs.first.values() if (oid := a_signed_origin(t))}
    assert want, "the world has A-attested origins"
    assert {oid: r["provider"] for oid, r in learned.items()} == want
    # each trace that reached the origin taught it once per run: the first run and the second
    for oid, row in learned.items():
        taught = sum(a_signed_origin(t) == oid for t in runs.first.values())
        again = sum(a_signed_origin(t) == oid for t in runs.second.values())
        assert row["times_seen"] == taught + again
        assert row["trace_id"] is not None
    # B/C-attested or unsigned origins teach nothing
    for t in runs.first.values():
        if t.outcome == "origin" and a_signed_origin(t) is None:
            match = best_match(t.hops[-1]) or {}
            assert match.get("attest") != "A" or not match.get("orig_id")


def test_a_signed_call_goes_straight_to_its_known_origin(runs: Runs) -> None:
    skipped = 0
    for ref, before in runs.first.items():
        after = runs.second[ref]
        oid = a_signed_origin(before)
        first_oid = signed_orig_id(best_match(before.hops[0]))
        if oid is None or first_oid != oid or len(before.hops) <= 2:
            # nothing to skip (no known orig_id at the first hop, or the origin is the first
            # or second provider anyway): the walk is the same as before
            assert after.shortcut_via is None, ref
            assert chain(after) == chain(before), ref
            assert (after.outcome, after.outcome_provider, after.outcome_customer) == (
                before.outcome,
                before.outcome_provider,
                before.outcome_customer,
            ), ref
            continue
        skipped += 1
        assert after.outcome == "origin", ref
        assert after.outcome_provider == before.outcome_provider, ref
        assert after.outcome_customer == before.outcome_customer, ref
        assert after.shortcut_via == oid, ref
        assert [h.provider for h in after.hops] == [
            before.hops[0].provider,
            before.outcome_provider,
        ]
        assert [h.answer for h in after.hops] == ["received_from", "origin"]
        assert after.hops[1].request_id == f"{after.trace_id}-2"
        assert after.gateway is None
        assert "asked directly" in after.reason and oid in after.reason
        stored = get_trace(runs.store, after.trace_id)
        assert stored.shortcut_via == oid
        assert stored.to_json() == after.to_json()
    assert skipped, "the world has A-signed calls whose origin is more than two hops away"


def test_every_a_signed_origin_is_reached_in_at_most_two_hops(runs: Runs) -> None:
    """When the terminating provider's CDR shows the call A-signed with the orig_id (some CDR
    formats carry no STIR/SHAKEN columns: those calls are walked hop by hop as before)."""
    reached = unseen = 0
    for ref, before in runs.first.items():
        oid = a_signed_origin(before)
        if oid is None:
            continue
        after = runs.second[ref]
        assert after.outcome == "origin", ref
        assert (after.outcome_provider, after.outcome_customer) == (
            before.outcome_provider,
            before.outcome_customer,
        ), ref
        if signed_orig_id(best_match(before.hops[0])) != oid:
            unseen += 1
            assert chain(after) == chain(before), ref
            continue
        reached += 1
        assert len(after.hops) <= 2, ref
    assert reached >= 3
    n = len(runs.first)
    before_hops = sum(len(t.hops) for t in runs.first.values())
    after_hops = sum(len(t.hops) for t in runs.second.values())
    assert after_hops < before_hops
    print(
        f"\n{n} traced, {reached + unseen} ended at an A-signed origin ({unseen} without the "
        f"orig_id at the first hop); hops per traced complaint: {before_hops / n:.2f} hop by "
        f"hop, {after_hops / n:.2f} with the shortcut ({before_hops} -> {after_hops})"
    )


def test_a_wrong_mapping_falls_back_to_the_full_walk(net: SimNet, runs: Runs) -> None:
    before = next(
        t
        for t in runs.first.values()
        if (oid := a_signed_origin(t))
        and signed_orig_id(best_match(t.hops[0])) == oid
        and len(t.hops) > 2
    )
    oid = a_signed_origin(before)
    on_path = {h.provider for h in before.hops}
    wrong = next(
        r["id"]
        for r in net.directory
        if r["in_consortium"] == "true" and r["responsive"] == "true" and r["id"] not in on_path
    )
    store = net.hub_store(net.base / "shortcut-hub-wrong")
    try:
        path = net.base / "origins.csv"
        path.write_text(f"orig_id,provider\n{oid},{wrong}\n")
        assert import_origins(store, path) == 1
        with net.hub(store, clock=FakeClock()) as hub:
            after = trace(
                hub,
                before.caller,
                before.called,
                before.at,
                hop_timeout=DEADLINE,
                reference=before.reference,
                shortcut=True,
            )
        assert after.outcome == "origin"
        assert (after.outcome_provider, after.outcome_customer) == (
            before.outcome_provider,
            before.outcome_customer,
        )
        assert after.shortcut_via is None
        detour = after.hops[1]
        assert (detour.provider, detour.answer) == (wrong, "not_found")
        assert detour.reason.startswith(f"shortcut: asked {wrong} directly (orig_id {oid}")
        assert f"from {before.hops[0].upstream}" in detour.reason
        # the rest is the hop-by-hop walk of the first time
        assert chain(after)[:1] + chain(after)[2:] == chain(before)
        assert after.gateway == before.gateway
        # the origin found hop by hop corrects the mapping
        with store.session() as s:
            row = s.get(HubOrigin, oid)
            assert row is not None
            assert (row.provider, row.trace_id, row.times_seen) == (
                before.outcome_provider,
                after.trace_id,
                1,
            )
    finally:
        store.close()


def test_origins_import_and_list_cli(cli: Cli, home: Path, tmp_path: Path) -> None:
    path = tmp_path / "origins.csv"
    path.write_text("orig_id,provider\nabc-1,telco-a\nabc-2,telco-b\n")
    code, out, err = cli("hub", "origins", "import", str(path))
    assert code == 0, err
    assert "2 orig_ids imported" in out
    rows = cli.json("hub", "origins", "list", "--json")
    assert [(r["orig_id"], r["provider"], r["trace_id"], r["times_seen"]) for r in rows] == [
        ("abc-1", "telco-a", None, 1),
        ("abc-2", "telco-b", None, 1),
    ]
    path.write_text("orig_id,provider\nabc-1,telco-a\nabc-1,telco-c\n")
    code, _out, err = cli("hub", "origins", "import", str(path))
    assert code == 1 and "listed twice" in err
    store = open_store(load_settings(home=home))
    try:
        with pytest.raises(InputError, match="listed twice"):
            import_origins(store, path)
        assert [r["provider"] for r in list_origins(store)] == ["telco-a", "telco-b"]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("match", "want"),
    [
        ({"attest": "A", "orig_id": "x"}, "x"),
        ({"attest": "a", "orig_id": " x "}, "x"),
        ({"attest": "B", "orig_id": "x"}, None),
        ({"attest": "A", "orig_id": ""}, None),
        ({"attest": "A", "orig_id": "x", "identity_status": "TN-Validation-Failed"}, None),
        ({"attest": "A", "orig_id": "x", "identity_status": "verified"}, "x"),
        (None, None),
    ],
)
def test_signed_orig_id(match: dict | None, want: str | None) -> None:
    assert signed_orig_id(match) == want


def test_a_verified_identity_names_the_origin_without_learning(net: SimNet, runs: Runs) -> None:
    """A hub with the world's CA as trust anchor verifies the Identity header the terminating
    provider's match shows, and asks the provider whose OCN is the certificate's SPC: no
    orig_id learned first (a new hub), nothing taken on an answer's word."""
    home = net.base / f"verified-hub-{uuid.uuid4().hex[:8]}"
    store = net.hub_store(home)
    settings = load_settings(home=home, **verify_settings(net.world))
    complaints, _ = read_complaints(net.world / "complaints.csv")
    complaints += signed_calls(net.world)
    try:
        with net.hub(store, clock=FakeClock(), settings=settings) as hub:
            assert hub.verifier is not None
            ocns = [p.ocn for p in hub.directory.values() if p.country == "US"]
            assert None not in ocns and len(set(ocns)) == len(ocns) > 10  # directory.csv's ocn
            third = trace_batch(hub, complaints, workers=2, hop_timeout=DEADLINE, shortcut=True)
        assert third.errors == []
        after_by_ref = {t.reference: t for t in third.traces}
        verified = failed = 0
        for ref, before in runs.first.items():
            after = after_by_ref[ref]
            m = best_match(before.hops[0]) or {}
            if after.shortcut_via is not None:
                verified += 1
                assert m["identity_status"] == "TN-Validation-Passed", ref
                assert m["attest"] in ("A", "B"), ref
                assert after.shortcut_via == m["orig_id"], ref  # the PASSporT's origid
                assert after.outcome == "origin" and len(after.hops) == 2, ref
                if before.outcome == "origin":
                    assert (after.outcome_provider, after.outcome_customer) == (
                        before.outcome_provider,
                        before.outcome_customer,
                    ), ref
            elif m.get("identity_status") == "TN-Validation-Failed":
                failed += 1  # a forged or replayed header names nobody: hop by hop
                assert chain(after) == chain(before), ref
        assert verified >= 3
    finally:
        store.close()


def test_a_new_hub_shortcuts_its_very_first_signed_trace(net: SimNet, runs: Runs) -> None:
    """Nothing learned, nothing imported: the verified signature alone names the origin."""
    before = next(
        t
        for t in runs.first.values()
        if t.outcome == "origin"
        and len(t.hops) > 2
        and (best_match(t.hops[0]) or {}).get("identity_status") == "TN-Validation-Passed"
    )
    home = net.base / f"first-hub-{uuid.uuid4().hex[:8]}"
    store = net.hub_store(home)
    settings = load_settings(home=home, **verify_settings(net.world))
    try:
        assert list_origins(store) == []
        with net.hub(store, clock=FakeClock(), settings=settings) as hub:
            after = trace(
                hub, before.caller, before.called, before.at, hop_timeout=DEADLINE, shortcut=True
            )
        assert after.shortcut_via == best_match(before.hops[0])["orig_id"]  # type: ignore[index]
        assert [h.provider for h in after.hops] == [
            before.hops[0].provider,
            before.outcome_provider,
        ]
        assert (after.outcome_provider, after.outcome_customer) == (
            before.outcome_provider,
            before.outcome_customer,
        )
        # the same trace on a hub without trust anchors walks hop by hop
        plain = net.hub_store(net.base / f"plain-hub-{uuid.uuid4().hex[:8]}")
        try:
            with net.hub(plain, clock=FakeClock()) as hub:
                walked = trace(
                    hub, before.caller, before.called, before.at, hop_timeout=DEADLINE,
                    shortcut=True,
                )  # fmt: skip
            assert walked.shortcut_via is None and chain(walked) == chain(before)
        finally:
            plain.close()
    finally:
        store.close()
