"""The detection evaluation harness (tracehop.detection.evaluate) on real simulated worlds:
counts that agree with the truth and with each other, an injected ``detect``, the command's
(``tracehop evaluate detection``) table and JSON, and reuse of a simulated world."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tracehop.detection.evaluate import (
    KEY_INDICATORS,
    CarrierVerdict,
    WorldResult,
    evaluate,
    evaluate_world,
    parse_scenarios,
    parse_seeds,
    report,
    totals,
)
from tracehop.detection.findings import Detection, Window
from tracehop.detection.run import detect_on
from tracehop.engine import Engine
from tracehop.errors import InputError

if TYPE_CHECKING:
    from conftest import Cli

SEED = 7
SCALE = 0.05


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval")


@pytest.fixture(scope="module")
def results(workdir: Path) -> dict[str, WorldResult]:
    """Seed 7 in the default and the quiet scenario, in two processes."""
    out = evaluate([SEED], ["default", "quiet"], scale=SCALE, days=1, workdir=workdir, jobs=2)
    return {r.params["scenario"]: r for r in out}


def truth_of(world: Path) -> tuple[dict[str, dict[str, str]], set[str]]:
    """Truth customers, and those with at least one call in ``truth/calls.csv``."""
    with (world / "truth" / "customers.csv").open(newline="") as fh:
        customers = {r["id"]: r for r in csv.DictReader(fh)}
    with (world / "truth" / "calls.csv").open(newline="") as fh:
        calling = {r["customer"] for r in csv.DictReader(fh)}
    return customers, calling


def test_a_world_has_sane_counts(results: dict[str, WorldResult], workdir: Path) -> None:
    r = results["default"]
    assert r.world == f"default s{SEED}"
    assert r.params == {
        "seed": SEED,
        "scenario": "default",
        "scale": SCALE,
        "days": 1,
        "reused": False,
    }
    customers, calling = truth_of(workdir / f"default-s{SEED}" / "world")
    subjects = [v.subject for v in r.verdicts]
    # every truth customer with traffic appears once, each with a finding from the lake
    assert len(subjects) == len(set(subjects))
    assert set(subjects) == calling & set(customers)
    assert all(v.note != "no finding" and v.calls > 0 for v in r.verdicts)
    assert r.unknown == []
    for v in r.verdicts:
        t = customers[v.subject]
        assert (v.provider, v.role) == (t["provider"], t["role"])
        assert v.bad == bool(t["campaigns"]) and ";".join(v.campaigns) == t["campaigns"]
        assert v.flagged == (v.score >= 0.5)
        assert set(v.indicators) <= set(KEY_INDICATORS) and v.indicators["calls"] == v.calls
    # seven campaign kinds, one entry customer each; the legal ones are the rest
    assert len(r.bad) == 7 and len(r.legal) == len(subjects) - 7 >= 30
    c = r.as_dict()
    hit = sum(v.flagged for v in r.bad)
    assert c["bad_flagged"] == [hit, 7] and c["recall"] == hit / 7
    assert c["legal_flagged"] == [len(r.false_alarms), len(r.legal)]
    assert c["fp_rate"] == len(r.false_alarms) / len(r.legal)
    assert 0 <= c["fp_rate"] <= 0.05 and 0.85 <= c["recall"] <= 1
    assert [v.subject for v in r.misses] == c["misses"]
    assert sum(n for n, _ in r.flagged_by_role().values()) == len(r.false_alarms)
    assert sum(d for _, d in r.flagged_by_role().values()) == len(r.legal)
    assert {"informational", "call_center", "wholesale"} <= set(r.flagged_by_role())
    # carriers: upstream providers, never truth customers; some pass campaign calls
    assert r.carriers and not {x.subject for x in r.carriers} & set(customers)
    assert c["carriers_flagged"] == [sum(x.flagged for x in r.carriers), len(r.carriers)]
    camp, clean = c["campaign_carriers_flagged"], c["clean_carriers_flagged"]
    assert camp[1] + clean[1] == len(r.carriers) and camp[1] > 0
    assert camp[0] + clean[0] == c["carriers_flagged"][0]
    for x in r.carriers:
        assert x.calls == x.indicators["calls"] > 0 and bool(x.rules) >= x.flagged


def test_a_quiet_world_has_no_recall(results: dict[str, WorldResult]) -> None:
    r = results["quiet"]
    assert r.bad == [] and r.as_dict()["recall"] is None
    assert len(r.legal) >= 30 and r.carriers
    assert all(x.campaign_calls == 0 for x in r.carriers)
    t = totals(list(results.values()))
    d = results["default"].as_dict()
    assert t["bad_flagged"] == d["bad_flagged"]  # the quiet world adds no bad customer
    assert t["legal_flagged"][1] == len(r.legal) + len(results["default"].legal)
    assert t["recall"] == d["recall"] and t["worlds"] == 2


def flag_nothing(engine: Engine, window: Window, **kw: object) -> Detection:
    result = detect_on(engine, window, **kw)  # type: ignore[arg-type]
    for f in result.findings:
        f.flagged = False
    return result


def test_an_injected_detect_that_flags_nothing(
    results: dict[str, WorldResult], workdir: Path, tmp_path: Path
) -> None:
    """On a copy of the default world where one intermediate carrier wrote no CDR row (as a
    gateway does in some quiet worlds): that provider is skipped, not an ingest error."""
    world = tmp_path / "world"
    shutil.copytree(workdir / f"default-s{SEED}" / "world", world)
    info = json.loads((world / "world.json").read_text())
    with (world / "directory.csv").open(newline="") as fh:
        transit = [r["id"] for r in csv.DictReader(fh) if r["roles"] == "intermediate"]
    empty = min(transit, key=lambda p: info["cdr_files"][p]["rows"])
    (world / "cdrs" / f"{empty}.csv").write_text("")
    info["cdr_files"][empty]["rows"] = 0
    (world / "world.json").write_text(json.dumps(info))
    r = evaluate_world(world, tmp_path / "homes", detect=flag_nothing)
    assert r.world == "world" and r.carriers
    assert empty not in {c.provider for c in r.carriers}
    assert not (tmp_path / "homes" / empty).exists()
    d = r.as_dict()
    assert d["recall"] == 0.0 and d["fp_rate"] == 0.0 and d["carriers_flagged"][0] == 0
    assert len(r.misses) == len(r.bad) == 7 and r.false_alarms == []
    assert [v.subject for v in r.verdicts] == [v.subject for v in results["default"].verdicts]
    # the misses name the rules that came closest, with their indicator values
    for v in r.misses:
        assert len(v.nearest) == 3 and all("=" in n and "(" in n for n in v.nearest)
    text = report([r])
    assert "| 0/7 (0.0%) |" in text and "none" in text.split("## False alarms")[1]
    for v in r.misses:
        assert f"`{v.subject}` at {v.provider}" in text


def test_the_command_prints_the_table_and_reuses_the_world(
    results: dict[str, WorldResult], workdir: Path, cli: Cli
) -> None:
    world = workdir / f"default-s{SEED}" / "world" / "world.json"
    before = world.stat().st_mtime_ns
    args = ["evaluate", "detection", "--seeds", str(SEED), "--scenarios", "default"]
    args += ["--scale", str(SCALE), "--workdir", str(workdir)]
    code, out, err = cli(*args)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("| world | bad flagged (recall) | legal flagged |")
    r = results["default"]
    hit, legal = len(r.bad) - len(r.misses), len(r.legal)
    row = next(x for x in lines if x.startswith(f"| default s{SEED} |"))
    assert f"| {hit}/7 ({hit / 7:.1%}) | {len(r.false_alarms)}/{legal} " in row
    assert any(x.startswith("| **total (1 worlds)** |") for x in lines)
    assert "## Misses (bad, not flagged)" in out and "## False alarms" in out
    assert any(x.startswith("1 worlds in ") and x.endswith(" s (wall).") for x in lines)
    data = cli.json(*args, "--json")
    # the world simulated by the fixture was reused (same parameters), not written again
    assert world.stat().st_mtime_ns == before
    params = json.loads((world.parent.parent / "params.json").read_text())
    assert params == {"seed": SEED, "scenario": "default", "scale": SCALE, "days": 1}
    [again] = data["worlds"]
    assert again["params"]["reused"] is True
    assert data["totals"]["bad_flagged"] == [hit, 7]
    assert again["legal_flagged"] == [len(r.false_alarms), legal]
    assert [(v["subject"], v["flagged"], v["score"]) for v in again["verdicts"]] == [
        (v.subject, v.flagged, v.score) for v in r.verdicts
    ]
    assert Counter(v["bad"] for v in again["verdicts"]) == {True: 7, False: legal}


def test_a_flagged_carrier_without_campaign_calls_is_a_false_alarm() -> None:
    fired = ["low_asr_short_talk"]
    carriers = [
        CarrierVerdict("upco", "transit", True, 0.62, ["imposter_robocall"], 400, 0, fired),
        CarrierVerdict("upco", "gw", True, 0.9, ["one_ring"], 300, 120, ["one_ring"]),
        CarrierVerdict("other", "transit", False, 0.0, [], 50, 0),
    ]
    carriers[0].indicators = {"calls": 400, "asr": 0.39}
    r = WorldResult("w", [], carriers)
    c = r.counts()
    assert c["carriers_flagged"] == [2, 3]
    assert c["campaign_carriers_flagged"] == [1, 1] and c["clean_carriers_flagged"] == [1, 2]
    alarms = report([r]).split("## False alarms")[1]
    line = "- w `upco` at transit (carrier without campaign calls): score 0.62, 400 attempts; "
    assert line + "rules: low_asr_short_talk" in alarms
    assert "calls=400, asr=0.39" in alarms and "at gw" not in alarms


def test_seed_ranges_and_scenarios() -> None:
    assert parse_seeds("30-33") == [30, 31, 32, 33]
    assert parse_seeds("1,4,7-9") == [1, 4, 7, 8, 9]
    with pytest.raises(InputError, match=r"e\.g\. 30-39"):
        parse_seeds("1,x")
    assert parse_scenarios(" default, notice,") == ["default", "notice"]
    with pytest.raises(InputError, match="unknown scenario"):
        parse_scenarios("default,nope")


def test_the_command_refuses_an_unknown_scenario(cli: Cli) -> None:
    code, out, err = cli("evaluate", "detection", "--scenarios", "nope")
    assert code == 1 and out == ""
    assert err.startswith("Error: unknown scenario(s) nope; known: default,")
