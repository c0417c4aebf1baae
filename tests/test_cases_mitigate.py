"""Mitigation from a case: each action is screening rules linked to the case that the real
decision engine applies, the timeline says who did what when, and the 48-hour deadline is met
only when rules that stop the traffic are in place; a downstream provider's block of a
notified provider waits for its notice to the Commission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from letters import FIXTURE, pdf_text
from tracehop.cases.investigate import investigate
from tracehop.cases.mitigate import mitigate, notify_intent, rules_of_case
from tracehop.cases.records import get_case, import_notice
from tracehop.cases.reports import write_report
from tracehop.customers import list_customers
from tracehop.errors import ConflictError, InputError, NotFoundError
from tracehop.screening.service import check
from tracehop.screening.state import list_notices, remove_rule
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.times import FakeClock

if TYPE_CHECKING:
    from conftest import Cli

NOW = datetime(2021, 3, 17, 15, 0, tzinfo=UTC)


@pytest.fixture
def home(provider_home: Settings) -> Settings:
    """conftest's provider home (CDRs, customers; its state DB on SQLite and PostgreSQL)."""
    return provider_home


def _case(settings: Settings) -> str:
    with open_store(settings) as store:
        case, _, _ = import_notice(store, FIXTURE, now=NOW)
        investigate(settings, store, case.case_id, actor="analyst", now=NOW)
    return case.case_id


def test_blocking_a_customer_meets_the_48_hour_deadline(home: Settings, tmp_path: Path) -> None:
    case_id = _case(home)
    clock = FakeClock(NOW + timedelta(hours=3))
    with open_store(home) as store:
        before = check(home, store, caller="+12025550143", called="+12125551234",
                       upstream="caprus", clock=clock)  # fmt: skip
        m = mitigate(home, store, case_id, "block-customer", customer="caprus", actor="ana",
                     clock=clock)  # fmt: skip
        after = check(home, store, caller="+12025550143", called="+12125551234",
                      upstream="caprus", clock=clock)  # fmt: skip
        other = check(home, store, caller="+12025550143", called="+12125551234",
                      upstream="pulse", clock=clock)  # fmt: skip
        emergency = check(home, store, caller="+12025550143", called="911", upstream="caprus",
                          clock=clock)  # fmt: skip
        # the letter's rows name four of our customers: the deadline is met once all four
        # are blocked (64.1200(k)(4): the identified traffic mitigated), not at the first
        assert (m.deadlines_met, m.still_open, m.status) == (
            [], ["bigfoot", "pulse", "yodel"], "investigating")  # fmt: skip
        rest = [mitigate(home, store, case_id, "block-customer", customer=c, actor="ana",
                         clock=clock) for c in ("bigfoot", "pulse", "yodel")]  # fmt: skip
        last = rest[-1]
        case = get_case(store, case_id)
        rules = rules_of_case(store, case_id)
        pdf = write_report(home, store, case_id, "report-14d", tmp_path / "r.pdf", actor="ana",
                           now=clock.now())  # fmt: skip
    assert before.action == "allow"
    assert (after.action, after.sip_code, after.rule_id) == ("block", 603, m.rules[0].id)
    assert other.action == "allow" and emergency.action == "allow"
    assert [(r.kind, r.value, r.case_id) for r in rules] == [
        ("customer", c, case_id) for c in ("caprus", "bigfoot", "pulse", "yodel")
    ]
    assert [x.still_open for x in rest] == [["pulse", "yodel"], ["yodel"], []]
    assert last.deadlines_met == ["mitigation_48h"] and last.status == "mitigated"
    deadline = next(d for d in case.deadlines if d["name"] == "mitigation_48h")
    assert deadline["met_at"] == clock.now().isoformat()
    assert deadline["met_by"] == f"rules {last.rules[0].id}"
    event = next(e for e in case.events if e["kind"] == "mitigation")
    assert (event["actor"], event["detail"]["customer"], event["detail"]["action"]) == (
        "ana", "caprus", "block-customer")  # fmt: skip
    assert ("rule", str(m.rules[0].id)) in {(x["kind"], x["ref"]) for x in case.links}
    late = next(e for e in case.events if e["kind"] == "deadline_met")
    assert late["detail"]["late"] is False  # 18:00 UTC on the 17th: within 48 hours
    text = pdf_text(pdf)
    assert "All calls from the customer blocked" in " ".join(text.split()) and "caprus" in text


def test_monitoring_does_not_stop_the_clock_and_terminating_is_recorded(home: Settings) -> None:
    case_id = _case(home)
    clock = FakeClock(NOW + timedelta(hours=1))
    with open_store(home) as store:
        docs = mitigate(home, store, case_id, "require-documents", customer="pulse", actor="ana",
                        clock=clock)  # fmt: skip
        decided = check(home, store, caller="+12025550143", called="+12125551234",
                        upstream="pulse", clock=clock)  # fmt: skip
        assert docs.rules[0].mode == "monitor" and docs.deadlines_met == []
        assert decided.action == "allow" and decided.monitored == (docs.rules[0].id,)
        assert get_case(store, case_id).status == "investigating"
        clock.advance(3600 * 60)  # 60 hours later: past the 48 hours
        end = mitigate(home, store, case_id, "terminate", customer="bigfoot", actor="cco",
                       sip_code=607, clock=clock)  # fmt: skip
        case = get_case(store, case_id)
        notes = {c.id: c.notes for c in list_customers(store)}
        decided = check(home, store, caller="+12025550143", called="+12125551234",
                        upstream="bigfoot", clock=clock)  # fmt: skip
        # the customers named in the letter: pulse's documents checked (a monitor rule)
        # is no mitigation: the deadline stays open until its monitor rule gives way to a block
        others = [mitigate(home, store, case_id, "block-customer", customer=c, actor="cco",
                           clock=clock) for c in ("caprus", "yodel")]  # fmt: skip
        remove_rule(store, docs.rules[0].id, by="cco", clock=clock)
        final = mitigate(home, store, case_id, "block-customer", customer="pulse", actor="cco",
                         clock=clock)  # fmt: skip
        case_after = get_case(store, case_id)
    assert end.rules[0].expires_at is None and decided.sip_code == 607
    assert "terminated 2021-03-20" in (notes["bigfoot"] or "") and case_id in notes["bigfoot"]
    assert end.deadlines_met == [] and end.still_open == ["caprus", "pulse", "yodel"]
    assert not any(e["kind"] == "deadline_met" for e in case.events)
    assert [o.still_open for o in others] == [["pulse", "yodel"], ["pulse"]]
    assert final.deadlines_met == ["mitigation_48h"] and final.deadlines_late == ["mitigation_48h"]
    met = next(e for e in case_after.events if e["kind"] == "deadline_met")
    assert met["detail"]["late"] is True and met["actor"] == "cco"


