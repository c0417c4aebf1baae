"""Detection: each indicator on a hand-made lake with known values, the SQL caller-ID classes
against tracehop.numbers, and recall / false positives on simulator worlds the rules were not
written on (rules were written looking at seed 1, default scenario)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tracehop.analyst import open_engine
from tracehop.cdr.ingest import ingest
from tracehop.customers import import_customers, parse_customers_csv
from tracehop.detection.evaluate import WorldResult, evaluate_world
from tracehop.detection.findings import Detection, Window
from tracehop.detection.queries import caller_indicators, classify_callers, customer_indicators
from tracehop.detection.run import detect_on, run_detection
from tracehop.detection.scoring import CUSTOMER_RULES, score
from tracehop.engine import Engine
from tracehop.numbers import caller_id_class
from tracehop.settings import Settings, load_settings
from tracehop.simulate import simulate
from tracehop.store import open_store
from tracehop.store.models import DetectionFinding, DetectionRun

HEADER = "call_id,start,caller,called,upstream,downstream,duration,disposition,sip_code,attest"
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


def row(n: int, at: datetime, caller: str, called: str, upstream: str, **kw: object) -> str:
    duration = kw.get("duration", 0)
    disposition = kw.get("disposition", "answered" if duration else "no_answer")
    sip = kw.get("sip", 200 if disposition == "answered" else 480)
    attest = kw.get("attest", "A")
    return (
        f"h-{n},{at.isoformat().replace('+00:00', 'Z')},{caller},{called},{upstream},down,"
        f"{duration},{disposition},{sip},{attest}"
    )


def hand_rows() -> list[str]:
    """Customer ``alpha``: 10 attempts with known outcomes and caller IDs; ``seq`` dials 40
    numbers in sequence; ``flood`` calls three numbers 120 times."""
    t = [T0 + timedelta(seconds=5 * i) for i in range(8)] + [
        T0 + timedelta(minutes=1, seconds=i) for i in range(2)
    ]
    alpha = [
        # caller, called, outcome
        ("+12025550143", "+12125550001", {"duration": 3}),  # fictional 555-01XX
        ("+18005551234", "+12125550002", {"duration": 5}),  # toll-free
        ("+12115551234", "+12125550003", {"duration": 30}),  # N11 area code
        ("+13705551234", "+12125550004", {"duration": 62}),  # unassigned area code
        ("+12125550005", "+12125550005", {"disposition": "failed", "sip": 403}),  # = called
        ("+449098765432", "+12125550006", {"disposition": "cancelled", "sip": 487}),  # premium
        ("+12125559999", "+12125550007", {"sip": 607}),  # neighbour (212-555)
        ("+12125559999", "+13125550008", {"disposition": "failed", "sip": 500, "attest": ""}),
        ("+16175550123", "+13125550009", {"attest": "C"}),  # fictional 555-01XX
        ("+16175551000", "+13125550010", {"attest": "C"}),  # valid
    ]
    out = [row(i, t[i], a, b, "alpha", **kw) for i, (a, b, kw) in enumerate(alpha)]
    out += [
        row(
            100 + i,
            T0 + timedelta(seconds=20 * i),
            "+16175551000",
            f"+1212555{2000 + i:04d}",
            "seq",
            duration=40,
        )
        for i in range(40)
    ]
    targets = ["+13125557001", "+13125557002", "+13125557003"]
    out += [
        row(
            200 + i,
            T0 + timedelta(seconds=i),
            f"+1617555{3000 + i:04d}",
            targets[i % 3],
            "flood",
            duration=4,
        )
        for i in range(120)
    ]
    return out


@pytest.fixture
def hand_home(tmp_path: Path, write_cdr: Callable[..., Path]) -> Settings:
    settings = load_settings(home=tmp_path / "home")
    ingest([write_cdr("hand.csv", [HEADER, *hand_rows()])], settings)
    customers = write_cdr(
        "customers.csv",
        [
            "id,name,kind,country,onboarded,rmd_id,notes",
            "alpha,Alpha,enterprise,US,2025-02-01,,",
            "seq,Seq,enterprise,US,2020-01-01,,",
            "flood,Flood,enterprise,US,2020-01-01,,",
        ],
    )
    store = open_store(settings)
    import_customers(store, parse_customers_csv(customers))
    store.close()
    return settings


def indicators_of(settings: Settings, window: Window = Window()) -> dict[str, dict]:
    store = open_store(settings)
    con = open_engine(settings, store)
    try:
        return customer_indicators(con, window)
    finally:
        con.close()
        store.close()


def test_indicators_on_a_hand_made_lake(hand_home: Settings) -> None:
    a = indicators_of(hand_home)["alpha"]
    assert a["calls"] == 10
    assert a["peak_calls_per_minute"] == 8
    assert a["asr"] == pytest.approx(0.4)
    assert a["acd"] == pytest.approx((3 + 5 + 30 + 62) / 4)
    assert a["short_share"] == pytest.approx(0.5)  # 3 s and 5 s of 4 answered
    assert a["failed_share"] == pytest.approx(0.2)
    assert a["refused_share"] == pytest.approx(0.2)  # 403 and 607
    assert a["distinct_callers"] == 9
    assert a["caller_rotation"] == pytest.approx(0.9)
    assert a["fictional_share"] == pytest.approx(0.2)
    assert a["toll_free_share"] == pytest.approx(0.1) and a["toll_free_callers"] == 1
    assert a["n11_share"] == pytest.approx(0.1)
    assert a["invalid_npa_share"] == pytest.approx(0.1)  # the unassigned area code
    assert a["caller_equals_called_share"] == pytest.approx(0.1)
    # fictional x2, N11, unassigned, caller = called
    assert a["invalid_share"] == pytest.approx(0.5)
    assert a["premium_share"] == pytest.approx(0.1)
    assert a["one_ring_share"] == pytest.approx(0.1)
    assert a["neighbour_share"] == pytest.approx(0.1)
    assert a["distinct_called"] == 10
    assert a["unsigned_share"] == pytest.approx(0.1)
    assert a["attest_c_share"] == pytest.approx(0.2)
    assert a["customer_kind"] == "enterprise"
    assert a["customer_age_days"] == (T0.date() - datetime(2025, 2, 1).date()).days
    assert a["first_seen"] == T0 and a["last_seen"] == T0 + timedelta(minutes=1, seconds=1)


def test_sequential_concentration_and_window(hand_home: Settings) -> None:
    ind = indicators_of(hand_home)
    assert ind["seq"]["sequential_share"] == pytest.approx(39 / 40)
    assert ind["seq"]["top3_called_share"] == pytest.approx(3 / 40)
    assert ind["alpha"]["sequential_share"] == pytest.approx(0.8)  # ...0001-0007, ...0008-0010
    assert ind["flood"]["top3_called_share"] == 1.0
    assert ind["flood"]["top3_called_calls"] == 120
    assert ind["flood"]["peak_calls_per_minute"] == 60
    assert ind["flood"]["short_share"] == 1.0
    # a window of the first 30 seconds: alpha's first 6 attempts, 31 of flood, 2 of seq
    part = indicators_of(hand_home, Window(T0, T0 + timedelta(seconds=30)))
    assert part["alpha"]["calls"] == 6
    assert part["flood"]["calls"] == 30
    assert part["seq"]["calls"] == 2


def test_scores_name_their_rules_and_thresholds(hand_home: Settings) -> None:
    ind = indicators_of(hand_home)
    flood = score(ind["flood"], CUSTOMER_RULES, min_calls=30)
    assert flood.flagged and "tdos" in flood.categories
    rule = next(r for r in flood.evidence["rules"] if r["rule"] == "tdos")
    assert {
        "indicator": "top3_called_share",
        "value": 1.0,
        "op": ">=",
        "threshold": 0.5,
        "choice": "flood: concentrated",  # which of the rule's alternatives held
    } in rule["thresholds"]
    assert flood.evidence["indicators"]["top3_called_calls"] == 120
    seq = score(ind["seq"], CUSTOMER_RULES, min_calls=30)
    assert not seq.flagged  # 39 numbers in sequence: under the 50 a rule needs
    assert seq.score == 0.0
    alpha = score(ind["alpha"], CUSTOMER_RULES, min_calls=30)
    assert not alpha.flagged and alpha.evidence["rules"] == []  # 10 attempts: not scored


def test_run_is_stored_and_cli_lists_every_customer(hand_home: Settings, cli) -> None:  # type: ignore[no-untyped-def]
    store = open_store(hand_home)
    result = run_detection(hand_home, store, min_calls=5)
    with store.session() as s:
        run = s.get(DetectionRun, result.run_id)
        assert run is not None and run.customers == 3 and run.flagged == 1
        stored = s.query(DetectionFinding).filter_by(run_id=result.run_id).all()
        assert len(stored) == len(result.findings)
        assert {f.subject for f in stored if f.kind == "customer"} == {"alpha", "seq", "flood"}
    store.close()
    cli.home = hand_home.home
    data = cli.json("detect", "--json", "--min-calls", "5")
    customers = {f["subject"]: f for f in data["findings"] if f["kind"] == "customer"}
    assert set(customers) == {"alpha", "seq", "flood"}
    assert customers["flood"]["flagged"] is True and customers["seq"]["flagged"] is False
    # a flood of short calls on three numbers is TDoS; the generic robocall rule that also
    # fired is not a second category (a known kind was found: docs/detection.md, Categories)
    assert customers["flood"]["categories"] == ["tdos"]
    cats = customers["flood"]["evidence"]["categories"]
    assert cats[0] == {"category": "tdos", "rule": "tdos", "strength": cats[0]["strength"]}
    assert customers["flood"]["first_seen"] == "2025-03-03T10:00:00Z"
    assert data["findings"][0]["flagged"] is True  # flagged first
    assert data["window"]["customers"] == 3
    # each finding's id is what `block from-finding` takes (RUN_ID:SEQ)
    assert [f["id"] for f in data["findings"]] == [
        f"{data['run_id']}:{i}" for i in range(len(data["findings"]))
    ]
    rules = cli.json("block", "from-finding", customers["flood"]["id"], "--json")
    assert [(r["kind"], r["value"], r["finding"]) for r in rules] == [
        ("customer", "flood", customers["flood"]["id"])
    ]
    cli("block", "remove", str(rules[0]["id"]))
    data = cli.json("detect", "--json", "--since", "2025-03-03T10:01:00", "--min-calls", "5")
    assert {f["subject"] for f in data["findings"] if f["kind"] == "customer"} == {
        "alpha",
        "flood",
        "seq",
    }
    assert data["window"]["since"] == "2025-03-03T10:01:00Z"
    code, _, err = cli("detect", "--since", "yesterday")
    assert code == 1 and "--since 'yesterday' is not a date or time" in err


def sample_numbers() -> list[tuple[str | None, str | None]]:
    rng = random.Random(5)
    out: list[tuple[str | None, str | None]] = [
        (None, "+12125550001"),
        ("+12125550001", "+12125550001"),
        ("+12025550143", None),
        ("+18885550000", None),
        ("+19115551234", None),
        ("+12129115555", None),
        ("+10125551234", None),
        ("+12925551234", None),
        ("+12120555123", None),
        ("+1212555123", None),
        ("+13705551234", None),
        ("+449098765432", None),
        ("+21688123456", None),
        ("+447700900123", None),
        ("+4490987654321", None),
    ]
    for _ in range(400):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        called = "+1" + digits if rng.random() < 0.05 else "+12125550000"
        out.append(("+1" + digits, called))
        out.append(("+" + rng.choice(["44", "216", "375", "91", "63"]) + digits[:9], None))
    return out


def test_sql_caller_classes_agree_with_numbers() -> None:
    callers = sorted({p[0] for p in sample_numbers() if p[0]})
    con = duckdb.connect()
    con.register("t", pa.table({"caller": callers}))
    classify_callers(con, "t", "cls")
    got = dict(con.execute("SELECT caller, cls FROM cls").fetchall())
    expected = {c: str(caller_id_class(c)) for c in callers}
    assert got == expected
    assert len(set(expected.values())) >= 8  # the sample covers the classes


def test_caller_indicators(hand_home: Settings) -> None:
    store = open_store(hand_home)
    con = open_engine(hand_home, store)
    try:
        callers = caller_indicators(con, Window(), min_calls=2)
    finally:
        con.close()
        store.close()
    assert callers["+16175551000"]["calls"] == 41  # alpha once, seq 40 times
    assert callers["+16175551000"]["customers"] == 2
    assert callers["+12125559999"]["calls"] == 2
    assert callers["+12125559999"]["neighbour_share"] == pytest.approx(0.5)
    assert "+12025550143" not in callers  # one attempt


# --- the network simulator: bounds on worlds the rules were not written on ------------------
# Since issue 14 the thresholds are set on the second generator's tuning families
# (docs/detection.md); these worlds are the first generator's.


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[WorldResult, list]]:
    worlds = []
    for seed, scenario in ((57, "default"), (52, "notice")):
        out = tmp_path_factory.mktemp(f"det-{scenario}")
        simulate(out / "world", seed=seed, days=1, scale=0.05, scenario=scenario)
        findings: list = []

        def detect(
            engine: Engine, window: Window, keep: list = findings, **kw: object
        ) -> Detection:
            result = detect_on(engine, window, **kw)  # type: ignore[arg-type]
            keep.extend(f for f in result.findings if f.kind == "customer")
            return result

        result = evaluate_world(out / "world", out / "homes", detect=detect)
        result.params = {"seed": seed, "scenario": scenario}
        worlds.append((result, findings))
    return worlds


def test_recall_and_false_positives_on_held_out_worlds(
    held_out: list[tuple[WorldResult, list]],
) -> None:
    for world, _ in held_out:
        assert len(world.bad) >= 4 and len(world.legal) >= 30
        # Issue 14 (docs/detection.md, "The network simulator's worlds"): the notice scenario
        # hides a government and a bank imposter in unlisted foreign resellers, their rotated
        # valid caller IDs among the resellers' own, unsigned like them. Neither a share nor
        # the answered-call shape singles such a mixture out, and the rules no longer weigh
        # talk per attempt (it flagged consented call centers): these are the known misses,
        # and every other bad customer is still found.
        rotated = {"gov_imposter", "bank_imposter"}  # valid caller IDs, rotated, in notice
        hidden = {
            v.subject
            for v in world.bad
            if v.role == "foreign_reseller" and set(v.campaigns) <= rotated
        }
        if world.params["scenario"] != "notice":
            hidden = set()
        assert {v.subject for v in world.misses} <= hidden, [
            (v.subject, v.score, v.nearest) for v in world.misses
        ]
        others = [v for v in world.bad if v.subject not in hidden]
        recall = sum(v.flagged for v in others) / len(others)
        false_pos = sum(v.flagged for v in world.legal) / len(world.legal)
        assert len(others) >= 3 and recall >= 0.95
        assert false_pos <= 0.01, [(v.subject, v.rules) for v in world.false_alarms]
        for v in world.legal:
            if v.role in ("informational", "call_center", "wholesale"):
                assert not v.flagged, (v.subject, v.rules)
        # carriers that passed no campaign call are never flagged
        assert not [c for c in world.carriers if c.flagged and not c.campaign_calls]


def test_flagged_customers_explain_themselves(held_out: list[tuple[WorldResult, list]]) -> None:
    flagged = [f for _, findings in held_out for f in findings if f.flagged]
    assert len(flagged) >= 9
    for f in flagged:
        assert f.categories
        rules = f.evidence["rules"]
        assert rules and all(r["thresholds"] for r in rules)
        for r in rules:
            # a segment rule's values are its segment's (shown with it), others the customer's
            values = r.get("segment") or f.evidence["indicators"]
            for t in r["thresholds"]:
                assert {"indicator", "value", "op", "threshold"} <= set(t)
                assert t["value"] is not None
                assert t["value"] == values.get(t["indicator"], t["value"])
            if "segment" in r:
                assert r["segment"]["examples"] and r["sources"]
