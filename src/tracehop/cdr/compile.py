"""A layout compiled into SQL: the ``read_csv`` call for a file and one select list that turns
its raw text fields into the *mapped* columns that ``sql.normalise_sql`` checks and normalises
the same way for every layout (no Python per row):

``call_id_raw, start_raw, start_alt, start_fmt, duration_raw, caller_raw, called_raw,
upstream_raw, downstream_raw, disposition_raw, sip_code_raw, attest_raw, orig_id_raw,
identity_raw, extra`` (+ ``th_skip`` for rows that are not records, ``method`` and ``leg`` for
SIP transaction rows, ``th_call`` and ``th_first`` for rows that are parts of one call).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tracehop.cdr.layouts import UNITS, Layout, Rule
from tracehop.sqltext import lit

# One column more than the file's header or the layout's widest order: every row is read
# with all the columns, a row a writer left shorter padded with NULL (exporters drop trailing
# empty fields; OpenSIPS' acc leaves a failed call's duration out), and a row with more fields
# fills this column and is rejected. DuckDB's lenient reader (strict_mode = false, which the
# switches' loose quoting needs) would drop the extra fields silently: an unquoted delimiter
# in a value shifts the row, and its values would be stored in the wrong columns.
WIDE = "th_more"


def wide_reason(layout: Layout, widest: int) -> str:
    """The reject reason of a row with more fields than ``widest``."""
    what = "the header's" if layout.header else "the layout's widest"
    return f"unreadable row: more than {widest} fields, {what}"


KEYVALUE_COLUMN = "line"
# A keyvalue file is read as one column per line: a delimiter that text never holds.
KEYVALUE_DELIMITER = "\x01"


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Compiled:
    select: str  # the mapped select list
    start_alt: bool  # the layout reads non-ISO times (start_alt, start_fmt are real)
    duration_scale: float
    skip: bool  # rows may be flagged th_skip
    transactions: bool
    zone: str | None = None  # the layout's zone for naive start times
    legs: bool = False  # rows carry th_call / th_first (pipeline folds them into calls)
    wide: str | None = None  # the reject reason of a row with more fields than the layout


def read_csv_sql(
    layout: Layout, path: Path, cols: list[str], *, skip: int, max_line_size: int
) -> str:
    """``read_csv`` of ``path`` with explicit text columns (never DuckDB's type sniffing)."""
    columns = "{" + ", ".join(f"{lit(c)}: 'VARCHAR'" for c in cols) + "}"
    if layout.kind == "keyvalue":
        dialect = f"delim = {lit(KEYVALUE_DELIMITER)}, quote = '', escape = ''"
    else:
        dialect = (
            f"delim = {lit(layout.delimiter)}, quote = {lit(layout.quote)}, "
            f"escape = {lit(layout.escape)}"
        )
    options = (
        f"columns = {columns}, header = {'true' if layout.header else 'false'}, "
        f"skip = {skip}, {dialect}, auto_detect = false, strict_mode = false, "
        "store_rejects = true, rejects_table = 'th_rejects', rejects_scan = 'th_scans', "
        f"max_line_size = {int(max_line_size)}, encoding = 'utf-8', compression = 'none'"
    )
    if WIDE in cols:  # rows a writer left shorter: their missing fields are NULL
        options += ", null_padding = true"
    if layout.nulls:  # an empty value stays no value too
        options += f", nullstr = [{', '.join(lit(v) for v in ('', *layout.nulls))}]"
    return f"read_csv({lit(str(path))}, {options})"


class _Fields:
    """SQL for a field of the file by its name (NULL when the file does not have it)."""

    def __init__(self, layout: Layout, cols: list[str]) -> None:
        self.layout = layout
        self.cols = cols
        self.present = set(cols)

    def __call__(self, name: str) -> str:
        layout = self.layout
        if layout.kind == "keyvalue":
            sep = re.escape(layout.pair_separator)
            pattern = "(?:^|[" + sep + r":\s])" + re.escape(name) + "=([^" + sep + "]*)"
            return f"nullif(regexp_extract({q(KEYVALUE_COLUMN)}, {lit(pattern)}, 1), '')"
        if name not in self.present:
            return "NULL"
        expr = q(name)
        real = [c for c in self.cols if c != WIDE]
        if layout.line_prefix and name == real[0]:
            prefix = "^\\s*" + re.escape(layout.line_prefix)
            expr = f"trim(regexp_replace({expr}, {lit(prefix)}, ''), '\" ')"
        if layout.line_suffix and name == real[-1]:
            expr = f"trim({expr}, {lit(layout.line_suffix + chr(34) + ' ')})"
        if layout.padded:
            expr = f"nullif(trim({expr}), '')"
        return expr


def _nonempty(expr: str) -> str:
    return f"nullif(trim({expr}), '')"


def rule_sql(rule: Rule, field: _Fields) -> str:
    """The text a rule gives for one row (NULL when it gives nothing)."""
    if rule.value is not None:
        return lit(rule.value)
    if rule.span:
        return span_sql(rule, field)
    if rule.join:  # a date and a time field: one text (empty parts left out)
        expr = (
            "nullif(concat_ws(' ', " + ", ".join(_nonempty(field(f)) for f in rule.join) + "), '')"
        )
    elif not rule.fields:
        expr = "NULL"
    elif len(rule.fields) == 1:
        expr = field(rule.fields[0])
    else:
        expr = "coalesce(" + ", ".join(_nonempty(field(f)) for f in rule.fields) + ")"
    if rule.pattern:
        expr = f"nullif(regexp_extract({expr}, {lit(rule.pattern)}, 1), '')"
    if rule.table is not None:
        whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in rule.table.items())
        default = lit(rule.default) if rule.default is not None else expr
        expr = f"(CASE upper(trim({expr})) {whens} ELSE {default} END)"
    if rule.when:  # only on the rows of these values (a record type)
        expr = f"CASE WHEN {_is_one_of(field(rule.when[0]), rule.when[1])} THEN {expr} END"
    if rule.fallback:
        first = expr if len(rule.fields) > 1 and not rule.pattern else _nonempty(expr)
        expr = "coalesce(" + ", ".join([first, *(rule_sql(r, field) for r in rule.fallback)]) + ")"
    return expr


