"""E.164 normalisation: a table of cases, and the SQL and Python versions kept equal."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.cdr.sql import e164_sql, number_columns_sql, resolve_international
from tracehop.engine import connect
from tracehop.numbers import CallerIdClass, caller_id_class, to_e164
from tracehop.settings import load_settings

CASES = [
    ("2125551234", "+12125551234"),
    ("12125551234", "+12125551234"),
    ("+12125551234", "+12125551234"),
    ("(212) 555-1234", "+12125551234"),
    ("212.555.1234", "+12125551234"),
    ("+1 212 555 1234", "+12125551234"),
    ("1-212-555-1234", "+12125551234"),
    ("  2125551234\t", "+12125551234"),
    ("sip:+12125551234@198.51.100.7", "+12125551234"),
    ("sip:2125551234@gw.example.net;user=phone", "+12125551234"),
    ("tel:+1-212-555-1234;npdi", "+12125551234"),
    ("SIP:12125551234@x", "+12125551234"),
    ("011 44 20 7946 0958", "+442079460958"),
    ("+44 20 7946 0958", "+442079460958"),
    ("01112125551234", "+12125551234"),
    ("011-555-1234", None),  # 011 comes first: an international prefix, not a 10-digit number
    ("0114420794609", "+4420794609"),
    ("+12345", None),  # NANP with too few digits
    ("5551234", None),  # 7-digit local number
    ("911", None),
    ("anonymous", None),
    ("1-800-FLOWERS", None),
    ("", None),
    ("+", None),
    ("011", None),
    ("+999999999999999999", None),  # longer than E.164 allows
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_to_e164(raw: str, expected: str | None) -> None:
    assert to_e164(raw) == expected


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return connect(load_settings(home=tmp_path_factory.mktemp("home")))


def sql_e164(con: duckdb.DuckDBPyConnection, values: list[str | None]) -> list[str | None]:
    first, second, third = number_columns_sql("raw", "n")
    con.execute("CREATE OR REPLACE TEMP TABLE nums (i INTEGER, raw VARCHAR)")
    con.executemany("INSERT INTO nums VALUES (?, ?)", list(enumerate(values)))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE out AS
            SELECT i, {e164_sql("n_s", "n_d", "n_ok")} AS e164
            FROM (SELECT *, {third} FROM (SELECT *, {second} FROM (SELECT *, {first} FROM nums)))"""
    )
    resolve_international(con, "out", ("e164",))
    rows = con.execute("SELECT i, e164 FROM out ORDER BY i").fetchall()
    return [r[1] for r in rows]


def test_sql_matches_table(con: duckdb.DuckDBPyConnection) -> None:
    assert sql_e164(con, [raw for raw, _ in CASES]) == [e for _, e in CASES]


number_like = st.lists(
    st.one_of(
        st.sampled_from(list("0123456789+ ()-./\t@;:")),
        st.sampled_from(["sip:", "tel:", "SIP:", "011", "+1", "1", "@host", ";npdi"]),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    ),
    max_size=24,
).map("".join)


# Numbers of every length with the prefixes the rules turn on, punctuated or not.
shaped = st.builds(
    lambda prefix, digits, sep: prefix + sep.join([digits[:3], digits[3:6], digits[6:]]),
    st.sampled_from(["", "+", "1", "+1", "011", "0111", "+44", "sip:", " "]),
    st.text(alphabet="0123456789", min_size=0, max_size=15),
    st.sampled_from(["", " ", "-", ".", ")", "/"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(number_like, shaped), min_size=1, max_size=40))
def test_sql_and_python_agree(con: duckdb.DuckDBPyConnection, values: list[str]) -> None:
    assert sql_e164(con, values) == [to_e164(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(number_like)
def test_e164_shape_and_idempotence(raw: str) -> None:
    out = to_e164(raw)
    if out is not None:
        assert out.startswith("+") and out[1:].isdigit() and 8 <= len(out) <= 16
        assert to_e164(out) == out


@pytest.mark.parametrize(
    ("caller", "called", "expected"),
    [
        ("+12125551234", None, CallerIdClass.VALID),
        (None, None, CallerIdClass.MISSING),
        ("+12125551234", "+12125551234", CallerIdClass.CALLER_EQUALS_CALLED),
        ("+11125551234", None, CallerIdClass.INVALID_NPA),
        ("+12120551234", None, CallerIdClass.INVALID_NPA),
        ("+14115551234", None, CallerIdClass.N11),
        ("+12129111234", None, CallerIdClass.N11),
        ("+12125550123", None, CallerIdClass.FICTIONAL),
        ("+18005551234", None, CallerIdClass.TOLL_FREE),
        ("+1212555123", None, CallerIdClass.INVALID_LENGTH),
        ("+442079460958", None, CallerIdClass.VALID),
        ("+15555551234", None, CallerIdClass.UNASSIGNED_NPA),
        # digits of other scripts and superscripts are not digits of a phone number
        ("+1\u0662\u0660\u06625550143", None, CallerIdClass.INVALID_LENGTH),
        ("+1\u00b2025550143", None, CallerIdClass.INVALID_LENGTH),
    ],
)
def test_caller_id_class(caller: str | None, called: str | None, expected: CallerIdClass) -> None:
    assert caller_id_class(caller, called) == expected
