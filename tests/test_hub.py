"""The hub's hop-by-hop walk, checked against the simulator's truth.

Each provider's node is its real tracehop home served by the real node app, reached in this
process through its ASGI interface (``tracehop.api.inprocess``; the ``sim_net`` fixture of
conftest.py). tests/test_hub_e2e.py does the same over real node processes. A few tests use
hand-written node answers for what the simulator never produces (a loop, review-first, broken
answers). The hub's clock is a ``FakeClock``: deadlines and back-offs take no real time.
"""

from __future__ import annotations

import csv
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tracehop.csvfiles import read_rows as read
from tracehop.errors import InputError, NotFoundError
from tracehop.settings import load_settings
from tracehop.store import Store, open_store
from tracehop.times import FakeClock
from tracehop.tracebacks.batch import read_complaints, trace_batch
from tracehop.tracebacks.directory import (
    import_blocks,
    import_directory,
    load_directory,
    npa_nxx,
)
from tracehop.tracebacks.hub import Hub, parse_deadline, trace
from tracehop.tracebacks.traces import get_trace, list_traces, summary

if TYPE_CHECKING:
    from conftest import SimNet

# The world (seed 1, scale 0.05, default scenario) has complaints that end at an origin, at a
# foreign entry (an unlisted foreign reseller and a foreign provider outside the consortium),
# at an unlisted US carrier, and at the non-responsive intermediate.
DEADLINE = 3.0  # fake seconds


@pytest.fixture
def hub_store(
    sim_net: SimNet, tmp_path: Path, state_db: Callable[[], str | None]
) -> Iterator[Store]:
    """A hub home with the directory, a node URL and token for every consortium member, and
    the number blocks, its state DB on SQLite, then on PostgreSQL. The non-responsive
    provider's node is down."""
    store = sim_net.hub_store(tmp_path / "hub", database_url=state_db())
    yield store
    store.close()


def make_hub(sim_net: SimNet, store: Store) -> Hub:
    return sim_net.hub(store, clock=FakeClock())


def expected_hops(sim_net: SimNet) -> dict[str, list[tuple[str, str, str]]]:
    """Truth per complaint: (provider, answer, named), cut at the first non-responsive hop."""
    want: dict[str, list[tuple[str, str, str]]] = {}
    for h in read(sim_net.world / "truth" / "complaint_hops.csv"):
        hops = want.setdefault(h["complaint_id"], [])
        if hops and hops[-1][1] == "no_response":
            continue
        if h["responsive"] == "false":
            hops.append((h["provider"], "no_response", ""))
        else:
            hops.append((h["provider"], h["answer"], h["named"]))
    return want


def test_every_complaint_is_traced_as_the_truth_says(sim_net: SimNet, hub_store: Store) -> None:
    truth = {r["complaint_id"]: r for r in read(sim_net.world / "truth" / "complaints.csv")}
    want = expected_hops(sim_net)
    with make_hub(sim_net, hub_store) as hub:
        result = trace_batch(hub, sim_net.world / "complaints.csv", workers=3, hop_timeout=DEADLINE)
    assert result.errors == []
    assert [t.reference for t in result.traces] == list(truth)  # file order
    outcomes = set()
    for t in result.traces:
        got = [(h.provider, h.answer, h.upstream or "") for h in t.hops]
        assert got == want[t.reference], t.reference
        exp = truth[t.reference]
        assert t.outcome == exp["outcome"], t.reference
        assert t.outcome_provider == exp["outcome_provider"]
        assert (t.outcome_customer or "") == exp["outcome_customer"]
        outcomes.add(t.outcome)
        # every hop is timed and kept with the node's own JSON
        for h in t.hops:
            assert h.asked_at <= (h.answered_at or h.asked_at) <= t.finished_at
            assert (h.raw is None) == (h.answer == "no_response")
            if h.raw is not None:
                assert h.raw["request_id"] == h.request_id == f"{t.trace_id}-{h.hop}"
    assert {"origin", "foreign_entry", "not_listed", "no_response"} <= outcomes
    silent = next(t for t in result.traces if t.outcome == "no_response")
    last = silent.hops[-1]
    assert last.answer == "no_response" and last.answered_at is None
    assert last.reason.startswith(f"cannot reach http://{last.provider}.node")
    assert last.attempts >= 2  # retried until the deadline
    assert (last.due_at - last.asked_at).total_seconds() == DEADLINE
    assert (silent.finished_at - last.asked_at).total_seconds() >= DEADLINE  # fake seconds
    # the gateway of a foreign entry is the provider that named the foreign upstream
    for t in result.traces:
        if t.outcome == "foreign_entry":
            assert t.gateway == t.outcome_provider
    # what was stored is what was returned
    stored = {t.trace_id: t.to_json() for t in list_traces(hub_store)}
    assert stored == {t.trace_id: t.to_json() for t in result.traces}


