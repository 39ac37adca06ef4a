"""The interval rules of meshsim.metrics.intervals, on their own observables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ddsketch import DDSketch
from scipy import stats

from meshsim.errors import ConfigError
from meshsim.experiments.replicate import parse_precision
from meshsim.metrics.intervals import (
    fraction_at_most,
    interval,
    min_per_section,
    mser,
    paired,
    quantile_interval,
    relative_half_width,
    wilson,
)

ALPHA = 0.01


def _sketch(xs: np.ndarray) -> DDSketch:
    sk = DDSketch(relative_accuracy=ALPHA)
    for x in xs:
        sk.add(float(x))
    return sk


def test_min_per_section_is_ten_expected_beyond_the_quantile() -> None:
    assert min_per_section(0.5) == 20
    assert min_per_section(0.9) == 100
    assert min_per_section(0.99) == 1000
    assert min_per_section(0.999) == 10000
    with pytest.raises(ValueError):
        min_per_section(1.0)


def test_sectioning_is_centred_on_the_pooled_value_with_spread_around_it() -> None:
    secs = [9.0, 11.0, 10.5, 9.5]
    e = interval(10.2, secs, kind="mean")
    s = math.sqrt(sum((x - 10.2) ** 2 for x in secs) / 3)
    half = stats.t.ppf(0.975, 3) * s / 2
    assert e.value == 10.2
    assert e.ci_low == pytest.approx(10.2 - half, abs=1e-4)
    assert e.ci_high == pytest.approx(10.2 + half, abs=1e-4)
    assert e.ci_method == "sectioning" and e.ci_reason is None


def test_one_section_gives_null_with_a_reason() -> None:
    e = interval(3.0, [3.0], kind="mean")
    assert e.value == 3.0 and e.ci_low is None and e.ci_reason == "too_few_sections"
    assert interval(None, [1.0, 2.0]).ci_reason == "no_data"


def test_proportion_without_errors_still_has_a_wilson_width() -> None:
    e = interval(1.0, [1.0] * 10, kind="proportion", pooled_n=1000, nd=6)
    lo, hi = wilson(1000, 1000)
    assert e.ci_high == 1.0 and e.ci_low == pytest.approx(lo, abs=1e-6) and lo < 0.997
    assert hi == 1.0


def test_quantile_interval_is_null_below_the_section_minimum() -> None:
    rng = np.random.default_rng(1)
    secs = [_sketch(rng.exponential(10.0, 500)) for _ in range(10)]
    merged = DDSketch(relative_accuracy=ALPHA)
    for sk in secs:
        merged.merge(sk)
    e = quantile_interval(merged, secs, 0.99, ALPHA)
    assert e.value is not None and e.ci_low is None and e.ci_high is None
    assert e.ci_reason == "too_few_samples" and e.ci_needs == 10000
    ok = quantile_interval(merged, secs, 0.9, ALPHA)  # 500 >= 100 per section
    assert ok.ci_low is not None and ok.ci_low < ok.value < ok.ci_high


def test_identical_sections_give_the_sketch_resolution_not_zero_width() -> None:
    rng = np.random.default_rng(2)
    xs = rng.exponential(10.0, 2000)
    secs = [_sketch(xs) for _ in range(4)]  # the same data 4 times: zero spread
    merged = DDSketch(relative_accuracy=ALPHA)
    for sk in secs:
        merged.merge(sk)
    e = quantile_interval(merged, secs, 0.99, ALPHA)
    assert e.value is not None and e.ci_low is not None and e.ci_high is not None
    assert e.ci_low == pytest.approx(e.value / (1 + ALPHA), rel=1e-3)
    assert e.ci_high == pytest.approx(e.value / (1 - ALPHA), rel=1e-3)


def test_quantile_interval_is_the_inverted_cdf_interval() -> None:
    """lo/hi are the pooled quantiles at q -/+ h, h from the sections' fractions below the value."""
    rng = np.random.default_rng(3)
    secs = [_sketch(rng.exponential(10.0, 3000)) for _ in range(8)]
    merged = DDSketch(relative_accuracy=ALPHA)
    for sk in secs:
        merged.merge(sk)
    q = 0.99
    e = quantile_interval(merged, secs, q, ALPHA)
    v = merged.get_quantile_value(q)
    fr = [fraction_at_most(sk, v) for sk in secs]
    p0 = fraction_at_most(merged, v)
    h = stats.t.ppf(0.975, 7) * math.sqrt(sum((f - p0) ** 2 for f in fr) / 7) / math.sqrt(8)
    assert e.ci_low == pytest.approx(min(merged.get_quantile_value(q - h), v / (1 + ALPHA)), abs=1e-4)
    assert e.ci_high == pytest.approx(max(merged.get_quantile_value(q + h), v / (1 - ALPHA)), abs=1e-4)


def test_fraction_at_most_matches_the_exact_fraction_to_one_bucket() -> None:
    rng = np.random.default_rng(4)
    xs = rng.exponential(10.0, 5000)
    sk = _sketch(xs)
    for v in (1.0, 7.0, 30.0):
        got = fraction_at_most(sk, v)
        assert np.mean(xs <= v / (1 + ALPHA) ** 2) <= got <= np.mean(xs <= v * (1 + ALPHA) ** 2)


def test_paired_identical_runs_give_plus_minus_resolution() -> None:
    e = paired([10.0, 11.0, 12.0], [10.0, 11.0, 12.0], 0.0, resolution=0.2)
    assert e.value == 0.0 and e.ci_low == pytest.approx(-0.2) and e.ci_high == pytest.approx(0.2)
    assert e.ci_method == "paired_sectioning"


def test_relative_half_width_takes_the_wider_side() -> None:
    e = interval(10.0, [9.0, 11.0, 10.0], kind="mean")
    assert relative_half_width(e) == pytest.approx((e.ci_high - 10.0) / 10.0)
    assert relative_half_width(interval(10.0, [10.0])) is None


def test_mser_truncates_a_transient_and_not_a_stationary_series() -> None:
    rng = np.random.default_rng(5)
    flat = list(10 + rng.normal(0, 0.1, 10))
    step = [30.0, 20.0, 14.0, *flat[3:]]
    assert mser(step) >= 2
    assert mser([10.0] * 10) == 0
    assert mser(step[:3]) == 0  # too short to judge


@pytest.mark.parametrize(("text", "want"), [("5%", 0.05), ("0.1", 0.1), (" 2.5% ", 0.025)])
def test_parse_precision(text: str, want: float) -> None:
    assert parse_precision(text) == pytest.approx(want)


@pytest.mark.parametrize("text", ["0%", "100%", "five", "-1"])
def test_parse_precision_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--precision"):
        parse_precision(text)
