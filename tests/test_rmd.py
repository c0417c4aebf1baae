"""The Robocall Mitigation Database record: the March 1 recertification, facts from the
provider's records, kept in the home."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from tracehop.cases.rmd import export, next_recertification, to_markdown
from tracehop.settings import load_settings
from tracehop.store import open_store


@given(st.dates(date(2020, 1, 1), date(2035, 12, 31)))
def test_the_next_recertification_is_the_next_march_first(day: date) -> None:
    due = next_recertification(day)
    assert (due.month, due.day) == (3, 1) and day <= due
    assert (due - day).days < 366


def test_the_record_states_the_homes_facts_and_is_kept(tmp_path, data) -> None:  # type: ignore[no-untyped-def]
    from tracehop.customers import import_customers, parse_customers_csv

    settings = load_settings(home=tmp_path / "h", provider="icon", provider_name="Icon Global",
                             provider_roles="gateway, intermediate", rmd_id="RMD0009999")  # fmt: skip
    with open_store(settings) as store:
        import_customers(store, parse_customers_csv(data / "customers.csv"))
        record, kept = export(settings, store, now=datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert record["roles"] == ["gateway", "intermediate"]
    assert record["next_recertification"] == "2027-03-01" and record["rmd_id"] == "RMD0009999"
    plan = {p["heading"]: p["text"] for p in record["mitigation_plan"]}
    assert plan["Know your customer"].startswith("4 customers on record")
    assert plan["Know your upstream provider"].startswith("0 of 2 upstream carriers")
    assert json.loads(kept.read_text()) == record and oct(kept.parent.stat().st_mode)[-3:] == "700"
    assert "# Robocall Mitigation Database filing: Icon Global" in to_markdown(record)
