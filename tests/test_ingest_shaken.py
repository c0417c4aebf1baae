"""Ingest verifies STIR/SHAKEN Identity headers into identity_status (cdr/identity.py), with a
real test CA, real signatures and certificates served from a folder (TRACEHOP_SHAKEN_CERTS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.errors import ConfigError
from tracehop.settings import load_settings
from tracehop.shaken.ca import TestCA
from tracehop.shaken.passport import sign
from tracehop.times import FakeClock

PREFIX = "https://certs.test.example/"
# Calls of March 2025: verified long after, as a day's CDRs are, judged at their own time.
START = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)
HEADER = "call_id,start,caller,called,upstream,attest,orig_id,identity\n"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    clock = FakeClock(START - timedelta(days=30))
    ca = TestCA.create(tmp_path_factory.mktemp("ca") / "ca", clock=clock)
    ca.issue("acme", "1234", clock=clock)
    ca.issue("other", "5678", clock=clock)
    return ca


def _settings(home: Path, ca: TestCA, *, trust: bool = True):
    extra = {"shaken_trust": ca.root_path} if trust else {}
    return load_settings(
        home=home, provider="acme", shaken_certs=f"{PREFIX}={ca.certs_dir}", **extra
    )


def _row(call_id: str, start: datetime, caller: str, called: str, identity: str, attest="A"):
    return (
        f"{call_id},{start.strftime('%Y-%m-%dT%H:%M:%SZ')},{caller},{called},cust-1,"
        f"{attest},,{identity}\n"
    )


def _cdrs(tmp_path: Path, ca: TestCA) -> Path:
    acme, other = ca.provider("acme").key(), ca.provider("other").key()
    x5u = f"{PREFIX}acme.pem"
    t = [START + timedelta(minutes=k) for k in range(7)]

    def signed(k: int, key=acme, iat=None, orig="+12155550100", dest="+12155550199"):
        return sign(
            orig=orig,
            dest=dest,
            attest="A",
            key=key,
            x5u=x5u,
            origid=f"oid-{k}",
            iat=t[k] if iat is None else iat,
        )

    rows = [
        _row("c0", t[0], "+12155550100", "+12155550199", signed(0)),
        _row(
            "c1", t[1], "+12155550100", "+12155550199", signed(1, iat=t[1] - timedelta(seconds=300))
        ),
        _row("c2", t[2], "+12155550100", "+12155550199", signed(2, key=other)),
        _row("c3", t[3], "+12155550100", "+12155550199", "not;a=header;;at all"),
        _row("c4", t[4], "+12155550100", "+12155550199", ""),
        _row("c5", t[5], "+12155550111", "+12155550199", signed(5)),  # From not orig
        _row("c6", t[6], "+12155550100", "+12155550199", signed(6), attest=""),
    ]
    path = tmp_path / "acme.csv"
    path.write_text(HEADER + "".join(rows))
    return path


def _calls(settings) -> dict[str, dict]:
    rows = query(
        "select call_id, identity_status, attest, orig_id, extra from calls order by call_id",
        settings,
    ).records()
    return {r["call_id"]: r for r in rows}


def test_ingest_verifies_each_row_at_its_own_start_time(tmp_path: Path, ca: TestCA) -> None:
    settings = _settings(tmp_path / "home", ca)
    result = ingest([_cdrs(tmp_path, ca)], settings)
    f = result.files[0]
    # a broken header is a failed verification, never a rejected row
    assert (f.rows_ingested, f.rows_rejected) == (7, 0)
    assert f.identity_verified == 6
    assert f.identity_failed == {
        "stale": 1,
        "bad_signature": 1,
        "malformed": 1,
        "tn_mismatch": 1,
    }
    assert "6 Identity headers verified, 4 failed" in f.message
    calls = _calls(settings)
    status = {k: v["identity_status"] for k, v in calls.items()}
    assert status == {
        # signed at the call's time, verified 20 months later: fresh at the call, so valid
        "c0": "TN-Validation-Passed",
        "c1": "TN-Validation-Failed",
        "c2": "TN-Validation-Failed",
        "c3": "TN-Validation-Failed",
        "c4": None,  # no header: not verified
        "c5": "TN-Validation-Failed",
        "c6": "TN-Validation-Passed",
    }
    reasons = {k: json.loads(v["extra"] or "{}").get("identity_reason") for k, v in calls.items()}
    assert reasons == {
        "c0": None,
        "c1": "stale",
        "c2": "bad_signature",
        "c3": "malformed",
        "c4": None,
        "c5": "tn_mismatch",
        "c6": None,
    }
    # a switch that did not log attest/orig_id: taken from the header that verified
    assert (calls["c6"]["attest"], calls["c6"]["orig_id"]) == ("A", "oid-6")
    assert (calls["c2"]["attest"], calls["c2"]["orig_id"]) == ("A", None)  # not from a failure


def test_without_trust_anchors_identities_stay_unverified(tmp_path: Path, ca: TestCA) -> None:
    settings = _settings(tmp_path / "home", ca, trust=False)
    result = ingest([_cdrs(tmp_path, ca)], settings)
    assert result.files[0].rows_ingested == 7
    assert result.files[0].identity_verified == 0
    assert {r["identity_status"] for r in _calls(settings).values()} == {None}


def test_rows_without_identity_are_not_verified(tmp_path: Path, ca: TestCA) -> None:
    path = tmp_path / "plain.csv"
    path.write_text(
        "start,caller,called,upstream\n2025-03-03T14:00:00Z,+12155550100,+12155550199,c\n"
    )
    settings = _settings(tmp_path / "home", ca)
    result = ingest([path], settings)
    assert result.files[0].identity_verified == 0
    assert [r["identity_status"] for r in _calls(settings).values()] == [None]


def test_the_certs_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="PREFIX=FOLDER"):
        load_settings(shaken_certs="certs.example/=folder")
    with pytest.raises(ConfigError, match="PREFIX=FOLDER"):
        load_settings(shaken_certs="https://certs.example/")