def _is_one_of(expr: str, values: tuple[str, ...]) -> str:
    """The field's value, trimmed and upper-cased, is one of ``values`` (never NULL)."""
    # a CASE, not IN: DuckDB runs a list of constants as a join, which loses the file's row
    # order in a file read in parts (docs/performance.md, issue 11 fourth pass)
    whens = " ".join(f"WHEN {lit(v.upper())} THEN true" for v in values)
    return f"(CASE upper(trim({expr})) {whens} ELSE false END)"


def time_sql(
    expr: str, formats: tuple[str, ...] = (), zones: Mapping[str, str] | None = None
) -> str:
    """ISO 8601 (with or without zone) or epoch seconds -> TIMESTAMPTZ; the layout's formats
    after that. Naive times are read in the session's zone (the switch's, set by ingest)."""
    iso = f"try_cast({expr} AS TIMESTAMPTZ)"
    epoch = (
        f"CASE WHEN regexp_full_match(trim({expr}), '[0-9]{{9,11}}(\\.[0-9]+)?') "
        f"THEN to_timestamp(trim({expr})::DOUBLE) END"
    )
    alts = [f"{strptime_sql(expr, f, zones)}::TIMESTAMPTZ" for f in formats]
    return "coalesce(" + ", ".join([iso, epoch, *alts]) + ")"


def strptime_sql(expr: str, fmt: str, zones: Mapping[str, str] | None = None) -> str:
    """``try_strptime`` of the trimmed text with a layout's format. With ``zones``, the
    format's zone name (%Z) is read from the layout's table, not DuckDB's: the abbreviation
    in the text becomes its offset, read as %z (an abbreviation not in the table: NULL, the
    time unreadable)."""
    if not zones:
        return f"try_strptime(trim({expr}), {lit(fmt)})"
    names = "|".join(sorted((re.escape(z) for z in zones), key=len, reverse=True))
    pattern = lit(rf"\b(?i:{names})\b")
    group = lit(rf"\b((?i:{names}))\b")
    name = f"upper(regexp_extract({expr}, {group}, 1))"
    offset = (
        "CASE "
        + name
        + " "
        + " ".join(f"WHEN {lit(z)} THEN {lit(o)}" for z, o in zones.items())
        + " END"
    )
    text = f"regexp_replace(trim({expr}), {pattern}, {offset})"
    return f"try_strptime({text}, {lit(fmt.replace('%Z', '%z'))})"