def test_summary_counts_per_provider(sim_net: SimNet, hub_store: Store) -> None:
    with make_hub(sim_net, hub_store) as hub:
        traces = trace_batch(
            hub, sim_net.world / "complaints.csv", workers=3, hop_timeout=DEADLINE
        ).traces
    rows = {r["provider"]: r for r in summary(hub_store)}
    for key in ("origin", "no_response", "foreign_entry", "not_listed"):
        ended = [t.outcome_provider for t in traces if t.outcome == key]
        assert sum(r[key] for r in rows.values()) == len(ended) > 0
        for pid in set(ended):
            assert rows[pid][key] == ended.count(pid)
    gateways = [t.gateway for t in traces if t.gateway]
    assert gateways and all(rows[g]["gateway"] == gateways.count(g) for g in set(gateways))
    asked = {h.provider for t in traces for h in t.hops}
    assert set(rows) == asked
    for pid in asked:
        assert rows[pid]["asked"] == sum(any(h.provider == pid for h in t.hops) for t in traces)
    silent = next(pid for pid in sim_net.down if pid in rows)
    assert rows[silent]["no_response"] == rows[silent]["asked"]


def test_a_refused_token_ends_the_hop_at_once(
    sim_net: SimNet, hub_store: Store, tmp_path: Path
) -> None:
    c = read(sim_net.world / "complaints.csv")[0]
    start = load_blocks_owner(hub_store, c["called"])
    nodes = tmp_path / "wrong.csv"
    rows = read(sim_net.nodes_csv)
    with nodes.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "node_url", "token"])
        for r in rows:
            token = "not-what-the-node-issued" if r["id"] == start else r["token"]
            w.writerow([r["id"], r["node_url"], token])
    import_directory(hub_store, sim_net.world / "directory.csv", nodes)
    clock = FakeClock()
    with sim_net.hub(hub_store, clock=clock) as hub:
        t = trace(hub, c["caller_id"], c["called"], f"{c['date']}T{c['time_utc']}Z", hop_timeout=30)
    assert clock.slept == []  # not retried until the 30 s deadline
    assert t.outcome == "no_response" and t.outcome_provider == start
    assert [(h.answer, h.http_status, h.attempts) for h in t.hops] == [("no_response", 401, 1)]
    assert t.reason == (
        "refused: HTTP 401: a valid token is required: Authorization: Bearer <token>"
    )


def load_blocks_owner(store: Store, called: str) -> str:
    from tracehop.tracebacks.directory import load_blocks

    return load_blocks(store)[npa_nxx(called)]


def test_start_at_and_no_start(sim_net: SimNet, hub_store: Store) -> None:
    hops = expected_hops(sim_net)
    c = next(c for c in read(sim_net.world / "complaints.csv") if len(hops[c["complaint_id"]]) >= 2)
    second = hops[c["complaint_id"]][1][0]
    at = f"{c['date']}T{c['time_utc']}Z" if c["time_utc"] else c["date"]
    with make_hub(sim_net, hub_store) as hub:
        t = trace(hub, c["caller_id"], c["called"], at, start_at=second, hop_timeout=DEADLINE)
        assert t.start_provider == second and t.hops[0].provider == second
        assert [(h.provider, h.answer) for h in t.hops] == [
            (p, a) for p, a, _ in hops[c["complaint_id"]][1:]
        ]
        t = trace(hub, c["caller_id"], "+442079460000", at)
        assert (t.outcome, t.hops) == ("no_start", [])
        assert (
            t.reason == "no number block for '+442079460000' (not a NANP number): give --start-at"
        )
        t = trace(hub, c["caller_id"], c["called"], at, start_at="nobody")
        assert (t.outcome, t.reason) == ("no_start", "nobody is not in the directory")
    assert get_trace(hub_store, t.trace_id).to_json() == t.to_json()
    with pytest.raises(NotFoundError):
        get_trace(hub_store, "tb-none")


# --- hand-written node answers: what the simulator does not produce ----------------------------


