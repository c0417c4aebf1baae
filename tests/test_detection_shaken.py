"""Detection sees real STIR/SHAKEN verification: a simulated world's calls are signed by its
test CA, ingest verifies them, and the failed_verification rule (detection/rules.py, its
thresholds unchanged) fires on the customers whose campaigns sign badly, and only there."""

from __future__ import annotations

import pytest

from tracehop.cdr.ingest import ingest
from tracehop.csvfiles import read_rows
from tracehop.customers import import_customers, parse_customers_csv
from tracehop.detection.run import run_detection
from tracehop.settings import load_settings
from tracehop.simulate import simulate
from tracehop.simulate.shaken import verify_settings
from tracehop.store import open_store


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Detection at the entry providers of the badly signing campaigns: findings by
    customer id, with the truth's campaign and signing where a campaign enters."""
    root = tmp_path_factory.mktemp("shaken-detect")
    world = root / "world"
    simulate(world, seed=7, days=1, scale=0.05)
    campaigns = read_rows(world / "truth" / "campaigns.csv")
    bad = [c for c in campaigns if c["signing"] in ("wrong_key", "stale")]
    out: dict[str, dict] = {}
    for pid in sorted({c["entry_provider"] for c in bad}):
        settings = load_settings(home=root / pid, provider=pid, **verify_settings(world))
        store = open_store(settings)
        import_customers(store, parse_customers_csv(world / "customers" / f"{pid}.csv"))
        ingest([world / "cdrs" / f"{pid}.csv"], settings, store=store)
        for f in run_detection(settings, store, save=False).findings:
            if f.kind == "customer":
                out[f.subject] = {"finding": f, "provider": pid}
        store.close()
    for c in campaigns:
        if c["customer"] in out:
            out[c["customer"]]["signing"] = c["signing"]
    return out


def _rules(finding) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {r["rule"]: r for r in finding.evidence["rules"]}


def test_badly_signing_campaigns_customers_fail_verification(detected: dict[str, dict]) -> None:
    bad = {c: d for c, d in detected.items() if d.get("signing") in ("wrong_key", "stale")}
    assert len(bad) == 2  # bank_imposter (wrong key) and auto_warranty (stale), resellers
    for customer, d in bad.items():
        f = d["finding"]
        assert f.flagged, customer
        rule = _rules(f).get("failed_verification")
        assert rule is not None, (customer, sorted(_rules(f)))
        assert rule["sources"] == ["atis_1000074"]
        share = f.evidence["indicators"]["verify_failed_share"]
        # the campaign is mixed into the reseller's legal (validly signed) traffic
        assert 0.2 < share < 0.7, (customer, share)


def test_correctly_signing_legal_customers_fail_nothing(detected: dict[str, dict]) -> None:
    legal = {
        c: d
        for c, d in detected.items()
        if "signing" not in d and d["finding"].evidence["indicators"].get("calls", 0) >= 20
    }
    assert len(legal) >= 8
    for customer, d in legal.items():
        indicators = d["finding"].evidence["indicators"]
        assert indicators["verify_failed_share"] == 0, customer
        assert "failed_verification" not in _rules(d["finding"]), customer
