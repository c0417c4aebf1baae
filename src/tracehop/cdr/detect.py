"""``--format auto``: which shipped layout a CDR file is, from its first lines.

Header layouts are recognised by the names in the first line; positional layouts by the number
of fields and by probes on a few fields (a time where the start should be, a known disposition
or hangup cause), because several switches write the same number of fields (Asterisk cdr_csv
with ``newcdrcolumns`` and the ``cdr_custom`` default both write 19); key=value layouts by their
record pattern. When nothing matches, the error names the nearest layouts and what differed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from tracehop.cdr.layouts import PRESETS, Layout, zoned
from tracehop.cdr.sources import first_lines
from tracehop.errors import FormatError

SAMPLE_LINES = 20
ISO_TIME = re.compile(
    r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
    r"\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)?\s*"
)
EPOCH_TIME = re.compile(r"\s*[0-9]{9,11}(\.[0-9]+)?\s*")


@dataclass(frozen=True)
class Detection:
    layout: Layout
    why: str  # e.g. "21 fields; start is a time"


def split_line(text: str, layout: Layout) -> list[str]:
    """One line split as the layout's CSV dialect (never the csv module's 128 KB field limit)."""
    if layout.kind == "keyvalue":
        return [text]
    if layout.line_prefix and text.lstrip().startswith(layout.line_prefix):
        text = text.lstrip()[len(layout.line_prefix) :]
    if layout.line_suffix and text.rstrip().endswith(layout.line_suffix):
        text = text.rstrip()[: -len(layout.line_suffix)]
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    quote = layout.quote or None
    reader = csv.reader(
        [text],
        delimiter=layout.delimiter,
        quotechar=quote,
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        skipinitialspace=True,
        # an unquoted layout whose escape is a backslash: "\\," is a delimiter in a value
        escapechar=layout.escape if not quote and layout.escape == "\\" else None,
    )
    try:
        return next(reader)
    except (csv.Error, StopIteration):
        return text.split(layout.delimiter)


def normalise_header(cells: list[str]) -> list[str]:
    return [c.strip().lstrip("\ufeff").strip().lower() for c in cells]


def is_time(value: str, layout: Layout) -> bool:
    if ISO_TIME.fullmatch(value) or EPOCH_TIME.fullmatch(value):
        return True
    rule = layout.rules.get("start")
    for fmt in rule.formats if rule else ():
        text = value.strip()
        if rule and rule.pattern and (m := re.search(rule.pattern, text)) and m.group(1):
            text = m.group(1).strip()  # the part of the value the rule takes
        if rule and rule.zones:  # the zone name as its offset, as compile.strptime_sql does
            text, fmt = zoned(text, rule.zones), fmt.replace("%Z", "%z")
        try:
            datetime.strptime(text, fmt)
            return True
        except ValueError:
            continue
    return False


def probe_ok(layout: Layout, order: tuple[str, ...], cells: list[str]) -> bool:
    """Every detect probe holds for this row (empty values prove nothing either way)."""
    return not failed_probes(layout, order, cells)


def failed_probes(layout: Layout, order: tuple[str, ...], cells: list[str]) -> list[str]:
    """The detect probes this row fails, each as its field and the value it had."""
    failed = []
    for probe in layout.detect:
        if probe.field not in order:
            failed.append(probe.field)
            continue
        value = cells[order.index(probe.field)].strip()
        if not value:
            if layout.any_width:  # a row of any width proves nothing by what it lacks
                failed.append(f"{probe.field} (empty)")
            continue
        if (
            (probe.kind == "time" and not is_time(value, layout))
            or (probe.kind == "values" and value.upper() not in {v.upper() for v in probe.values})
            or (probe.kind == "pattern" and not re.search(probe.pattern or "", value))
        ):
            failed.append(f"{probe.field} {value[:30]!r}")
    return failed


def _skipped(layout: Layout, order: tuple[str, ...], cells: list[str]) -> bool:
    """The row is one the layout's [[skip]] rules leave out (as compile._skip_sql does)."""

    def value(name: str) -> str:
        return cells[order.index(name)].strip() if name in order else ""

    for probe in layout.skip:
        if probe.when and value(probe.when[0]).upper() not in probe.when[1]:
            continue
        v = value(probe.field)
        if probe.kind == "values" and v.upper() in {x.upper() for x in probe.values}:
            return True
        if probe.kind == "pattern" and re.search(probe.pattern or "", v):
            return True
    return False


def _header_score(layout: Layout, names: set[str]) -> int:
    if not set(layout.required) <= names:
        return 0
    return len(layout.required) * 10 + len(names & layout.mapped_fields())


