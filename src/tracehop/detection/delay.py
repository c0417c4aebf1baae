"""Detection delay: after how many attempts and how many minutes of traffic each simulated
campaign is first flagged at the provider it enters through.

For each campaign of a simulated world (``truth/campaigns.csv``: its entry customer and entry
provider; ``truth/calls.csv``: when each of its calls was made), detection is replayed at the
entry provider's home over growing windows ``[since, since + k * step)``, ``k = 1, 2, ...``,
where ``since`` is the minute of the campaign's first call (floored, minus one minute so
that a switch clock running a little behind loses no call). The first window in which the
entry customer's finding is flagged gives the delay: minutes of traffic since the first call
and the campaign's attempts made by then (counted in the truth). A campaign never flagged
up to its last call (plus one step) has no delay (``flagged_after_minutes`` is None).

The replay is the verdict ``tracehop detect --since ... --until ...`` would give at that
moment: ``detect_on`` over the entry provider's lake, restricted to the entry customer's
calls (a customer's score depends only on its own calls and its customer record, so the
restriction changes nothing but the cost).

Library: :func:`campaign_delays` (one world, homes you opened), :func:`world_delays` (builds
the entry providers' homes with tracehop's ingest). Command:
``tracehop evaluate delay WORLD [--homes DIR] [--step MINUTES] [--json]``.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tracehop.detection.findings import Window
from tracehop.detection.queries import restrict_calls
from tracehop.detection.run import DEFAULT_MIN_CALLS, detect_on
from tracehop.detection.truth import campaign_call_times
from tracehop.engine import Engine
from tracehop.settings import Settings
from tracehop.store import Store

DEFAULT_STEP = timedelta(minutes=15)
# The window starts this long before the campaign's first call (switch clocks are skewed by
# at most about a second; a minute is ample).
LEAD = timedelta(minutes=1)


@dataclass
class CampaignDelay:
    """When one campaign was first flagged at its entry provider."""

    campaign: str
    entry: str  # us_direct | us_reseller | foreign | gateway_reseller
    customer: str
    entry_provider: str
    first_call: datetime
    last_call: datetime
    campaign_calls: int  # the campaign's attempts in the world
    flagged_after_minutes: float | None  # traffic since the first call; None: never flagged
    flagged_after_attempts: int | None  # the campaign's attempts made by then
    customer_attempts: int | None  # all the customer's attempts in that window (at the entry)
    score: float | None
    categories: list[str]
    windows: int  # windows replayed

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["first_call"] = self.first_call.isoformat()
        d["last_call"] = self.last_call.isoformat()
        return d


def campaign_delays(
    world: Path,
    open_home: Callable[[str], tuple[Settings, Store]],
    *,
    step: timedelta = DEFAULT_STEP,
    min_calls: int = DEFAULT_MIN_CALLS,
) -> list[CampaignDelay]:
    """Replay detection over growing windows for every campaign of ``world``; ``open_home``
    gives the entry provider's home (its CDRs and customers loaded)."""
    from tracehop.analyst import open_analytics

    with (world / "truth" / "campaigns.csv").open(newline="") as fh:
        campaigns = list(csv.DictReader(fh))
    calls = campaign_call_times(world)
    out = []
    for c in campaigns:
        times = calls.get(c["campaign"], [])
        if not times:
            continue
        settings, store = open_home(c["entry_provider"])
        engine = open_analytics(settings, store)
        try:
            out.append(_replay(engine, c, times, step, min_calls))
        finally:
            engine.close()
    return out


def _replay(
    engine: Engine,
    campaign: dict[str, str],
    times: list[datetime],
    step: timedelta,
    min_calls: int,
) -> CampaignDelay:
    customer = campaign["customer"]
    first, last = times[0], times[-1]
    since = first.replace(second=0, microsecond=0) - LEAD
    # Only the entry customer's calls: its verdict depends on nothing else.
    restrict_calls(engine, customer, since)
    k = 0
    found = None
    while True:
        k += 1
        until = since + k * step
        result = detect_on(engine, Window(since, until), min_calls=min_calls)
        f = next(
            (x for x in result.findings if x.kind == "customer" and x.subject == customer), None
        )
        if f is not None and f.flagged:
            found = (until, f)
            break
        if until > last + step:
            break
    if found is None:
        minutes = attempts = cust = score = None
        categories: list[str] = []
    else:
        until, f = found
        minutes = round((until - first).total_seconds() / 60, 1)
        attempts = sum(1 for t in times if t < until)
        cust = f.evidence["indicators"].get("calls")
        score = f.score
        categories = f.categories
    return CampaignDelay(
        campaign=campaign["campaign"],
        entry=campaign["entry"],
        customer=customer,
        entry_provider=campaign["entry_provider"],
        first_call=first,
        last_call=last,
        campaign_calls=len(times),
        flagged_after_minutes=minutes,
        flagged_after_attempts=attempts,
        customer_attempts=cust,
        score=score,
        categories=categories,
        windows=k,
    )


def world_delays(
    world: Path, homes: Path | None = None, *, step: timedelta = DEFAULT_STEP
) -> list[CampaignDelay]:
    """Build (or reuse) a home per entry provider under ``homes`` (default: a temporary
    folder, removed after) with tracehop's ingest and customer import, then
    :func:`campaign_delays`."""
    if homes is None:
        with tempfile.TemporaryDirectory(prefix="tracehop-delay-") as tmp:
            return world_delays(world, Path(tmp), step=step)
    from tracehop.cdr.ingest import ingest
    from tracehop.customers import import_customers, parse_customers_csv
    from tracehop.settings import load_settings
    from tracehop.store import open_store

    with (world / "directory.csv").open(newline="") as fh:
        directory = {r["id"]: r for r in csv.DictReader(fh)}
    opened: dict[str, tuple[Settings, Store]] = {}

    def open_home(pid: str) -> tuple[Settings, Store]:
        if pid not in opened:
            settings = load_settings(home=homes / pid, provider=pid)
            store = open_store(settings)
            import_customers(store, parse_customers_csv(world / "customers" / f"{pid}.csv"))
            ingest([world / directory[pid]["cdr_file"]], settings, provider=pid, store=store)
            opened[pid] = (settings, store)
        return opened[pid]

    try:
        return campaign_delays(world, open_home, step=step)
    finally:
        for _, store in opened.values():
            store.close()


def table(delays: list[CampaignDelay]) -> str:
    """The delays as a Markdown table."""
    lines = [
        "| campaign | entry | entry provider | campaign calls | flagged after (minutes) "
        "| campaign attempts by then | customer attempts in window | categories |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in delays:
        mins = "not flagged" if d.flagged_after_minutes is None else f"{d.flagged_after_minutes:g}"
        lines.append(
            f"| {d.campaign} | {d.entry} | {d.entry_provider} | {d.campaign_calls:,} | {mins} | "
            f"{d.flagged_after_attempts if d.flagged_after_attempts is not None else '-'} | "
            f"{d.customer_attempts if d.customer_attempts is not None else '-'} | "
            f"{', '.join(d.categories)} |"
        )
    return "\n".join(lines)
