"""What-if: the lake's calls run through the rules (those in force, or proposed ones from a
file) offline, before a rule is switched on: what they would have blocked, per rule and per
customer with the share of each customer's traffic; on a simulated world, illegal against
legal calls blocked (the simulator's ``truth/calls.csv``).

Every call goes through the real decision engine (``engine.Screener``), in the order of its
start time; rate limits count on the calls' own times. Rules in monitor mode are reported as
matches (what they would have blocked), never as blocks. The calls are read from the lake a
day (a partition) at a time, in start order, through the engine the setting ``engine`` names
(``tracehop.analyst.open_analytics``: DuckDB or Spark, one SQL text for both); the report
says which (``engine``). The simulator's truth is read with pyarrow (each provider's own
call id is at its position in the call's path) and joined to the calls by the engine.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracehop.errors import InputError
from tracehop.screening.engine import FixedSource, Screener, StoreSource
from tracehop.screening.index import Call, number
from tracehop.screening.rules import Emergency, Rule, make_rule
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.times import parse_duration, utc, utc_day

if TYPE_CHECKING:
    import pyarrow as pa

BATCH = 100_000
RULE_COLUMNS = (
    "kind",
    "value",
    "action",
    "sip_code",
    "mode",
    "reason",
    "rate",
    "subject",
    "share",
    "min_answered",
    "window",
)


@dataclass
class ReplayReport:
    since: datetime | None
    until: datetime | None
    rules: list[Rule]
    source: str  # "state DB" or the rules file
    engine: str = ""  # where the lake's calls were read: duckdb or spark
    calls: int = 0
    blocked: int = 0
    emergency: int = 0
    by_rule: Counter[int] = field(default_factory=Counter)  # blocks
    monitored: Counter[int] = field(default_factory=Counter)  # monitor-mode matches
    customers: Counter[str] = field(default_factory=Counter)  # calls per upstream
    customers_blocked: Counter[str] = field(default_factory=Counter)
    truth: dict[str, int] | None = None  # illegal/legal calls and how many were blocked
    legal_blocked: Counter[str] = field(default_factory=Counter)  # per upstream, with truth
    # the world's calls blocked here: truth call id -> illegal (the demo adds up providers)
    blocked_truth_calls: dict[str, bool] = field(default_factory=dict)
    # and those a monitor-mode rule matched (blocked if it were enforced)
    monitor_truth_calls: dict[str, bool] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        per_rule = []
        for r in self.rules:
            per_rule.append(
                {
                    "rule_id": r.id,
                    "kind": r.kind,
                    "value": r.value,
                    "action": r.action,
                    "mode": r.mode,
                    "blocked": self.by_rule.get(r.id, 0),
                    "matched_in_monitor": self.monitored.get(r.id, 0),
                }
            )
        per_customer = [
            {
                "customer": c,
                "calls": self.customers[c],
                "blocked": n,
                "share_pct": round(100 * n / self.customers[c], 2),
            }
            for c, n in self.customers_blocked.most_common()
        ]
        return {
            "since": self.since,
            "until": self.until,
            "rules_from": self.source,
            "engine": self.engine,
            "calls": self.calls,
            "blocked": self.blocked,
            "allowed": self.calls - self.blocked,
            "emergency_allowed": self.emergency,
            "per_rule": per_rule,
            "per_customer": per_customer,
            "truth": self.truth,
        }


def read_rules_file(path: Path, emergency: Emergency) -> list[Rule]:
    """Proposed rules: a JSON list of objects or a CSV with a header, columns ``kind, value``
    and optionally ``action, sip_code, mode, reason, rate, subject`` (as ``tracehop block
    add`` takes them). Numbered from 1 in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no rules file at {path}")
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text())
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise InputError(f"{path}: a JSON list of rule objects is expected")
        else:
            with path.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    rules: list[Rule] = []
    for n, row in enumerate(rows, start=1):
        unknown = set(row) - set(RULE_COLUMNS) - {"id"}
        if unknown:
            raise InputError(f"{path} rule {n}: unknown field(s) {', '.join(sorted(unknown))}")
        get = {k: (str(v).strip() if v not in (None, "") else None) for k, v in row.items()}
        try:
            code = get.get("sip_code")
            rule = make_rule(
                get.get("kind") or "",
                get.get("value") or "",
                reason=get.get("reason") or f"proposed rule {n} ({path.name})",
                emergency=emergency,
                action=get.get("action") or "block",
                sip_code=int(code) if code else None,
                mode=get.get("mode") or "enforce",
                rate=get.get("rate"),
                subject=(get.get("subject") or "").replace("-", "_") or None,
                share=float(get["share"]) if get.get("share") else None,
                min_answered=int(get.get("min_answered") or 100),
                window=parse_duration(get.get("window") or "15m", what="window"),
            )
        except (InputError, ValueError) as exc:
            raise InputError(f"{path} rule {n}: {getattr(exc, 'message', exc)}") from None
        rules.append(rule.with_id(n))
    return rules


