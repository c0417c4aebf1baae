"""Customers: import (all or nothing, errors naming the line), update, list, join with calls."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.customers import import_customers, list_customers, parse_customers_csv
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store


@pytest.fixture
def settings(home: Path, state_db) -> Settings:  # type: ignore[no-untyped-def]
    """A home whose state DB is SQLite, then PostgreSQL (the tests that use it run on both)."""
    return load_settings(home=home, database_url=state_db())


def test_import_update_list(settings: Settings, data: Path, write_cdr) -> None:
    store = open_store(settings)
    first = import_customers(store, parse_customers_csv(data / "customers.csv"))
    assert first.to_dict() == {"created": 4, "updated": 0, "unchanged": 0}
    changed = write_cdr(
        "customers.csv",
        [
            "id,name,kind,country,onboarded",
            "caprus,Caprus IT Pvt,carrier,IN,2019-06-01",
            "newco,New Co,enterprise,us,",
        ],
    )
    second = import_customers(store, parse_customers_csv(changed))
    assert second.to_dict() == {"created": 1, "updated": 1, "unchanged": 0}
    got = {c.id: c for c in list_customers(store)}
    store.close()
    assert got["caprus"].name == "Caprus IT Pvt" and got["caprus"].onboarded == date(2019, 6, 1)
    assert got["newco"].country == "US" and got["newco"].onboarded is None
    assert got["pulse"].rmd_id == "RMD0001234"
    ingest([data / "generic.csv"], settings)
    joined = query(
        "select c.name, count(*) as n from calls join customers c on c.id = calls.upstream "
        "group by 1 order by 1",
        settings,
    ).records()
    assert joined == [
        {"name": "Bigfoot Mediatech Co. Ltd.", "n": 2},
        {"name": "Caprus IT Pvt", "n": 3},
        {"name": "Pulse Telesystems", "n": 1},
    ]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["id,name,kind,country"], "header lacks onboarded"),
        (
            ["id,name,kind,country,onboarded", "a,A,reseller,US,"],
            ":2: kind 'reseller' is not one of",
        ),
        (["id,name,kind,country,onboarded", "a,A,carrier,USA,"], ":2: country 'USA'"),
        (
            ["id,name,kind,country,onboarded", "a,A,carrier,US,03/01/2020"],
            ":2: onboarded '03/01/2020'",
        ),
        (["id,name,kind,country,onboarded", ",A,carrier,US,"], ":2: empty id"),
        (
            ["id,name,kind,country,onboarded", "a,A,carrier,US,", "a,B,carrier,US,"],
            ":3: customer id 'a' repeats line 2",
        ),
    ],
)
def test_bad_customers_file(settings: Settings, write_cdr, lines: list[str], message: str) -> None:
    path = write_cdr("c.csv", lines)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        parse_customers_csv(path)


def test_cli(cli, data: Path) -> None:
    assert cli.json("customers", "import", str(data / "customers.csv"), "--json") == {
        "created": 4,
        "updated": 0,
        "unchanged": 0,
    }
    listed = cli.json("customers", "list", "--json")
    assert [c["id"] for c in listed] == ["bigfoot", "caprus", "pulse", "yodel"]
    assert listed[1]["onboarded"] == "2019-06-01"
    proc = cli.run("customers", "import", "nope.csv")
    assert proc.returncode == 1 and proc.stderr.startswith("Error: cannot read nope.csv")


def test_stores_open_from_many_threads(tmp_path: Path) -> None:
    """Opening (and migrating) stores from several threads at once works (the hub does it)."""
    from concurrent.futures import ThreadPoolExecutor

    from tracehop.settings import load_settings

    def open_one(i: int) -> int:
        store = open_store(load_settings(home=tmp_path / f"h{i}"))
        n = len(list_customers(store))
        store.close()
        return n

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(open_one, range(16))) == [0] * 16


def test_processes_opening_a_new_home_together(tmp_path: Path) -> None:
    """Three processes creating the same state DB at once: the migration runs once."""
    import subprocess
    import sys

    for trial in range(3):
        home = tmp_path / f"home{trial}"
        home.mkdir()  # the folder only: the state DB is made by the three at once
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tracehop",
                    "--home",
                    str(home),
                    "customers",
                    "list",
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
        assert [(r[2], r[0].strip()) for r in results] == [(0, "[]")] * 3, results
