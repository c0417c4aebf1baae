"""The CLI contract of ``tracehop block``, ``tracehop screen check`` and ``tracehop dno`` (scripts
rely on it), and the DNO import's all-or-nothing under a real SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import Cli
from tracehop.detection.findings import Detection, Finding
from tracehop.detection.run import save_run
from tracehop.screening.dno import list_dno, load_dno
from tracehop.settings import load_settings
from tracehop.store import open_store


def test_block_add_list_remove_and_check(cli: Cli) -> None:
    rule = cli.json("block", "add", "--customer", "acme", "--reason", "finding 7", "--json")
    assert (rule["id"], rule["kind"], rule["value"], rule["action"], rule["sip_code"]) == (
        1,
        "customer",
        "acme",
        "block",
        603,
    )
    allow = cli.json(
        "block",
        "add",
        "--caller-id",
        "(202) 555-0143",
        "--action",
        "allow",
        "--reason",
        "ok",
        "--json",
    )
    assert (allow["value"], allow["sip_code"]) == ("+12025550143", None)
    assert [r["id"] for r in cli.json("block", "list", "--json")] == [1, 2]
    check = ["screen", "check", "--caller", "2025550100", "--called", "3125551234"]
    assert cli.json(*check, "--upstream", "acme", "--json") == {
        "action": "block",
        "sip_code": 603,
        "reason": "rule 1: finding 7",
        "rule_id": 1,
        "monitored": [],
    }
    assert cli.json(*check, "--json")["action"] == "allow"
    d = cli.json(
        "screen",
        "check",
        "--caller",
        "2025550143",
        "--called",
        "3125551234",
        "--upstream",
        "acme",
        "--json",
    )
    assert (d["action"], d["rule_id"]) == ("allow", 2)
    code, out, _ = cli("block", "remove", "1")
    assert code == 0 and "removed rule 1" in out
    assert cli.json(*check, "--upstream", "acme", "--json")["action"] == "allow"
    assert [r["id"] for r in cli.json("block", "list", "--json")] == [2]
    history = cli.json("block", "list", "--all", "--json")
    assert history[0]["removed_by"] and history[0]["removed_at"]


def test_emergency_is_allowed_with_a_matching_block(cli: Cli) -> None:
    cli.json("block", "add", "--customer", "acme", "--reason", "x", "--json")
    cli.json("block", "add", "--caller-id", "2025550100", "--reason", "x", "--json")
    for called in ("911", "933"):
        d = cli.json(
            "screen",
            "check",
            "--caller",
            "2025550100",
            "--called",
            called,
            "--upstream",
            "acme",
            "--json",
        )
        assert (d["action"], d["rule_id"]) == ("allow", None)
    code, _, err = cli("block", "add", "--called", "911", "--reason", "x")
    assert code == 1 and "Error: refused: 911 is an emergency number" in err


def test_provider_block_needs_a_notice(cli: Cli) -> None:
    code, _, err = cli("block", "add", "--provider", "badco", "--reason", "x")
    assert code == 1 and "47 CFR 64.1200(k)(4)" in err and "tracehop block notice badco" in err
    assert cli.json("block", "list", "--json") == []
    n = cli.json(
        "block",
        "notice",
        "badco",
        "--sent",
        "2025-03-01",
        "--summary",
        "14 tracebacks, no answer",
        "--json",
    )
    assert n["provider"] == "badco" and n["sent_on"] == "2025-03-01"
    rule = cli.json("block", "add", "--provider", "badco", "--reason", "notice 1", "--json")
    assert rule["notice_id"] == n["id"]
    assert cli.json("block", "notices", "--json")[0]["summary"] == "14 tracebacks, no answer"


def test_monitor_then_enforce_and_rates_and_expiry(cli: Cli) -> None:
    r = cli.json(
        "block", "add", "--class", "invalid", "--mode", "monitor", "--reason", "x", "--json"
    )
    d = cli.json("screen", "check", "--caller", "2125550199", "--called", "3125551234", "--json")
    assert (d["action"], d["monitored"]) == ("allow", [r["id"]])
    assert cli.json("block", "mode", str(r["id"]), "enforce", "--json")["mode"] == "enforce"
    d = cli.json("screen", "check", "--caller", "2125550199", "--called", "3125551234", "--json")
    assert (d["action"], d["rule_id"]) == ("block", r["id"])
    rate = cli.json(
        "block", "add", "--rate", "60/min", "--each", "caller-id", "--reason", "x", "--json"
    )
    assert rate["params"] == {"subject": "caller_id", "limit": 60, "window": 60}
    alert = cli.json(
        "block",
        "add",
        "--rate",
        "5/s",
        "--customer",
        "acme",
        "--action",
        "alert",
        "--reason",
        "x",
        "--json",
    )
    assert (alert["value"], alert["action"], alert["sip_code"]) == ("acme", "alert", None)
    exp = cli.json(
        "block", "add", "--caller-prefix", "+1900", "--expires", "2h", "--reason", "x", "--json"
    )
    assert exp["expires_at"] > exp["starts_at"]
    code, _, err = cli(
        "block", "add", "--caller-prefix", "+1901", "--expires", "2020-01-01", "--reason", "x"
    )
    assert code == 1 and "in the past" in err
    code, _, err = cli(
        "block", "add", "--customer", "a", "--caller-id", "2025550143", "--reason", "x"
    )
    assert code == 1 and "exactly one" in err


def test_rules_from_a_finding(cli: Cli, home: Path) -> None:
    settings = load_settings(home=home)
    now = datetime(2025, 3, 3, tzinfo=UTC)
    result = Detection(
        window={
            "since": None,
            "until": None,
            "min_calls": 30,
            "threshold": 0.5,
            "customers": 3,
            "flagged": 1,
        },
        findings=[
            Finding("customer", "gw-reseller", True, 0.9, ["imposter_robocall"], {}, now, now),
            Finding("caller_id", "+12025550143", True, 0.8, ["invalid_caller_id"], {}, now, now),
            Finding("customer", "clean", False, 0.0, [], {}, now, now),
            Finding("campaign", "c1", True, 0.9, ["tdos"], {"customers": ["a", "b"]}, now, now),
        ],
    )
    with open_store(settings) as store:
        run = save_run(store, result, now)
    one = cli.json("block", "from-finding", f"{run}:0", "--json")
    assert [(r["kind"], r["value"], r["finding"]) for r in one] == [
        ("customer", "gw-reseller", f"{run}:0")
    ]
    assert "imposter_robocall" in one[0]["reason"]
    code, _, err = cli("block", "from-finding", f"{run}:2")
    assert code == 1 and "not flagged" in err
    camp = cli.json("block", "from-finding", f"{run}:3", "--mode", "monitor", "--json")
    assert [(r["value"], r["mode"]) for r in camp] == [("a", "monitor"), ("b", "monitor")]
    code, _, err = cli("block", "from-finding", run)  # all flagged: gw-reseller clashes
    assert code == 1 and "already applies" in err
    cli("block", "remove", "1")
    rules = cli.json("block", "from-finding", run, "--json")
    assert [(r["kind"], r["value"]) for r in rules] == [
        ("customer", "gw-reseller"),
        ("caller_id", "+12025550143"),
    ]
    code, _, err = cli("block", "from-finding", "nope:1")
    assert code == 1 and "no finding nope:1" in err


def test_dno_import_list_and_block(cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "dno.csv"
    f.write_text(
        "number,source\n2025550100,irs\n+13125550100,x\n\n# comment\nnot-a-number\n2025550100\n"
    )
    got = cli.json("dno", "import", str(f), "--name", "itg", "--json")
    assert (got["numbers"], got["rejected"], got["rejects"][0]["line"]) == (2, 1, 6)
    assert [d["name"] for d in cli.json("dno", "list", "--json")] == ["itg"]
    check = ["screen", "check", "--caller", "202-555-0100", "--called", "3125551234", "--json"]
    assert cli.json(*check)["action"] == "allow"  # a list alone blocks nothing
    cli.json("block", "add", "--class", "dno", "--sip-code", "607", "--reason", "DNO", "--json")
    d = cli.json(*check)
    assert (d["action"], d["sip_code"]) == ("block", 607)
    f.write_text("+13125550100\n")
    assert cli.json("dno", "import", str(f), "--name", "itg", "--json")["numbers"] == 1
    assert cli.json(*check)["action"] == "allow"


def _dno_file(path: Path, n: int) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            fh.write(f"+1{2002000000 + i * 7}\n")
    return path


@pytest.mark.slow
def test_dno_import_killed_halfway_leaves_the_previous_list(home: Path, tmp_path: Path) -> None:
    settings = load_settings(home=home)
    small = _dno_file(tmp_path / "small.txt", 10)
    run = [sys.executable, "-m", "tracehop", "--home", str(home), "dno", "import"]
    subprocess.run([*run, str(small)], check=True, capture_output=True)
    big = _dno_file(tmp_path / "big.txt", 600_000)  # five chunks
    env = {**os.environ, "TRACEHOP_CRASH_AT": "dno_half"}
    p = subprocess.run([*run, str(big)], env=env, capture_output=True)
    assert p.returncode == -9
    with open_store(settings) as store:
        assert [d.numbers for d in list_dno(store)] == [10]
        assert len(load_dno(store)) == 10
    env.pop("TRACEHOP_CRASH_AT")
    subprocess.run([*run, str(big)], env=env, check=True, capture_output=True)
    with open_store(settings) as store:
        assert [d.numbers for d in list_dno(store)] == [600_000]
        assert len(load_dno(store)) == 600_000
