"""The simulator: reproducible, and realistic in the ways the rest of tracehop relies on.

The CDR files are checked through tracehop's real ingest (one home per provider), never by
re-parsing them here.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.csvfiles import read_rows as read
from tracehop.numbers import CallerIdClass, caller_id_class
from tracehop.settings import load_settings
from tracehop.simulate import CAMPAIGNS, SCENARIOS, hop_tolerance, simulate
from tracehop.simulate.model import NPAS, PREMIUM_RANGES
from tracehop.simulate.shaken import verify_settings

SCALE = 0.03


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "world"
    simulate(out, seed=11, days=2, scale=SCALE)
    return out


@pytest.fixture(scope="module")
def lakes(world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Every provider's CDR file ingested into its own home; its calls, by provider."""
    homes = tmp_path_factory.mktemp("homes")
    out: dict[str, list[dict]] = {}
    for row in read(world / "directory.csv"):
        settings = load_settings(
            home=homes / row["id"], provider=row["id"], **verify_settings(world)
        )
        result = ingest([world / row["cdr_file"]], settings)
        assert result.rows_rejected == 0, (row["id"], row["cdr_format"])
        assert result.files[0].format == row["cdr_format"]
        out[row["id"]] = query(
            "select call_id, start, caller, called, upstream, downstream, disposition, "
            "duration, attest, orig_id, provider, identity, identity_status, "
            "extra->>'identity_reason' AS identity_reason from calls",
            settings,
        ).records()
    return out


@pytest.fixture(scope="module")
def truth(world: Path) -> list[dict[str, str]]:
    return read(world / "truth" / "calls.csv")


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(a, seed=5, days=1, scale=0.01)
    simulate(b, seed=5, days=1, scale=0.01)
    simulate(c, seed=6, days=1, scale=0.01)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert len(files_a) > 60
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "truth" / "calls.csv").read_bytes() != (c / "truth" / "calls.csv").read_bytes()
    assert (a / "cdrs" / "telco-a.csv").read_bytes() != (c / "cdrs" / "telco-a.csv").read_bytes()


def test_rerun_into_the_same_folder_replaces_the_world(tmp_path: Path) -> None:
    first = simulate(tmp_path / "w", seed=3, scale=0.005)
    again = simulate(tmp_path / "w", seed=3, scale=0.005)
    assert again.calls == first.calls
    assert json.loads((tmp_path / "w" / "world.json").read_text())["calls"] == first.calls


def test_directory_has_every_role_and_format(world: Path) -> None:
    rows = read(world / "directory.csv")
    assert 20 <= len(rows) <= 40
    roles = Counter(r for row in rows for r in row["roles"].split(";"))
    assert set(roles) == {"originating", "terminating", "gateway", "intermediate"}
    assert {row["cdr_format"] for row in rows} == {"generic", "freeswitch", "asterisk", "kamailio"}
    assert {row["country"] for row in rows} > {"US"}
    assert "false" in {row["rmd_listed"] for row in rows}
    assert "false" in {row["responsive"] for row in rows}


