"""The traceback responder, checked against the simulator's truth (one home per provider)."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.cdr.ingest import ingest
from tracehop.csvfiles import read_rows as read
from tracehop.customers import import_customers, parse_customers_csv
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings
from tracehop.simulate import simulate
from tracehop.store import open_store
from tracehop.tracebacks import answer_batch, load_known_providers, lookup
from tracehop.tracebacks.answers import stored_answers
from tracehop.tracebacks.protocol import parse_at, parse_window
from tracehop.tracebacks.requests import make_request, parse_requests_bytes, parse_requests_csv

# The "notice" scenario has the most complaints for its size; seed 5 gives date-only ones and
# mistyped caller IDs (not_found) among them.
SEED, SCALE, SCENARIO = 5, 0.1, "notice"


@dataclass
class World:
    out: Path
    homes: Path
    known: set[str]
    urls: dict[str, str | None]  # each home's state DB: its SQLite file or a PostgreSQL DB

    def env(self, provider: str) -> dict[str, str]:
        """The environment a ``tracehop`` process needs to find that home's state DB."""
        url = self.urls[provider]
        return {"TRACEHOP_DATABASE_URL": url} if url else {}

    def settings(self, provider: str) -> Settings:
        home = self.homes / provider
        return load_settings(home=home, provider=provider, database_url=self.urls[provider])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, state_db: Callable[[], str | None]) -> World:
    """A small simulated network, every provider's CDRs and customers in its own home; the
    homes' state DBs on SQLite, then on PostgreSQL (``state_db``)."""
    base = tmp_path_factory.mktemp("tb")
    out = base / "world"
    simulate(out, seed=SEED, days=1, scale=SCALE, scenario=SCENARIO)
    urls: dict[str, str | None] = {}
    for row in read(out / "directory.csv"):
        urls[row["id"]] = url = state_db()
        s = load_settings(home=base / "homes" / row["id"], provider=row["id"], database_url=url)
        store = open_store(s)
        import_customers(store, parse_customers_csv(out / "customers" / f"{row['id']}.csv"))
        result = ingest([out / row["cdr_file"]], s, provider=row["id"], store=store)
        store.close()
        assert result.rows_rejected == 0
    return World(out, base / "homes", load_known_providers(out / "directory.csv"), urls)


def own_call_id(call: dict[str, str], provider: str) -> str:
    """The provider's own call id for a truth call (call_ids are in path order)."""
    path = call["path"].split(">")
    return call["call_ids"].split("|")[path.index(provider)]


def test_complaint_hops_match_the_truth(world: World) -> None:
    complaints = {c["complaint_id"]: c for c in read(world.out / "complaints.csv")}
    truth = {c["complaint_id"]: c for c in read(world.out / "truth" / "complaints.csv")}
    calls = {c["call"]: c for c in read(world.out / "truth" / "calls.csv")}
    by_provider: dict[str, list[tuple[object, dict[str, str]]]] = {}
    for hop in read(world.out / "truth" / "complaint_hops.csv"):
        c = complaints[hop["complaint_id"]]
        at = f"{c['date']}T{c['time_utc']}Z" if c["time_utc"] else c["date"]
        req = make_request(f"{hop['complaint_id']}-{hop['hop']}", c["caller_id"], c["called"], at)
        by_provider.setdefault(hop["provider"], []).append((req, hop))
    n = Counter()
    for provider, items in by_provider.items():
        answers = answer_batch(
            world.settings(provider), [r for r, _ in items], known_providers=world.known
        )
        for a, (req, hop) in zip(answers, items, strict=True):
            if hop["answer"] == "not_found":
                n["not_found"] += 1
                n["not_found_ok"] += a.answer == "not_found" and a.matches == []
            elif req.date_only:
                call = calls[truth[hop["complaint_id"]]["call"]]
                n["date"] += 1
                n["date_ok"] += own_call_id(call, provider) in {m["call_id"] for m in a.matches}
            else:
                n["timed"] += 1
                n["timed_ok"] += (a.answer, a.upstream) == (hop["answer"], hop["named"])
    assert n["timed"] >= 30 and n["date"] >= 5 and n["not_found"] >= 1
    assert n["timed_ok"] >= 0.99 * n["timed"]
    assert n["date_ok"] == n["date"]
    assert n["not_found_ok"] == n["not_found"]


