"""What-if replay over the lake: per rule, per customer, proposed rule files, rate limits on the
calls' own times, emergency calls, and illegal against legal on a simulated world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Cli
from tracehop.cdr.ingest import ingest
from tracehop.csvfiles import read_rows
from tracehop.errors import InputError
from tracehop.screening import state
from tracehop.screening.replay import read_rules_file, replay
from tracehop.screening.rules import Emergency, make_rule
from tracehop.settings import Settings
from tracehop.simulate import simulate
from tracehop.store import open_store

E = Emergency()


def lake(settings: Settings, tmp_path: Path) -> None:
    lines = ["call_id,start,caller,called,upstream,duration"]
    for i in range(40):  # acme: 40 calls in 40 s from one caller ID
        lines.append(f"a{i},2025-03-03T10:00:{i:02d}Z,2025550100,312555{i:04d},acme,30")
    for i in range(10):  # other: 10 calls, one to 911
        called = "911" if i == 0 else f"415555{i:04d}"
        lines.append(f"o{i},2025-03-03T11:00:{i:02d}Z,7185550{i:03d},{called},other,60")
    lines.append("a99,2025-03-03T10:05:00Z,2025550100,911,acme,10")  # emergency from acme
    path = tmp_path / "cdrs.csv"
    path.write_text("\n".join(lines) + "\n")
    ingest([path], settings, provider="me")


def test_replay_counts_per_rule_and_customer(settings: Settings, tmp_path: Path) -> None:
    lake(settings, tmp_path)
    with open_store(settings) as store:
        state.add_rule(store, make_rule("customer", "acme", reason="x", emergency=E))
        state.add_rule(
            store, make_rule("caller_id", "7185550003", reason="y", emergency=E, mode="monitor")
        )
        r = replay(settings, store).as_dict()
    assert (r["calls"], r["blocked"], r["emergency_allowed"]) == (51, 40, 2)
    assert [(x["rule_id"], x["blocked"], x["matched_in_monitor"]) for x in r["per_rule"]] == [
        (1, 40, 0),
        (2, 0, 1),
    ]
    assert r["per_customer"] == [
        {"customer": "acme", "calls": 41, "blocked": 40, "share_pct": 97.56}
    ]
    assert r["truth"] is None


def test_proposed_rules_and_rate_limits_on_call_times(settings: Settings, tmp_path: Path) -> None:
    lake(settings, tmp_path)
    rules = tmp_path / "proposed.json"
    rules.write_text(
        json.dumps(
            [
                {"kind": "rate", "value": "*", "rate": "10/min", "subject": "caller-id"},
                {"kind": "customer", "value": "other", "action": "allow", "reason": "known"},
            ]
        )
    )
    with open_store(settings) as store:
        state.add_rule(store, make_rule("customer", "acme", reason="x", emergency=E))  # not used
        r = replay(settings, store, rules_file=rules).as_dict()
        windowed = replay(
            settings, store, rules_file=rules, since=_t("10:00:20"), until=_t("10:01:00")
        ).as_dict()
    assert r["rules_from"] == str(rules)
    # 40 calls in 40 s from one caller ID: the first 10 pass, then the estimate stays over
    assert r["blocked"] == 30 and r["per_rule"][0]["blocked"] == 30
    assert windowed["calls"] == 20 and windowed["blocked"] == 10


def _t(hms: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(f"2025-03-03T{hms}+00:00")


def test_rules_files_are_checked(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_text("kind,value,action,sip_code\ncaller_prefix,+1900,block,608\ncustomer,a,,\n")
    got = read_rules_file(csv_file, E)
    assert [(r.id, r.kind, r.value, r.sip_code) for r in got] == [
        (1, "caller_prefix", "+1900", 608),
        (2, "customer", "a", 603),
    ]
    csv_file.write_text("kind,value\ncalled,911\n")
    with pytest.raises(InputError, match="rule 1: refused: 911 is an emergency number"):
        read_rules_file(csv_file, E)
    bad = tmp_path / "r.json"
    bad.write_text('[{"kind": "customer", "value": "a", "colour": "red"}]')
    with pytest.raises(InputError, match="unknown field"):
        read_rules_file(bad, E)


@pytest.mark.slow
def test_replay_against_a_simulated_worlds_truth(tmp_path: Path, cli: Cli, home: Path) -> None:
    world = tmp_path / "world"
    simulate(world, seed=3, days=1, scale=0.01)
    campaign = next(
        c for c in read_rows(world / "truth" / "campaigns.csv") if c["campaign"] == "tdos"
    )
    pid, customer = campaign["entry_provider"], campaign["customer"]
    cdrs = next(r["cdr_file"] for r in read_rows(world / "directory.csv") if r["id"] == pid)
    code, _, err = cli("ingest", str(world / cdrs), "--provider", pid)
    assert code == 0, err
    cli.json("block", "add", "--customer", customer, "--reason", "tdos", "--json")
    r = cli.json("screen", "replay", "--truth", str(world), "--json")
    t = r["truth"]
    assert t["illegal"] + t["legal"] == r["calls"]  # every lake call found in the truth
    truth_calls = read_rows(world / "truth" / "calls.csv")
    entered = [c for c in truth_calls if c["campaign"] == "tdos" and c["entry_provider"] == pid]
    assert t["illegal_blocked"] >= len(entered) > 0
    assert t.get("legal_blocked", 0) == sum(
        1
        for c in truth_calls
        if not c["campaign"] and c["customer"] == customer and pid in c["path"]
    )
    code, out, _ = cli("screen", "replay", "--truth", str(world))
    assert code == 0 and "illegal calls blocked" in out


@pytest.mark.slow
def test_the_demo_turns_findings_into_rules_and_counts_what_they_stop(tmp_path: Path) -> None:
    from tracehop.demo import run_demo

    report = run_demo(tmp_path / "demo", scale=0.01, days=1)
    s = report.figures["screening"]
    assert s["rules"] > 0 and s["findings"] > 0
    assert 0 < s["illegal_blocked"] <= s["illegal_calls"]
    w = s["with_provider_blocks"]
    assert w["illegal_blocked"] >= s["illegal_blocked"] and w["legal_blocked"] >= s["legal_blocked"]
    six = [line for line in report.lines if line.startswith("6. Screening")]
    assert len(six) == 1 and f"{s['illegal_blocked']:,} of the world's" in six[0]
    assert (
        report.lines.index(six[0])
        == next(i for i, line in enumerate(report.lines) if line.startswith("5. Detection")) + 1
    )
    with open_store(Settings(home=tmp_path / "demo" / "homes" / s["providers"][0])) as store:
        assert state.load_rules(store)  # the rules are in the provider's home


def test_replay_feeds_outcomes_to_short_share_rules(settings: Settings, tmp_path: Path) -> None:
    lines = ["call_id,start,caller,called,upstream,duration,disposition"]
    for i in range(60):  # robo: every third answered call is 2 s long
        d = 2 if i % 3 == 0 else 40
        lines.append(f"r{i},2025-03-03T10:{i:02d}:00Z,2025550100,312555{i:04d},robo,{d},answered")
    path = tmp_path / "c.csv"
    path.write_text("\n".join(lines) + "\n")
    ingest([path], settings, provider="me")
    rules = tmp_path / "r.csv"
    rules.write_text(
        "kind,value,subject,share,min_answered,window\nshort_share,*,customer,0.2,20,1h\n"
    )
    with open_store(settings) as store:
        r = replay(settings, store, rules_file=rules).as_dict()
    # the first 20 answered calls are needed before it judges; from then on 1 in 3 is short
    assert r["blocked"] == 40 and r["per_rule"][0]["blocked"] == 40