def test_every_call_has_consistent_hops_in_the_ingested_cdrs(
    world: Path, lakes: dict[str, list[dict]], truth: list[dict[str, str]]
) -> None:
    info = json.loads((world / "world.json").read_text())
    tolerance = hop_tolerance(info["max_skew_seconds"])
    by_id = {(p, r["call_id"]): r for p, rows in lakes.items() for r in rows}
    # Every ingested row is one hop of one simulated call, and the other way round.
    assert len(by_id) == sum(int(t["hops"]) for t in truth) == sum(len(v) for v in lakes.values())
    assert info["calls"] == len(truth)
    lengths = Counter()
    checked_downstream = 0
    for t in truth:
        path = t["path"].split(">")
        ids = t["call_ids"].split("|")
        assert len(path) == len(ids) == int(t["hops"])
        lengths[len(path)] += 1
        hops = [by_id[(p, i)] for p, i in zip(path, ids, strict=True)]
        assert hops[0]["upstream"] == t["customer"]
        assert hops[-1]["downstream"] is None  # the terminating provider delivers it
        for k in range(len(hops) - 1):
            here, there = hops[k], hops[k + 1]
            assert there["upstream"] == path[k]  # the next provider names who sent it
            if here["downstream"] is not None:  # FreeSWITCH's CSV has no downstream
                assert here["downstream"] == path[k + 1]
                checked_downstream += 1
            gap = abs((there["start"] - here["start"]).total_seconds())
            assert gap <= tolerance
        for h in hops:
            assert h["called"] == t["called"]
            assert h["disposition"] in {t["disposition"], "no_answer"}  # Asterisk: cancel
            assert h["duration"] == int(t["duration"])
    assert min(lengths) >= 3 and max(lengths) <= 7
    assert set(lengths) >= {3, 4, 5, 6}
    mean = sum(k * v for k, v in lengths.items()) / sum(lengths.values())
    assert 3.8 <= mean <= 5.5  # ITG: about 5 hops a traceback
    assert checked_downstream > len(truth)


def test_caller_ids_and_signatures_as_the_switches_saw_them(
    lakes: dict[str, list[dict]], truth: list[dict[str, str]]
) -> None:
    by_id = {(p, r["call_id"]): r for p, rows in lakes.items() for r in rows}
    foreign = {"mumbai-vox", "manila-link", "thames-voip", "karachi-tel", "santo-net"}
    for t in truth[::7]:
        path, ids = t["path"].split(">"), t["call_ids"].split("|")
        for k, (p, i) in enumerate(zip(path, ids, strict=True)):
            row = by_id[(p, i)]
            if len(t["caller"].lstrip("+")) >= 10:
                assert row["caller"] == t["caller"]
            else:  # nine digits: no E.164 form
                assert row["caller"] is None
            if "orig_id" in row and row["attest"] is not None:
                assert row["attest"] == t["attest"]
                assert row["orig_id"] == t["orig_id"]
            if path[0] in foreign and k == 0:
                assert row["attest"] is None  # foreign providers do not sign
        if path[0] in foreign:
            assert t["attest"] == "C"  # the gateway signs C


def test_calls_are_signed_and_verify_as_their_campaign_signs(
    world: Path, lakes: dict[str, list[dict]], truth: list[dict[str, str]]
) -> None:
    """Ingest (with the world's CA as trust anchor) verifies every logged Identity header:
    legal calls pass, each badly signing campaign fails with its own reason, unsigned
    campaigns carry none; the header is logged by the signer and the terminating provider."""
    signing = {c["campaign"]: c["signing"] for c in read(world / "truth" / "campaigns.csv")}
    assert signing["bank_imposter"] == "wrong_key" and signing["auto_warranty"] == "stale"
    expect = {"valid": "valid", "wrong_key": "bad_signature", "stale": "stale"}
    by_id = {(p, r["call_id"]): r for p, rows in lakes.items() for r in rows}
    logs = {
        row["id"]: row["cdr_format"] in ("generic", "kamailio")
        for row in read(world / "directory.csv")
    }
    abroad = {row["id"] for row in read(world / "directory.csv") if row["country"] != "US"}
    seen: Counter[tuple[str, str]] = Counter()
    for t in truth:
        path, ids = t["path"].split(">"), t["call_ids"].split("|")
        how = signing.get(t["campaign"], "valid")
        signer = 1 if t["entry_provider"] in abroad else 0  # the gateway signs for abroad
        for k, (p, i) in enumerate(zip(path, ids, strict=True)):
            row = by_id[(p, i)]
            logged = logs[p] and k in (signer, len(path) - 1) and t["attest"] != ""
            if not logged:
                assert row["identity"] is None and row["identity_status"] is None, (t, p)
                continue
            assert row["identity_status"] == (
                "TN-Validation-Passed" if how == "valid" else "TN-Validation-Failed"
            ), (t["call"], p, row["identity_reason"])
            assert (row["identity_reason"] or "valid") == expect[how]
            seen[(t["campaign"] or "legal", expect[how])] += 1
    assert seen[("legal", "valid")] > 1000
    assert seen[("bank_imposter", "bad_signature")] > 20
    assert seen[("auto_warranty", "stale")] > 20
    assert not any(c == "tdos" for c, _ in seen)  # unsigned: no header anywhere
    certs = sorted(p.stem for p in (world / "shaken" / "certs").glob("*.pem"))
    signers = [r["id"] for r in read(world / "directory.csv") if r["ocn"]]
    assert set(certs) <= set(signers) and len(certs) == 16


