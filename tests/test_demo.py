"""The demo runs end to end and every figure it prints is counted from the run."""

from __future__ import annotations

import json
from pathlib import Path

from tracehop.analyst import query
from tracehop.demo import run_demo
from tracehop.settings import load_settings


def test_demo_figures_are_real(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    said: list[str] = []
    report = run_demo(out, scale=0.03, days=1, say=said.append)
    f = report.figures
    assert said == report.lines
    assert f["rows_rejected"] == 0
    assert f["calls_loaded"] == f["calls_in_lakes"] > 10_000
    per = f["per_provider"]
    assert len(per) == f["providers"]
    counted = 0
    for pid in ("telco-a", "atlantic-gw"):
        settings = load_settings(home=out / "homes" / pid)
        n = query("select count(*) as n from calls", settings).records()[0]["n"]
        assert n == per[pid]["lake"] == per[pid]["rows"]
        counted += n
    assert counted > 0
    world = json.loads((out / "world" / "world.json").read_text())
    assert f["calls_simulated"] == world["calls"]
    t = f["tracebacks"]
    assert t["traced"] == min(t["complaints"], 60) > 0
    assert t["matched_truth"] == t["traced"]  # every hop answered as the truth says
    assert sum(t["ended_with"].values()) == t["traced"]
    assert any(f"{f['calls_loaded']:,} call records" in line for line in report.lines)
    assert any(f"{t['matched_truth']} of {t['traced']}" in line for line in report.lines)
    # the hub stored every trace it made, with its hops
    from tracehop.store import open_store
    from tracehop.tracebacks.traces import list_traces

    store = open_store(load_settings(home=out / "hub"))
    stored = list_traces(store)
    store.close()
    assert len(stored) == t["traced"]
    assert sum(len(tr.hops) for tr in stored) == t["hops"]
    d = f["detection"]
    assert d["campaign_entries_flagged"] <= d["campaign_entries"] == len(f["campaign_entries"])
    assert d["customers_flagged"] <= d["customers_scored"]
    entries = {e["campaign"]: e for e in f["campaign_entries"]}
    assert entries["one_ring"]["asr_pct"] == 0.0
    assert entries["tdos"]["calls_from_customer"] > 0
    # step 7: the case at the gateway was mitigated with rules that are in its state DB
    from tracehop.cases.records import get_case
    from tracehop.screening.state import get_rule

    c = f["case"]
    with open_store(load_settings(home=Path(c["home"]))) as gw:
        case = get_case(gw, c["case_id"])
        rules = [get_rule(gw, i) for i in c["rules"]]
    assert c["customers"] and {r.value for r in rules} == set(c["customers"])
    assert all(r.kind == "customer" and r.mode == "enforce" for r in rules)
    # mitigated, then reported: every deadline of the letter met, none late
    assert case.status == "reported" and "mitigation_48h" in c["met"]
    assert sorted(c["met"]) == sorted(c["deadlines"])
    assert all(d["met_at"] and not d["late"] for d in case.deadlines)
    assert Path(c["report_14d"]).stat().st_size > 0


def test_demo_reruns_in_its_folder_and_refuses_a_foreign_one(tmp_path: Path, cli) -> None:
    out = tmp_path / "demo"
    first = run_demo(out, scale=0.005, days=1).figures
    # a real process: the in-process runner would register the commands twice
    proc = cli.run("demo", "--out", str(out), "--scale", "0.005", "--days", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["calls_in_lakes"] == first["calls_in_lakes"]  # homes rebuilt, not doubled
    assert again["home"] == str(out) and again["rows_rejected"] == 0
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    proc = cli.run("demo", "--out", str(other), "--json")
    assert proc.returncode == 1 and "not a demo folder" in proc.stderr
    assert (other / "notes.txt").read_text() == "keep me"


def test_simulate_command_prints_a_json_summary(tmp_path: Path, cli) -> None:
    proc = cli.run("simulate", "--out", str(tmp_path / "w"), "--scale", "0.005", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["calls"] > 500
    assert data["cdr_rows"] == sum(f["rows"] for f in data["cdr_files"].values())
    assert set(data["campaign_calls"]) >= {"one_ring", "tdos"}
    proc = cli.run("simulate", "--out", str(tmp_path / "x"), "--scenario", "nope")
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "Error: unknown scenario 'nope': use one of default, quiet, notice, flood"
    )