def _formats(number: str, rng: random.Random) -> str:
    """The same number as people and switches write it."""
    if not number.startswith("+1") or len(number) != 12:
        return number
    d = number[2:]
    return rng.choice(
        [number, f"({d[:3]}) {d[3:6]}-{d[6:]}", d, f"1-{d[:3]}-{d[3:6]}-{d[6:]}", f"1{d}"]
    )


def test_sampled_calls_at_every_hop(world: World) -> None:
    """Every provider on the path of 150 random calls, asked three ways: with the reported
    minute (right upstream and answer), with the date only (the right call in matches), and
    with a mistyped caller ID (not_found)."""
    rng = random.Random(7)
    customers = {r["id"]: r for r in read(world.out / "truth" / "customers.csv")}
    calls = [c for c in read(world.out / "truth" / "calls.csv") if c["caller"].startswith("+")]
    asks: dict[str, list[tuple[object, str, str, str]]] = {}
    for call in rng.sample(calls, 150):
        path = call["path"].split(">")
        minute = call["start"][:16] + "Z"
        for i, provider in enumerate(path):
            upstream = path[i - 1] if i else call["customer"]
            if i:
                want = "received_from" if upstream in world.known else "provider_not_listed"
            else:  # the first provider's own customer; a reseller is an unlisted carrier
                kind = customers[upstream]["kind"]
                want = "provider_not_listed" if kind == "carrier" else "origin"
            caller, called = _formats(call["caller"], rng), _formats(call["called"], rng)
            mine = own_call_id(call, provider)
            key = f"{call['call']}-{i}"
            items = asks.setdefault(provider, [])
            items.append((make_request("T" + key, caller, called, minute), "timed", want, upstream))
            items.append(
                (make_request("D" + key, caller, called, call["start"][:10]), "date", mine, "")
            )
            typo = (
                call["caller"][:-3]
                + f"{(int(call['caller'][-3:]) + 1 + rng.randrange(998)) % 1000:03d}"
            )
            items.append((make_request("N" + key, typo, called, minute), "typo", "", ""))
    n = Counter()
    for provider, items in asks.items():
        answers = answer_batch(
            world.settings(provider), [x[0] for x in items], known_providers=world.known
        )
        for a, (_req, kind, want, upstream) in zip(answers, items, strict=True):
            n[kind] += 1
            if kind == "timed":
                n["timed_ok"] += (a.answer, a.upstream) == (want, upstream)
                n["timed_auto"] += not a.needs_review
            elif kind == "date":
                n["date_ok"] += want in {m["call_id"] for m in a.matches}
                n["date_top"] += bool(a.matches) and a.matches[0]["call_id"] == want
            else:
                n["typo_ok"] += a.answer == "not_found"
    assert n["timed"] > 500
    assert n["timed_ok"] >= 0.99 * n["timed"]
    assert n["timed_auto"] >= 0.95 * n["timed"]  # certain matches are not sent to review
    assert n["date_ok"] == n["date"]
    assert n["typo_ok"] >= 0.99 * n["typo"]


