"""Duration, byte-size and percentage parsing at the boundary (meshsim.units)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshsim.units import parse_bytes, parse_duration, parse_percentage

UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
parts = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4
)


@given(parts, st.sampled_from(["", "-", "+"]))
def test_go_duration_is_the_sum_of_its_parts(ps: list[tuple[int, str]], sign: str) -> None:
    text = sign + "".join(f"{n}{u}" for n, u in ps)
    want = sum(n * UNITS[u] for n, u in ps) * (-1 if sign == "-" else 1)
    assert math.isclose(parse_duration(text), want, rel_tol=1e-12, abs_tol=1e-15)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_a_number_is_seconds(x: float) -> None:
    assert parse_duration(x) == x
    assert parse_duration(repr(x)) == x


@given(st.text(max_size=12))
def test_anything_else_is_a_value_error(text: str) -> None:
    try:
        v = parse_duration(text)
    except ValueError as e:
        assert "duration" in str(e)
    else:
        assert isinstance(v, float)


def test_duration_examples_and_rejections() -> None:
    assert parse_duration("1m30s") == 90.0 and parse_duration("250ms") == 0.25 and parse_duration("1.5s") == 1.5
    assert parse_duration("100µs") == pytest.approx(1e-4)
    for bad in ("", "5x", "s", "1s2", True, None):
        with pytest.raises(ValueError):
            parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "B", "KB", "KiB", "k", "MB", "MiB", "GB"]))
def test_bytes_binary_units(n: int, unit: str) -> None:
    scale = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "k": 1024, "mb": 1024**2, "mib": 1024**2, "gb": 1024**3}[
        unit.lower()
    ]
    assert parse_bytes(f"{n} {unit}".strip() if unit else str(n)) == n * scale


@given(st.floats(min_value=0.0, max_value=100.0, allow_nan=False))
def test_percent_string_and_fraction_agree(p: float) -> None:
    assert math.isclose(parse_percentage(f"{p!r}%"), p / 100.0, rel_tol=1e-12, abs_tol=1e-15)
    assert parse_percentage(p / 100.0) == p / 100.0
    with pytest.raises(ValueError):
        parse_percentage(1.5)
