"""Detection judged on the second generator's families (``tracehop.simulate.families``):
recall of the customers carrying illegal traffic, false alarms on legal ones (consented call
centers and notification senders counted apart), and whether the first category is the
right one; per family, with the family's role (tuning or evaluation) beside its figures
(docs/detection.md, "Evaluation on families").

:func:`evaluate_family_world` loads one world into a tracehop home the way a user would
(``tracehop ingest`` of the provider's CDR file, ``tracehop customers import``), runs
detection over the whole window with the world's Do-Not-Originate list, and judges each
customer finding against ``truth/customers.csv``. :func:`evaluate_families` does it for
every (family, seed). Command: ``tracehop evaluate detection --families all --seeds 1-5``.
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

from tracehop.csvfiles import read_rows
from tracehop.detection.findings import Detection, Window
from tracehop.detection.run import DEFAULT_MIN_CALLS, detect_on
from tracehop.detection.scoring import CATEGORY_ORDER
from tracehop.errors import InputError

Detect = Callable[..., Detection]
# Legal customers that must never be flagged (the goal): consented call centers and
# notification senders.
PROTECTED_ROLES = ("call_center", "reminders", "school_blast", "political_blast")


@dataclass
class FamilyVerdict:
    subject: str
    role: str
    bad: bool
    in_goal: bool  # illegal calls >= min(10 % of its calls, 300 a day)
    calls: int
    illegal_calls: int
    illegal_share: float
    components: str
    expected: list[str]  # categories of its illegal traffic, the right first one first
    flagged: bool = False
    score: float = 0.0
    categories: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    nearest: list[str] = field(default_factory=list)

    @property
    def category_ok(self) -> bool:
        return bool(self.flagged and self.categories and self.expected) and (
            self.categories[0] == self.expected[0]
        )


@dataclass
class FamilyWorld:
    family: str
    role: str
    seed: int
    days: int
    verdicts: list[FamilyVerdict]
    seconds: float = 0.0

    def counts(self) -> dict[str, list[int]]:
        """``[hits, total]`` per measure."""
        bad = [v for v in self.verdicts if v.bad]
        goal = [v for v in bad if v.in_goal]
        legal = [v for v in self.verdicts if not v.bad]
        protected = [v for v in legal if v.role in PROTECTED_ROLES]
        flagged_bad = [v for v in bad if v.flagged]
        return {
            "goal_flagged": [sum(v.flagged for v in goal), len(goal)],
            "bad_flagged": [len(flagged_bad), len(bad)],
            "legal_flagged": [sum(v.flagged for v in legal), len(legal)],
            "protected_flagged": [sum(v.flagged for v in protected), len(protected)],
            "category_right": [sum(v.category_ok for v in flagged_bad), len(flagged_bad)],
        }


def expected_categories(truth: dict[str, str]) -> list[str]:
    """The categories of a customer's illegal traffic, the right first one first
    (``scoring.CATEGORY_ORDER``: the most specific kind)."""
    cats = [c for c in truth.get("categories", "").split(";") if c]
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return sorted(dict.fromkeys(cats), key=lambda c: order.get(c, len(order)))


def evaluate_family_world(
    world: Path, home: Path, *, detect: Detect = detect_on, min_calls: int = DEFAULT_MIN_CALLS
) -> FamilyWorld:
    """Load a family world into ``home`` (rebuilt) and judge detection against its truth."""
    from tracehop.analyst import open_analytics
    from tracehop.cdr.ingest import ingest
    from tracehop.customers import import_customers, parse_customers_csv
    from tracehop.detection.evaluate import nearest_rules
    from tracehop.settings import load_settings
    from tracehop.store import open_store

    started = time.perf_counter()
    info = json.loads((world / "world.json").read_text())
    pid = info["provider"]
    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(home=home, provider=pid)
    store = open_store(settings)
    try:
        import_customers(store, parse_customers_csv(world / "customers" / f"{pid}.csv"))
        ingest([world / "cdrs" / f"{pid}.csv"], settings, provider=pid, store=store)
        dno = [r["number"] for r in read_rows(world / "dno.csv")]
        engine = open_analytics(settings, store)
        try:
            result = detect(engine, Window(), min_calls=min_calls, dno=dno)
        finally:
            engine.close()
    finally:
        store.close()
    found = {f.subject: f for f in result.findings if f.kind == "customer"}
    verdicts = []
    for t in read_rows(world / "truth" / "customers.csv"):
        illegal = int(t["illegal_calls"])
        v = FamilyVerdict(
            t["id"], t["role"], illegal > 0, t["in_goal"] == "true", int(t["calls"]), illegal,
            float(t["illegal_share"]), t["components"], expected_categories(t),
        )  # fmt: skip
        f = found.get(t["id"])
        if f is not None:
            v.flagged, v.score, v.categories = f.flagged, f.score, f.categories
            v.rules = [r["rule"] for r in f.evidence.get("rules", [])]
            if v.bad and not v.flagged:
                v.nearest = nearest_rules(f.evidence["indicators"], f.evidence.get("segments"))
        verdicts.append(v)
    seconds = round(time.perf_counter() - started, 2)
    # the family's role as defined now (a family moves to tuning once it was used to choose
    # a threshold), not as it was when the world was generated
    from tracehop.simulate.families import FAMILIES

    family = FAMILIES.get(info["family"])
    role = family.role if family is not None else info["role"]
    return FamilyWorld(info["family"], role, info["seed"], info["days"], verdicts, seconds)


def _one(
    family: str, seed: int, days: int | None, scale: float, work: Path, detect: Detect
) -> FamilyWorld:
    from tracehop.simulate.families import GENERATOR_VERSION, generate

    base = Path(work) / f"{family}-s{seed}"
    params = {"family": family, "seed": seed, "days": days, "scale": scale,
              "generator_version": GENERATOR_VERSION}  # fmt: skip
    marker = base / "params.json"
    if not (marker.exists() and json.loads(marker.read_text()) == params):
        shutil.rmtree(base, ignore_errors=True)
        generate(base / "world", family, seed=seed, days=days, scale=scale)
        marker.write_text(json.dumps(params) + "\n")
    return evaluate_family_world(base / "world", base / "home", detect=detect)


def evaluate_families(
    families: Iterable[str],
    seeds: Iterable[int],
    *,
    days: int | None = None,
    scale: float = 1.0,
    workdir: Path | None = None,
    jobs: int = 1,
    detect: Detect = detect_on,
) -> list[FamilyWorld]:
    """One world per (family, seed) in ``workdir/<family>-s<seed>`` (reused when generated
    with the same parameters; default: a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="tracehop-families-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        args = [(f, s, days, scale, work, detect) for f in families for s in seeds]
        if jobs <= 1 or len(args) <= 1:
            return [_one(*a) for a in args]
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
            return list(pool.map(_one, *zip(*args, strict=True)))


def parse_families(text: str) -> list[str]:
    """``all``, ``tuning``, ``evaluation`` or family names, comma-separated."""
    from tracehop.simulate.families import FAMILIES

    out: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            out += list(FAMILIES)
        elif part in ("tuning", "evaluation"):
            out += [f.name for f in FAMILIES.values() if f.role == part]
        elif part in FAMILIES:
            out.append(part)
        else:
            raise InputError(
                f"unknown family {part!r}; use all, tuning, evaluation or one of "
                + ", ".join(FAMILIES)
            )
    return list(dict.fromkeys(out))


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({n / d:.1%})" if d else "-"


def family_totals(results: list[FamilyWorld]) -> dict[str, dict[str, Any]]:
    """Per family (in order), its role and the pooled counts; and per role."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        for key in (r.family, f"all {r.role} families"):
            row = out.setdefault(key, {"role": r.role, "worlds": 0})
            row["worlds"] += 1
            for k, (n, d) in r.counts().items():
                row[k] = [row.get(k, [0, 0])[0] + n, row.get(k, [0, 0])[1] + d]
    return dict(sorted(out.items(), key=lambda x: (x[0].startswith("all "), x[1]["role"])))


def families_report(results: list[FamilyWorld]) -> str:
    """Markdown: the families table (role, recall in the goal, recall of every bad customer,
    false alarms, of them on call centers and notification senders, right first category),
    then every miss and false alarm."""
    lines = [
        "| family | role | worlds | recall (in the goal) | recall (all bad) | false alarms "
        "(legal) | on call centers and notifications | right first category |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in family_totals(results).items():
        cells = [_pct(*row[k]) for k in ("goal_flagged", "bad_flagged", "legal_flagged",
                                          "protected_flagged", "category_right")]  # fmt: skip
        label = f"**{name}**" if name.startswith("all ") else name
        lines.append(f"| {label} | {row['role']} | {row['worlds']} | {' | '.join(cells)} |")
    lines.append("\n## Misses (carrying illegal traffic, not flagged)\n")
    for r in results:
        for v in (v for v in r.verdicts if v.bad and not v.flagged):
            goal = "in the goal" if v.in_goal else "under the goal's floor"
            lines.append(
                f"- {r.family} s{r.seed} `{v.subject}` ({v.role}; {v.components}; "
                f"{v.illegal_calls} of {v.calls} calls illegal, {goal})"
            )
            lines += [f"  - near: {n}" for n in v.nearest]
    lines.append("\n## False alarms (legal customers flagged)\n")
    for r in results:
        for v in (v for v in r.verdicts if not v.bad and v.flagged):
            lines.append(
                f"- {r.family} s{r.seed} `{v.subject}` ({v.role}; {v.components}; {v.calls} "
                f"calls): {', '.join(v.categories)} by {', '.join(v.rules)}"
            )
    lines.append("\n## Wrong first category (flagged, carrying illegal traffic)\n")
    for r in results:
        for v in (v for v in r.verdicts if v.bad and v.flagged and not v.category_ok):
            lines.append(
                f"- {r.family} s{r.seed} `{v.subject}` ({v.components}): got "
                f"{', '.join(v.categories)}; expected {v.expected[0] if v.expected else '-'}"
            )
    return "\n".join(lines)


def families_summary(results: list[FamilyWorld], wall_seconds: float) -> dict[str, Any]:
    return {
        "families": family_totals(results),
        "wall_seconds": wall_seconds,
        "worlds": [asdict(r) for r in results],
    }