def test_evidence_and_record_of_one_answer(world: World) -> None:
    kinds = {r["id"]: r["kind"] for r in read(world.out / "truth" / "customers.csv")}
    call = next(
        c
        for c in read(world.out / "truth" / "calls.csv")
        if c["attest"] and kinds[c["customer"]] == "enterprise" and c["hops"] == "4"
    )
    first = call["path"].split(">")[0]
    s = world.settings(first)
    received = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
    req = make_request("rec-1", call["caller"], call["called"], call["start"])
    a = lookup(s, req, received_at=received)
    assert (a.answer, a.upstream) == ("origin", call["customer"])
    assert a.customer is not None and a.customer["id"] == call["customer"]
    assert a.confidence == 1.0 and a.needs_review is False
    m = a.matches[0]
    assert m["call_id"] == own_call_id(call, first)
    assert (m["caller"], m["called"]) == (call["caller"], call["called"])
    assert m["upstream"] == call["customer"] and m["downstream"] == call["path"].split(">")[1]
    assert set(m) >= {
        "start",
        "disposition",
        "duration",
        "attest",
        "orig_id",
        "source_file",
        "source_line",
    }
    assert a.due_at == received + timedelta(hours=24)  # 64.1200(n)(1)
    # answering again updates the answer and keeps the first receipt and due time
    again = lookup(s, req, received_at=received + timedelta(hours=3))
    assert again.received_at == received and again.due_at == a.due_at
    store = open_store(s)
    try:
        rows = [r for r in stored_answers(store) if r["request_id"] == "rec-1"]
    finally:
        store.close()
    assert len(rows) == 1
    row = rows[0]
    assert (row["answer"], row["upstream"], row["status"]) == (
        "origin",
        call["customer"],
        "answered",
    )
    assert row["times_answered"] == 2
    assert row["received_at"] == received and row["due_at"] == received + timedelta(hours=24)
    assert row["matches"][0]["call_id"] == m["call_id"]


def test_directory_decides_received_from_or_not_listed(world: World) -> None:
    """A foreign provider outside the consortium reaches a gateway: provider_not_listed with
    the hub's directory, received_from without one."""
    directory = {r["id"]: r for r in read(world.out / "directory.csv")}
    call = next(
        c
        for c in read(world.out / "truth" / "calls.csv")
        if directory[c["path"].split(">")[0]]["in_consortium"] == "false"
    )
    path = call["path"].split(">")
    s = world.settings(path[1])
    req = make_request("dir-1", call["caller"], call["called"], call["start"])
    with_dir = lookup(s, req, known_providers=world.known)
    assert (with_dir.answer, with_dir.upstream) == ("provider_not_listed", path[0])
    without = lookup(s, req.model_copy(update={"request_id": "dir-2"}))
    assert (without.answer, without.upstream) == ("received_from", path[0])


def test_empty_lake_is_not_found_for_review(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path / "h")
    a = lookup(s, make_request("e1", "2025550143", "2125551234", "2025-03-03T10:00Z"))
    assert (a.answer, a.needs_review) == ("not_found", True)
    assert "no calls at all" in a.reason


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-03", date(2025, 3, 3)),
        ("2025-03-03T16:50Z", datetime(2025, 3, 3, 16, 50, tzinfo=UTC)),
        ("2025-03-03 11:50-05:00", datetime(2025, 3, 3, 16, 50, tzinfo=UTC)),
        ("2025-03-03T16:50:07", datetime(2025, 3, 3, 16, 50, 7, tzinfo=UTC)),  # naive = UTC
    ],
)
def test_parse_at(text: str, expected: object) -> None:
    assert parse_at(text) == expected


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("90s", 90), ("1h", 3600), ("120", 120), ("2.5 min", 150)]
)
def test_parse_window(text: str, seconds: int) -> None:
    assert parse_window(text).total_seconds() == seconds


HEADER = "request_id,caller,called,at,description\n"