def truth_table(path: Path, providers: set[str]) -> pa.Table:
    """The simulator's truth as rows of the lake: ``call_id, provider, truth_call, illegal``
    for the calls of these providers. In ``truth/calls.csv`` a call's ``path`` lists the
    providers it crossed (``a>b>c``) and ``call_ids`` each one's own call id at the same
    position (docs/simulator.md); a provider met twice counts its first hop."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    try:
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            include_columns=["call", "campaign", "path", "call_ids"],
            column_types=dict.fromkeys(["call", "campaign", "path", "call_ids"], pa.string()),
            strings_can_be_null=True))  # fmt: skip
    except (pa.ArrowInvalid, KeyError) as exc:
        raise InputError(f"{path}: not a simulated world's truth: {exc}") from None
    hops = pc.split_pattern(pc.fill_null(t["path"], ""), ">")
    ids = pc.split_pattern(pc.fill_null(t["call_ids"], ""), "|")
    if not pc.all(pc.equal(pc.list_value_length(hops), pc.list_value_length(ids))).as_py():
        raise InputError(f"{path}: a call's path and call_ids differ in length")
    parent = pc.list_parent_indices(hops)
    flat = pa.table({
        "call_id": pc.list_flatten(ids), "provider": pc.list_flatten(hops),
        "truth_call": pc.take(t["call"], parent),
        "illegal": pc.not_equal(pc.fill_null(pc.take(t["campaign"], parent), ""), ""),
        "position": pa.array(range(len(parent)), pa.int64()),
    })  # fmt: skip
    flat = flat.filter(pc.is_in(flat["provider"], pa.array(sorted(providers), pa.string())))
    # the first hop of a provider met twice on one path (list_position's rule)
    first = flat.group_by(["truth_call", "provider"]).aggregate([("position", "min")])
    keep = pc.is_in(flat["position"], first["position_min"])
    return flat.filter(keep).select(["call_id", "provider", "truth_call", "illegal"])


def replay(
    settings: Settings,
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    rules_file: Path | None = None,
    truth: Path | None = None,
) -> ReplayReport:
    """Run the lake's calls in ``[since, until)`` through the rules (in force, or those of
    ``rules_file``); ``truth``: a simulated world's folder, to count illegal and legal calls."""
    from tracehop.analyst import open_analytics
    from tracehop.screening.service import emergency_of

    emergency = emergency_of(settings)
    current = StoreSource(store)
    if rules_file is not None:
        proposed = read_rules_file(rules_file, emergency)
        source = FixedSource(proposed, current.dno())
        label = str(rules_file)
    else:
        source, label = current, "state DB"
    # the rules in force now; rate limits count on the calls' own times (decide(at=...))
    screener = Screener(source, emergency=emergency)
    report = ReplayReport(
        since, until, sorted(screener.index.rules.values(), key=lambda r: r.id), label
    )
    engine = open_analytics(settings, store)  # the setting engine: duckdb or spark
    report.engine = engine.name
    try:
        where, params = _window(since, until)
        cols = (
            "c.call_id, c.start, coalesce(c.caller, c.caller_raw) AS caller, c.called, "
            "c.called_raw, c.upstream, c.disposition = 'answered' AS answered, c.duration"
        )
        if truth is not None:
            path = Path(truth) / "truth" / "calls.csv"
            if not path.is_file():
                raise InputError(f"no truth/calls.csv in {truth}: give a simulated world's folder")
            providers = {p for (p,) in engine.sql("SELECT DISTINCT provider FROM calls") if p}
            engine.register_arrow("replay_truth", truth_table(path, providers))
            sql = (
                f"SELECT {cols}, t.illegal, t.truth_call FROM calls c LEFT JOIN replay_truth t "
                f"ON t.call_id = c.call_id AND t.provider = c.provider WHERE {where}"
            )
            report.truth = Counter()  # type: ignore[assignment]
        else:
            sql = f"SELECT {cols}, NULL AS illegal, NULL AS truth_call FROM calls c WHERE {where}"
        # a day (a partition of the lake) at a time, in start order: `day` is the UTC day of
        # `start`, so days in order and each day by start is the calls in start order, and a
        # day's rows are what is held in memory (on Spark, in this process), not the lake's
        days = engine.sql(f"SELECT DISTINCT c.day FROM calls c WHERE {where} ORDER BY 1", params)
        for (day,) in days:
            table = engine.arrow(f"{sql} AND c.day = ? ORDER BY c.start, c.call_id", [*params, day])
            for batch in table.to_batches(BATCH):
                _run_batch(screener, report, batch.to_pydict())
    finally:
        engine.close()
    if report.truth is not None:
        report.truth = dict(report.truth)
    return report