def _positional_score(layout: Layout, rows: list[list[str]]) -> tuple[int, int]:
    """(score, rows that failed a probe): rows of an accepted width whose probes pass. A row
    or two that fail (a damaged line among the first lines) do not hide the file's layout:
    at most one checked row in ten may fail, with four or more that pass; those rows are read
    and rejected with their reason like any bad row. Each failure lowers the score, so a
    layout every row fits wins."""
    matched = failed = 0
    for order in layout.orders():
        for cells in rows:
            if layout.trailing_delimiter and len(cells) > 1 and not cells[-1].strip():
                cells = cells[:-1]  # the delimiter ending every record is no field (Sansay)
            if layout.any_width and len(cells) <= len(order):
                cells = cells + [""] * (len(order) - len(cells))
                if _skipped(layout, order, cells):
                    continue  # a file header, a record type that is no call: no evidence
            if len(cells) != len(order):
                continue
            if probe_ok(layout, order, cells):
                matched += 1
            else:
                failed += 1
    if not matched or (failed and (matched < 4 or failed * 10 > matched + failed)):
        return 0, failed
    return matched * 10 - failed * 5 + len(layout.detect), failed


def detect(path: Path, *, max_line_size: int = 1 << 20) -> Detection:
    """The shipped layout that reads ``path``; FormatError naming the nearest ones if none."""
    if path.suffix.lower() == ".parquet" or _is_parquet(path):
        return Detection(PRESETS["parquet"], "a Parquet file")
    lines = [(n, b) for n, b in first_lines(path, SAMPLE_LINES, max_line_size) if b is not None]
    if not lines:
        raise FormatError(f"{path} is empty: no CDR rows to ingest")
    texts = [b.decode("utf-8", errors="replace") for _, b in lines]
    best: tuple[int, Layout, str] | None = None
    for preset in PRESETS.values():
        for layout in variants(preset):
            score, why = _score(layout, texts)
            if score and (best is None or score > best[0]):
                best = (score, layout, why)
    if best is None:
        raise FormatError(_no_match(path, texts))
    return Detection(best[1], best[2])


def variants(layout: Layout) -> list[Layout]:
    """A layout that accepts several delimiters, as one layout per delimiter."""
    if not layout.delimiters:
        return [layout]
    return [replace(layout, delimiter=d, delimiters=()) for d in layout.delimiters]


def for_file(layout: Layout, path: Path, *, max_line_size: int = 1 << 20) -> Layout:
    """``layout`` with the one delimiter this file uses (its first line decides)."""
    if not layout.delimiters:
        return layout
    lines = [b for _, b in first_lines(path, SAMPLE_LINES, max_line_size) if b is not None]
    texts = [b.decode("utf-8", errors="replace") for b in lines]
    options = variants(layout)
    if not texts:
        return options[0]
    return max(options, key=lambda v: (_score(v, texts)[0], len(split_line(texts[0], v))))


def _score(layout: Layout, texts: list[str]) -> tuple[int, str]:
    if layout.kind == "parquet":
        return 0, ""
    if layout.line_prefix and not all(t.lstrip().startswith(layout.line_prefix) for t in texts):
        return 0, ""
    if layout.kind == "keyvalue":
        hits = sum(1 for t in texts if re.search(layout.record or "$^", t))
        return (
            (hits * 10, f"{hits} of the first {len(texts)} lines are acc records")
            if hits
            else (0, "")
        )
    if layout.header:
        names = set(normalise_header(split_line(texts[0], layout)))
        score = _header_score(layout, names)
        return (score * 100, f"header names {', '.join(layout.required)}") if score else (0, "")
    rows = [split_line(t, layout) for t in texts]
    score, failed = _positional_score(layout, rows)
    if not score:
        return 0, ""
    if layout.line_prefix:
        score += 1000  # every line starts with the template's own text
    width = len(rows[0]) - (layout.trailing_delimiter and not rows[0][-1].strip())
    checks = ", ".join(sorted({p.field for p in layout.detect}))
    what = f"records of up to {len(layout.columns)} fields" if layout.any_width else "fields"
    odd = f"; {failed} of the first {len(rows)} lines did not fit it" if failed else ""
    return score, (f"{what}" if layout.any_width else f"{width} {what}") + (
        f"; checked {checks}" if checks else ""
    ) + odd


def _is_parquet(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def _no_match(path: Path, texts: list[str]) -> str:
    """Which layouts came nearest, and what differed (width, header names)."""
    comma = PRESETS["generic"]
    cells = split_line(texts[0], comma)
    names = set(normalise_header(cells))
    width = len(cells)
    nearest: list[tuple[int, str]] = []
    for layout in PRESETS.values():
        if layout.kind != "csv":
            continue
        if layout.header:
            missing = [c for c in layout.required if c not in names]
            nearest.append((len(missing), f"{layout.name} (header lacks {', '.join(missing)})"))
        else:
            widths = layout.widths()
            gap = min(abs(w - width) for w in widths)
            what = f"{'/'.join(map(str, widths))} fields"
            if not gap:
                order = next(o for o in layout.orders() if len(o) == width)
                failed = failed_probes(layout, order, split_line(texts[0], layout))
                what = f"{width} fields, but {', '.join(failed) or 'its probes'} did not match"
            nearest.append((gap, f"{layout.name} ({what})"))
    nearest.sort()
    tried = "; ".join(text for _, text in nearest[:3])
    return (
        f"cannot tell the format of {path}: its first line has {width} fields and matches no "
        f"layout. Nearest: {tried}. Pass --format NAME or --layout FILE (tracehop layouts list; "
        f"a first layout file for it: tracehop layouts draft {path})"
    )
