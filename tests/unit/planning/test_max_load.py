"""The max-load search's walk and bisection, on a known threshold."""

from __future__ import annotations

from meshsim.planning.max_load import _walk_and_bisect


def test_walk_up_then_bisect_to_the_tolerance() -> None:
    calls: list[float] = []

    def ok(r: float) -> bool:
        calls.append(r)
        return r < 137.0

    good, bad = _walk_and_bisect(ok, 100.0, 12, 0.05, lambda: len(calls))
    assert good is not None and bad is not None
    assert good < 137.0 <= bad and bad - good <= 0.05 * good
    assert calls[:5] == [100.0, 110.00000000000001, 121.00000000000003, 133.10000000000005, 146.41000000000008]


def test_walk_down_when_the_start_fails_and_stop_at_max_points() -> None:
    good, bad = _walk_and_bisect(lambda r: r < 50.0, 100.0, 12, 0.05, lambda: 0)
    assert good is not None and bad is not None and good < 50.0 <= bad
    # never ok within the budget: no good rate
    assert _walk_and_bisect(lambda r: False, 100.0, 3, 0.05, lambda: 0) == (None, 100.0 / 1.1 / 1.1)
