"""Recall and false positives of detection on simulated worlds, against the simulator's truth.

:func:`evaluate_world` loads every provider's home (``tracehop.demo.load_homes``), detects over
each lake and compares each customer finding with ``truth/customers.csv`` at the customer's own
provider (bad: has campaigns; legal: others); upstream ``carrier`` customers not in the truth
are counted apart, with the campaign calls they passed (``truth/calls.csv``). :func:`evaluate`
simulates (or reuses) one world per (seed, scenario); ``detect`` is injectable. Command:
``tracehop evaluate detection --seeds 30-39 --scenarios default,quiet [--json]``.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tracehop.csvfiles import read_rows as _read
from tracehop.detection.findings import Detection, Finding, Window
from tracehop.detection.run import DEFAULT_MIN_CALLS, detect_on
from tracehop.detection.scoring import CUSTOMER_RULES, SEGMENT_RULES, derive
from tracehop.detection.truth import call_counts
from tracehop.errors import InputError

Detect = Callable[..., Detection]

# Indicators kept per verdict: those the customer rules look at and a few more.
_RULED = [t.indicator for r in CUSTOMER_RULES for t in r.all_thresholds()]
KEY_INDICATORS = list(
    dict.fromkeys(
        [
            "calls",
            "asr",
            "acd",
            "median_answered",
            "under10_share",
            "under30_share",
            "distinct_callers",
            *_RULED,
        ]
    )
)


@dataclass
class Verdict:
    """One customer's finding against the truth at its own provider."""

    subject: str
    provider: str
    role: str
    bad: bool
    campaigns: list[str]
    flagged: bool
    score: float
    categories: list[str]
    truth_calls: int  # calls the truth says it made (its legal traffic included)
    calls: int = 0  # attempts in the lake
    rules: list[str] = field(default_factory=list)  # rules that fired
    note: str = "no finding"
    indicators: dict[str, Any] = field(default_factory=dict)
    nearest: list[str] = field(default_factory=list)  # misses: the closest default rules


@dataclass
class CarrierVerdict:
    """An upstream provider (kind ``carrier``, not in the truth) as seen by one provider."""

    subject: str
    provider: str
    flagged: bool
    score: float
    categories: list[str]
    calls: int
    campaign_calls: int  # campaign calls it passed to ``provider`` (truth)
    rules: list[str] = field(default_factory=list)
    indicators: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorldResult:
    world: str
    verdicts: list[Verdict]
    carriers: list[CarrierVerdict]
    unknown: list[str] = field(default_factory=list)  # findings matching neither
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def bad(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.bad]

    @property
    def legal(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.bad]

    @property
    def misses(self) -> list[Verdict]:
        return [v for v in self.bad if not v.flagged]

    @property
    def false_alarms(self) -> list[Verdict]:
        return [v for v in self.legal if v.flagged]

    def counts(self) -> dict[str, list[int]]:
        """``[flagged, total]`` of bad and legal customers and of carriers; carriers that
        passed campaign calls; carriers flagged without passing any."""
        camp, clean = ([c for c in self.carriers if bool(c.campaign_calls) == b] for b in (1, 0))
        return {
            "bad_flagged": [len(self.bad) - len(self.misses), len(self.bad)],
            "legal_flagged": [len(self.false_alarms), len(self.legal)],
            "carriers_flagged": [sum(c.flagged for c in self.carriers), len(self.carriers)],
            "campaign_carriers_flagged": [sum(c.flagged for c in camp), len(camp)],
            "clean_carriers_flagged": [sum(c.flagged for c in clean), len(clean)],
        }

    def flagged_by_role(self) -> dict[str, list[int]]:
        """``role -> [flagged, total]`` over the legal customers."""
        out: dict[str, list[int]] = {}
        for v in sorted(self.legal, key=lambda v: v.role):
            out[v.role] = [out.get(v.role, [0, 0])[0] + v.flagged, out.get(v.role, [0, 0])[1] + 1]
        return out

    def as_dict(self) -> dict[str, Any]:
        c: dict[str, Any] = self.counts()
        c |= {"recall": _ratio(*c["bad_flagged"]), "fp_rate": _ratio(*c["legal_flagged"])}
        names = {"misses": self.misses, "false_alarms": self.false_alarms}
        return asdict(self) | c | {k: [v.subject for v in vs] for k, vs in names.items()}


