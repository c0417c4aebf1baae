"""Hypothesis over layouts: a random layout (delimiter, header or positional, field order and
names, extra fields) and a file written in it; ingest with that layout gives back exactly the
generated calls, rejects exactly the rows made bad (with their lines), and accounts for every
line."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import parse_layout
from tracehop.settings import load_settings

CANONICAL = ("call_id", "start", "caller", "called", "upstream", "duration")
BASE = datetime(2021, 3, 1, tzinfo=UTC)
counter = itertools.count()

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
upstreams = st.sampled_from(["caprus", "big foot", "x;y", "t|1", "a,b", "trunk\t7"])
extra_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"'),
    max_size=12,
)


@st.composite
def layouts(draw):  # type: ignore[no-untyped-def]
    delimiter = draw(st.sampled_from([",", "\t", "|", ";"]))
    header = draw(st.booleans())
    n_extra = draw(st.integers(0, 3))
    field_names = draw(st.lists(names, min_size=6 + n_extra, max_size=6 + n_extra, unique=True))
    order = draw(st.permutations(field_names))
    mapping = dict(zip(CANONICAL, field_names[:6], strict=True))
    return delimiter, header, list(order), mapping


@st.composite
def calls(draw, n: int):  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        seconds = draw(st.integers(0, 86_400 * 30))
        start = BASE + timedelta(seconds=seconds)
        epoch = draw(st.booleans())
        npa = draw(st.integers(200, 989))
        out.append(
            {
                "call_id": f"id{i}",
                "start_text": str(int(start.timestamp()))
                if epoch
                else start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "start": start,
                "caller": f"{npa}5550{i % 1000:03d}",
                "called": f"+1 212 555 {i % 10000:04d}",
                "upstream": draw(upstreams),
                "duration": draw(st.integers(0, 600)),
                "bad": draw(st.integers(0, 9)) == 0,
                "extra": [draw(extra_values) for _ in range(3)],
            }
        )
    return out


def cell(value: str, delimiter: str) -> str:
    if delimiter in value or '"' in value or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=layouts(), data=st.data())
def test_random_layouts_give_back_their_calls(tmp_path: Path, shape, data) -> None:  # type: ignore[no-untyped-def]
    delimiter, header, order, mapping = shape
    made = data.draw(calls(data.draw(st.integers(1, 30))))
    by_field = {v: k for k, v in mapping.items()}
    lines = [delimiter.join(order)] if header else []
    for call in made:
        values = []
        extras = iter(call["extra"])
        for name in order:
            key = by_field.get(name)
            if key is None:
                values.append(next(extras))
            elif key == "start":
                values.append("yesterday" if call["bad"] else call["start_text"])
            else:
                values.append(str(call[key]))
        lines.append(delimiter.join(cell(v, delimiter) for v in values))
    run = next(counter)
    path = tmp_path / f"cdr-{run}.txt"
    path.write_text("\n".join(lines) + "\n")
    layout = parse_layout(
        {
            "read": {"delimiter": delimiter, "header": header, "columns": [] if header else order},
            "map": mapping,
        },
        name=f"fuzz-{run}",
    )
    home = load_settings(home=tmp_path / f"home-{run}")
    result = ingest([path], home, layout=layout)
    f = result.files[0]
    first = 2 if header else 1
    good = [c for c in made if not c["bad"]]
    # every line accounted for: a call or a reject, none lost
    assert f.rows_ingested + f.rows_rejected + f.rows_skipped == len(made)
    assert f.rows_ingested == len(good)
    got = query(
        "select call_id, start, caller, caller_raw, upstream, duration, disposition, source_line "
        "from calls order by source_line",
        home,
    ).records()
    want = [
        {
            "call_id": c["call_id"],
            "start": c["start"],
            "caller": f"+1{c['caller']}",
            "caller_raw": c["caller"],
            "upstream": c["upstream"].strip(),
            "duration": c["duration"],
            "disposition": "answered" if c["duration"] > 0 else "no_answer",
            "source_line": first + made.index(c),
        }
        for c in good
    ]
    assert got == want
    bad = query("select source_line, reason from rejects order by 1", home).records()
    assert [b["source_line"] for b in bad] == [first + i for i, c in enumerate(made) if c["bad"]]
    assert all(b["reason"] == 'unreadable start time "yesterday"' for b in bad)


@st.composite
def typed_layouts(draw):  # type: ignore[no-untyped-def]
    """Fields by number (f1 the record type), two record types that put the caller, the called
    number and the duration at their own positions, a date and a time in two fields."""
    width = draw(st.integers(8, 40))
    spots = draw(
        st.lists(st.integers(2, width), min_size=7, max_size=7, unique=True)
    )  # date, time, A caller, A called, A duration, B caller, B called
    delimiter = draw(st.sampled_from([",", "\t", "|", ";"]))
    return width, delimiter, spots


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=typed_layouts(), data=st.data())
def test_record_types_read_each_their_own_fields(tmp_path: Path, shape, data) -> None:  # type: ignore[no-untyped-def]
    """``columns = N``, ``any_width``, ``when``, ``join`` and ``unit = "cs"`` together: every row
    gives back its own type's values, whatever its width (up to N) and the case of its type."""
    width, delimiter, (date, time, a_caller, a_called, a_dur, b_caller, b_called) = shape
    n = data.draw(st.integers(1, 25))
    rows, want = [], []
    for i in range(n):
        kind = data.draw(st.sampled_from(["A", "a", "B", "b"]))
        start = BASE + timedelta(seconds=data.draw(st.integers(0, 86_400 * 30)))
        centis = data.draw(st.integers(0, 60_000))
        caller, called = f"20255{i:05d}", f"21255{i:05d}"
        a = kind.upper() == "A"
        where = {
            date: start.strftime("%Y-%m-%d"),
            time: start.strftime("%H:%M:%S"),
            a_caller if a else b_caller: caller,
            a_called if a else b_called: called,
        }
        if a:
            where[a_dur] = str(centis)
        # a row stops after its last value, or runs on to any width up to the layout's
        last = data.draw(st.integers(max(where), width))
        cells = [kind] + ["" for _ in range(2, last + 1)]
        for number, value in where.items():
            cells[number - 1] = value
        rows.append(delimiter.join(cells))
        seconds = (centis + 50) // 100 if a else 0  # half a second rounds up
        want.append((f"+1{caller}", f"+1{called}", start, seconds))
    path = tmp_path / f"typed-{next(counter)}.txt"
    path.write_text("\n".join(rows) + "\n")

    def typed(a: int, b: int) -> str:
        return (
            f'{{ field = "f{a}", when = {{ field = "f1", values = ["A"] }}, '
            f'fallback = [{{ field = "f{b}", when = {{ field = "f1", values = ["B"] }} }}] }}'
        )

    toml = f"""name = "typed"
[read]
delimiter = {json.dumps(delimiter)}
columns = {width}
any_width = true
[map]
start = {{ join = ["f{date}", "f{time}"], formats = ["%Y-%m-%d %H:%M:%S"] }}
duration = {{ field = "f{a_dur}", unit = "cs", when = {{ field = "f1", values = ["A"] }} }}
caller = {typed(a_caller, b_caller)}
called = {typed(a_called, b_called)}
upstream = {{ value = "u" }}
"""
    layout = tmp_path / f"typed-{next(counter)}.toml"
    layout.write_text(toml)
    home = load_settings(home=tmp_path / f"home-{next(counter)}")
    [f] = ingest([path], home, layout=layout).files
    assert (f.rows_ingested, f.rows_rejected) == (n, 0)
    got = query("select caller, called, start, duration from calls order by source_line", home).rows
    assert got == want