def span_sql(rule: Rule, field: _Fields) -> str:
    """Seconds between two time fields (answer -> end): the answered duration."""
    assert rule.span is not None
    a, b = (time_sql(field(f), rule.formats, rule.zones) for f in rule.span)
    return f"(epoch({b}) - epoch({a}))::VARCHAR"


def _answered_sql(layout: Layout, field: _Fields) -> str | None:
    """The switch's own evidence of an answer: an answer time, or billable seconds > 0."""
    terms = []
    if layout.answered_stamp:
        stamp = rule_sql(layout.answered_stamp, field)
        # no time: empty, zero, MySQL's zero date, or the NULL a database export prints
        # (`mysql -B` writes NULL, PostgreSQL's COPY \N)
        none = "'', '0', '0000-00-00 00:00:00', '0.0', 'NULL', '\\N'"
        terms.append(f"coalesce(upper(trim({stamp})) NOT IN ({none}), false)")
    if layout.answered_seconds:
        seconds = rule_sql(layout.answered_seconds, field)
        terms.append(f"coalesce(try_cast({seconds} AS DOUBLE) > 0, false)")
    return "(" + " OR ".join(terms) + ")" if terms else None


def _cause_case(layout: Layout, cause: str, pick: int) -> str:
    """Hangup cause -> disposition (``pick`` 0) or SIP code (1), after the layout's table;
    the key ``*`` is the answer for a cause the table does not name."""
    items = {k: v for k, v in layout.causes.items() if k != "*"}
    whens = " ".join(
        f"WHEN {lit(k)} THEN {lit(str(v[pick]))}" for k, v in items.items() if v[pick] is not None
    )
    fallback = layout.causes.get("*")
    default = "NULL"
    if fallback and fallback[pick] is not None:
        default = (
            f"CASE WHEN nullif(trim({cause}), '') IS NOT NULL THEN {lit(str(fallback[pick]))} END"
        )
    return f"(CASE upper(trim({cause})) {whens} ELSE {default} END)"


def _outcome(layout: Layout, field: _Fields) -> tuple[str, str, str | None]:
    """(disposition_raw, sip_code_raw, cause): what the switch says happened. Answered when
    it shows an answer, whatever the hangup cause (FreeSWITCH RECOVERY_ON_TIMER_EXPIRE after
    32 billable seconds is a 32-second answered call); the cause is kept."""
    rules = layout.rules
    cause = rule_sql(rules["cause"], field) if "cause" in rules else None
    if "disposition" in rules:
        disp = rule_sql(rules["disposition"], field)
    elif cause and layout.causes:
        disp = _cause_case(layout, cause, 0)
    else:
        disp = "NULL"
    if "sip_code" in rules:
        code = rule_sql(rules["sip_code"], field)
    elif cause and layout.causes:
        code = _cause_case(layout, cause, 1)
    else:
        code = "NULL"
    answered = _answered_sql(layout, field)
    if answered is None:
        return disp, code, cause
    if layout.unanswered:
        not_disp, not_code = layout.unanswered
        # the table says answered, the switch shows no answer: cleared before answer
        return (
            f"CASE WHEN {answered} THEN 'answered' WHEN ({disp}) = 'answered' "
            f"THEN {lit(not_disp)} ELSE {disp} END",
            f"CASE WHEN NOT {answered} AND ({disp}) = 'answered' THEN {lit(str(not_code))} "
            f"ELSE {code} END",
            cause,
        )
    return f"CASE WHEN {answered} THEN 'answered' ELSE {disp} END", code, cause


def _extra_sql(layout: Layout, field: _Fields, cols: list[str], cause: str | None) -> str:
    pairs: list[tuple[str, str]] = []
    if cause:
        pairs.append(("cause", cause))
    if layout.extra == "rest":
        used = layout.mapped_fields() | {p.field for p in layout.skip}
        pairs += [(c, field(c)) for c in cols if c not in used and c != WIDE]
    else:
        pairs += [(layout.extra_as.get(c, c), field(c)) for c in layout.extra]
    if not pairs:  # typed: an untyped NULL gives the Parquet column a null type Spark refuses
        return "NULL::VARCHAR"
    return "json_object(" + ", ".join(f"{lit(k)}, {v}" for k, v in pairs) + ")::VARCHAR"