def test_what_cannot_be_done_is_refused_with_what_to_do(home: Settings) -> None:
    case_id = _case(home)
    with open_store(home) as store:
        with pytest.raises(InputError, match=r"no caller IDs.*--caller-id"):
            mitigate(home, store, case_id, "block-caller-ids", customer="caprus", actor="a")
        with pytest.raises(NotFoundError, match="no customer 'acme'"):
            mitigate(home, store, case_id, "block-customer", customer="acme", actor="a")
        with pytest.raises(InputError, match="needs the customer"):
            mitigate(home, store, case_id, "terminate", actor="a")
        with pytest.raises(InputError, match="action must be one of"):
            mitigate(home, store, case_id, "shout", actor="a")
        with pytest.raises(InputError, match="'call-me' is not a phone number"):
            mitigate(home, store, case_id, "block-caller-ids", caller_ids=["+12025550143", "call-me"],
                     actor="a")  # fmt: skip
        assert rules_of_case(store, case_id) == []  # all or none
        ids = mitigate(home, store, case_id, "block-caller-ids",
                       caller_ids=["(202) 555-0143", "+12025550144"], actor="a")  # fmt: skip
        assert [r.value for r in ids.rules] == ["+12025550143", "+12025550144"]
        # a block already in force (here the one just made) is adopted, not made twice
        again = mitigate(home, store, case_id, "block-caller-ids",
                         caller_ids=["+12025550143", "+12025550145"], actor="a")  # fmt: skip
        assert again.rules[0] == ids.rules[0] and again.rules[1].id not in (0, ids.rules[1].id)
        event = [e for e in get_case(store, case_id).events if e["kind"] == "mitigation"][-1]
        assert event["detail"]["already_in_force"] == str(ids.rules[0].id)
        # a monitor rule in the way is not silently turned into a block
        mitigate(home, store, case_id, "require-documents", customer="pulse", actor="a")
        with pytest.raises(ConflictError, match="already applies to customer pulse"):
            mitigate(home, store, case_id, "block-customer", customer="pulse", actor="a")


def test_blocking_a_notified_provider_waits_for_the_notice(home: Settings, tmp_path: Path) -> None:
    """64.1200(k)(4): a downstream provider notifies the Commission before it blocks."""
    case_id = _case(home)
    clock = FakeClock(NOW + timedelta(days=20))
    with open_store(home) as store:
        with pytest.raises(ConflictError, match="notify-intent"):
            mitigate(home, store, case_id, "block-provider", provider="caprus", actor="a",
                     clock=clock)  # fmt: skip
        path, notice_id = notify_intent(home, store, case_id, provider="caprus",
                                        out=tmp_path / "intent.pdf", actor="cco", clock=clock)  # fmt: skip
        m = mitigate(home, store, case_id, "block-provider", actor="cco", clock=clock)
        notices = list_notices(store)
        case = get_case(store, case_id)
    assert m.rules[0].kind == "provider" and m.rules[0].notice_id == notice_id
    assert [(n.provider, n.sent_on) for n in notices] == [("caprus", clock.now().date())]
    assert ("notice", str(notice_id)) in {(x["kind"], x["ref"]) for x in case.links}
    text = pdf_text(path)
    assert "intent to block" in text.lower() and "Icon Global Services" in text
    assert "caprus" in text


def test_the_cli_mitigates(cli: Cli, home: Settings) -> None:
    cli.home, cli.database_url = home.home, home.database_url
    case_id = _case(home)
    out = cli.json("case", "mitigate", case_id, "block-customer", "--customer", "yodel",
                   "--expires", "7d", "--json")  # fmt: skip
    assert out["rules"][0]["kind"] == "customer" and out["rules"][0]["expires_at"]
    assert (out["deadlines_met"], out["status"]) == ([], "investigating")
    assert out["still_open"] == ["bigfoot", "caprus", "pulse"]
    code, stdout, _ = cli("case", "mitigate", case_id, "block-customer", "--customer", "caprus")
    assert code == 0 and "the mitigation deadline stays open: the letter's rows also name " \
        "bigfoot, pulse" in " ".join(stdout.split())  # fmt: skip
    code, stdout, _ = cli("case", "mitigate", case_id, "require-documents", "--customer", "pulse")
    assert code == 0 and "monitors (does not block) customer pulse" in stdout
    code, _, err = cli("case", "mitigate", case_id, "block-provider", "--provider", "x")
    assert code == 1 and "notify-intent" in err
    listed = cli.json("block", "list", "--json")
    assert {r["case_id"] for r in listed} == {case_id}
