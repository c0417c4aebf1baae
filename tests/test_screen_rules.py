"""Screening rules and the decision engine, on the library: precedence, emergency calls,
monitor mode, expiry, rate limits, atomic reloads and the last good index."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from tracehop.detection.classes import INVALID_CLASSES
from tracehop.errors import ConflictError, InputError, StoreError
from tracehop.screening import state
from tracehop.screening.engine import FixedSource, Screener, StoreSource
from tracehop.screening.index import Call, make_call
from tracehop.screening.rules import INVALID_GROUP, Emergency, Rule, make_rule
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.times import FakeClock

E = Emergency.from_setting("+12025550911")
OTHER = "+13125551234"


def rule(kind: str, value: str, rid: int, **kw: object) -> Rule:
    return make_rule(kind, value, reason=f"r{rid}", emergency=E, **kw).with_id(rid)  # type: ignore[arg-type]


def screener(rules: list[Rule], dno: list[int] = (), clock: FakeClock | None = None) -> Screener:
    return Screener(
        FixedSource(rules, np.array(dno, dtype=np.uint64)), emergency=E, clock=clock or FakeClock()
    )


def test_invalid_group_is_detections_invalid_classes() -> None:
    assert set(INVALID_GROUP) == set(INVALID_CLASSES)


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("caller_id", "(202) 555-0143", "+12025550143"),
        ("caller_id", "sip:+12025550143@host;user=phone", "+12025550143"),
        ("caller_prefix", "202555", "+1202555"),
        ("caller_prefix", "+44 20", "+4420"),
        ("called", "3125551234", "+13125551234"),
        ("class", "DNO", "dno"),
        ("customer", "acme-trunk", "acme-trunk"),
    ],
)
def test_values_are_normalised(kind: str, value: str, stored: str) -> None:
    assert make_rule(kind, value, reason="x", emergency=E).value == stored


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("called", "911", "emergency"),
        ("called", "+1 933", "emergency"),
        ("called", "202-555-0911", "emergency"),  # a configured PSAP line
        ("caller_id", "anonymous", "not a phone number"),
        ("caller_prefix", "+1-20x", "caller prefix"),
        ("class", "valid", "unknown caller-ID class"),
        ("customer", "", "1 to 200"),
    ],
)
def test_bad_rules_are_refused_with_the_reason(kind: str, value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_rule(kind, value, reason="x", emergency=E)


def test_a_rule_needs_a_reason_and_a_blocking_code() -> None:
    with pytest.raises(InputError, match="--reason"):
        make_rule("customer", "a", reason=" ", emergency=E)
    with pytest.raises(InputError, match="603, 607 or 608"):
        make_rule("customer", "a", reason="x", emergency=E, sip_code=486)
    assert make_rule("customer", "a", reason="x", emergency=E, action="allow").sip_code is None


def test_an_allow_of_911_is_fine_and_a_rate_on_911_is_refused() -> None:
    assert make_rule("called", "911", reason="x", emergency=E, action="allow").value == "911"
    with pytest.raises(InputError, match="emergency"):
        make_rule("rate", "911", reason="x", emergency=E, rate="1/s", subject="called")


def test_most_specific_rule_wins() -> None:
    s = screener(
        [
            rule("customer", "acme", 1),
            rule("caller_id", "+12025550143", 2, action="allow"),
            rule("caller_prefix", "+1900", 3, sip_code=608),
            rule("caller_prefix", "+1900555", 4, action="allow"),
            rule("called", OTHER, 5, sip_code=607),
            rule("provider", "acme", 6, mode="monitor"),
        ]
    )
    d = s.decide(Call("+12025550143", OTHER, "acme"))
    assert (d.action, d.rule_id) == ("allow", 2)  # the caller ID beats the called number
    d = s.decide(Call("+12025550144", OTHER, "acme"))
    assert (d.action, d.sip_code, d.rule_id) == ("block", 607, 5)
    d = s.decide(Call("+12025550144", "+13125550000", "acme"))
    assert (d.action, d.sip_code, d.rule_id, d.monitored) == ("block", 603, 1, (6,))
    assert s.decide(Call("+19005551000", "+13125550000", "x")).rule_id == 4  # longest prefix
    d = s.decide(Call("+19001231000", "+13125550000", "x"))
    assert (d.action, d.sip_code, d.rule_id) == ("block", 608, 3)
    assert s.decide(Call("+14155550000", "+13125550000", "x")).as_dict() == {
        "action": "allow",
        "sip_code": None,
        "reason": "no rule matched",
        "rule_id": None,
        "monitored": [],
    }


@pytest.mark.parametrize("called", ["911", "933", "+1911", "9911", "tel:911", "+12025550911"])
def test_emergency_calls_are_allowed_whatever_matches(called: str) -> None:
    s = screener(
        [
            rule("customer", "acme", 1),
            rule("caller_id", "+12025550143", 2),
            rule("class", "dno", 3),
            rule("class", "invalid", 4),
            rule("rate", "*", 5, rate="1/min", subject="customer"),
        ],
        dno=[12025550143],
    )
    for _ in range(3):
        d = s.decide(make_call("+12025550143", called, "acme"))
        assert (d.action, d.emergency) == ("allow", True)
    assert s.decide(make_call("+12025550143", OTHER, "acme")).action == "block"


def test_dno_and_class_rules() -> None:
    s = screener(
        [rule("class", "dno", 1, sip_code=607), rule("class", "toll_free", 2, sip_code=608)],
        dno=[13125550100],
    )
    assert s.decide(make_call("312-555-0100", OTHER)).rule_id == 1
    assert s.decide(make_call("+18005551234", OTHER)).sip_code == 608
    assert s.decide(make_call("+13125550101", OTHER)).action == "allow"
    inv = screener([rule("class", "invalid", 1)])
    assert inv.decide(make_call("+12125550199", OTHER)).rule_id == 1  # 555-01XX
    assert inv.decide(make_call(OTHER, OTHER)).rule_id == 1  # caller = called
    assert inv.decide(make_call("+12125551212", OTHER)).action == "allow"


def test_monitor_rules_count_but_never_block() -> None:
    s = screener([rule("customer", "acme", 1, mode="monitor")])
    d = s.decide(make_call("+12025550143", OTHER, "acme"))
    assert (d.action, d.monitored) == ("allow", (1,))
    assert s.by_rule[1] == 1 and s.counts["block"] == 0


def test_rules_start_and_expire_on_the_clock() -> None:
    clock = FakeClock()
    now = clock.now()
    later = make_rule(
        "customer", "acme", reason="x", emergency=E, starts_at=now + timedelta(hours=1), now=now
    ).with_id(1)
    brief = make_rule(
        "caller_id",
        "+12025550143",
        reason="x",
        emergency=E,
        expires_at=now + timedelta(minutes=5),
        now=now,
    ).with_id(2)
    s = screener([later, brief], clock=clock)
    call = make_call("+12025550143", OTHER, "acme")
    assert s.decide(call).rule_id == 2
    clock.advance(301)
    assert s.decide(call).action == "allow"
    clock.advance(3600)
    assert s.decide(call).rule_id == 1


def test_rate_limits_block_and_alert_once_a_window() -> None:
    clock = FakeClock()
    alerts: list[dict] = []
    s = Screener(
        FixedSource(
            [
                rule("rate", "*", 1, rate="3/s", subject="caller_id"),
                rule("rate", "acme", 2, rate="5/min", subject="customer", action="alert"),
            ]
        ),
        emergency=E,
        clock=clock,
        on_alert=alerts.append,
    )
    call = make_call("+12025550143", OTHER, "acme")
    got = [s.decide(call).action for _ in range(5)]
    assert got == ["allow", "allow", "allow", "block", "block"]
    assert [(a["rule_id"], a["action"], a["count"]) for a in alerts] == [(1, "block", 4)]
    clock.advance(2.0)  # a new second: the caller-ID window has emptied
    assert s.decide(call).action == "allow"  # 6th call of the minute: alert, no block
    assert [(a["rule_id"], a["action"]) for a in alerts][-1] == (2, "alert")
    assert s.decide(make_call("+12025550144", OTHER, "other")).action == "allow"


def test_replay_time_drives_the_counters() -> None:
    s = screener([rule("rate", "*", 1, rate="2/min", subject="customer")])
    call = make_call("+12025550143", OTHER, "acme")
    assert [s.decide(call, at=t).action for t in (0, 10, 20, 200)] == [
        "allow",
        "allow",
        "block",
        "allow",
    ]


def test_store_rules_reload_and_the_last_good_index_stays(settings: Settings) -> None:
    clock = FakeClock()
    with open_store(settings) as store:
        state.add_rule(store, make_rule("customer", "acme", reason="x", emergency=E), clock=clock)
        s = Screener(StoreSource(store), emergency=E, clock=clock)
        call = make_call("+12025550143", OTHER, "acme")
        assert s.decide(call).action == "block"
        assert s.reload() is False  # nothing changed
        state.remove_rule(store, 1, by="me", clock=clock)
        assert s.reload() is True
        assert s.decide(call).action == "allow"
        state.add_rule(store, make_rule("customer", "acme", reason="y", emergency=E), clock=clock)
        s.reload()
        first = s.index
        # the state DB breaks: the file is no longer a database
        store.engine.dispose()
        db = Path(settings.home) / "state.db"
        for extra in ("-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
        db.write_bytes(b"not a database" * 1000)
        assert s.reload() is False
        assert s.reload_failures == 1 and s.index is first
        assert s.decide(call).rule_id == 2


def test_first_load_failure_is_an_error() -> None:
    class Broken(FixedSource):
        def versions(self) -> tuple[int, int]:
            raise StoreError("down")

    with pytest.raises(StoreError):
        Screener(Broken([]), emergency=E)


def test_clashing_rules_and_provider_blocks_need_a_notice(settings: Settings) -> None:
    clock = FakeClock()
    with open_store(settings) as store:
        r = make_rule("customer", "acme", reason="x", emergency=E)
        state.add_rule(store, r, clock=clock)
        with pytest.raises(ConflictError, match="rule 1 already applies"):
            state.add_rule(store, r, clock=clock)
        p = make_rule("provider", "badco", reason="x", emergency=E)
        with pytest.raises(ConflictError, match=r"64\.1200\(k\)\(4\)"):
            state.add_rule(store, p, clock=clock)
        monitor = state.add_rule(
            store,
            make_rule("provider", "badco", reason="x", emergency=E, mode="monitor"),
            clock=clock,
        )
        with pytest.raises(ConflictError, match="notice"):
            state.set_mode(store, monitor.id, "enforce", clock=clock)
        with pytest.raises(InputError, match="future"):
            state.record_notice(
                store,
                "badco",
                sent_on=(clock.now() + timedelta(days=2)).date(),
                summary="x" * 20,
                author="me",
                clock=clock,
            )
        n = state.record_notice(
            store,
            "badco",
            sent_on=clock.now().date(),
            summary="12 tracebacks in 90 days",
            author="me",
            clock=clock,
        )
        enforced = state.set_mode(store, monitor.id, "enforce", clock=clock)
        assert (enforced.mode, enforced.notice_id) == ("enforce", n.id)
        assert state.versions(store)[0] == 3  # three changes: add, add, enforce


def test_short_call_share_trigger_counts_answered_outcomes() -> None:
    clock = FakeClock()
    alerts: list[dict] = []
    s = Screener(
        FixedSource(
            [
                rule(
                    "short_share",
                    "*",
                    1,
                    subject="customer",
                    share=0.2,
                    min_answered=10,
                    window=900,
                ),
                rule(
                    "short_share",
                    "*",
                    2,
                    subject="caller_id",
                    share=0.5,
                    min_answered=5,
                    action="alert",
                    mode="monitor",
                ),
            ]
        ),
        emergency=E,
        clock=clock,
        on_alert=alerts.append,
    )
    call = make_call("+12025550143", OTHER, "acme")
    for i in range(10):  # 10 answered, 1 short: 10% < 20%
        s.record_outcome(call, answered=True, duration=3 if i == 0 else 60)
        s.record_outcome(call, answered=False, duration=0)  # unanswered: not counted
        clock.advance(1)
    assert s.decide(call).action == "allow" and alerts == []
    for _ in range(2):  # 12 answered, 3 short: 25% >= 20%
        s.record_outcome(call, answered=True, duration=2)
    d = s.decide(call)
    assert (d.action, d.rule_id) == ("block", 1)
    assert "short-call share 25% >= 20% over 12 answered calls" in d.reason
    assert [a["rule_id"] for a in alerts] == [1]
    assert s.decide(call).action == "block" and len(alerts) == 1  # alerted once a window
    other = make_call("+12025550199", OTHER, "other")
    assert s.decide(other).action == "allow"  # another customer
    assert s.decide(make_call("+12025550143", "911", "acme")).action == "allow"
    clock.advance(2000)  # two windows later nothing is left
    assert s.decide(call).action == "allow"


def test_short_share_rules_are_checked() -> None:
    with pytest.raises(InputError, match="between 0 and 1"):
        make_rule("short_share", "*", reason="x", emergency=E, subject="customer", share=2)
    with pytest.raises(InputError, match="counted by one of"):
        make_rule("short_share", "*", reason="x", emergency=E, subject="called", share=0.2)


def test_the_state_on_sqlite_and_postgresql(state_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Rules in bulk, a notice, a DNO list, a reload and alerts on both state DBs."""
    from tracehop.screening.dno import import_dno, list_dno
    from tracehop.settings import load_settings

    settings = load_settings(home=tmp_path / "home", database_url=state_db())
    clock = FakeClock()
    dno = tmp_path / "dno.txt"
    dno.write_text("".join(f"+1312555{i:04d}\n" for i in range(0, 10_000, 3)))
    with open_store(settings) as store:
        rules = [
            make_rule("caller_id", f"+1202555{i:04d}", reason="x", emergency=E) for i in range(2000)
        ]
        rules.append(make_rule("class", "dno", reason="DNO", emergency=E))
        stored = state.add_rules(store, rules, clock=clock)
        assert [r.id for r in stored] == list(range(1, 2002))
        assert stored[5].value == "+12025550005"
        state.record_notice(
            store,
            "badco",
            sent_on=clock.now().date(),
            summary="12 tracebacks named it",
            author="me",
            clock=clock,
        )
        state.add_rule(
            store, make_rule("provider", "badco", reason="notice", emergency=E), clock=clock
        )
        import_dno(store, dno, name="itg", author="me", clock=clock)
        assert [d.numbers for d in list_dno(store)] == [3334]
        s = Screener(StoreSource(store), emergency=E, clock=clock)
        assert s.decide(make_call("+12025551999", OTHER)).rule_id == 2000
        assert s.decide(make_call("+13125550009", OTHER)).rule_id == 2001
        assert s.decide(make_call("+13125550010", OTHER, "badco")).rule_id == 2002
        state.remove_rule(store, 2002, by="me", clock=clock)
        assert s.reload() is True
        assert s.decide(make_call("+13125550010", OTHER, "badco")).action == "allow"
        state.store_alerts(
            store,
            [
                {
                    "at": clock.now(),
                    "rule_id": 1,
                    "action": "alert",
                    "subject_kind": "customer",
                    "subject": "x",
                    "count": 5,
                    "limit": 2,
                    "window_seconds": 60,
                    "detail": "d",
                }
            ],
        )
        assert [a["subject"] for a in state.list_alerts(store)] == ["x"]