def _skip_sql(layout: Layout, field: _Fields) -> str | None:
    terms = []
    if layout.kind == "keyvalue" and layout.record:
        terms.append(
            f"NOT coalesce(regexp_matches({q(KEYVALUE_COLUMN)}, {lit(layout.record)}), false)"
        )
    for probe in layout.skip:
        value = field(probe.field)
        if probe.kind == "values":
            term = _is_one_of(value, probe.values)
        elif probe.kind == "pattern":
            term = f"coalesce(regexp_matches({value}, {lit(probe.pattern or '')}), false)"
        else:
            continue
        if probe.when:  # only on the rows of these values (a record type)
            term = f"({_is_one_of(field(probe.when[0]), probe.when[1])} AND {term})"
        terms.append(term)
    return " OR ".join(f"({t})" for t in terms) if terms else None


def _zoned(naive: str, start: Rule, field: _Fields) -> str:
    """A naive start time as TIMESTAMPTZ: in the session's zone (the switch's), or, with
    ``west``, plus the minutes west of UTC the switch wrote beside it (Sansay VSX: local time
    and its offset on every record), which is then UTC; a row without the offset keeps the
    session's zone."""
    if not start.west:
        return f"{naive}::TIMESTAMPTZ"
    minutes = f"try_cast(trim({field(start.west)}) AS INTEGER)"
    return (
        f"CASE WHEN {minutes} BETWEEN -1440 AND 1440 "
        f"THEN timezone('UTC', {naive} + to_minutes({minutes})) ELSE {naive}::TIMESTAMPTZ END"
    )


def compile_layout(layout: Layout, cols: list[str]) -> Compiled:
    """The mapped select list for a file with these raw columns."""
    field = _Fields(layout, cols)
    rules = layout.rules

    def col(name: str) -> str:
        return rule_sql(rules[name], field) if name in rules else "NULL"

    disp, code, cause = _outcome(layout, field)
    start = rules["start"]
    start_raw = col("start")
    duration = rules.get("duration")
    parts = [
        f"{col('call_id')} AS call_id_raw",
        f"{start_raw} AS start_raw",
    ]
    if start.formats:
        alts = [strptime_sql(start_raw, f, start.zones) for f in start.formats]
        parts.append(f"coalesce({', '.join(_zoned(a, start, field) for a in alts)}) AS start_alt")
        fmt_case = " ".join(
            f"WHEN {a} IS NOT NULL THEN {lit(f)}" for a, f in zip(alts, start.formats, strict=True)
        )
        parts.append(f"CASE {fmt_case} END AS start_fmt")
    parts += [
        f"{col('duration')} AS duration_raw",
        f"{col('caller')} AS caller_raw",
        f"{col('called')} AS called_raw",
        f"{col('upstream')} AS upstream_raw",
        f"{col('downstream')} AS downstream_raw",
        f"{disp} AS disposition_raw",
        f"{code} AS sip_code_raw",
        f"{col('attest')} AS attest_raw",
        f"{col('orig_id')} AS orig_id_raw",
        f"{col('identity')} AS identity_raw",
        f"{_extra_sql(layout, field, cols, cause)} AS extra",
    ]
    skip = _skip_sql(layout, field)
    if skip:
        parts.append(f"({skip}) AS th_skip")
    wide = None
    if WIDE in cols:
        parts.append(f"{q(WIDE)} IS NOT NULL AS th_wide")
        wide = wide_reason(layout, len(cols) - 1)
    tx = layout.transactions
    if tx:
        parts.append(f"upper(trim({field(str(tx.get('method', 'method')).lower())})) AS method")
        leg = tx.get("leg")
        parts.append(f"{field(str(leg).lower()) if leg else 'NULL'} AS leg")
    legs = layout.legs
    # the first field of [legs] call that the file has (none: each row is a call)
    key = next((c for c in legs.call if c in field.present), None) if legs else None
    if legs and key:
        call = _nonempty(field(key))
        first = (
            f"coalesce({_nonempty(field(legs.first))} = {call}, false)"
            if legs.first and legs.first in field.present
            else "true"
        )
        other = (
            _nonempty(field(legs.other)) if legs.other and legs.other in field.present else "NULL"
        )
        parts += [f"{call} AS th_call", f"{first} AS th_first", f"{other} AS th_other"]
    return Compiled(
        select=",\n        ".join(parts),
        start_alt=bool(start.formats),
        duration_scale=UNITS[duration.unit] if duration is not None else 1.0,
        skip=skip is not None,
        transactions=bool(tx),
        zone=start.zone,
        legs=key is not None,
        wide=wide,
    )