def test_bad_rows_are_reported_with_their_line_and_the_rest_is_read() -> None:
    text = HEADER + (
        "ok1,(202) 555-0143,212-555-1234,2025-03-03T16:50Z,fine\n"
        "bad1,abc,2125551234,2025-03-03,no digits\n"
        "bad2,2025550143,2125551234,yesterday,\n"
        "\n"
        "bad3,2025550143\n"
        "ok2,2025550143,2125551234,2025-03-03\n"
        "ok1,2025550143,2125551234,2025-03-03,again\n"
        "bad4,1,2,2025-03-03,x,y\n"
        ',2025550143,2125551234,2025-03-03,""\n'
        'q1,"2025550143,2125551234,2025-03-03\n'
        "ok3,2025550143,2125551234,2025-03-03\r\n"
    )
    parsed = parse_requests_bytes(text.encode(), "r.csv")
    assert [(line, r.request_id) for line, r in parsed.requests] == [
        (2, "ok1"),
        (7, "ok2"),
        (12, "ok3"),
    ]
    assert [(e.line, e.request_id, e.reason) for e in parsed.errors] == [
        (3, "bad1", "caller 'abc' has no digits: give a phone number"),
        (
            4,
            "bad2",
            "time 'yesterday' is not ISO 8601: give e.g. 2025-03-03T16:50:00Z or 2025-03-03",
        ),
        (6, "bad3", "called '' has no digits: give a phone number"),
        (8, "ok1", "request_id repeats line 2"),
        (9, "bad4", "expected 5 fields (request_id, caller, called, at, description), found 6"),
        (10, None, "request_id is empty"),
        (11, None, "not readable as CSV: a quoted value does not end on its line"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "r.csv: empty file (columns: request_id, caller, called, at)"),
        (
            b"request_id,caller,at\nx,1,2025-03-03\n",
            "r.csv: header lacks called (columns: request_id, caller, called, at, description, window)",
        ),
        (HEADER.encode() + b"x,\xff\xfe,1,2025-03-03,\n", "r.csv:2: not UTF-8 text"),
    ],
)
def test_unreadable_request_files_are_one_clear_error(content: bytes, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_requests_bytes(content, "r.csv")
    assert err.value.message == message


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        parse_requests_csv(tmp_path / "nope.csv")
    assert err.value.message.startswith(f"cannot read {tmp_path / 'nope.csv'}")


cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2025-03-03", "2025-03-03T10:00Z", "(202) 555-0143", "", '"', "a,b", "\n"]),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=7), max_size=12))
def test_random_rows_never_crash_and_every_row_is_accounted_for(rows: list[list[str]]) -> None:
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["request_id", "caller", "called", "at", "description"])
    for r in rows:
        writer.writerow(r)
    text = buf.getvalue().replace("\x00", "")
    try:
        parsed = parse_requests_bytes(text.encode("utf-8", "surrogatepass"), "r.csv")
    except InputError as exc:
        assert exc.message.startswith("r.csv")
        return
    except UnicodeEncodeError:
        return
    lines = {line for line, _ in parsed.requests} | {e.line for e in parsed.errors}
    assert len(lines) == len(parsed.requests) + len(parsed.errors)  # one outcome per row
    assert all(e.reason and "\n" not in e.reason for e in parsed.errors)
    assert all(1 < line <= len(text.splitlines()) + 1 for line in lines)
    for _, req in parsed.requests:
        assert req.request_id and req.caller and req.called


# --- the command, through a real process ----------------------------------------------------


