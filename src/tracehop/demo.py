"""The demo: what ``make demo`` shows a new user, with real figures from the run.

It simulates a small network (``tracehop.simulate``), gives every provider its own tracehop
home (``OUT/homes/<provider>``: its CDRs ingested, its customers imported), then does what the
Traceback Consortium does with the complaints: a hub (``OUT/hub``) asks the terminating
provider's node "who sent you this call?" and follows the answers hop by hop, and every hop is
checked against the simulator's truth. Detection then runs in every provider's lake. Every
figure printed is counted from the homes or the run, never assumed.

The nodes run in this process (``tracehop.api.inprocess``: each provider's real node app,
reached through its ASGI interface instead of a socket), so the demo needs no ports;
``tracehop serve`` runs the same app on a socket.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tracehop.analyst import open_engine
from tracehop.auth import tokens
from tracehop.cdr.ingest import ingest
from tracehop.csvfiles import read_rows as _read
from tracehop.customers import CustomerRecord, import_customers, parse_customers_csv
from tracehop.detection.run import run_detection
from tracehop.errors import InputError
from tracehop.node.service import NodeService
from tracehop.settings import Settings, load_settings
from tracehop.simulate import simulate
from tracehop.simulate.shaken import verify_settings
from tracehop.store import Store, open_store
from tracehop.tracebacks.batch import trace_batch
from tracehop.tracebacks.directory import import_blocks, import_directory
from tracehop.tracebacks.hub import open_hub
from tracehop.tracebacks.requests import load_known_providers

# A small world: big enough to look like a network, small enough for well under 3 minutes.
DEMO_SCALE = 0.25
DEMO_DAYS = 2
MAX_TRACES = 60
HUB_WORKERS = 4
HOP_TIMEOUT = 2.0  # seconds the hub waits for the node that never answers


@dataclass
class DemoReport:
    home: str
    lines: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)


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
        # the world's test CA is each home's trust anchor: ingest verifies Identity headers
        settings = load_settings(
            home=homes / pid,
            provider=pid,
            provider_name=row.get("name") or None,
            **verify_settings(world),
        )
        store = open_store(settings)
        records = parse_customers_csv(world / "customers" / f"{pid}.csv")
        imported = import_customers(store, records)
        cdrs = world / row["cdr_file"]
        rows = rejected = 0
        if cdrs.stat().st_size:  # a provider that carried no call in the world has no CDRs
            result = ingest([cdrs], settings, provider=pid, store=store)
            rows, rejected = result.rows_ingested, result.rows_rejected
        nodes[pid] = Node(settings, store, customers={r.id: r for r in records})
        loaded[pid] = {
            "customers": imported.created + imported.updated,
            "rows": rows,
            "rejected": rejected,
        }
    return nodes, loaded


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
    nodes, loaded = load_homes(world, out / "homes", directory_rows)
    t_load = time.perf_counter() - started - t_sim
    try:
        lake_calls = {
            pid: int(n.sql("SELECT count(*) FROM calls")[0][0]) for pid, n in nodes.items()
        }
        entries = _campaign_entries(world, nodes)
        traced = _trace_complaints(out, world, nodes)
        traced["campaigns"] = _hub_campaigns(traced)
        detected = _detect(world, nodes)
        case = _open_case(out, nodes, traced)
        screened = _screen(world, nodes)
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
        "detection": detected,
        "case": case,
        "per_provider": {pid: {**loaded[pid], "lake": lake_calls[pid]} for pid in loaded},
        "seconds": {
            "simulate": round(t_sim, 2),
            "load": round(t_load, 2),
            "total": round(t_total, 2),
        },
    }
    report.figures["screening"] = screened
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


def serve_nodes(
    world: Path, nodes: dict[str, Node], nodes_csv: Path, *, consortium_only: bool = False
) -> tuple[dict[str, NodeService], set[str]]:
    """Every provider's node service (in this process, for ``InProcessNodes``), with a token
    issued to the hub; writes the hub's nodes file (``id, node_url, token``; only consortium
    members with ``consortium_only``). Returns the services and the providers whose node
    never answers (the world's non-responsive ones: the hub records No Response)."""
    from tracehop.api.inprocess import node_url

    known = load_known_providers(world / "directory.csv")
    services: dict[str, NodeService] = {}
    down: set[str] = set()
    rows = [["id", "node_url", "token"]]
    for r in _read(world / "directory.csv"):
        pid = r["id"]
        node = nodes[pid]
        services[pid] = NodeService(node.settings, node.store, known_providers=known)
        if not consortium_only or r["in_consortium"] == "true":
            rows.append([pid, node_url(pid), tokens.issue(node.store, "hub")])
        if r["responsive"] != "true":
            down.add(pid)
    with nodes_csv.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return services, down


def _trace_complaints(out: Path, world: Path, nodes: dict[str, Node]) -> dict[str, object]:
    """The consortium's work on the complaints: a hub (``tracehop.tracebacks.hub``) asks each
    provider's node (the node API's own service, in this process) hop by hop; every hop is
    checked against the simulator's truth."""
    hub_home = out / "hub"
    hub_home.mkdir(parents=True, exist_ok=True)
    from tracehop.api.inprocess import InProcessNodes  # the web shell, only when it runs

    services, down = serve_nodes(world, nodes, hub_home / "nodes.csv")
    hub_settings = load_settings(home=hub_home, **verify_settings(world))
    store = open_store(hub_settings)
    import_directory(store, world / "directory.csv", hub_home / "nodes.csv")
    import_blocks(store, world / "number_blocks.csv")
    store.close()
    with open_hub(hub_settings, transport=InProcessNodes.serving(services, down)) as hub:
        batch = trace_batch(
            hub,
            world / "complaints.csv",
            workers=HUB_WORKERS,
            hop_timeout=HOP_TIMEOUT,
            limit=MAX_TRACES,
        )
    for service in services.values():
        service.close()
    expected: dict[str, list[dict[str, str]]] = {}
    for r in _read(world / "truth" / "complaint_hops.csv"):
        expected.setdefault(r["complaint_id"], []).append(r)
    complaints = _read(world / "complaints.csv")
    by_id = {c["complaint_id"]: c for c in complaints}
    matched = hops_total = 0
    example: dict[str, object] = {}
    for t in batch.traces:
        want = [
            (w["provider"], w["answer"] if w["responsive"] == "true" else "no_response")
            for w in expected.get(t.reference or "", [])
        ]
        cut = next((i + 1 for i, w in enumerate(want) if w[1] == "no_response"), None)
        got = [(h.provider, h.answer) for h in t.hops]
        matched += got == want[:cut]
        hops_total += len(t.hops)
        if not example and len(t.hops) >= 3 and t.outcome == "origin":
            example = {
                "complaint": by_id.get(t.reference or "", {}),
                "hops": [
                    {"provider": h.provider, "answer": h.answer, "named": h.upstream or ""}
                    for h in t.hops
                ],
                "seconds": t.seconds,
            }
    seconds = sorted(t.seconds for t in batch.traces if t.seconds is not None)
    return {
        "complaints": len(complaints),
        "traced": len(batch.traces),
        "matched_truth": matched,
        "hops": hops_total,
        "ended_with": dict(sorted(Counter(t.outcome or "?" for t in batch.traces).items())),
        "median_seconds": round(seconds[len(seconds) // 2], 3) if seconds else None,
        "hub_home": str(hub_home),
        "example": example,
    }


def _hub_campaigns(traced: dict[str, object]) -> dict[str, object]:
    """The hub's traces grouped into campaigns across providers (``tracehop hub campaigns``,
    ``tracehop.tracebacks.campaigns``): the biggest one's gateways and where it entered."""
    from tracehop.tracebacks.campaigns import find_campaigns

    with open_store(load_settings(home=Path(str(traced["hub_home"])))) as hub:
        data = find_campaigns(hub).to_json()
    top = data["items"][0] if data["items"] else {}
    return {
        "campaigns": data["campaigns"],
        "traces_in_campaigns": data["traces_in_campaigns"],
        "largest": {
            k: top[k] for k in ("campaign_id", "traces", "style", "gateways", "entries", "origins")
        }
        if top
        else {},
    }


def _detect(world: Path, nodes: dict[str, Node]) -> dict[str, object]:
    """Detection in every provider's lake, checked against which customers carry campaigns."""
    bad = {(c["entry_provider"], c["customer"]) for c in _read(world / "truth" / "campaigns.csv")}
    flagged: list[tuple[str, str]] = []
    customers = 0
    for pid, node in nodes.items():
        result = run_detection(node.settings, node.store)
        for f in result.findings:
            if f.kind == "customer":
                customers += 1
                if f.flagged:
                    flagged.append((pid, f.subject))
    return {
        "customers_scored": customers,
        "customers_flagged": len(flagged),
        "campaign_entries": len(bad),
        "campaign_entries_flagged": len(bad & set(flagged)),
    }


def _open_case(out: Path, nodes: dict[str, Node], traced: dict[str, object]) -> dict[str, object]:
    """What the Commission does with the traces: the hub drafts a notice to the gateway most
    often named, that gateway's tracehop opens a case from it, investigates it with its own
    records, and writes its 14-day report (``tracehop.cases``)."""
    from datetime import UTC, date, datetime, timedelta

    from tracehop.cases.draft import draft_notice
    from tracehop.cases.investigate import investigate
    from tracehop.cases.mitigate import mitigate
    from tracehop.cases.records import import_notice, set_status
    from tracehop.cases.reports import write_report
    from tracehop.times import FakeClock
    from tracehop.tracebacks.traces import summary

    hub_settings = load_settings(home=Path(str(traced["hub_home"])))
    with open_store(hub_settings) as hub:
        rows = [r for r in summary(hub) if r["gateway"]]
        if not rows:
            return {}
        gateway = max(rows, key=lambda r: (r["gateway"], r["provider"]))["provider"]
        letter_date = max(n.sql("SELECT max(day) FROM calls")[0][0] for n in nodes.values())
        letter_date = date.fromisoformat(str(letter_date)) if letter_date else date.today()
        text, _drafted = draft_notice(hub, gateway, letter_date=letter_date)
    cases = out / "cases"
    cases.mkdir(parents=True, exist_ok=True)
    letter = cases / f"notice-to-{gateway}.txt"
    letter.write_text(text, encoding="utf-8")
    node = nodes[gateway]
    now = datetime.combine(letter_date, datetime.min.time(), tzinfo=UTC).replace(hour=15)
    case, _created, notice = import_notice(node.store, letter, now=now, actor="demo")
    found = investigate(node.settings, node.store, case.case_id, actor="demo", now=now)
    # The compliance officer blocks the customers the letter named, four hours after it came.
    clock = FakeClock(now + timedelta(hours=4))
    blocked = []
    for c in found["customers"]:
        blocked.append(mitigate(node.settings, node.store, case.case_id, "block-customer",
                                customer=c, actor="demo", clock=clock))  # fmt: skip
    met = [name for m in blocked for name in m.deadlines_met]
    password = _demo_login(node)
    report = cases / f"{case.case_id}-report-14d.pdf"
    write_report(node.settings, node.store, case.case_id, "report-14d", report, actor="demo",
                 now=clock.now())  # fmt: skip
    # ... and sends it to the Commission the same day: the case is reported, which meets the
    # letter's report deadline
    met += [name for name, _late in set_status(node.store, case.case_id, "reported",
                                               actor="demo", now=clock.now())]  # fmt: skip
    return {
        "gateway": gateway,
        "case_id": case.case_id,
        "letter": str(letter),
        "rows": len(notice.rows),
        "customers": found["customers"],
        "flagged": found["flagged_by_detection"],
        "deadlines": [d.name for d in notice.deadlines],
        "rules": sorted({r.id for m in blocked for r in m.rules}),
        "met": met,
        "report_14d": str(report),
        "home": str(node.settings.home),
        "login": {"user": "demo", "password": password},
    }


def _demo_login(node: Node) -> str:
    """A dashboard user on the case's home (an analyst), with a new password each run (the
    demo's homes are made anew each time)."""
    import secrets

    from tracehop.auth.users import add_user

    password = secrets.token_urlsafe(12)
    add_user(node.store, "demo", "analyst", password)
    return password


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
    first = (
        f" (the demo's first {t['traced']}: tracehop hub trace-batch traces them all)"
        if t["traced"] < t["complaints"]
        else ""
    )
    line(
        f"4. The hub traced {t['traced']} of {t['complaints']} complaints and honeypot hits"
        f"{first} hop by hop, asking each provider's node ({t['hops']} requests, each stored with its 24-hour "
        f"due time; median {t['median_seconds']} s per traceback); {t['matched_truth']} of "
        f"{t['traced']} got exactly the simulator's true answer at every hop. Ended with: "
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
    hc = t["campaigns"]
    big = hc["largest"]
    line(
        f"   The hub grouped {hc['traces_in_campaigns']} of the {t['traced']} traces into "
        f"{hc['campaigns']} campaigns across providers (shared orig_id, origin, caller IDs, "
        "entry point, flooded number)"
        + (
            f"; the largest, {big['campaign_id']}: {big['traces']} traces, caller IDs "
            f"{big['style']}, gateways {', '.join(big['gateways']) or '-'}, from "
            f"{', '.join([*big['origins'], *big['entries']]) or '-'}"
            if big
            else ""
        )
        + f" (tracehop --home {t['hub_home']} hub campaigns)."
    )
    d = f["detection"]
    assert isinstance(d, dict)
    line(
        f"5. Detection scored {d['customers_scored']} customers in the providers' lakes and "
        f"flagged {d['customers_flagged']} (carriers passing a campaign included); "
        f"{d['campaign_entries_flagged']} of the {d['campaign_entries']} customers where a "
        "campaign entered the network are among them (tracehop detect; docs/detection.md)."
    )
    screened = f.get("screening")
    if isinstance(screened, dict) and screened:
        for text in _screening_lines(screened):
            line(text)
    c = f.get("case") or {}
    if c:
        line(
            f"7. The hub drafted a notice to {c['gateway']} from its traces ({c['rows']} calls, "
            f"{c['letter']}); {c['gateway']}'s tracehop opened case {c['case_id']} from it "
            f"(deadlines {', '.join(c['deadlines'])}), matched the letter's customers to its own "
            f"({', '.join(c['customers'])}; flagged by its detection: "
            f"{', '.join(c['flagged']) or 'none'}), blocked them with screening rules "
            f"{', '.join(map(str, c['rules']))} ({', '.join(c['met']) or 'no deadline'} met) "
            f"and wrote the 14-day report, recorded as sent: {c['report_14d']}"
        )
        line(f"  tracehop --home {c['home']} case show {c['case_id']}")
        line(
            f"8. The dashboard: tracehop --home {c['home']} serve --provider {c['gateway']} "
            "--port 8470, then open "
            f"http://127.0.0.1:8470/ and log in as {c['login']['user']} / "
            f"{c['login']['password']} (an analyst of {c['gateway']})."
        )
    some = next(r["id"] for r in directory if "gateway" in r["roles"])
    line("Explore (each home is a provider's tracehop):")
    line(
        f'  tracehop --home {f["homes"]}/{some} query "select upstream, count(*) from calls group by 1 order by 2 desc"'
    )
    line(f"  tracehop --home {f['homes']}/{some} customers list")
    line(f"  tracehop --home {f['homes']}/{some} detect")
    line(f"  tracehop --home {t['hub_home']} hub summary")
    line(
        f"  truth and complaints: {f['world']}/truth/, {f['world']}/complaints.csv (docs/simulator.md)"
    )
    line(f"Done in {f['seconds']['total']:.1f} s.")  # type: ignore[index]


# --- screening (issue 12): the findings become rules, the world is replayed through them -------


def _screen(world: Path, nodes: dict[str, Node]) -> dict[str, object]:
    """At every provider, the flagged findings of its detection run become block rules
    (``tracehop block from-finding RUN_ID``); each provider's lake is then replayed through its
    rules (``tracehop screen replay --truth``) and the world's calls that some provider would
    have blocked are counted against the truth, once each."""
    from tracehop.errors import NotFoundError
    from tracehop.screening.replay import replay
    from tracehop.screening.service import emergency_of
    from tracehop.screening.state import add_rules, rule_in_force, rules_from_finding
    from tracehop.store.models import DetectionRun
    from tracehop.times import SYSTEM

    rules = findings = monitored = 0
    providers: list[str] = []
    blocked: dict[str, bool] = {}
    watched: dict[str, bool] = {}  # matched by monitor-mode rules
    legal_hit: Counter[tuple[str, str]] = Counter()
    for pid, node in nodes.items():
        with node.store.session() as s:
            run = s.query(DetectionRun).order_by(DetectionRun.started_at.desc()).first()
        if run is None:
            continue
        try:
            made = rules_from_finding(
                node.store, run.run_id, emergency=emergency_of(node.settings), author="demo"
            )
        except NotFoundError:
            continue  # nothing flagged at this provider
        findings += len({r.finding for r in made})
        # a customer the case of step 7 already blocked keeps that rule
        now = SYSTEM.now()
        made = [r for r in made if rule_in_force(node.store, r.kind, r.value, now) is None]
        stored = add_rules(node.store, made)
        rules += sum(1 for r in stored if r.mode == "enforce")
        monitored += sum(1 for r in stored if r.mode == "monitor")
        providers.append(pid)
        report = replay(node.settings, node.store, truth=world)
        blocked.update(report.blocked_truth_calls)
        watched.update(report.monitor_truth_calls)
        for customer, n in report.legal_blocked.items():
            legal_hit[(pid, customer)] += n
    truth = _read(world / "truth" / "calls.csv")
    illegal_total = sum(1 for c in truth if c["campaign"])
    roles = {(c["provider"], c["id"]): c["role"] for c in _read(world / "truth" / "customers.csv")}
    illegal = sum(1 for v in blocked.values() if v)
    either = {**watched, **blocked}
    illegal_either = sum(1 for v in either.values() if v)
    return {
        "findings": findings,
        "rules": rules,
        "provider_rules_in_monitor": monitored,
        "providers": providers,
        "illegal_calls": illegal_total,
        "illegal_blocked": illegal,
        "legal_calls": len(truth) - illegal_total,
        "legal_blocked": len(blocked) - illegal,
        "with_provider_blocks": {
            "illegal_blocked": illegal_either,
            "legal_blocked": len(either) - illegal_either,
        },
        "legal_hit_most": [
            {"provider": p, "customer": c, "calls": n, "role": roles.get((p, c), "carrier")}
            for (p, c), n in legal_hit.most_common(3)
        ],
    }


def _screening_lines(s: dict[str, object]) -> list[str]:
    def pct(n: object, d: object) -> str:
        return f"{100 * int(n) / max(int(d), 1):.1f}%"  # type: ignore[call-overload]

    lines = [
        f"6. Screening: the {s['findings']} flagged findings (customers, caller IDs and "
        f"campaigns) became {s['rules']} block rules at "
        f"{len(s['providers'])} providers, and {s['provider_rules_in_monitor']} carrier blocks "  # type: ignore[arg-type]
        "kept in monitor mode (blocking a provider needs a notice to the Commission first, "
        "47 CFR 64.1200(k)(4)); replaying every lake through them (tracehop screen replay) "
        f"stops {s['illegal_blocked']:,} of the world's {s['illegal_calls']:,} illegal calls "
        f"({pct(s['illegal_blocked'], s['illegal_calls'])}) and {s['legal_blocked']:,} of "
        f"{s['legal_calls']:,} legal ones ({pct(s['legal_blocked'], s['legal_calls'])})."
    ]
    w = s["with_provider_blocks"]
    lines.append(
        f"   With the carrier blocks enforced as well: {w['illegal_blocked']:,} illegal "  # type: ignore[index]
        f"({pct(w['illegal_blocked'], s['illegal_calls'])}) and {w['legal_blocked']:,} legal "  # type: ignore[index]
        f"({pct(w['legal_blocked'], s['legal_calls'])}): whole carriers carry legal traffic too."  # type: ignore[index]
    )
    for h in s["legal_hit_most"]:  # type: ignore[attr-defined]
        lines.append(
            f"   legal calls hit: {h['calls']:>6,} from {h['customer']} ({h['role']}) at {h['provider']}"
        )
    return lines