def scripted(answers: dict[str, Callable[[httpx.Request], httpx.Response]]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda r: answers[r.url.host.removesuffix(".node")](r))


def hop_json(request: httpx.Request, answer: str, upstream: str | None, **extra: object) -> dict:
    rid = json.loads(request.content)["request_id"] if request.content else request.url.path
    return {"request_id": rid, "answer": answer, "upstream": upstream, "confidence": 1.0,
            "needs_review": False, "matches": [], **extra}  # fmt: skip


@pytest.fixture
def tiny_hub(tmp_path: Path, state_db: Callable[[], str | None]) -> Iterator[Store]:
    """Four US providers and one foreign one, each with a node; one number block."""
    d = tmp_path / "dir.csv"
    d.write_text(
        "id,name,country,in_consortium,node_url,token\n"
        "term,Term,US,true,http://term.node,t1\n"
        "mid,Mid,US,true,http://mid.node,t2\n"
        "gw,Gateway,US,true,http://gw.node,t3\n"
        "abroad,Abroad,GB,true,http://abroad.node,t4\n"
        "quiet,Quiet,US,true,,\n"
    )
    b = tmp_path / "blocks.csv"
    b.write_text("npa_nxx,provider,use\n212555,term,subscribers\n")
    store = open_store(load_settings(home=tmp_path / "hubhome", database_url=state_db()))
    import_directory(store, d)
    import_blocks(store, b)
    yield store
    store.close()


def test_a_provider_named_twice_ends_the_trace(tiny_hub: Store) -> None:
    transport = scripted(
        {
            "term": lambda r: httpx.Response(200, json=hop_json(r, "received_from", "mid")),
            "mid": lambda r: httpx.Response(200, json=hop_json(r, "received_from", "term")),
        }
    )
    with Hub(tiny_hub, clock=FakeClock(), transport=transport) as hub:
        t = trace(hub, "2025550143", "212-555-1234", "2025-03-03T16:50:00Z", hop_timeout=1)
    assert [h.provider for h in t.hops] == ["term", "mid"]
    assert (t.outcome, t.outcome_provider, t.outcome_customer) == ("loop", "mid", "term")


def test_foreign_member_origin_names_the_gateway(tiny_hub: Store) -> None:
    transport = scripted(
        {
            "term": lambda r: httpx.Response(200, json=hop_json(r, "received_from", "gw")),
            "gw": lambda r: httpx.Response(200, json=hop_json(r, "received_from", "abroad")),
            "abroad": lambda r: httpx.Response(200, json=hop_json(r, "origin", "acme-callers")),
        }
    )
    with Hub(tiny_hub, clock=FakeClock(), transport=transport) as hub:
        t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=1)
    assert (t.outcome, t.outcome_provider, t.outcome_customer) == (
        "origin",
        "abroad",
        "acme-callers",
    )
    assert t.to_json()["origin_provider"] == "abroad" and t.gateway == "gw"
    assert t.to_json()["at"] == "2025-03-03"
    assert [h.raw["request_id"] for h in t.hops] == [f"{t.trace_id}-{i}" for i in (1, 2, 3)]


def test_member_without_node_and_unlisted_upstreams(tiny_hub: Store) -> None:
    def answers(
        up: str | None, kind: str = "received_from", country: str = "US"
    ) -> httpx.MockTransport:
        return scripted(
            {
                "term": lambda r: httpx.Response(
                    200, json=hop_json(r, kind, up, customer={"id": up, "country": country})
                )
            }
        )

    cases = [
        (answers("quiet"), ("no_node", "quiet", None)),
        (answers(None, "not_found"), ("not_found", "term", None)),
        (answers("cheap-us", "provider_not_listed"), ("not_listed", "term", "cheap-us")),
        (answers("far-away", "provider_not_listed", "PK"), ("foreign_entry", "term", "far-away")),
        # a node without the directory says received_from; the hub still knows better
        (answers("far-away", "received_from", "PK"), ("foreign_entry", "term", "far-away")),
    ]
    for transport, want in cases:
        with Hub(tiny_hub, clock=FakeClock(), transport=transport) as hub:
            t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=1)
        assert (t.outcome, t.outcome_provider, t.outcome_customer) == want
    assert t.gateway == "term"