def _ratio(n: int, d: int) -> float | None:
    return n / d if d else None


def nearest_rules(
    values: dict[str, Any], segments: dict[str, dict[str, Any]] | None = None, top: int = 3
) -> list[str]:
    """The strong rules closest to firing, with their values: e.g. ``robocall_shape on
    reuse=once 0.83: asr=0.42 (< 0.5), ...``. Closeness is the binding threshold's ratio
    (value / threshold, or threshold / value); a choice counts its closest option."""
    v = derive(values)
    ranked = []
    subjects: list[tuple[Any, str, dict[str, Any]]] = [(r, "", v) for r in CUSTOMER_RULES]
    for rule in SEGMENT_RULES:
        for name in rule.segments:
            if segments and name in segments:
                seg = segments[name] | {"customer_kind": v.get("customer_kind")}
                subjects.append((rule, f" on {name}", seg))
    for rule, where, sv in subjects:
        if rule.weak is not None or sv.get("customer_kind") in rule.exempt_kinds:
            continue
        close = min([_close(t, sv) for t in rule.thresholds] or [1.0])
        for choice in rule.choices:
            close = min(close, max(min(_close(t, sv) for t in ts) for _, ts in choice.options))
        parts = [
            f"{t['indicator']}={t['value'] or 0:g} ({t['op']} {t['threshold']:g})"
            for t in rule.evidence(sv)
        ]
        ranked.append((close, f"{rule.name}{where} {min(close, 1.0):.2f}: {', '.join(parts)}"))
    return [text for _, text in sorted(ranked, key=lambda x: -x[0])[:top]]


def _close(t: Any, v: dict[str, Any]) -> float:
    x, th = float(v.get(t.indicator) or 0.0), t.value
    if t.op == ">=":
        return min(1.0, x / th) if th else 1.0
    return min(1.0, th / x) if x else 1.0


def evaluate_world(
    world_dir: Path,
    homes_dir: Path,
    *,
    min_calls: int = DEFAULT_MIN_CALLS,
    detect: Detect = detect_on,
    label: str | None = None,
) -> WorldResult:
    """Detect at every provider (homes under ``homes_dir``, built or reused); judge by truth."""
    from tracehop.analyst import open_analytics
    from tracehop.demo import load_homes

    started = time.perf_counter()
    world_dir, homes_dir = Path(world_dir), Path(homes_dir)
    truth = {r["id"]: r for r in _read(world_dir / "truth" / "customers.csv")}
    calls, hops = call_counts(world_dir)
    files = json.loads((world_dir / "world.json").read_text())["cdr_files"]
    # a provider without CDR rows (a gateway in a quiet world) has nothing to ingest or judge
    directory = [d for d in _read(world_dir / "directory.csv") if files[d["id"]]["rows"]]
    nodes, _ = load_homes(world_dir, homes_dir, directory)
    verdicts: dict[str, Verdict] = {}
    carriers: list[CarrierVerdict] = []
    unknown: list[str] = []
    try:
        for pid, node in nodes.items():
            engine = open_analytics(node.settings, node.store)
            try:
                result = detect(engine, Window(), min_calls=min_calls)
            finally:
                engine.close()
            for f in result.findings:
                s, t = f.subject, truth.get(f.subject)
                if f.kind != "customer":
                    continue
                if t is not None and t["provider"] == pid:
                    verdicts[s] = _verdict(t, calls[s], f)
                elif t is None and getattr(node.customers.get(s), "kind", "") == "carrier":
                    cv = CarrierVerdict(s, pid, f.flagged, f.score, f.categories, 0, hops[s, pid])
                    cv.calls, cv.rules, cv.indicators = _explain(f)
                    carriers.append(cv)
                else:
                    unknown.append(f"{pid}:{s}")
    finally:
        for node in nodes.values():
            node.close()
    for cid, t in truth.items():  # customers the truth says called but the lake never saw
        if calls[cid] and cid not in verdicts:
            verdicts[cid] = _verdict(t, calls[cid], None)
    judged = sorted(verdicts.values(), key=lambda v: (v.provider, v.subject))
    carriers.sort(key=lambda c: (c.provider, c.subject))
    seconds = round(time.perf_counter() - started, 2)
    return WorldResult(label or world_dir.name, judged, carriers, unknown, seconds=seconds)