def _window(since: datetime | None, until: datetime | None) -> tuple[str, list[object]]:
    """The condition on ``c.start`` (and on ``c.day``, so that only the window's partitions
    are read)."""
    parts, params = ["TRUE"], []
    if since is not None:
        parts += ["c.start >= ?", "c.day >= ?"]
        params += [utc(since), utc_day(since)]
    if until is not None:
        parts += ["c.start < ?", "c.day <= ?"]
        params += [utc(until), utc_day(until)]
    return " AND ".join(parts), params


def _run_batch(screener: Screener, report: ReplayReport, cols: dict[str, list]) -> None:
    values = list(cols.values())
    truth = report.truth
    shares = bool(screener.index.share_rules)
    for row in zip(*values, strict=True):
        call_id, start, caller, called, called_raw, upstream, answered, duration = row[:8]
        illegal, truth_call = row[8:]
        call = Call(caller, called or number(called_raw), upstream, call_id)
        t = utc(start).timestamp() if start else 0.0  # an engine may give it naive: UTC
        d = screener.decide(call, source="replay", at=t)
        if shares:  # how it ended, for short-call shares (counted as of its start)
            screener.record_outcome(call, answered=bool(answered), duration=duration or 0, at=t)
        report.calls += 1
        report.customers[upstream or ""] += 1
        for rid in d.monitored:
            report.monitored[rid] += 1
        if d.emergency:
            report.emergency += 1
        blocked = d.action == "block"
        if blocked:
            report.blocked += 1
            report.by_rule[d.rule_id or 0] += 1
            report.customers_blocked[upstream or ""] += 1
        if truth is not None and illegal is not None:
            kind = "illegal" if illegal else "legal"
            truth[kind] += 1
            if d.monitored and not blocked:
                truth[f"{kind}_monitor_matched"] += 1
                report.monitor_truth_calls[str(truth_call)] = bool(illegal)
            if blocked:
                truth[f"{kind}_blocked"] += 1
                report.blocked_truth_calls[str(truth_call)] = bool(illegal)
                if not illegal:
                    report.legal_blocked[upstream or ""] += 1
