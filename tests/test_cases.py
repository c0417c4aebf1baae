"""Cases: a notice becomes a case, is investigated with the provider's records, and its
reports are rendered (PDF text checked); the hub drafts a notice the provider reads back."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from letters import FIXTURE, pdf_text
from tracehop.analyst import query
from tracehop.cases.draft import draft_notice
from tracehop.cases.investigate import investigate, set_match
from tracehop.cases.mitigate import mitigate
from tracehop.cases.records import due, get_case, import_notice, list_cases
from tracehop.cases.reports import write_report
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store
from tracehop.times import FakeClock
from tracehop.tracebacks.batch import trace_batch

if TYPE_CHECKING:
    from conftest import Cli, SimNet
    from tracehop.store import Store

NOW = datetime(2021, 3, 17, 15, 0, tzinfo=UTC)


def test_a_letter_is_one_case_and_its_deadlines_are_due(provider_home: Settings) -> None:
    with open_store(provider_home) as store:
        case, created, notice = import_notice(store, FIXTURE, now=NOW)
        again, created_again, _ = import_notice(store, FIXTURE, now=NOW + timedelta(hours=1))
        assert (created, created_again, again.case_id) == (True, False, case.case_id)
        assert [c["case_id"] for c in list_cases(store)] == [case.case_id]
        assert [e["kind"] for e in get_case(store, case.case_id).events] == [
            "opened",
            "imported_again",
        ]
        soon = due(store, now=datetime(2021, 3, 18, 12, tzinfo=UTC), within=timedelta(hours=24))
    assert {r["deadline"] for r in soon} == {"mitigation_48h", "report_48h"}
    assert all(not r["overdue"] and r["hours_left"] == 16.0 for r in soon)
    assert len(case.rows) == 61 and notice.problems == []


def test_investigation_matches_names_and_reads_the_records(provider_home: Settings) -> None:
    with open_store(provider_home) as store:
        case, _, _ = import_notice(store, FIXTURE, now=NOW)
        summary = investigate(provider_home, store, case.case_id, actor="analyst", now=NOW)
        c = get_case(store, case.case_id)
    assert set(summary["customers"]) == {"caprus", "bigfoot", "pulse", "yodel"}
    assert summary["no_response"] == 15
    assert "Legacy" in summary["unmatched_names"] and "Tech BPO" in summary["unmatched_names"]
    row1 = c.rows[0]  # Caprus IT, February 7, 2021: the lake has caprus's calls that day
    assert (row1["customer"], row1["matched_customer"], row1["match_score"]) == (
        "Caprus IT",
        "caprus",
        100.0,
    )
    want = query(
        "select count(*) as n from calls where upstream = 'caprus' and day = DATE '2021-02-07'",
        provider_home,
    ).records()[0]["n"]
    assert want > 0 and row1["investigation"]["day_traffic"]["calls"] == want
    assert row1["investigation"]["numbers_redacted"] is True
    assert c.status == "investigating"
    # a person corrects a row: it stays as they said, through a new investigation
    with open_store(provider_home) as store:
        set_match(store, case.case_id, 1, "pulse", actor="analyst", now=NOW)
        investigate(provider_home, store, case.case_id, actor="analyst", now=NOW)
        row1 = get_case(store, case.case_id).rows[0]
        assert (row1["matched_customer"], row1["match_confirmed"]) == ("pulse", True)
        with pytest.raises(InputError, match="no customer 'nobody'"):
            set_match(store, case.case_id, 1, "nobody", actor="analyst", now=NOW)


def test_reports_render_to_pdf_and_html_with_data_escaped(
    provider_home: Settings, tmp_path: Path
) -> None:
    letter = FIXTURE.read_text().replace("Caprus IT\tFebruary 7", "<b>Caprus IT</b>\tFebruary 7")
    path = tmp_path / "letter.txt"
    path.write_text(letter)
    with open_store(provider_home) as store:
        case, _, _ = import_notice(store, path, now=NOW)
        investigate(provider_home, store, case.case_id, actor="analyst", now=NOW)
        pdf = write_report(provider_home, store, case.case_id, "report-14d", tmp_path / "r.pdf",
                           actor="analyst", now=NOW)  # fmt: skip
        page = write_report(provider_home, store, case.case_id, "mitigation",
                            tmp_path / "m.html", actor="analyst", now=NOW)  # fmt: skip
        links = {(x["kind"], x["ref"]) for x in get_case(store, case.case_id).links}
    text = pdf_text(pdf)
    assert "Fourteen-day report" in text and "Icon Global" in text
    assert "Caprus IT" in text and "March 31, 2021" in text
    assert "(redacted)" in text and case.case_id in text
    # the next RMD recertification follows the report's clock, not the machine's
    assert "(next: March 1, 2022)" in " ".join(text.split())
    markup = page.read_text()
    assert "&lt;b&gt;Caprus IT&lt;/b&gt;" in markup and "<b>Caprus IT</b>" not in markup
    assert ("report", "report-14d:r.pdf") in links and ("report", "mitigation:m.html") in links


def test_the_cli_contract(cli: Cli, provider_home: Settings) -> None:
    cli.home, cli.database_url = provider_home.home, provider_home.database_url
    out = cli.json("notice", "import", str(FIXTURE), "--json")
    assert {"case_id", "letter_date", "recipient", "notice_kind", "deadlines", "rows"} <= set(out)
    assert out["recipient"] == "Icon Global Services Ltd." and out["created"] is True
    assert all({"name", "due", "basis"} <= set(d) for d in out["deadlines"])
    listed = cli.json("case", "list", "--json")
    assert [c["case_id"] for c in listed] == [out["case_id"]]
    shown = cli.json("case", "show", out["case_id"], "--json")
    assert len(shown["rows"]) == 61
    code, _stdout, _err = cli("case", "due", "--within", "1h", "--json")
    assert code == 2  # the 2021 deadlines are long past: overdue, for cron
    code, _stdout, err = cli("case", "report", out["case_id"], "--kind", "bogus", "--out", "x.pdf")
    assert code == 1 and "report kind must be one of" in err


def test_reporting_meets_the_report_deadlines(cli: Cli, provider_home: Settings) -> None:
    """A case moved to `reported` (the report went to the Commission) meets its report
    deadlines; any other deadline is met with `case meet` and what met it; what stays open
    is what `case due` still warns about."""
    cli.home, cli.database_url = provider_home.home, provider_home.database_url
    cid = cli.json("notice", "import", str(FIXTURE), "--json")["case_id"]
    code, stdout, _err = cli("case", "status", cid, "reported")
    assert code == 0 and "report_48h met late: the case is reported" in stdout
    assert "report_14d met late" in stdout
    shown = cli.json("case", "show", cid, "--json")
    met = {d["name"]: (d["met_at"] is not None, d["late"]) for d in shown["deadlines"]}
    assert met == {
        "mitigation_48h": (False, False),
        "report_48h": (True, True),
        "report_14d": (True, True),
    }
    code, stdout, _err = cli("case", "due", "--within", "1h", "--json")
    assert code == 2 and [r["deadline"] for r in json.loads(stdout)] == ["mitigation_48h"]
    code, stdout, _err = cli("case", "meet", cid, "mitigation_48h", "--by", "trunk shut at SBC")
    assert code == 0 and "mitigation_48h met late: trunk shut at SBC" in stdout
    code, stdout, _err = cli("case", "due", "--within", "1h", "--json")
    assert code == 0 and json.loads(stdout) == []
    code, stdout, _err = cli("case", "meet", cid, "mitigation_48h", "--by", "again")
    assert code == 0 and "mitigation_48h had been met before" in stdout
    code, _stdout, err = cli("case", "meet", cid, "report_99d", "--by", "x")
    assert code == 1 and "(its deadlines: mitigation_48h, report_14d, report_48h)" in err
    events = [e["kind"] for e in cli.json("case", "show", cid, "--json")["events"]]
    assert events.count("deadline_met") == 3


def test_a_report_before_any_customer_is_matched(
    cli: Cli, provider_home: Settings, tmp_path: Path
) -> None:
    """Reports of a case nobody investigated yet: sections numbered without a gap (no chart),
    no empty table of customers, and a warning when the provider's name is not set (the
    letter would say [TRACEHOP_PROVIDER_NAME] where it goes)."""
    import re

    cli.home, cli.database_url = provider_home.home, provider_home.database_url
    cid = cli.json("notice", "import", str(FIXTURE), "--json")["case_id"]
    code, _out, err = cli("case", "report", cid, "--kind", "report-14d", "--out",
                          str(tmp_path / "r.html"))  # fmt: skip
    assert code == 0 and "the report names no provider" in err
    html = (tmp_path / "r.html").read_text()
    numbers = [int(n) for n in re.findall(r"<h2>(\d+)\. ", html)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == 4
    code, _out, _err = cli("case", "report", cid, "--kind", "mitigation", "--out",
                           str(tmp_path / "m.html"))  # fmt: skip
    html = (tmp_path / "m.html").read_text()
    assert "No row of the letter has been matched to a customer of ours yet." in html
    assert "<th>Customer (our record)</th>" not in html


def test_a_hub_notice_opens_a_case_at_the_gateway(sim_net: SimNet, tmp_path: Path) -> None:
    """The hub drafts a notice for a simulated gateway from its traces; the gateway's node
    imports it, investigates it with its own records and renders both reports."""
    hub = sim_net.hub_store(tmp_path / "hub")
    with sim_net.hub(hub, clock=FakeClock()) as h:
        traced = trace_batch(h, sim_net.world / "complaints.csv", workers=2, hop_timeout=3)
    gateways = [t.gateway for t in traced.traces if t.gateway]
    gateway = max(set(gateways), key=gateways.count)
    text, rows = draft_notice(hub, gateway, letter_date=date(2025, 3, 6))
    hub.close()
    letter = tmp_path / "notice.txt"
    letter.write_text(text)
    # a copy of the gateway's home: the simulated network is shared by other tests (the
    # dashboard's imports the same letter and must find the case as a new one)
    home = tmp_path / gateway
    shutil.copytree(sim_net.nodes[gateway].settings.home, home)
    settings = load_settings(home=home, provider=gateway)
    with open_store(settings) as store:
        _case_at_the_gateway(settings, store, letter, rows, gateways.count(gateway), tmp_path)


def _case_at_the_gateway(
    settings: Settings, store: Store, letter: Path, rows: list, traced: int, tmp_path: Path
) -> None:
    case, created, notice = import_notice(store, letter, now=NOW)
    assert created and notice.problems == [] and notice.role == "gateway"
    assert len(case.rows) == len(rows) == traced
    summary = investigate(settings, store, case.case_id, actor="test", now=NOW)
    truth = {r.customer for r in rows}
    assert set(summary["customers"]) == truth - {"No Response"}
    assert summary["confirmed_in_records"] == len(rows)  # every call found at the gateway
    named = sorted(truth - {"No Response"})
    clock = FakeClock(NOW + timedelta(hours=5))
    done = [mitigate(settings, store, case.case_id, "block-customer", customer=c,
                     actor="test", clock=clock) for c in named]  # fmt: skip
    # met once every customer the rows name is blocked
    assert [d.deadlines_met for d in done] == [[]] * (len(done) - 1) + [["mitigation_48h"]]
    assert done[-1].status == "mitigated" and done[-1].still_open == []
    for kind in ("mitigation", "report-14d"):
        pdf = write_report(settings, store, case.case_id, kind, tmp_path / f"{kind}.pdf",
                           actor="test", now=NOW)  # fmt: skip
        text = pdf_text(pdf)
        assert case.case_id in text and all(c in text for c in truth)
        assert "customer blocked" in " ".join(text.split()) and all(c in text for c in named)
    assert json.dumps(get_case(store, case.case_id).to_json())  # storable and readable