def test_cli_lookup_json(world: World, cli) -> None:
    call = next(c for c in read(world.out / "truth" / "calls.csv") if c["hops"] == "5")
    last = call["path"].split(">")[-1]
    cli.home = world.homes / last
    d = call["called"][2:]
    proc = cli.run(
        "trace",
        "lookup",
        "--caller",
        call["caller"],
        "--called",
        f"({d[:3]}) {d[3:6]}-{d[6:]}",
        "--at",
        call["start"][:16] + "Z",
        "--window",
        "2m",
        "--directory",
        str(world.out / "directory.csv"),
        "--json",
        env=world.env(last),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["answer"] == "received_from"
    assert data["upstream"] == call["path"].split(">")[-2]
    assert data["needs_review"] is False and data["confidence"] == 1.0
    assert data["matches"][0]["call_id"] == own_call_id(call, last)
    assert data["due_at"].endswith("Z")
    proc = cli.run(
        "trace",
        "lookup",
        "--caller",
        "x",
        "--called",
        "2125551234",
        "--at",
        "2025-03-03",
        env=world.env(last),
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Error: caller 'x' has no digits: give a phone number"


def test_cli_answer_csv_with_a_bad_row(world: World, cli, tmp_path: Path) -> None:
    call = next(c for c in read(world.out / "truth" / "calls.csv") if c["hops"] == "4")
    last = call["path"].split(">")[-1]
    cli.home = world.homes / last
    requests = tmp_path / "req.csv"
    other = call["called"][:-1] + str((int(call["called"][-1]) + 1) % 10)
    requests.write_text(
        HEADER
        + f"a1,{call['caller']},{call['called']},{call['start']},complaint\n"
        + "a2,2025550143,2125551234,03/03/2025,bad time\n"
        + f"a3,{call['caller']},{other},{call['start'][:10]},no such call\n"
    )
    out = tmp_path / "answers.json"
    proc = cli.run(
        "trace", "answer", str(requests), "--json", "--out", str(out), env=world.env(last)
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == data
    assert [(e["request_id"], e["answer"]) for e in data] == [
        ("a1", "received_from"),
        ("a2", "error"),
        ("a3", "not_found"),
    ]
    assert data[0]["upstream"] == call["path"].split(">")[-2]
    assert data[1]["line"] == 3 and "03/03/2025" in data[1]["error"]
    assert proc.stderr.strip() == (
        f"{requests}:3: time '03/03/2025' is not ISO 8601: give e.g. 2025-03-03T16:50:00Z "
        "or 2025-03-03"
    )
    missing = tmp_path / "missing.csv"
    missing.write_text("request_id,caller,at\n")
    proc = cli.run("trace", "answer", str(missing))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(f"Error: {missing}: header lacks called")


# --- ranking and review on a hand-made lake -------------------------------------------------


@pytest.fixture
def small_home(tmp_path: Path, write_cdr) -> Settings:
    """Two redials of one call a minute apart through different upstreams, an enterprise's
    call, an unknown trunk's call, and a caller ID without an E.164 form."""
    cdr = write_cdr(
        "cdr.csv",
        [
            "call_id,start,caller,called,upstream,downstream,duration,disposition",
            "x-1,2025-03-04T15:00:10Z,2025550143,2125551234,carrier-a,term,0,no_answer",
            "x-2,2025-03-04T15:01:30Z,2025550143,2125551234,carrier-b,term,40,answered",
            "x-3,2025-03-04T16:00:00Z,3125550100,2125551234,acme,term,90,answered",
            "x-4,2025-03-04T17:00:00Z,3125550100,2125550000,mystery,term,90,answered",
            "x-5,2025-03-04T18:00:00Z,025550143,2125551234,acme,term,5,answered",
            "x-6,2025-03-05T01:00:00Z,3125550100,2125559999,acme,term,5,answered",
        ],
    )
    people = write_cdr(
        "customers.csv",
        [
            "id,name,kind,country,onboarded",
            "carrier-a,Carrier A,carrier,US,2020-01-01",
            "carrier-b,Carrier B,carrier,US,2020-01-01",
            "acme,Acme Corp,enterprise,US,2021-05-01",
        ],
    )
    s = load_settings(home=tmp_path / "small")
    store = open_store(s)
    import_customers(store, parse_customers_csv(people))
    store.close()
    assert ingest([cdr], s).rows_ingested == 6
    return s


def test_several_upstreams_need_review(small_home: Settings) -> None:
    a = lookup(small_home, make_request("m1", "202-555-0143", "212 555 1234", "2025-03-04T15:00Z"))
    assert (a.answer, a.upstream) == ("received_from", "carrier-a")  # closest first
    assert [m["call_id"] for m in a.matches] == ["x-1", "x-2"]
    assert a.needs_review is True and 0 < a.confidence < 0.8
    assert a.reason == "other upstreams also match: carrier-b"
    # a narrow window leaves only the closest call: certain
    b = lookup(
        small_home,
        make_request("m2", "2025550143", "2125551234", "2025-03-04T15:00Z", window="30s"),
    )
    assert [m["call_id"] for m in b.matches] == ["x-1"]
    assert (b.needs_review, b.confidence) == (False, 1.0)
    # date only: answered call first, both shown, review
    c = lookup(small_home, make_request("m3", "2025550143", "2125551234", "2025-03-04"))
    assert [m["call_id"] for m in c.matches] == ["x-2", "x-1"]
    assert (c.upstream, c.needs_review) == ("carrier-b", True)


@pytest.mark.parametrize("order", [("carrier-z", "carrier-a"), ("carrier-a", "carrier-z")])
def test_one_call_seen_from_two_upstreams_has_one_answer(
    tmp_path: Path, write_cdr, order: tuple[str, str]
) -> None:
    """The same call id at the same second from two upstreams (a lake holding two providers'
    CDRs of one call): the answer does not depend on which was stored first (DuckDB and Spark
    returned such ties in different orders)."""
    s = load_settings(home=tmp_path / "home")
    for i, upstream in enumerate(order):
        cdr = write_cdr(
            f"cdr-{i}.csv",
            [
                "call_id,start,caller,called,upstream,downstream,duration,disposition",
                f"same-1,2025-03-04T15:00:10Z,2025550143,2125551234,{upstream},term,30,answered",
            ],
        )
        assert ingest([cdr], s).rows_ingested == 1
    for request in (
        make_request("t1", "2025550143", "2125551234", "2025-03-04T15:00Z"),
        make_request("t2", "2025550143", "2125551234", "2025-03-04"),
    ):
        a = lookup(s, request)
        assert [m["upstream"] for m in a.matches] == ["carrier-a", "carrier-z"], request
        assert (a.upstream, a.needs_review) == ("carrier-a", True)


def test_origin_unknown_trunk_and_raw_caller(small_home: Settings) -> None:
    a = lookup(small_home, make_request("o1", "3125550100", "2125551234", "2025-03-04T16:00Z"))
    assert (a.answer, a.upstream, a.needs_review) == ("origin", "acme", False)
    assert a.customer is not None and a.customer["kind"] == "enterprise"
    b = lookup(small_home, make_request("o2", "3125550100", "2125550000", "2025-03-04T17:00Z"))
    assert (b.answer, b.upstream, b.needs_review) == ("origin", "mystery", True)
    assert b.reason == "upstream 'mystery' has no customer record"
    assert b.confidence <= 0.5
    known = lookup(
        small_home,
        make_request("o3", "3125550100", "2125550000", "2025-03-04T17:00Z"),
        known_providers={"mystery"},
    )
    assert (known.answer, known.needs_review) == ("received_from", False)
    raw = lookup(small_home, make_request("o4", "025550143", "2125551234", "2025-03-04T18:00Z"))
    assert (raw.answer, raw.upstream) == ("origin", "acme")
    assert raw.matches[0]["call_id"] == "x-5" and raw.matches[0]["caller"] is None
    # 20:00 in New York is the next UTC day: the right partition is searched
    late = lookup(
        small_home, make_request("o6", "3125550100", "2125559999", "2025-03-04T20:00-05:00")
    )
    assert [m["call_id"] for m in late.matches] == ["x-6"]
    assert late.matches[0]["seconds_off"] == 0.0
    none = lookup(small_home, make_request("o5", "3125550100", "2125551234", "2025-03-04T18:00Z"))
    assert (none.answer, none.needs_review, none.matches) == ("not_found", False, [])


def test_batch_join_gives_the_same_answers_as_one_by_one(world: World) -> None:
    """answer_many (one join for the whole batch) and answer (one query each) agree."""
    from tracehop.store import open_store
    from tracehop.tracebacks.responder import Responder

    rng = random.Random(11)
    calls = [c for c in read(world.out / "truth" / "calls.csv") if c["caller"].startswith("+")]
    by_provider: dict[str, list] = {}
    for j, call in enumerate(rng.sample(calls, 60)):
        provider = call["path"].split(">")[-1]
        at = call["start"][:16] + "Z" if j % 3 else call["start"][:10]
        by_provider.setdefault(provider, []).append(
            make_request(f"B{j}", call["caller"], call["called"], at)
        )
    for provider, reqs in by_provider.items():
        settings = world.settings(provider)
        store = open_store(settings)
        responder = Responder(settings, store, known_providers=world.known)
        try:
            batch = [a.to_json() for a in responder.answer_many(reqs)]
            single = [responder.answer(r).to_json() for r in reqs]
        finally:
            responder.close()
            store.close()
        assert batch == single