def test_review_first_node_is_polled_until_it_answers(tiny_hub: Store) -> None:
    polls = []

    def term(r: httpx.Request) -> httpx.Response:
        if r.method == "POST":
            return httpx.Response(202, json={"request_id": "x", "status": "pending_review"})
        polls.append(r.url.path)
        if len(polls) < 3:
            return httpx.Response(202, json={"status": "pending_review"})
        return httpx.Response(200, json=hop_json(r, "origin", "acme", needs_review=True))

    with Hub(tiny_hub, clock=FakeClock(), transport=scripted({"term": term})) as hub:
        t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=10)
    assert t.outcome == "origin" and t.needs_review and t.hops[0].attempts == 4
    assert polls == [f"/api/v1/tracebacks/requests/{t.trace_id}-1"] * 3


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, text="<html>"), "the node's answer is not JSON"),
        (
            httpx.Response(200, json={"answer": "maybe"}),
            "the node's answer 'maybe' is not one of the four hop answers",
        ),
        (
            httpx.Response(200, json={"answer": "origin", "upstream": None}),
            "the node answered origin without naming the upstream",
        ),
        (
            httpx.Response(422, json={"ok": False, "error": "caller: too long", "status": 422}),
            "HTTP 422: caller: too long",
        ),
    ],
)
def test_unusable_answers_are_no_response_with_the_reason(
    tiny_hub: Store, response: httpx.Response, reason: str
) -> None:
    with Hub(tiny_hub, clock=FakeClock(), transport=scripted({"term": lambda _r: response})) as hub:
        t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=5)
    assert (t.outcome, t.reason, t.hops[0].attempts) == ("no_response", reason, 1)


def test_a_server_error_is_retried_until_the_deadline(tiny_hub: Store) -> None:
    calls = []

    def term(_r: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"ok": False, "error": "state DB busy", "status": 503})

    with Hub(tiny_hub, clock=FakeClock(), transport=scripted({"term": term})) as hub:
        t = trace(hub, "2025550143", "2125551234", "2025-03-03", hop_timeout=1)
    assert t.outcome == "no_response" and t.reason == "HTTP 503: state DB busy"
    assert len(calls) >= 3 and t.hops[0].http_status == 503


