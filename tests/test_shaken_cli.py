"""The shells over tracehop.shaken: ``tracehop shaken ...`` (the contract scripts rely on:
JSON keys, exit 0 valid / 1 not) and ``POST /api/v1/shaken/verify``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import Cli
from shakenkit import CertServer, tamper
from tracehop.api.errors import install_error_shape
from tracehop.api.shaken import shaken_router
from tracehop.settings import load_settings
from tracehop.shaken.ca import TestCA
from tracehop.shaken.verify import Verifier

CONTRACT = {"valid", "reason", "sip_code", "attest", "origid", "orig", "dest", "iat"}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    folder = tmp_path_factory.mktemp("cli") / "ca"
    code_ca = TestCA.create(folder)
    code_ca.issue("acme", "1234")
    return code_ca


@pytest.fixture(scope="module")
def server(ca: TestCA) -> Iterator[CertServer]:
    with CertServer(ca.certs_dir) as s:
        yield s


def _sign(cli: Cli, ca: TestCA, server: CertServer, *extra: str) -> str:
    code, out, err = cli(
        "shaken", "sign", "--orig", "+1 215 555 1212", "--dest", "2155551213", "--attest", "a",
        "--origid", "5b4b8cbb-0000-4000-8000-000000000001",
        "--key", str(ca.directory / "keys" / "acme.key"), "--x5u", server.url("acme.pem"), *extra,
    )  # fmt: skip
    assert code == 0, err
    return out.strip()


def test_sign_then_verify_on_the_command_line(cli: Cli, ca: TestCA, server: CertServer) -> None:
    identity = _sign(cli, ca, server)
    assert identity.endswith(f";info=<{server.url('acme.pem')}>;alg=ES256;ppt=shaken")
    result = cli.json(
        "shaken", "verify", "--identity", identity, "--from", "2155551212",
        "--to", "12155551213", "--trust", str(ca.root_path), "--json",
    )  # fmt: skip
    assert isinstance(result, dict) and set(result) >= CONTRACT
    assert {k: result[k] for k in CONTRACT} == {
        "valid": True,
        "reason": "valid",
        "sip_code": None,
        "attest": "A",
        "origid": "5b4b8cbb-0000-4000-8000-000000000001",
        "orig": "12155551212",
        "dest": ["12155551213"],
        "iat": result["iat"],
    }
    code, out, _ = cli("shaken", "verify", "--identity", identity, "--trust", str(ca.root_path))
    assert code == 0 and out.startswith("valid: attest A, orig 12155551212")
    # the certificate went to the home's shared cache
    rows = cli.json("shaken", "cache", "list", "--json")
    assert isinstance(rows, list) and [r["url"] for r in rows] == [server.url("acme.pem")]


@pytest.mark.parametrize(
    ("args", "reason", "code"),
    [
        (["--from", "2125550000"], "tn_mismatch", 438),
        (["--max-age", "60s", "--at", "2030-01-01T00:00:00Z"], "stale", 403),
        (["--at", "2020-01-01"], "future", 403),
    ],
)
def test_an_invalid_header_exits_1_with_its_reason(
    cli: Cli, ca: TestCA, server: CertServer, args: list[str], reason: str, code: int
) -> None:
    identity = _sign(cli, ca, server)
    exit_code, out, _ = cli(
        "shaken", "verify", "--identity", identity, "--trust", str(ca.root_path), "--json", *args
    )
    result = json.loads(out)
    assert (exit_code, result["valid"], result["reason"], result["sip_code"]) == (
        1, False, reason, code,
    )  # fmt: skip
    exit_code, out, _ = cli(
        "shaken", "verify", "--identity", identity, "--trust", str(ca.root_path), *args
    )
    assert exit_code == 1 and out.startswith(f"invalid: {reason} ({code} ")


def test_verify_reads_stdin_and_the_trust_setting(
    ca: TestCA, server: CertServer, home: Path
) -> None:
    cli = Cli(home)
    identity = _sign(cli, ca, server, "--iat", str(int(datetime.now(UTC).timestamp())))
    proc = cli.run(
        "shaken", "verify", "--identity", "-", "--json",
        env={"TRACEHOP_SHAKEN_TRUST": str(ca.root_path)},
    )  # fmt: skip
    assert proc.returncode == 1  # stdin was empty: no Identity header
    assert json.loads(proc.stdout)["reason"] == "missing"
    done = subprocess.run(
        [sys.executable, "-m", "tracehop", "--home", str(home), "shaken", "verify", "--identity", "-"],
        input=identity, capture_output=True, text=True, timeout=120,
        env={**os.environ, "TRACEHOP_SHAKEN_TRUST": str(ca.root_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("valid:")


def test_verify_without_trust_anchors_says_how_to_give_them(cli: Cli) -> None:
    code, _, err = cli("shaken", "verify", "--identity", "x")
    assert code == 1
    assert err.strip() == (
        "Error: no STIR/SHAKEN trust anchors: give --trust PEM_FILE_OR_DIR or set "
        "TRACEHOP_SHAKEN_TRUST (the STI-PA's list of approved CAs)"
    )


def test_sign_errors_are_one_line(cli: Cli, ca: TestCA, server: CertServer, tmp_path: Path) -> None:
    code, _, err = cli(
        "shaken", "sign", "--orig", "1", "--dest", "2", "--attest", "Z",
        "--key", str(ca.directory / "keys" / "acme.key"), "--x5u", server.url("acme.pem"),
    )  # fmt: skip
    assert (code, err.strip()) == (1, "Error: attestation 'Z': use A, B or C")
    code, _, err = cli(
        "shaken", "sign", "--orig", "1", "--dest", "2", "--attest", "A",
        "--key", str(tmp_path / "none.key"), "--x5u", server.url("acme.pem"),
    )  # fmt: skip
    assert code == 1 and err.startswith("Error: cannot read the key")


def test_ca_init_and_issue(cli: Cli, tmp_path: Path) -> None:
    made = cli.json(
        "shaken", "ca", "init", str(tmp_path / "ca"), "--provider", "acme=1234",
        "--provider", "beta=5678", "--json",
    )  # fmt: skip
    assert isinstance(made, dict)
    assert [(p["name"], p["spc"]) for p in made["providers"]] == [
        ("acme", "1234"),
        ("beta", "5678"),
    ]
    assert Path(made["root"]).is_file()
    issued = cli.json("shaken", "ca", "issue", str(tmp_path / "ca"), "gamma", "9012", "--json")
    assert isinstance(issued, dict) and Path(issued["chain"]).is_file()
    code, _, err = cli("shaken", "ca", "init", str(tmp_path / "ca"))
    assert code == 1 and "already holds a test CA" in err
    code, _, err = cli("shaken", "ca", "init", str(tmp_path / "ca2"), "--provider", "acme")
    assert (code, err.strip()) == (1, "Error: --provider 'acme': use NAME=SPC, e.g. acme=1234")


def test_cache_prune(cli: Cli, ca: TestCA, server: CertServer) -> None:
    identity = _sign(cli, ca, server)
    cli("shaken", "verify", "--identity", identity, "--trust", str(ca.root_path))
    assert cli.json("shaken", "cache", "prune", "--json") == {"deleted": 0}
    assert cli.json("shaken", "cache", "prune", "--all", "--json") == {"deleted": 1}


@pytest.fixture
def api(ca: TestCA, home: Path) -> Iterator[TestClient]:
    settings = load_settings(home=home, shaken_trust=ca.root_path)
    app = FastAPI()
    install_error_shape(app, name="test")
    with Verifier.from_settings(settings) as verifier:
        app.include_router(shaken_router(verifier))
        with TestClient(app) as client:
            yield client


def test_the_http_endpoint(api: TestClient, cli: Cli, ca: TestCA, server: CertServer) -> None:
    identity = _sign(cli, ca, server)
    good = api.post(
        "/api/v1/shaken/verify",
        json={"identity": identity, "from": "2155551212", "to": "2155551213"},
    )
    assert good.status_code == 200 and good.json()["valid"] is True
    assert good.json()["signer"]["spc"] == ["1234"]
    bad = api.post("/api/v1/shaken/verify", json={"identity": tamper(identity, attest="B")})
    assert bad.status_code == 200
    assert (bad.json()["valid"], bad.json()["reason"], bad.json()["sip_code"]) == (
        False, "bad_signature", 438,
    )  # fmt: skip
    missing = api.post("/api/v1/shaken/verify", json={})
    assert (missing.json()["reason"], missing.json()["sip_code"]) == ("missing", 428)
    old = api.post(
        "/api/v1/shaken/verify", json={"identity": identity, "at": "2030-01-01T00:00:00Z"}
    )
    assert old.json()["reason"] == "stale"


def test_the_http_endpoint_refuses_bad_requests_in_the_one_shape(api: TestClient) -> None:
    r = api.post("/api/v1/shaken/verify", json={"identity": "x" * 9000})
    assert r.status_code == 422
    assert r.json() == {
        "ok": False,
        "error": "identity: String should have at most 8192 characters",
        "status": 422,
    }
    r = api.post("/api/v1/shaken/verify", json={"identity": "x", "extra": 1})
    assert (r.status_code, r.json()["ok"]) == (422, False)