def test_legal_call_centers_and_informational_robocallers(
    world: Path, lakes: dict[str, list[dict]], truth: list[dict[str, str]]
) -> None:
    customers = read(world / "truth" / "customers.csv")
    roles = {c["id"]: c["role"] for c in customers}
    assert Counter(roles.values())["call_center"] >= 3
    assert Counter(roles.values())["informational"] >= 3
    calls = defaultdict(list)
    for t in truth:
        calls[roles.get(t["customer"], "")].append(t)
    info = calls["informational"]
    assert len(info) > 500
    by_customer = defaultdict(set)
    for t in info:
        by_customer[t["customer"]].add(t["caller"])
        assert caller_id_class(t["caller"]) == CallerIdClass.VALID
        assert t["attest"] == "A"
        assert t["campaign"] == ""
    assert max(len(v) for v in by_customer.values()) <= 2  # a consistent number or two
    short = sorted(int(t["duration"]) for t in info if t["disposition"] == "answered")
    assert short[len(short) // 2] <= 40
    centers = calls["call_center"]
    assert len(centers) > 300
    answered = sorted(int(t["duration"]) for t in centers if t["disposition"] == "answered")
    assert answered[len(answered) // 2] >= 60
    assert all(caller_id_class(t["caller"]) == CallerIdClass.VALID for t in centers)
    # the informational robocallers' calls are in their provider's lake, signed A
    customer = next(iter(by_customer))
    provider = next(c["provider"] for c in customers if c["id"] == customer)
    rows = [r for r in lakes[provider] if r["upstream"] == customer]
    assert len(rows) == sum(1 for t in info if t["customer"] == customer)


def _campaign_calls(truth: list[dict[str, str]], kind: str) -> list[dict[str, str]]:
    rows = [t for t in truth if t["campaign"] == kind]
    assert len(rows) > 50, kind
    return rows


def test_every_campaign_kind_is_present(world: Path, truth: list[dict[str, str]]) -> None:
    campaigns = read(world / "truth" / "campaigns.csv")
    assert {c["campaign"] for c in campaigns} == set(CAMPAIGNS)
    assert {c["entry"] for c in campaigns} == {
        "us_direct",
        "us_reseller",
        "foreign",
        "gateway_reseller",
    }
    counts = Counter(t["campaign"] for t in truth)
    assert set(counts) - {""} == set(CAMPAIGNS)
    customers = {c["id"]: c for c in read(world / "truth" / "customers.csv")}
    for c in campaigns:
        assert c["campaign"] in customers[c["customer"]]["campaigns"].split(";")


def test_rotation_spoofing_uses_a_pool_of_valid_numbers(truth: list[dict[str, str]]) -> None:
    rows = _campaign_calls(truth, "gov_imposter")
    callers = Counter(t["caller"] for t in rows)
    assert len(callers) <= CAMPAIGNS["gov_imposter"].pool_size
    assert callers.most_common(1)[0][1] >= 2  # numbers come back: rotation
    assert all(caller_id_class(c) == CallerIdClass.VALID for c in callers)


def test_tech_support_uses_toll_free_look_alikes(truth: list[dict[str, str]]) -> None:
    rows = _campaign_calls(truth, "tech_support")
    assert all(caller_id_class(t["caller"]) == CallerIdClass.TOLL_FREE for t in rows)
    assert len({t["caller"][:-2] for t in rows}) == 1  # one support line, last digits vary


@pytest.mark.parametrize("kind", ["bank_imposter", "auto_warranty"])
def test_neighbour_spoofing_shares_the_called_npa_nxx(
    truth: list[dict[str, str]], kind: str
) -> None:
    rows = _campaign_calls(truth, kind)
    assert all(t["caller"][:8] == t["called"][:8] for t in rows)
    assert sum(t["caller"] != t["called"] for t in rows) >= len(rows) - 2


def test_auto_warranty_dials_sequentially(truth: list[dict[str, str]]) -> None:
    rows = sorted(_campaign_calls(truth, "auto_warranty"), key=lambda t: int(t["call"]))
    steps = [int(b["called"]) - int(a["called"]) for a, b in pairwise(rows)]
    assert Counter(steps)[1] >= 0.9 * len(steps)


def test_one_ring_from_premium_ranges_short_and_unanswered(truth: list[dict[str, str]]) -> None:
    rows = _campaign_calls(truth, "one_ring")
    prefixes = tuple("+" + p for p, _n in PREMIUM_RANGES)
    assert all(t["caller"].startswith(prefixes) for t in rows)
    assert all(caller_id_class(t["caller"]) == CallerIdClass.PREMIUM_INTERNATIONAL for t in rows)
    assert all(t["disposition"] != "answered" and t["duration"] == "0" for t in rows)
    assert Counter(t["disposition"] for t in rows)["cancelled"] >= 0.9 * len(rows)


def test_one_ring_rings_only_a_few_seconds_in_the_switch_records(
    lakes: dict[str, list[dict]], truth: list[dict[str, str]], world: Path
) -> None:
    ids = {t["call_ids"].split("|")[0] for t in truth if t["campaign"] == "one_ring"}
    entry = {t["entry_provider"] for t in truth if t["campaign"] == "one_ring"}
    text = "".join((world / "cdrs" / f"{p}.csv").read_text() for p in entry)
    rows = [r for p in entry for r in lakes[p] if r["call_id"] in ids]
    assert len(rows) == len(ids)
    assert "ORIGINATOR_CANCEL" in text or "NO ANSWER" in text or ",487," in text


def test_tdos_floods_a_few_numbers(truth: list[dict[str, str]]) -> None:
    rows = _campaign_calls(truth, "tdos")
    assert len({t["called"] for t in rows}) <= CAMPAIGNS["tdos"].targets
    assert len({t["caller"] for t in rows}) >= 0.9 * len(rows)  # random spoofing
    hours = Counter(t["start"][:13] for t in rows)
    top2 = sum(n for _h, n in hours.most_common(4))  # two burst hours a day, two days
    assert top2 >= 0.8 * len(rows)


def test_health_insurance_uses_invalid_caller_ids(truth: list[dict[str, str]]) -> None:
    rows = _campaign_calls(truth, "health_insurance")
    classes = Counter(caller_id_class(t["caller"] or None, t["called"]) for t in rows)
    assert CallerIdClass.VALID not in classes
    assert len(classes) >= 4


def test_npas_and_premium_ranges_are_what_the_numbers_module_says() -> None:
    assert all(caller_id_class(f"+1{npa}2345678") == CallerIdClass.VALID for npa in NPAS)
    for prefix, digits in PREMIUM_RANGES:
        number = "+" + prefix + "1" * (digits - len(prefix))
        assert caller_id_class(number) == CallerIdClass.PREMIUM_INTERNATIONAL


def test_customers_files_name_every_upstream(world: Path, lakes: dict[str, list[dict]]) -> None:
    kinds = {"end_user", "enterprise", "call_center", "carrier"}
    directory = {row["id"] for row in read(world / "directory.csv")}
    for provider, rows in lakes.items():
        customers = {c["id"]: c for c in read(world / "customers" / f"{provider}.csv")}
        assert {c["kind"] for c in customers.values()} <= kinds
        upstreams = {r["upstream"] for r in rows}
        assert upstreams <= set(customers), provider
        for u in upstreams & directory:
            assert customers[u]["kind"] == "carrier"


def test_complaints_and_their_hop_by_hop_answers(
    world: Path, lakes: dict[str, list[dict]], truth: list[dict[str, str]]
) -> None:
    complaints = read(world / "complaints.csv")
    expected = {r["complaint_id"]: r for r in read(world / "truth" / "complaints.csv")}
    hops = defaultdict(list)
    for r in read(world / "truth" / "complaint_hops.csv"):
        hops[r["complaint_id"]].append(r)
    assert len(complaints) == len(expected) >= 5
    assert {c["source"] for c in complaints} == {"consumer", "honeypot"}
    assert "" in {c["time_utc"] for c in complaints}  # some give only the date
    calls = {t["call"]: t for t in truth}
    directory = {r["id"]: r for r in read(world / "directory.csv")}
    blocks = {r["npa_nxx"]: r["provider"] for r in read(world / "number_blocks.csv")}
    outcomes = Counter()
    for c in complaints:
        e = expected[c["complaint_id"]]
        answers = hops[c["complaint_id"]]
        outcomes[e["outcome"]] += 1
        assert answers[0]["provider"] == blocks[c["called"][:6]]  # start: the terminating one
        if answers[0]["answer"] == "not_found":
            continue
        call = calls[e["call"]]
        path = call["path"].split(">")
        assert [a["provider"] for a in answers] == path[::-1][: len(answers)]
        for a, prev in zip(answers, path[::-1][1:], strict=False):
            if a["answer"] == "received_from":
                assert a["named"] == prev and directory[prev]["in_consortium"] == "true"
        last = answers[-1]
        assert last["answer"] in {"origin", "provider_not_listed"}
        # the terminating provider's lake has the reported call, found by the complaint's data
        digits = "".join(ch for ch in c["caller_id"] if ch.isdigit())
        found = [
            r
            for r in lakes[answers[0]["provider"]]
            if r["called"] == "+1" + c["called"]
            and (r["caller"] or "").endswith(digits[-10:])
            and r["start"].strftime("%Y-%m-%d") == c["date"]
        ]
        assert found or len(digits) < 10
        if c["time_utc"] and found:
            reported = datetime.fromisoformat(f"{c['date']}T{c['time_utc']}:00+00:00")
            assert min(abs((r["start"] - reported).total_seconds()) for r in found) <= 120
    assert outcomes["origin"] + outcomes["foreign_entry"] + outcomes["not_listed"] > 0


def test_docs_list_every_knob_and_scenario() -> None:
    import dataclasses

    from tracehop.simulate.scenarios import SCENARIOS, CampaignSpec, Scenario

    text = (Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text()
    for cls in (Scenario, CampaignSpec):
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in text, f.name
    for name in SCENARIOS:
        assert f"| `{name}` |" in text, name
    for kind in CAMPAIGNS:
        assert f"`{kind}`" in text, kind
    from tracehop.simulate.families import FAMILIES
    from tracehop.simulate.mixes import ILLEGAL_KINDS, LEGAL_KINDS

    for name, family in FAMILIES.items():
        assert f"| `{name}` | {family.role} |" in text, name
    for kind in (*LEGAL_KINDS, *ILLEGAL_KINDS):
        assert f"| `{kind}`" in text, kind


@pytest.mark.parametrize("scenario", ["quiet", "notice"])
def test_other_scenarios_ingest_cleanly(tmp_path: Path, scenario: str) -> None:
    out = tmp_path / "w"
    result = simulate(out, seed=2, scale=0.01, scenario=scenario)
    kinds = {c["campaign"] for c in read(out / "truth" / "campaigns.csv")}
    assert kinds == {c.kind for c in SCENARIOS[scenario].campaigns}
    loaded = 0
    for row in read(out / "directory.csv"):
        settings = load_settings(home=tmp_path / "h" / row["id"], provider=row["id"])
        r = ingest([out / row["cdr_file"]], settings)
        assert r.rows_rejected == 0
        loaded += r.rows_ingested
    truth = read(out / "truth" / "calls.csv")
    assert loaded == sum(int(t["hops"]) for t in truth) and len(truth) == result.calls
    if scenario == "quiet":
        assert {t["campaign"] for t in truth} == {""}


def test_campaigns_hang_up_on_part_of_their_answered_calls(truth: list[dict[str, str]]) -> None:
    """CampaignSpec.hangup_share: a robocall's answered calls are mostly hung up on (or
    silent) within seconds; legal calls are not touched by it."""
    for kind in ("gov_imposter", "health_insurance"):
        answered = [
            int(t["duration"])
            for t in truth
            if t["campaign"] == kind and t["disposition"] == "answered"
        ]
        short = sum(d < 10 for d in answered) / len(answered)
        assert 0.4 <= short <= 0.65, (kind, short)
    centers = [
        int(t["duration"])
        for t in truth
        if t["campaign"] == "" and t["disposition"] == "answered" and int(t["duration"]) < 10
    ]
    legal = sum(1 for t in truth if t["campaign"] == "" and t["disposition"] == "answered")
    assert len(centers) / legal < 0.1


# --- the second generator: families of one provider's worlds ---------------------------------


def test_family_worlds_are_reproducible_and_differ_by_seed(tmp_path: Path) -> None:
    from tracehop.simulate.families import generate

    a = generate(tmp_path / "a", "originating", seed=4, scale=0.05)
    generate(tmp_path / "b", "originating", seed=4, scale=0.05)
    generate(tmp_path / "c", "originating", seed=5, scale=0.05)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert [str(f) for f in files] == [
        "cdrs/origin-under-test.csv",
        "customers/origin-under-test.csv",
        "dno.csv",
        "truth/components.csv",
        "truth/customers.csv",
        "world.json",
    ]
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    cdrs = "cdrs/origin-under-test.csv"
    assert (tmp_path / "a" / cdrs).read_bytes() != (tmp_path / "c" / cdrs).read_bytes()
    assert a.role == "tuning" and a.calls > 1000 and 0 < a.illegal_calls < a.calls


def test_family_world_calls_match_their_truth(tmp_path: Path) -> None:
    """Every call ingests; each customer's calls and illegal calls are what the truth says;
    the legal look-alikes keep their kind's shape (call centers: low ASR, long answered
    calls; reminders: answered, short)."""
    from tracehop.simulate.families import generate

    out = tmp_path / "w"
    r = generate(out, "gateway", seed=9, scale=0.2)
    settings = load_settings(home=tmp_path / "home", provider=r.provider)
    result = ingest([out / "cdrs" / f"{r.provider}.csv"], settings)
    assert result.rows_rejected == 0 and result.rows_ingested == r.calls
    rows = query(
        "select upstream, count(*) as n, avg((disposition = 'answered')::INT) as asr, "
        "median(duration) filter (where disposition = 'answered') as med "
        "from calls group by 1",
        settings,
    ).records()
    got = {x["upstream"]: x for x in rows}
    truth = read(out / "truth" / "customers.csv")
    assert {t["id"] for t in truth} == set(got)
    for t in truth:
        assert got[t["id"]]["n"] == int(t["calls"])
        assert (int(t["illegal_calls"]) > 0) == bool(t["categories"])
        if t["role"] == "call_center":
            assert 0.15 < got[t["id"]]["asr"] < 0.55 and got[t["id"]]["med"] > 60
    parts = read(out / "truth" / "components.csv")
    for t in truth:
        mine = [p for p in parts if p["customer"] == t["id"]]
        assert sum(int(p["calls"]) for p in mine) == int(t["calls"])
        assert sum(int(p["calls"]) for p in mine if p["legal"] == "false") == int(
            t["illegal_calls"]
        )
    info = json.loads((out / "world.json").read_text())
    assert info["generator"] == "families" and info["family"] == "gateway"
    assert info["calls"] == r.calls and info["illegal_calls"] == r.illegal_calls
