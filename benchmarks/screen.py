"""Screening benchmark (issue 12): decisions per second of the engine in-process, with 1 M DNO
numbers, 100 k caller-ID rules and 1,000 customer rules loaded through the state DB, and the
memory of the index. In the same run:
- tracehop: ``Screener.decide`` alone, and as served (metrics and the audit log on);
- baseline: the same three lookups (caller-ID rule, DNO list, customer rule) as one indexed
  SQLite query each per call, what a per-call database lookup costs;
- SIP: parsing an INVITE and reading the fields the redirect server needs, with tracehop's
  parser and with ``sipmessage`` (PyPI), and the redirect server's whole answer to one INVITE (``RedirectCore.handle``: parse, decide,
  build the 302/603).
Also timed: importing the 1 M-number DNO file and loading the index from the state DB.
Figures go to docs/performance.md ("Screening"); nothing here is a test.

    python benchmarks/screen.py [--dno 1000000] [--caller-rules 100000] [--customers 1000]
                                [--calls 300000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import sipmessage

from tracehop.screening import state
from tracehop.screening.audit import DecisionLog
from tracehop.screening.dno import import_dno
from tracehop.screening.engine import Screener, StoreSource
from tracehop.screening.index import Call
from tracehop.screening.metrics import Metrics
from tracehop.screening.rules import Emergency, make_rule
from tracehop.screening.sip import RedirectCore
from tracehop.screening.sipmsg import parse
from tracehop.settings import load_settings
from tracehop.store import open_store

E = Emergency()


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def number(rng: random.Random) -> str:
    return f"+1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def setup(
    home: Path, args: argparse.Namespace
) -> tuple[list[str], list[str], list[int], dict[str, float]]:
    rng = random.Random(12)
    times: dict[str, float] = {}
    dno = sorted({int(number(rng)[1:]) for _ in range(args.dno)})
    callers = sorted({number(rng) for _ in range(args.caller_rules)})
    customers = [f"cust-{i}" for i in range(args.customers)]
    dno_file = home.parent / "dno.txt"
    dno_file.write_text("".join(f"+{n}\n" for n in dno))
    settings = load_settings(home=home)
    with open_store(settings) as store:
        t = time.perf_counter()
        import_dno(store, dno_file, name="bench", author="bench")
        times["dno_import_s"] = time.perf_counter() - t
        rules = [make_rule("class", "dno", reason="DNO", emergency=E)]
        rules += [make_rule("caller_id", c, reason="bench", emergency=E) for c in callers]
        rules += [make_rule("customer", c, reason="bench", emergency=E) for c in customers]
        t = time.perf_counter()
        state.add_rules(store, rules)
        times["rules_store_s"] = time.perf_counter() - t
    return callers, customers, dno, times


def calls(n: int, callers: list[str], customers: list[str], dno: list[int]) -> list[Call]:
    """A mix: 5% a blocked caller ID, 5% a DNO number, 2% a blocked customer, 1% 911, the
    rest clean (most traffic is)."""
    rng = random.Random(7)
    out = []
    for _ in range(n):
        roll = rng.random()
        caller, called = number(rng), number(rng)
        upstream = f"good-{rng.randint(0, 5000)}"
        if roll < 0.05:
            caller = rng.choice(callers)
        elif roll < 0.10:
            caller = f"+{rng.choice(dno)}"
        elif roll < 0.12:
            upstream = rng.choice(customers)
        elif roll < 0.13:
            called = "911"
        out.append(Call(caller, called, upstream))
    return out


def rate(fn, items: list, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Best of ``repeat`` runs, items a second."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t)
    return len(items) / best


def read_ours(data: bytes) -> tuple:
    """Parse an INVITE and read what the redirect server needs of it."""
    m = parse(data)
    return (
        m.method,
        m.uri,
        m.branch(),
        m.cseq(),
        m.first("call-id"),
        m.first("from"),
        m.first("to"),
        m.first("p-asserted-identity"),
        m.first("contact"),
        m.first("x-upstream"),
    )


def read_theirs(data: bytes) -> tuple:
    """The same with sipmessage (its objects give the URIs parsed)."""
    m = sipmessage.Message.parse(data)
    return (
        m.method,
        m.uri,
        m.via[0].parameters.get("branch"),
        m.cseq,
        m.call_id,
        m.from_address,
        m.to_address,
        m.headers.get("P-Asserted-Identity"),
        m.contact,
        m.headers.get("X-Upstream"),
    )


def sqlite_baseline(callers: list[str], customers: list[str], dno: list[int]) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE caller_rules (caller TEXT PRIMARY KEY, rule INTEGER)")
    con.execute("CREATE TABLE customer_rules (customer TEXT PRIMARY KEY, rule INTEGER)")
    con.execute("CREATE TABLE dno (number INTEGER PRIMARY KEY)")
    con.executemany(
        "INSERT INTO caller_rules VALUES (?, ?)", ((c, i) for i, c in enumerate(callers))
    )
    con.executemany(
        "INSERT INTO customer_rules VALUES (?, ?)", ((c, i) for i, c in enumerate(customers))
    )
    con.executemany("INSERT INTO dno VALUES (?)", ((n,) for n in dno))
    return con


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dno", type=int, default=1_000_000)
    ap.add_argument("--caller-rules", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=300_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="th-bench-screen-") as tmp:
        home = Path(tmp) / "home"
        callers, customers, dno, times = setup(home, args)
        work = calls(args.calls, callers, customers, dno)
        settings = load_settings(home=home)
        store = open_store(settings)
        gc.collect()
        before = rss_mb()
        t = time.perf_counter()
        screener = Screener(StoreSource(store), emergency=E)
        times["index_load_s"] = time.perf_counter() - t
        gc.collect()
        index_mb = rss_mb() - before
        blocked = sum(screener.decide(c).action == "block" for c in work)
        engine_rate = rate(screener.decide, work)
        served = Screener(
            StoreSource(store), emergency=E, metrics=Metrics(), log=DecisionLog(Path(tmp) / "audit")
        )
        served_rate = rate(lambda c: served.decide(c, source="sip"), work, repeat=1)
        served.audit.close()  # type: ignore[union-attr]

        con = sqlite_baseline(callers, customers, dno)
        q_caller = "SELECT rule FROM caller_rules WHERE caller = ?"
        q_dno = "SELECT 1 FROM dno WHERE number = ?"
        q_cust = "SELECT rule FROM customer_rules WHERE customer = ?"

        def sql_decide(c: Call) -> bool:
            return bool(
                con.execute(q_caller, (c.caller,)).fetchone()
                or con.execute(q_dno, (int(c.caller[1:]),)).fetchone()
                or con.execute(q_cust, (c.upstream,)).fetchone()
            )

        sql_rate = rate(sql_decide, work[: min(len(work), 100_000)], repeat=1)

        invite = (
            "INVITE sip:+13125551234@10.0.0.2:5060;user=phone SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{n};rport\r\n"
            "Max-Forwards: 69\r\n"
            'From: "Caller" <sip:{caller}@10.0.0.1>;tag=abc{n}\r\n'
            "To: <sip:+13125551234@10.0.0.2>\r\n"
            "Call-ID: {n}@10.0.0.1\r\nCSeq: 1 INVITE\r\n"
            "P-Asserted-Identity: <sip:{caller}@10.0.0.1>\r\n"
            "Contact: <sip:{caller}@10.0.0.1:5060>\r\nX-Upstream: {upstream}\r\n"
            "Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n"
        )
        msgs = [
            invite.format(n=i, caller=c.caller, upstream=c.upstream).encode()
            for i, c in enumerate(work[:50_000])
        ]
        ours = rate(read_ours, msgs)
        theirs = rate(read_theirs, msgs[:20_000], repeat=1)
        core = RedirectCore(served, metrics=served.metrics)
        from tracehop.screening.sip import TrunkMap, upstream_sources

        core.upstream_from = upstream_sources("header:X-Upstream", TrunkMap())
        handle_rate = rate(lambda m: core.handle(m, ("10.0.0.1", 5060)), msgs, repeat=1)
        store.close()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; one thread")
    print(
        f"loaded: {args.dno:,} DNO numbers (import {times['dno_import_s']:.1f} s), "
        f"{len(callers):,} caller-ID rules + {args.customers:,} customer rules + 1 DNO rule "
        f"(stored in {times['rules_store_s']:.1f} s); index loaded from the state DB in "
        f"{times['index_load_s']:.1f} s, {index_mb:,.0f} MB of memory"
    )
    print(f"calls: {len(work):,} ({blocked:,} blocked: {100 * blocked / len(work):.1f}%)")
    print(f"{'':34}{'decisions/s':>14}{'us/decision':>14}{'vs SQLite':>12}")
    for name, r in (
        ("tracehop decide (engine)", engine_rate),
        ("tracehop decide (metrics, audit)", served_rate),
        ("baseline: SQLite query per call", sql_rate),
    ):
        print(f"{name:34}{r:>14,.0f}{1e6 / r:>14.2f}{r / sql_rate:>11.1f}x")
    print(f"{'':34}{'INVITEs/s':>14}{'us/INVITE':>14}{'vs sipmessage':>14}")
    for name, r in (
        ("parse+read: tracehop sipmsg", ours),
        ("parse+read: sipmessage 0.7", theirs),
        ("redirect answer (parse+decide+302)", handle_rate),
    ):
        print(f"{name:34}{r:>14,.0f}{1e6 / r:>14.2f}{r / theirs:>13.1f}x")


if __name__ == "__main__":
    main()
