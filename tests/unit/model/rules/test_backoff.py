"""Envoy's jittered exponential backoff (meshsim.model.rules.backoff)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from meshsim.model.rules.backoff import backoff_ceiling_ms, backoff_ceilings, backoff_wait

base_s = st.integers(min_value=1, max_value=2000).map(lambda ms: ms / 1e3)
factor = st.integers(min_value=1, max_value=20)
retry_n = st.integers(min_value=1, max_value=30)
unit = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(base_s, factor, retry_n, unit)
def test_wait_is_whole_ms_below_the_ceiling_and_ceiling_within_base_max(base: float, k: int, n: int, u: float) -> None:
    mx = base * k
    c = backoff_ceiling_ms(base, mx, n)
    assert round(base * 1e3) <= c <= max(round(base * 1e3), round(mx * 1e3))
    w = backoff_wait(base, mx, n, u)
    assert 0.0 <= w < c / 1e3
    assert abs(w * 1e3 - round(w * 1e3)) < 1e-9


@given(base_s, factor, st.integers(min_value=1, max_value=29))
def test_ceilings_never_decrease_and_settle_at_max(base: float, k: int, n: int) -> None:
    mx = base * k
    cs = backoff_ceilings(base, mx, n + 1)
    assert all(a <= b for a, b in itertools.pairwise(cs))
    assert backoff_ceiling_ms(base, mx, 40) == max(round(base * 1e3), round(mx * 1e3))


def test_envoy_default_sequence() -> None:
    # base 25 ms, max 250 ms: 25, 50, 100, 200 (< 125 doubles), then max
    assert [backoff_ceiling_ms(0.025, 0.25, n) for n in range(1, 7)] == [25, 50, 100, 200, 250, 250]
    assert backoff_wait(0.025, 0.25, 1, 0.999) == 0.024
    assert backoff_wait(0.0, 0.0, 3, 0.5) == 0.0
