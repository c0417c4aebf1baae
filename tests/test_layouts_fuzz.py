"""Hypothesis over layouts: a random layout (delimiter, header or positional, field order and
names, extra fields) and a file written in it; ingest with that layout gives back exactly the
generated calls, rejects exactly the rows made bad (with their lines), and accounts for every
line."""

from __future__ import annotations

import itertools
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
