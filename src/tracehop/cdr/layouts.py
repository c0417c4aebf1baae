"""CDR layouts as data: how one switch's CDR file is read and mapped to the canonical columns.

A layout is a TOML file (the shipped presets are in ``cdr/layouts/``; a user passes their own
with ``tracehop ingest --layout FILE``). It names how to split a line (delimiter, quoting, a
header row or positional columns, key=value records), and for each canonical column which
field(s) it comes from and how: a time format, a duration unit or answer/end stamps, a
disposition or hangup-cause table, an upstream taken from a field or, when that is empty, from
a channel or gateway name by a pattern. ``cdr/compile.py`` turns a layout into one SQL
projection per file; docs/ingest.md explains how to write one.

This module only loads and checks layouts (``tomllib``: standard library) and recognises a
file's layout from its first lines (``--format auto``). No SQL here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tracehop.errors import FormatError, InputError
from tracehop.settings import check_zone

LAYOUT_DIR = Path(__file__).parent / "layouts"
DISPOSITIONS: tuple[str, ...] = ("answered", "no_answer", "busy", "cancelled", "failed", "blocked")
# Canonical columns a layout may map (DESIGN.md's glossary); the rest are computed by ingest.
MAPPABLE = (
    "call_id",
    "start",
    "duration",
    "caller",
    "called",
    "upstream",
    "downstream",
    "disposition",
    "sip_code",
    "attest",
    "orig_id",
    "identity",
    "cause",
)
# Keys of [map] that are not canonical columns.
MAP_EXTRAS = ("answered", "unanswered", "extra")
KINDS = ("csv", "keyvalue", "parquet")
UNITS = {"s": 1.0, "ms": 0.001, "cs": 0.01}  # duration units: seconds, ms, 10 ms (Ribbon)


@dataclass(frozen=True)
class Rule:
    """How one canonical column is derived from the file's fields.

    ``fields``: the first non-empty of these; ``pattern``: a regular expression whose first
    group is taken from the value; ``fallback``: rules tried in turn while the value is still
    empty; ``table``: a value map (upper-cased keys) with ``default`` for values not in it;
    ``formats``: strptime formats for times (besides ISO 8601 and epoch seconds);
    ``unit``: ``s`` or ``ms`` for durations; ``span``: (from, to) time fields whose difference
    is the duration; ``value``: a constant.
    """

    fields: tuple[str, ...] = ()
    pattern: str | None = None
    fallback: tuple[Rule, ...] = ()
    table: Mapping[str, str] | None = None
    default: str | None = None
    formats: tuple[str, ...] = ()
    unit: str = "s"
    span: tuple[str, str] | None = None
    value: str | None = None
    zone: str | None = None  # start: the zone of naive times, whatever --timezone says
    west: str | None = None  # start: a field of the switch's minutes west of UTC (Sansay)
    # times with a zone abbreviation (%Z): each name's UTC offset (+HHMM), read as %z
    zones: Mapping[str, str] | None = None
    # only on rows whose field has one of these values (a record type: Ribbon's STOP and
    # ATTEMPT records put the same thing at other positions); elsewhere no value
    when: tuple[str, tuple[str, ...]] | None = None
    join: tuple[str, ...] = ()  # fields joined with a space (a date and a time field)

    def names(self) -> Iterator[str]:
        """Every field name this rule reads."""
        yield from self.fields
        yield from self.join
        if self.when:
            yield self.when[0]
        if self.west:
            yield self.west
        if self.span:
            yield from self.span
        for rule in self.fallback:
            yield from rule.names()


@dataclass(frozen=True)
class Probe:
    """A check on one field of the first rows that tells this layout from others of the same
    width (``--format auto``): ``kind`` is ``time``, ``values`` (one of a list) or ``pattern``."""

    field: str
    kind: str
    values: tuple[str, ...] = ()
    pattern: str | None = None
    when: tuple[str, tuple[str, ...]] | None = None  # [[skip]] only on these rows (Rule.when)


@dataclass(frozen=True)
class Legs:
    """Rows that are parts of one call (``[legs]``): every row with the same ``call`` value is
    one call, told by the rows whose ``first`` value equals it (the call's first channel).
    ``call`` names one field or several, the first the file has (``linkedid``, else
    ``uniqueid``)."""

    call: tuple[str, ...]
    first: str | None = None
    # a field naming another row of the same call (FreeSWITCH with legs="ab": the A leg's
    # bleg_uuid is its B leg's uuid): that row is folded into this one, which comes first
    other: str | None = None

    def fields(self) -> set[str]:
        return set(self.call) | {f for f in (self.first, self.other) if f}


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    source: str  # the documentation or shipped file this layout rests on
    kind: str = "csv"
    delimiter: str = ","
    delimiters: tuple[str, ...] = ()  # alternatives: the one the file's first line uses wins
    quote: str = '"'
    escape: str = '"'
    header: bool = False
    required: tuple[str, ...] = ()  # header layouts: names that must be in the header
    columns: tuple[str, ...] = ()  # positional layouts: every field, in order
    optional: tuple[tuple[str, ...], ...] = ()  # trailing groups a writer may leave out
    line_prefix: str | None = None  # text before the first field (FreeSWITCH "sql" template)
    line_suffix: str | None = None
    nulls: tuple[str, ...] = ()  # values that mean "no value" (a database export's NULL)
    trailing_delimiter: bool = False  # every record ends with the delimiter (Sansay VSX)
    # positional: rows of any width up to the columns' (record types of other widths in one
    # file, releases that append fields: Ribbon); wider rows are still rejected
    any_width: bool = False
    # values padded with blanks to their column's width (AudioCodes' syslog CDRs): trimmed,
    # a field of blanks is no value
    padded: bool = False
    record: str | None = None  # keyvalue: a line is a record when this pattern is found in it
    pair_separator: str = ";"
    keys: tuple[str, ...] = ()  # keyvalue: the keys read from each record
    rules: Mapping[str, Rule] = field(default_factory=dict)
    answered_stamp: Rule | None = None  # a non-empty answer time: the call was answered
    answered_seconds: Rule | None = None  # billable seconds > 0: the call was answered
    unanswered: tuple[str, int] | None = None  # a table says answered, the switch does not
    causes: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)
    extra: tuple[str, ...] | str = ()  # fields kept in ``extra``; "rest": every unmapped one
    extra_as: Mapping[str, str] = field(default_factory=dict)  # a kept field's key in extra
    skip: tuple[Probe, ...] = ()  # rows that are not records (a types row, other log lines)
    detect: tuple[Probe, ...] = ()
    transactions: Mapping[str, Any] | None = None  # SIP transaction rows (Kamailio acc)
    legs: Legs | None = None  # several rows of one call (Asterisk: a CDR per dial attempt)
    clock: str | None = None  # a column holding the start's Unix time: the zone check (clock.py)
    aliases: tuple[str, ...] = ()
    path: Path | None = None

    def orders(self) -> list[tuple[str, ...]]:
        """Positional layouts: the accepted field orders, widest first."""
        orders = [self.columns]
        cols = list(self.columns)
        for group in self.optional:
            cols = [c for c in cols if c not in group]
            orders.append(tuple(cols))
        return orders

    def widths(self) -> list[int]:
        return sorted({len(o) for o in self.orders()})

    def mapped_fields(self) -> set[str]:
        names: set[str] = set()
        for rule in self.rules.values():
            names.update(rule.names())
        for rule in (self.answered_stamp, self.answered_seconds):
            if rule:
                names.update(rule.names())
        return names


# --- loading ------------------------------------------------------------------------------


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"{where}: expected a field name or a list of names, not {value!r}")


def _rule(value: Any, where: str) -> Rule:
    if isinstance(value, str | list):
        return Rule(fields=_strings(value, where))
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a field name, a list or a table, not {value!r}")
    known = {"field", "fields", "pattern", "fallback", "table", "default", "formats", "unit"}
    known |= {"from", "to", "value", "zone", "west", "zones", "when", "join"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    fields = _strings(value.get("fields", value.get("field", [])), where)
    pattern = value.get("pattern")
    if pattern is not None:
        try:
            if re.compile(pattern).groups < 1:
                raise InputError(f"{where}: pattern {pattern!r} needs a (group) to take")
        except re.error as exc:
            raise InputError(f"{where}: bad pattern {pattern!r}: {exc}") from None
    unit = value.get("unit", "s")
    if unit not in UNITS:
        raise InputError(f"{where}: unit must be one of {', '.join(UNITS)}, not {unit!r}")
    join = _strings(value["join"], where) if "join" in value else ()
    if "join" in value and (len(join) < 2 or "fields" in value or "field" in value):
        raise InputError(f"{where}: join takes two fields or more (instead of field/fields)")
    span = None
    if "from" in value or "to" in value:
        if not isinstance(value.get("from"), str) or not isinstance(value.get("to"), str):
            raise InputError(f"{where}: a duration from stamps needs both from and to")
        span = (value["from"], value["to"])
    table = value.get("table")
    if table is not None and not isinstance(table, dict):
        raise InputError(f"{where}: table must be a table of value = result")
    formats = _strings(value.get("formats", []), where) if "formats" in value else ()
    for fmt in formats:
        _check_format(fmt, where)
    zone = value.get("zone")
    if zone is not None:
        check_zone(str(zone), error=InputError)
    west = value.get("west")
    if west is not None:
        if not isinstance(west, str):
            raise InputError(f"{where}: west must name the field of minutes west of UTC")
        if not formats or any("%z" in f or "%Z" in f for f in formats):
            raise InputError(
                f"{where}: west applies to times read with formats that have no zone of "
                "their own (%z, %Z)"
            )
    zones = _zones(value["zones"], formats, where) if "zones" in value else None
    return Rule(
        zone=None if zone is None else str(zone),
        west=None if west is None else str(west),
        zones=zones,
        when=_when(value["when"], where) if "when" in value else None,
        join=join,
        fields=fields,
        pattern=pattern,
        fallback=tuple(
            _rule(v, f"{where}.fallback[{i}]") for i, v in enumerate(value.get("fallback", []))
        ),
        table={str(k).upper(): str(v) for k, v in table.items()} if table else None,
        default=None if value.get("default") is None else str(value["default"]),
        formats=formats,
        unit=unit,
        span=span,
        value=None if value.get("value") is None else str(value["value"]),
    )


def _extra(value: Any, header: bool, where: str) -> tuple[tuple[str, ...] | str, dict[str, str]]:
    """``extra``: "rest", a list of fields, or a table of key = field (``{ gateway = "f2" }``:
    the field kept under a name of its own)."""
    if value == "rest":
        return "rest", {}
    if not value:
        return (), {}
    low = (lambda c: str(c).lower()) if header else str
    if isinstance(value, dict):
        if not all(isinstance(v, str) for v in value.values()):
            raise InputError(f"{where}: [map] extra: a table of key = field name")
        return tuple(low(v) for v in value.values()), {low(v): str(k) for k, v in value.items()}
    return tuple(low(c) for c in _strings(value, f"{where} [map] extra")), {}


def _columns(value: Any, where: str) -> tuple[str, ...]:
    """``read.columns``: every field's name in order, or a count: ``columns = 320`` names them
    f1 ... f320, as vendors number their fields (Ribbon's CDR field descriptions)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 2000:
            raise InputError(f"{where}: a number of fields from 1 to 2000, not {value}")
        return tuple(f"f{i}" for i in range(1, value + 1))
    return tuple(str(c).lower() for c in value)


def _when(value: Any, where: str) -> tuple[str, tuple[str, ...]]:
    """``when = { field = "f1", values = ["STOP"] }``: the rows a rule (or a skip) is for."""
    if (
        not isinstance(value, dict)
        or set(value) != {"field", "values"}
        or not isinstance(value["field"], str)
    ):
        raise InputError(f'{where}: when must be {{ field = "NAME", values = ["VALUE", ...] }}')
    values = _strings(value["values"], f"{where}.when")
    return value["field"], tuple(v.upper() for v in values)


def _zones(value: Any, formats: tuple[str, ...], where: str) -> dict[str, str]:
    """``zones``: a shipped table's name (``zones = "zones"``) or an inline table of
    abbreviation = "+HHMM"; only for formats that read a zone name (%Z)."""
    if isinstance(value, str):
        shipped = _shipped_table(value, "zones")
        if shipped is None:
            raise InputError(f"{where}: zones {value!r} is not a shipped table (zones)")
        value = shipped
    if not isinstance(value, dict) or not value:
        raise InputError(f'{where}: zones must be a table of NAME = "+HHMM" or a shipped table')
    out: dict[str, str] = {}
    for name, offset in value.items():
        if not re.fullmatch(r"[A-Za-z]{1,6}", str(name)) or not re.fullmatch(
            r"[+-](?:0\d|1[0-4])[0-5]\d", str(offset)
        ):
            raise InputError(f'{where}: zones {name} = {offset!r}: give NAME = "+HHMM"')
        out[str(name).upper()] = str(offset)
    if not formats or not all("%Z" in f for f in formats):
        raise InputError(f"{where}: zones applies to formats that read a zone name (%Z)")
    return out


def zoned(value: str, zones: Mapping[str, str]) -> str:
    """``value`` with its zone abbreviation replaced by the offset (``PST`` -> ``-0800``),
    as compile.py does in SQL; read with the format's ``%Z`` as ``%z``."""
    for word in re.findall(r"[A-Za-z]+", value):
        if word.upper() in zones:
            return re.sub(rf"\b{word}\b", zones[word.upper()], value, count=1)
    return value


def _check_format(fmt: str, where: str) -> None:
    """A strptime format must at least read the time it writes."""
    sample = datetime(2021, 2, 7, 10, 15, 3)
    fmt = fmt.replace("%z", "").replace("%Z", "")
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        raise InputError(f"{where}: time format {fmt!r} cannot be read back: {exc}") from None


def _probes(items: Any, where: str, *, lower: bool = False) -> tuple[Probe, ...]:
    out = []
    for i, item in enumerate(items or []):
        if not isinstance(item, dict) or "field" not in item:
            raise InputError(f"{where}[{i}]: expected a table with a field")
        if lower:  # header names are matched case-insensitively
            item = {**item, "field": str(item["field"]).lower()}
        when = _when(item["when"], f"{where}[{i}]") if "when" in item else None
        if when and lower:
            when = (when[0].lower(), when[1])
        if when and "values" not in item and "pattern" not in item:
            raise InputError(f"{where}[{i}]: when goes with values or pattern")
        if "values" in item:
            out.append(Probe(item["field"], "values", values=tuple(item["values"]), when=when))
        elif "pattern" in item:
            re.compile(item["pattern"])
            out.append(Probe(item["field"], "pattern", pattern=item["pattern"], when=when))
        elif item.get("kind") == "time":
            out.append(Probe(item["field"], "time"))
        else:
            raise InputError(f'{where}[{i}]: give values, pattern or kind = "time"')
    return tuple(out)


def parse_layout(data: dict[str, Any], *, name: str, path: Path | None = None) -> Layout:
    """A layout from its TOML table; InputError naming the key that is wrong."""
    where = str(path or name)
    read = data.get("read", {})
    mapping = dict(data.get("map", {}))
    unknown = sorted(set(mapping) - set(MAPPABLE) - set(MAP_EXTRAS))
    if unknown:
        raise InputError(
            f"{where}: [map] has {unknown[0]!r}, which is not a canonical column "
            f"({', '.join(MAPPABLE)})"
        )
    kind = read.get("kind", "csv")
    if kind not in KINDS:
        raise InputError(f"{where}: read.kind must be one of {', '.join(KINDS)}, not {kind!r}")
    rules = {k: _rule(v, f"{where} [map] {k}") for k, v in mapping.items() if k in MAPPABLE}
    for need in ("start", "caller", "called", "upstream"):
        if need not in rules:
            raise InputError(f"{where}: [map] must say where {need} comes from")
    answered = mapping.get("answered", {})
    unanswered = mapping.get("unanswered")
    causes = {
        str(k).upper(): (str(v[0]), int(v[1]) if len(v) > 1 and v[1] != "" else None)
        for k, v in _causes(data.get("causes", {}), where).items()
    }
    for cause, (disp, _code) in causes.items():
        if disp not in DISPOSITIONS:
            raise InputError(f"{where}: [causes] {cause} = {disp!r} is not a disposition")
    # a disposition table gives a disposition, or "" (none: the rule's fallback decides)
    todo = [rules["disposition"]] if rules.get("disposition") else []
    while todo:
        rule = todo.pop()
        todo += rule.fallback
        bad = [v for v in (rule.table or {}).values() if v not in DISPOSITIONS and v != ""]
        if bad:
            raise InputError(
                f"{where}: disposition table value {bad[0]!r} is not one of "
                f'{", ".join(DISPOSITIONS)} (or "": the fallback decides)'
            )
    delimiters = _strings(read.get("delimiter", ","), f"{where} read.delimiter")
    if kind == "csv" and any(len(d) != 1 for d in delimiters):
        raise InputError(f"{where}: read.delimiter must be one character, not {delimiters!r}")
    header = bool(read.get("header", False))
    columns = _columns(read.get("columns", ()), f"{where} read.columns")
    if kind == "csv" and not header and not columns:
        raise InputError(f"{where}: a layout without a header row must list read.columns")
    extra, extra_as = _extra(mapping.get("extra", ()), header, where)
    layout = Layout(
        name=name,
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        kind=kind,
        delimiter=delimiters[0],
        delimiters=delimiters if len(delimiters) > 1 else (),
        quote=read.get("quote", '"'),
        escape=read.get("escape", read.get("quote", '"')),
        header=header,
        required=tuple(str(c).lower() for c in read.get("required", ())),
        columns=columns,
        optional=tuple(
            tuple(str(c).lower() for c in _strings(g, f"{where} read.optional"))
            for g in read.get("optional", ())
        ),
        line_prefix=read.get("line_prefix"),
        line_suffix=read.get("line_suffix"),
        nulls=_strings(read.get("null", []), f"{where} read.null") if read.get("null") else (),
        trailing_delimiter=bool(read.get("trailing_delimiter", False)),
        any_width=bool(read.get("any_width", False)),
        padded=bool(read.get("padded", False)),
        record=read.get("record"),
        pair_separator=read.get("pair_separator", ";"),
        keys=tuple(str(c).lower() for c in read.get("keys", ())),
        rules=_lower_rules(rules) if header or kind == "keyvalue" else rules,
        answered_stamp=_rule(answered["stamp"], f"{where} answered")
        if "stamp" in answered
        else None,
        answered_seconds=(
            _rule(answered["seconds"], f"{where} answered") if "seconds" in answered else None
        ),
        unanswered=(str(unanswered[0]), int(unanswered[1])) if unanswered else None,
        causes=causes,
        extra=extra,
        extra_as=extra_as,
        skip=_probes(data.get("skip"), f"{where} [[skip]]", lower=header or kind == "keyvalue"),
        detect=_probes(data.get("detect"), f"{where} [[detect]]", lower=header),
        transactions=data.get("transactions"),
        legs=_legs(data.get("legs"), where, lower=header or kind == "keyvalue"),
        clock=_clock(data.get("clock"), where),
        aliases=tuple(data.get("aliases", ())),
        path=path,
    )
    if layout.legs and layout.transactions:
        raise InputError(f"{where}: a layout has [transactions] or [legs], not both")
    _check_fields(layout, where)
    return layout


def _clock(value: Any, where: str) -> str | None:
    """``clock``: the canonical column that holds the Unix time of the call's start."""
    if value is None:
        return None
    if value not in MAPPABLE:
        raise InputError(f"{where}: clock must be a canonical column (e.g. call_id), not {value!r}")
    return str(value)


def _causes(value: Any, where: str) -> dict[str, Any]:
    """``[causes]`` inline, or the name of a shipped table (``causes = "q850"``)."""
    if isinstance(value, dict):
        return value
    shipped = _shipped_table(value, "causes") if isinstance(value, str) else None
    if shipped is not None:
        return shipped
    raise InputError(f"{where}: causes must be a table or a shipped table's name (q850)")


def _shipped_table(name: str, key: str) -> dict[str, Any] | None:
    """The ``[key]`` table of a shipped table file (``layouts/tables/NAME.toml``), or None."""
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        return None
    path = LAYOUT_DIR / "tables" / f"{name}.toml"
    if not path.exists():
        return None
    return dict(tomllib.loads(path.read_text(encoding="utf-8")).get(key, {}))


def _lower_rules(rules: dict[str, Rule]) -> dict[str, Rule]:
    """Header names are matched case-insensitively: the rules name them in lower case."""

    def low(rule: Rule) -> Rule:
        return Rule(
            fields=tuple(f.lower() for f in rule.fields),
            pattern=rule.pattern,
            fallback=tuple(low(r) for r in rule.fallback),
            table=rule.table,
            default=rule.default,
            formats=rule.formats,
            unit=rule.unit,
            span=(rule.span[0].lower(), rule.span[1].lower()) if rule.span else None,
            value=rule.value,
            zone=rule.zone,
            west=rule.west.lower() if rule.west else None,
            zones=rule.zones,
            when=(rule.when[0].lower(), rule.when[1]) if rule.when else None,
            join=tuple(f.lower() for f in rule.join),
        )

    return {k: low(v) for k, v in rules.items()}


def _legs(value: Any, where: str, *, lower: bool) -> Legs | None:
    """``[legs]``: ``call`` (the field rows of one call share) and optionally ``first``."""
    if value is None:
        return None
    call = value.get("call") if isinstance(value, dict) else None
    if isinstance(call, str):
        call = [call]
    if not isinstance(call, list) or not call or not all(isinstance(c, str) for c in call):
        raise InputError(f'{where}: [legs] must name the field of the call, e.g. call = "linkedid"')
    unknown = sorted(set(value) - {"call", "first", "other"})
    if unknown:
        raise InputError(
            f"{where}: [legs] has unknown key {unknown[0]!r} (known: call, first, other)"
        )
    first, other = value.get("first"), value.get("other")
    for key, v in (("first", first), ("other", other)):
        if v is not None and not isinstance(v, str):
            raise InputError(f"{where}: [legs] {key} must be a field name, not {v!r}")

    def name(v: str | None) -> str | None:
        return (v.lower() if lower else v) if v else None

    return Legs(
        call=tuple(c.lower() if lower else c for c in call), first=name(first), other=name(other)
    )


def _check_fields(layout: Layout, where: str) -> None:
    """Positional and key=value layouts: every field a rule reads must be a column or key."""
    known = set(layout.columns) if layout.columns else set(layout.keys)
    if layout.kind == "keyvalue" and not layout.keys:
        raise InputError(f"{where}: a keyvalue layout must list read.keys")
    if layout.header or layout.kind == "parquet":
        return
    probes = layout.skip + layout.detect
    fields = layout.mapped_fields() | {p.field for p in probes}
    fields |= {p.when[0] for p in probes if p.when}
    if isinstance(layout.extra, tuple):
        fields |= set(layout.extra)
    if layout.legs:
        fields |= layout.legs.fields()
    missing = sorted(f for f in fields if f not in known)
    if missing:
        raise InputError(
            f"{where}: field {missing[0]!r} is used in [map] but is not one of read.columns"
        )


def load_layout_file(path: Path) -> Layout:
    """A user's layout file (TOML): a one-line error naming the file and what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no such layout file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read layout file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    name = str(data.get("name") or path.stem)
    return parse_layout(data, name=name, path=path)


class _Presets(Mapping[str, Layout]):
    """The shipped layouts, read from ``cdr/layouts/*.toml`` on first use (not at import)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Layout] | None = None
        self._aliases: dict[str, str] = {}

    def _load(self) -> dict[str, Layout]:
        if self._by_name is None:
            by_name: dict[str, Layout] = {}
            for path in sorted(LAYOUT_DIR.glob("*.toml")):
                layout = load_layout_file(path)
                by_name[layout.name] = layout
                for alias in layout.aliases:
                    self._aliases[alias] = layout.name
            self._by_name = by_name
        return self._by_name

    def __getitem__(self, name: str) -> Layout:
        by_name = self._load()
        return by_name[self._aliases.get(name, name)]

    def __contains__(self, name: object) -> bool:
        by_name = self._load()
        return name in by_name or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def aliases(self) -> dict[str, str]:
        self._load()
        return dict(self._aliases)


PRESETS = _Presets()


def preset_names() -> list[str]:
    """Names of the shipped layouts, from the file names alone (cheap: for help texts)."""
    return sorted(p.stem for p in LAYOUT_DIR.glob("*.toml"))


def get_layout(name_or_path: str | Path) -> Layout:
    """A preset by name, or a layout file by path."""
    text = str(name_or_path)
    if text in PRESETS:
        return PRESETS[text]
    path = Path(text)
    if path.suffix.lower() == ".toml" or path.exists():
        return load_layout_file(path)
    raise InputError(
        f"unknown layout {text!r}: use one of {', '.join(PRESETS)} or a layout file (.toml); "
        "see tracehop layouts list"
    )


__all__ = [
    "DISPOSITIONS",
    "PRESETS",
    "FormatError",
    "Layout",
    "Probe",
    "Rule",
    "get_layout",
    "load_layout_file",
    "parse_layout",
    "preset_names",
]


def _rule_dict(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rule.value is not None:
        out["value"] = rule.value
    if rule.fields:
        out["fields"] = list(rule.fields)
    if rule.span:
        out["from"], out["to"] = rule.span
    if rule.pattern:
        out["pattern"] = rule.pattern
    if rule.table is not None:
        out["table"] = dict(rule.table)
    if rule.default is not None:
        out["default"] = rule.default
    if rule.formats:
        out["formats"] = list(rule.formats)
    if rule.unit != "s":
        out["unit"] = rule.unit
    if rule.zone:
        out["zone"] = rule.zone
    if rule.west:
        out["west"] = rule.west
    if rule.zones:
        out["zones"] = dict(rule.zones)
    if rule.when:
        out["when"] = {"field": rule.when[0], "values": list(rule.when[1])}
    if rule.join:
        out["join"] = list(rule.join)
    if rule.fallback:
        out["fallback"] = [_rule_dict(r) for r in rule.fallback]
    return out


def describe(layout: Layout) -> dict[str, Any]:
    """A layout as plain data (``tracehop layouts show NAME --json``)."""
    answered = {}
    if layout.answered_stamp:
        answered["stamp"] = _rule_dict(layout.answered_stamp)
    if layout.answered_seconds:
        answered["seconds"] = _rule_dict(layout.answered_seconds)
    return {
        "name": layout.name,
        "aliases": list(layout.aliases),
        "description": layout.description,
        "source": layout.source,
        "kind": layout.kind,
        "delimiter": list(layout.delimiters) if layout.delimiters else layout.delimiter,
        "quote": layout.quote,
        "trailing_delimiter": layout.trailing_delimiter,
        "any_width": layout.any_width,
        "padded": layout.padded,
        "header": layout.header,
        "required": list(layout.required),
        "columns": list(layout.columns),
        "widths": layout.widths() if layout.columns else [],
        "keys": list(layout.keys),
        "map": {k: _rule_dict(v) for k, v in layout.rules.items()},
        "answered": answered,
        "unanswered": list(layout.unanswered) if layout.unanswered else None,
        "causes": {k: list(v) for k, v in layout.causes.items()},
        "extra": layout.extra
        if isinstance(layout.extra, str)
        else [layout.extra_as.get(c, c) for c in layout.extra],
        "transactions": dict(layout.transactions) if layout.transactions else None,
        "legs": {"call": list(layout.legs.call), "first": layout.legs.first}
        | ({"other": layout.legs.other} if layout.legs.other else {})
        if layout.legs
        else None,
        "clock": layout.clock,
        "file": layout.path.name
        if layout.path and layout.path.parent == LAYOUT_DIR
        else (str(layout.path) if layout.path else None),
    }


def layout_text(layout: Layout) -> str:
    """The layout file as written (comments and citations included)."""
    if layout.path is None:
        raise InputError(f"layout {layout.name} has no file")
    return layout.path.read_text(encoding="utf-8")
