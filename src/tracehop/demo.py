"""The demo: what ``make demo`` shows a new user, with real figures from the run.

It simulates a small network (``tracehop.simulate``), gives every provider its own tracehop
home (``OUT/homes/<provider>``: its CDRs ingested, its customers imported), then does what the
Traceback Consortium does with the complaints: asks the terminating provider's lake "who sent
you this call?" and follows the answers hop by hop, and checks every answer against the
simulator's truth. Every figure printed is counted from the homes or the run, never assumed.

The hop-by-hop walk here is a stand-in for the hub (a later issue): plain SQL over each
provider's ``calls`` view, the same lookup a provider's traceback responder makes.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from tracehop.analyst import open_engine
from tracehop.cdr.ingest import ingest
from tracehop.customers import CustomerRecord, import_customers, parse_customers_csv
from tracehop.errors import InputError
from tracehop.numbers import to_e164
from tracehop.settings import Settings, load_settings
from tracehop.simulate import simulate
from tracehop.store import Store, open_store

# A small world: big enough to look like a network, small enough for well under 3 minutes.
DEMO_SCALE = 0.25
DEMO_DAYS = 2
MAX_TRACES = 60
# Search window around a reported time: complaints give the minute, switch clocks drift.
WINDOW = timedelta(minutes=3)


@dataclass
class DemoReport:
    home: str
    lines: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@dataclass
class Node:
    """One provider's tracehop home, opened for the demo's lookups."""

    settings: Settings
    store: Store
    con: duckdb.DuckDBPyConnection | None = None
    customers: dict[str, CustomerRecord] = field(default_factory=dict)

    def sql(self, text: str, params: list[object] | None = None) -> list[tuple]:
        if self.con is None:
            self.con = open_engine(self.settings, self.store)
        return self.con.execute(text, params or []).fetchall()

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
        self.store.close()


def _prepare(out: Path) -> None:
    """The demo rebuilds OUT/homes; it refuses a folder it did not make."""
    if out.exists() and any(out.iterdir()):
        ours = (out / "world" / "world.json").exists() or (out / "homes").is_dir()
        if not ours:
            raise InputError(
                f"{out} is not empty and is not a demo folder (no world/ or homes/): "
                "give a new folder with --out"
            )
    if (out / "homes").is_dir():
        shutil.rmtree(out / "homes")


def load_homes(
    world: Path, homes: Path, directory: list[dict[str, str]]
) -> tuple[dict[str, Node], dict[str, dict[str, int]]]:
    """Give each provider a home with its customers and its CDRs (tracehop's real ingest)."""
    nodes: dict[str, Node] = {}
    loaded: dict[str, dict[str, int]] = {}
    for row in directory:
        pid = row["id"]
        settings = load_settings(home=homes / pid, provider=pid)
        store = open_store(settings)
        records = parse_customers_csv(world / "customers" / f"{pid}.csv")
        imported = import_customers(store, records)
        result = ingest([world / row["cdr_file"]], settings, provider=pid, store=store)
        nodes[pid] = Node(settings, store, customers={r.id: r for r in records})
        loaded[pid] = {
            "customers": imported.created + imported.updated,
            "rows": result.rows_ingested,
            "rejected": result.rows_rejected,
        }
    return nodes, loaded


def trace(
    complaint: dict[str, str],
    nodes: dict[str, Node],
    directory: dict[str, dict[str, str]],
    blocks: dict[str, str],
) -> list[dict[str, str]]:
    """Follow one complaint hop by hop through the providers' lakes, as a hub would."""
    provider = blocks.get(complaint["called"][:6], "")
    called = "+1" + complaint["called"]
    caller = to_e164(complaint["caller_id"])
    digits = "".join(ch for ch in complaint["caller_id"] if ch.isdigit())
    day = datetime.fromisoformat(complaint["date"] + "T00:00:00+00:00")
    if complaint["time_utc"]:
        at = datetime.fromisoformat(f"{complaint['date']}T{complaint['time_utc']}:00+00:00")
        lo, hi = at - WINDOW, at + WINDOW + timedelta(minutes=1)
    else:
        at, lo, hi = day, day, day + timedelta(days=1)
    hops: list[dict[str, str]] = []
    while provider in nodes:
        if directory[provider]["responsive"] != "true":
            hops.append({"provider": provider, "answer": "no_response", "named": ""})
            break
        node = nodes[provider]
        who = "caller = ?" if caller else "regexp_replace(caller_raw, '[^0-9]', '', 'g') = ?"
        rows = node.sql(
            f"SELECT upstream, start FROM calls WHERE called = ? AND {who} "
            "AND start >= ? AND start < ? ORDER BY abs(epoch(start) - epoch(?::TIMESTAMPTZ))",
            [called, caller or digits, lo, hi, at],
        )
        if not rows:
            hops.append({"provider": provider, "answer": "not_found", "named": ""})
            break
        upstream = rows[0][0]
        known = directory.get(upstream)
        if known is not None and known["in_consortium"] == "true":
            hops.append({"provider": provider, "answer": "received_from", "named": upstream})
            provider = upstream
            continue
        customer = node.customers.get(upstream)
        if known is not None or (customer is not None and customer.kind == "carrier"):
            hops.append({"provider": provider, "answer": "provider_not_listed", "named": upstream})
        else:
            hops.append({"provider": provider, "answer": "origin", "named": upstream})
        break
    return hops


def run_demo(
    out: Path,
    *,
    seed: int = 1,
    scale: float = DEMO_SCALE,
    days: int = DEMO_DAYS,
    say: Callable[[str], None] = lambda _s: None,
) -> DemoReport:
    """Simulate a network into ``out/world``, load every provider's home under
    ``out/homes`` and trace the complaints; report real figures."""
    started = time.perf_counter()
    out = Path(out)
    _prepare(out)
    report = DemoReport(home=str(out))

    def line(text: str) -> None:
        report.lines.append(text)
        say(text)

    world = out / "world"
    sim = simulate(world, seed=seed, days=days, scale=scale)
    t_sim = time.perf_counter() - started
    directory_rows = _read(world / "directory.csv")
    directory = {r["id"]: r for r in directory_rows}
    blocks = {r["npa_nxx"]: r["provider"] for r in _read(world / "number_blocks.csv")}
    nodes, loaded = load_homes(world, out / "homes", directory_rows)
    t_load = time.perf_counter() - started - t_sim
    try:
        lake_calls = {
            pid: int(n.sql("SELECT count(*) FROM calls")[0][0]) for pid, n in nodes.items()
        }
        entries = _campaign_entries(world, nodes)
        traced = _trace_complaints(world, nodes, directory, blocks)
    finally:
        for n in nodes.values():
            n.close()
    t_total = time.perf_counter() - started
    formats = Counter(r["cdr_format"] for r in directory_rows)
    rows_loaded = sum(v["rows"] for v in loaded.values())
    rejected = sum(v["rejected"] for v in loaded.values())
    report.figures = {
        "world": str(world),
        "homes": str(out / "homes"),
        "seed": seed,
        "scale": scale,
        "days": days,
        "providers": len(directory_rows),
        "formats": dict(sorted(formats.items())),
        "calls_simulated": sim.calls,
        "cdr_rows_written": sim.cdr_rows,
        "calls_loaded": rows_loaded,
        "calls_in_lakes": sum(lake_calls.values()),
        "rows_rejected": rejected,
        "customers_imported": sum(v["customers"] for v in loaded.values()),
        "campaign_calls": sim.campaign_calls,
        "campaign_entries": entries,
        "tracebacks": traced,
        "per_provider": {pid: {**loaded[pid], "lake": lake_calls[pid]} for pid in loaded},
        "seconds": {
            "simulate": round(t_sim, 2),
            "load": round(t_load, 2),
            "total": round(t_total, 2),
        },
    }
    _story(report, line, sim.start, directory_rows)
    return report


def _campaign_entries(world: Path, nodes: dict[str, Node]) -> list[dict[str, object]]:
    """For each campaign, what its entry provider's own lake shows about the customer it
    came from: the indicators of DOMAIN.md, counted with SQL."""
    out: list[dict[str, object]] = []
    for c in _read(world / "truth" / "campaigns.csv"):
        node = nodes[c["entry_provider"]]
        calls, asr, short, callers, share = node.sql(
            "SELECT count(*), avg((disposition = 'answered')::INT), "
            "avg((disposition = 'answered' AND duration < 6)::INT) "
            "  / greatest(avg((disposition = 'answered')::INT), 1e-9), "
            "approx_count_distinct(coalesce(caller, caller_raw)), "
            "count(*) / (SELECT count(*) FROM calls) FROM calls WHERE upstream = ?",
            [c["customer"]],
        )[0]
        out.append(
            {
                "campaign": c["campaign"],
                "entry_provider": c["entry_provider"],
                "customer": c["customer"],
                "customer_role": c["customer_role"],
                "cli_strategy": c["cli_strategy"],
                "calls_from_customer": int(calls),
                "asr_pct": round(100 * float(asr or 0), 1),
                "short_answered_pct": round(100 * float(short or 0), 1),
                "distinct_caller_ids": int(callers),
                "share_of_provider_pct": round(100 * float(share or 0), 1),
            }
        )
    return out


def _trace_complaints(
    world: Path,
    nodes: dict[str, Node],
    directory: dict[str, dict[str, str]],
    blocks: dict[str, str],
) -> dict[str, object]:
    complaints = _read(world / "complaints.csv")
    expected: dict[str, list[dict[str, str]]] = {}
    for r in _read(world / "truth" / "complaint_hops.csv"):
        expected.setdefault(r["complaint_id"], []).append(r)
    outcomes: Counter[str] = Counter()
    matched = hops_total = 0
    example: dict[str, object] = {}
    for c in complaints[:MAX_TRACES]:
        hops = trace(c, nodes, directory, blocks)
        want = expected[c["complaint_id"]]
        want_answers = [
            (w["provider"], w["answer"] if w["responsive"] == "true" else "no_response")
            for w in want
        ]
        got = [(h["provider"], h["answer"]) for h in hops]
        cut = next((i + 1 for i, w in enumerate(want_answers) if w[1] == "no_response"), None)
        if got == want_answers[:cut]:
            matched += 1
        hops_total += len(hops)
        outcomes[hops[-1]["answer"] if hops else "not_found"] += 1
        if not example and len(hops) >= 3 and hops[-1]["answer"] == "origin":
            example = {"complaint": c, "hops": hops}
    return {
        "complaints": len(complaints),
        "traced": min(len(complaints), MAX_TRACES),
        "matched_truth": matched,
        "hops": hops_total,
        "ended_with": dict(sorted(outcomes.items())),
        "example": example,
    }


def _story(
    report: DemoReport,
    line: Callable[[str], None],
    start: str,
    directory: list[dict[str, str]],
) -> None:
    f = report.figures
    t = f["tracebacks"]
    assert isinstance(t, dict)
    line(
        f"tracehop demo: a simulated network in {f['world']}, one tracehop home per provider in {f['homes']}"
    )
    line(
        f"1. Simulated {f['calls_simulated']:,} calls over {f['days']} day(s) from {start} "
        f"through {f['providers']} providers (US originating, access, foreign, gateway and "
        f"intermediate carriers), seed {f['seed']}: {f['cdr_rows_written']:,} CDR rows in "
        + ", ".join(f"{n} {k}" for k, n in f["formats"].items())  # type: ignore[union-attr]
        + " files."
    )
    line(
        f"2. Loaded every provider's CDRs into its own home: {f['calls_loaded']:,} call records "
        f"({f['calls_in_lakes']:,} in the lakes; Kamailio BYE rows join their INVITE), "
        f"{f['rows_rejected']} rejected; "
        f"{f['customers_imported']:,} customer records imported."
    )
    line("3. Where the campaigns entered, as the entry provider's own lake shows it:")
    for e in f["campaign_entries"]:  # type: ignore[union-attr]
        line(
            f"   {e['campaign']:<16} at {e['entry_provider']:<12} from {e['customer']:<24} "
            f"{e['calls_from_customer']:>7,} calls, ASR {e['asr_pct']:>5}%, "
            f"{e['distinct_caller_ids']:>6,} caller IDs ({e['cli_strategy']})"
        )
    line(
        f"4. Traced {t['traced']} of {t['complaints']} complaints and honeypot hits hop by hop "
        f"({t['hops']} lookups in the providers' lakes); {t['matched_truth']} of {t['traced']} "
        f"got exactly the simulator's true answer at every hop. Ended with: "
        + ", ".join(f"{k} {v}" for k, v in t["ended_with"].items())
        + "."
    )
    ex = t.get("example")
    if ex:
        c = ex["complaint"]
        line(
            f"   e.g. {c['complaint_id']} ({c['source']}): {c['caller_id']} -> {c['called']} on "
            f"{c['date']} {c['time_utc'] or '(date only)'}: {c['description']}"
        )
        for k, h in enumerate(ex["hops"], start=1):
            line(f"      hop {k}: {h['provider']:<12} {h['answer']} {h['named']}")
    line("Coming with later issues: detection flags, cases from notices, blocking rules.")
    some = next(r["id"] for r in directory if "gateway" in r["roles"])
    line("Explore (each home is a provider's tracehop):")
    line(
        f'  tracehop --home {f["homes"]}/{some} query "select upstream, count(*) from calls group by 1 order by 2 desc"'
    )
    line(f"  tracehop --home {f['homes']}/{some} customers list")
    line(
        f"  truth and complaints: {f['world']}/truth/, {f['world']}/complaints.csv (docs/simulator.md)"
    )
    line(f"Done in {f['seconds']['total']:.1f} s.")  # type: ignore[index]
