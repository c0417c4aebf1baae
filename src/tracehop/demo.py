"""The demo: what ``make demo`` shows a new user, with real figures from the run.

Until the simulator lands, it ingests the sample CDRs shipped in ``examples/`` (one file per
switch format) into a fresh home and summarises them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.customers import import_customers, parse_customers_csv
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class DemoReport:
    home: str
    lines: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)


def run_demo(out: Path, *, say: Callable[[str], None] = lambda _s: None) -> DemoReport:
    """Build a demo home under ``out`` from the shipped examples and report on it."""
    examples = EXAMPLES
    if not (examples / "cdrs").is_dir():
        from tracehop.errors import ConfigError

        raise ConfigError(f"the sample CDRs are missing ({examples}/cdrs): run from a checkout")
    settings: Settings = load_settings(home=out)
    report = DemoReport(home=str(out))

    def line(text: str) -> None:
        report.lines.append(text)
        say(text)

    store = open_store(settings)
    try:
        imported = import_customers(store, parse_customers_csv(examples / "customers.csv"))
        result = ingest([examples / "cdrs"], settings, store=store)
        per_format = query(
            "select provider, count(*) as calls, count(distinct upstream) as upstreams "
            "from calls group by 1",
            settings,
            store=store,
        ).records()
        top = query(
            "select upstream, coalesce(c.name, upstream) as name, count(*) as calls, "
            "round(100.0 * avg((disposition = 'answered')::int), 1) as asr_pct "
            "from calls left join customers c on c.id = upstream "
            "group by 1, 2 order by calls desc limit 5",
            settings,
            store=store,
        ).records()
    finally:
        store.close()
    report.figures = {
        "customers": imported.created + imported.updated + imported.unchanged,
        **{k: v for k, v in result.to_dict().items() if k != "details"},
        "top_upstreams": top,
        "per_provider": per_format,
    }
    line(f"tracehop demo: home at {out}")
    line(
        f"Loaded {result.rows_ingested:,} calls from {len(result.files)} CDR files "
        f"({', '.join(sorted({f.format for f in result.files}))}); "
        f"{result.rows_rejected} bad rows quarantined with their line and reason; "
        f"{result.files_skipped} files already ingested."
    )
    for row in top:
        line(f"  upstream {row['name']}: {row['calls']} calls, ASR {row['asr_pct']}%")
    line(f'Explore: tracehop --home {out} query "select * from calls limit 10"')
    line(f'         tracehop --home {out} query "select * from rejects"')
    return report
