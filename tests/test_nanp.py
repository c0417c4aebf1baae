"""tracehop.nanp: the NPA-NXX validity table answers exactly as phonenumbers does."""

from __future__ import annotations

import logging
import random
import runpy
from pathlib import Path

import numpy as np
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop import nanp
from tracehop.numbers import CallerIdClass, caller_id_class

REPO = Path(__file__).resolve().parents[1]


def reference(national: str) -> bool:
    """What tracehop.numbers asked before the table: phonenumbers on the parsed +1 number."""
    try:
        parsed = phonenumbers.parse("+1" + national, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(parsed)


def by_number(national: str) -> bool:
    """What the table was built from: phonenumbers on PhoneNumber(1, national number)."""
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(national))
    return phonenumbers.is_valid_number(number)


def test_shipped_table_is_used() -> None:
    assert nanp._shipped() is not None


def test_table_version_is_installed_phonenumbers() -> None:
    _, _, version = nanp.read_table()
    assert version == phonenumbers.__version__


def test_random_numbers_agree_with_phonenumbers() -> None:
    rng = random.Random(20_000)
    numbers = [
        f"{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        for _ in range(20_000)
    ]
    got = [nanp.nanp_valid(n) for n in numbers]
    expected = [reference(n) for n in numbers]
    assert got == expected
    assert expected == [by_number(n) for n in numbers]
    assert 1_000 < sum(got) < 19_000  # both answers are exercised


def test_mixed_prefixes_on_every_line() -> None:
    mixed = nanp.mixed_prefixes()
    assert mixed
    for prefix in sorted(mixed):
        numbers = [f"{prefix}{line:04d}" for line in range(10_000)]
        expected = [reference(n) for n in numbers]
        assert len(set(expected)) == 2, f"{prefix} is not mixed"
        assert [nanp.nanp_valid(n) for n in numbers] == expected
        assert [by_number(n) for n in numbers] == expected


def test_valid_prefixes() -> None:
    valid = nanp.valid_prefixes()
    assert valid.dtype == np.int32
    assert (np.diff(valid) > 0).all()
    assert not valid.flags.writeable
    assert not set(valid.tolist()) & nanp.mixed_prefixes()
    assert valid[0] >= 200_200 and valid[-1] <= 999_999
    rng = random.Random(7)
    members = set(valid.tolist())
    for prefix in rng.sample(nanp.PREFIXES.tolist(), 2_000):
        if prefix not in nanp.mixed_prefixes():
            assert (prefix in members) == reference(f"{prefix}{rng.randint(0, 9999):04d}")


def test_caller_id_class_in_mixed_prefixes() -> None:
    for prefix in sorted(nanp.mixed_prefixes()):
        for line in range(0, 10_000, 250):
            national = f"{prefix}{line:04d}"
            want = CallerIdClass.VALID if reference(national) else CallerIdClass.UNASSIGNED_NPA
            assert caller_id_class("+1" + national) == want


def test_other_phonenumbers_version_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(3)
    numbers = [f"{p}{rng.randint(0, 9999):04d}" for p in rng.sample(nanp.PREFIXES.tolist(), 300)]
    numbers += [f"{p}0000" for p in nanp.mixed_prefixes()]
    monkeypatch.setattr(phonenumbers, "__version__", "0.0.0")
    nanp._shipped.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="tracehop.nanp"):
            assert [nanp.nanp_valid(n) for n in numbers] == [reference(n) for n in numbers]
        warnings = [r for r in caplog.records if r.name == "tracehop.nanp"]
        assert len(warnings) == 1
        assert "0.0.0" in warnings[0].getMessage()
    finally:
        monkeypatch.undo()
        nanp._shipped.cache_clear()
    assert nanp._shipped() is not None


@pytest.mark.parametrize("national", ["", "212555123", "21255512345", "212555123x", "²125551234"])
def test_malformed_input_asks_phonenumbers(national: str) -> None:
    assert nanp.nanp_valid(national) == reference(national)


well_formed = st.builds(
    lambda npa, nxx, line: f"{npa}{nxx}{line:04d}",
    st.integers(200, 999),
    st.integers(200, 999),
    st.integers(0, 9999),
)
any_ten_digits = st.text(alphabet="0123456789", min_size=10, max_size=10)


@settings(max_examples=1_000, deadline=None)
@given(st.one_of(well_formed, any_ten_digits))
def test_property_agrees_with_phonenumbers(national: str) -> None:
    assert nanp.nanp_valid(national) == reference(national)


@pytest.mark.slow
def test_build_tool_reproduces_shipped_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tools/build_nanp.py --write`` (nanp.build_table) rebuilds the shipped table."""
    build = runpy.run_path(str(REPO / "tools" / "build_nanp.py"))["main"]
    out = tmp_path / "nanp_valid.npz"
    assert build(["--write", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    valid, mixed, version = nanp.read_table(out)
    shipped_valid, shipped_mixed, shipped_version = nanp.read_table()
    assert mixed == shipped_mixed and version == shipped_version == phonenumbers.__version__
    assert (valid == shipped_valid).all()