def _verdict(t: dict[str, str], truth_calls: int, f: Finding | None) -> Verdict:
    """A truth customer's verdict from its finding (None: the lake never saw it)."""
    camps = [c for c in t["campaigns"].split(";") if c]
    v = Verdict(t["id"], t["provider"], t["role"], bool(camps), camps, False, 0.0, [], truth_calls)
    if f is not None:
        v.flagged, v.score, v.categories = f.flagged, f.score, f.categories
        v.calls, v.rules, v.indicators = _explain(f)
        v.note = f.evidence.get("note", "")
        if v.bad and not v.flagged:
            v.nearest = nearest_rules(f.evidence["indicators"], f.evidence.get("segments"))
    return v


def _explain(f: Finding) -> tuple[int, list[str], dict[str, Any]]:
    """A finding's attempts, the rules that fired and its key indicator values."""
    d = derive(f.evidence.get("indicators", {}))
    keys = {k: d[k] for k in KEY_INDICATORS if k in d}
    return int(d.get("calls") or 0), [r["rule"] for r in f.evidence.get("rules", [])], keys


def _evaluate_one(
    seed: int, scenario: str, scale: float, days: int, work: Path, min_calls: int, detect: Detect
) -> WorldResult:
    """Simulate (or reuse) one world under ``workdir`` and evaluate it."""
    from tracehop.simulate import simulate

    started = time.perf_counter()
    base = Path(work) / f"{scenario}-s{seed}"
    params = {"seed": seed, "scenario": scenario, "scale": scale, "days": days}
    params_file = base / "params.json"
    done = params_file.exists() and (base / "world" / "world.json").exists()
    reused = done and json.loads(params_file.read_text()) == params
    if not reused:
        params_file.unlink(missing_ok=True)
        shutil.rmtree(base / "homes", ignore_errors=True)  # homes of another world
        simulate(base / "world", seed=seed, days=days, scale=scale, scenario=scenario)
        params_file.write_text(json.dumps(params, indent=2) + "\n")
    result = evaluate_world(base / "world", base / "homes", min_calls=min_calls, detect=detect)
    result.world = f"{scenario} s{seed}"
    result.params = {**params, "reused": reused}
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def evaluate(
    seeds: Iterable[int],
    scenarios: Iterable[str],
    *,
    scale: float = 0.05,
    days: int = 1,
    workdir: Path | None = None,
    jobs: int = 1,
    min_calls: int = DEFAULT_MIN_CALLS,
    detect: Detect = detect_on,
) -> list[WorldResult]:
    """Evaluate one world per (seed, scenario), seed-major, in ``workdir/<scenario>-s<seed>``
    (reused when its ``params.json`` matches; default: a temporary folder). With ``jobs > 1``
    in processes (``detect`` must then be a module-level function)."""
    with tempfile.TemporaryDirectory(prefix="tracehop-eval-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        args = [(s, sc, scale, days, work, min_calls, detect) for s in seeds for sc in scenarios]
        if jobs <= 1 or len(args) <= 1:
            return [_evaluate_one(*a) for a in args]
        spawn = multiprocessing.get_context("spawn")  # no fork of a process holding DuckDB
        with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
            return list(pool.map(_evaluate_one, *zip(*args, strict=True)))


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({n / d:.1%})" if d else f"{n}/0 (-)"


def totals(results: list[WorldResult]) -> dict[str, Any]:
    """Counts pooled over all worlds, pooled recall and FP rate, legal flagged by role."""
    out: dict[str, Any] = {"worlds": len(results)}
    roles: dict[str, list[int]] = {}
    for r in results:
        for acc, part in ((out, r.counts()), (roles, r.flagged_by_role())):
            for k, (n, d) in part.items():
                acc[k] = [acc.get(k, [0, 0])[0] + n, acc.get(k, [0, 0])[1] + d]
    out["recall"] = _ratio(*out.get("bad_flagged", [0, 0]))
    out["fp_rate"] = _ratio(*out.get("legal_flagged", [0, 0]))
    out["flagged_by_role"] = roles
    out["unknown"] = sum(len(r.unknown) for r in results)
    out["seconds"] = round(sum(r.seconds for r in results), 1)
    return out


def report(results: list[WorldResult]) -> str:
    """Markdown: a row per world, the totals, then the misses and false alarms in detail."""
    t = totals(results)
    lines = [
        "| world | bad flagged (recall) | legal flagged | carriers flagged | misses | false alarms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows = [(r.world, r.counts(), _names(r.misses), _names(r.false_alarms)) for r in results]
    misses, alarms = t["bad_flagged"][1] - t["bad_flagged"][0], t["legal_flagged"][0]
    rows.append((f"**total ({len(results)} worlds)**", t, str(misses), str(alarms)))
    for name, c, m, fa in rows:
        cells = [_pct(*c[k]) for k in ("bad_flagged", "legal_flagged", "carriers_flagged")]
        lines.append(f"| {name} | {' | '.join(cells)} | {m} | {fa} |")
    roles = ", ".join(f"{k} {_pct(*v)}" for k, v in t["flagged_by_role"].items())
    lines += [
        f"\nLegal customers flagged by role: {roles}.",
        "Carriers (provider, upstream pairs) flagged: that passed campaign calls "
        f"{_pct(*t['campaign_carriers_flagged'])}; that passed none "
        f"{_pct(*t['clean_carriers_flagged'])}; findings matching no truth customer and no "
        f"carrier: {t['unknown']}.",
        "\n## Misses (bad, not flagged)\n",
    ]
    for r in results:
        for v in r.misses:
            fired = f"rules fired: {', '.join(v.rules)}" if v.rules else ""
            why = [f"score {v.score:g}", f"{v.calls} attempts", v.note, fired]
            where = f"{v.provider} ({v.role}; {', '.join(v.campaigns)})"
            lines.append(f"- {r.world} `{v.subject}` at {where}: {'; '.join(w for w in why if w)}")
            lines += [f"  - near: {n}" for n in v.nearest]
    lines += [] if misses else ["none"]
    lines.append("\n## False alarms (legal customers; carriers that passed no campaign call)\n")
    for r in results:
        clean = [c for c in r.carriers if c.flagged and not c.campaign_calls]
        for v in [*r.false_alarms, *clean]:
            role = getattr(v, "role", "carrier without campaign calls")
            why = f"score {v.score:g}, {v.calls} attempts; rules: {', '.join(v.rules)}"
            ind = ", ".join(f"{k}={x:g}" for k, x in v.indicators.items() if x is not None)
            lines += [f"- {r.world} `{v.subject}` at {v.provider} ({role}): {why}", f"  - {ind}"]
    lines += [] if alarms + t["clean_carriers_flagged"][0] else ["none"]
    return "\n".join(lines)


def _names(verdicts: list[Verdict]) -> str:
    return ", ".join(v.subject for v in verdicts) or "-"


def parse_seeds(text: str) -> list[int]:
    """``30-39`` or ``1,4,7-9``."""
    pairs = [p.strip().partition("-") for p in text.split(",")]
    try:
        return [s for lo, _, hi in pairs for s in range(int(lo), int(hi or lo) + 1)]
    except ValueError:
        raise InputError(
            f"seeds {text!r}: give numbers and ranges, e.g. 30-39 or 1,4,7-9"
        ) from None


def parse_scenarios(text: str) -> list[str]:
    """``default,notice``: scenario names, each one the simulator knows."""
    from tracehop.simulate import SCENARIOS

    scenarios = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise InputError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return scenarios


def summary(results: list[WorldResult], wall_seconds: float) -> dict[str, Any]:
    """The JSON form of an evaluation: totals (with the wall time) and every world."""
    out = {"totals": totals(results) | {"wall_seconds": wall_seconds}}
    return out | {"worlds": [r.as_dict() for r in results]}