def test_a_node_that_never_answers_is_no_response_at_the_deadline(
    tiny_hub: Store, tmp_path: Path
) -> None:
    """A real socket that accepts the connection and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    d = tmp_path / "slow.csv"
    d.write_text(f"id,name,country,node_url,token\nterm,Term,US,http://127.0.0.1:{port},t1\n")
    import_directory(tiny_hub, d)
    try:
        with Hub(tiny_hub) as hub:  # a real socket: the real clock, a short deadline
            t = trace(hub, "2025550143", "2125551234", "2025-03-03T16:50Z", hop_timeout=0.5)
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        listener.close()
    assert (t.outcome, t.outcome_provider, t.reason) == (
        "no_response",
        "term",
        "no answer within 0.5 s",
    )
    h = get_trace(tiny_hub, t.trace_id).hops[0]
    assert (h.answer, h.answered_at, h.raw) == ("no_response", None, None)
    assert round((h.due_at - h.asked_at).total_seconds(), 3) == 0.5


# --- directory, blocks, complaints --------------------------------------------------------------


def test_directory_import_validates_and_keeps_tokens_secret(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "h")
    store = open_store(settings)
    d = tmp_path / "d.csv"
    d.write_text("id,name,country\nterm,Term,US\ngw,Gateway,us\n")
    n = tmp_path / "n.csv"
    n.write_text("id,node_url,token\nterm,https://tb.term.example/,s3cret\n")
    assert import_directory(store, d, n).to_json() == {"created": 2, "updated": 0, "nodes": 1}
    p = load_directory(store, settings)
    assert p["term"].node_url == "https://tb.term.example" and p["term"].token == "s3cret"
    assert p["term"].to_json()["token"] == "set" and p["gw"].to_json()["token"] is None
    assert "s3cret" not in repr(p["term"])
    assert p["gw"].country == "US" and p["gw"].in_consortium
    # without the hub's settings (listings, the API) the token is not even decrypted
    listed = load_directory(store)["term"]
    assert (listed.token, listed.has_token, listed.to_json()["token"]) == (None, True, "set")
    # a second import without --nodes keeps the node and its token
    assert import_directory(store, d).to_json() == {"created": 0, "updated": 2, "nodes": 0}
    assert load_directory(store, settings)["term"].token == "s3cret"
    bad = [
        ("id,name\nx,X\n", None, "a provider directory needs the columns id, name, country"),
        ("id,name,country\nx,X,USA\n", None, "country 'USA' is not an ISO-2 code"),
        ("id,name,country\nx,X,US\nx,Y,US\n", None, ":3: provider 'x' is listed twice"),
        ("id,name,country,in_consortium\nx,X,US,maybe\n", None, "in_consortium 'maybe'"),
        ("id,name,country\nx,X,US\n", "id,node_url\nx,ftp://x\n", "is not an http(s) URL"),
        ("id,name,country\nx,X,US\n", "id,node_url\ny,http://y\n", "not in the directory: y"),
    ]
    for text, nodes, message in bad:
        d.write_text(text)
        if nodes:
            n.write_text(nodes)
        with pytest.raises(InputError) as err:
            import_directory(store, d, n if nodes else None)
        assert message in err.value.message
    assert set(load_directory(store)) == {"term", "gw"}  # nothing half-imported
    b = tmp_path / "b.csv"
    b.write_text("npa_nxx,provider\n21255,term\n")
    with pytest.raises(InputError, match="is not six digits"):
        import_blocks(store, b)
    store.close()


def test_read_complaints_plain_csv_with_bad_rows(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text(
        "id,caller,called,at,description\n"
        "a,(202) 555-0143,212-555-1234,2025-03-03T16:50:00Z,IRS\n"
        "b,,2125551234,2025-03-03,\n"
        "c,2025550143,2125551234,yesterday,\n"
        "d,2025550143,2125551234,2025-03-03,x,extra\n"
        "e,+12025550143,2125551234,2025-03-04,\n"
    )
    good, bad = read_complaints(f)
    assert [(c.reference, c.line, str(c.at)) for c in good] == [
        ("a", 2, "2025-03-03 16:50:00+00:00"),
        ("e", 6, "2025-03-04"),
    ]
    assert [(e.line, e.reference, e.reason) for e in bad] == [
        (3, "b", "caller '' has no digits"),
        (4, "c", "time 'yesterday' is not ISO 8601: give e.g. 2025-03-03T16:50:00Z or 2025-03-03"),
        (5, "d", "more fields than the header"),
    ]
    f.write_text("who,when\n")
    with pytest.raises(InputError, match="complaints need the columns caller, called, at"):
        read_complaints(f)


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10), ("2.5", 2.5), ("5m", 300), ("24h", 86400), ("2d", 172800)]
)
def test_parse_deadline(text: str, seconds: float) -> None:
    assert parse_deadline(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "soon", "-1s"])
def test_parse_deadline_rejects(text: str) -> None:
    with pytest.raises(InputError, match="hop deadline"):
        parse_deadline(text)


def test_hub_api_serves_traces_and_summary_read_only(tiny_hub: Store, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tracehop.api.hub import create_hub_app

    transport = scripted(
        {
            "term": lambda r: httpx.Response(200, json=hop_json(r, "received_from", "gw")),
            "gw": lambda r: httpx.Response(200, json=hop_json(r, "origin", "acme")),
        }
    )
    with Hub(tiny_hub, clock=FakeClock(), transport=transport) as hub:
        t = trace(hub, "2025550143", "2125551234", "2025-03-03T16:50:00Z", reference="C1")
    assert tiny_hub.settings is not None
    app = create_hub_app(tiny_hub.settings.replace(hub_token="hub-secret"))
    with TestClient(app) as c:
        assert c.get("/api/v1/health").json() == {"ok": True, "role": "hub"}
        assert c.get("/api/v1/traces").json() == {
            "ok": False,
            "error": "a valid token is required: Authorization: Bearer <token>",
            "status": 401,
        }
        auth = {"Authorization": "Bearer hub-secret"}
        listed = c.get("/api/v1/traces", headers=auth).json()
        assert listed == [t.to_json(raw=False)]
        assert c.get(f"/api/v1/traces/{t.trace_id}", headers=auth).json() == t.to_json()
        missing = c.get("/api/v1/traces/tb-none", headers=auth)
        assert missing.status_code == 404 and missing.json()["ok"] is False
        rows = {r["provider"]: r for r in c.get("/api/v1/summary", headers=auth).json()}
        assert (rows["gw"]["origin"], rows["term"]["asked"], rows["term"]["origin"]) == (1, 1, 0)
        providers = c.get("/api/v1/providers", headers=auth).json()
        assert {p["id"]: p["token"] for p in providers}["term"] == "set"  # never the secret
        assert c.post("/api/v1/traces", headers=auth).status_code == 405
