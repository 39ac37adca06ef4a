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
    newcombe,
    paired,
    quantile_interval,
    relative_half_width,
    section_bounds,
    subsection_skewness,
    t_half_width,
    wilson,
    wilson_estimate,
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


def test_wilson_is_the_closed_form_score_interval() -> None:
    """Wilson (1927): centre (p + z^2/2n) / (1 + z^2/n), half z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)."""
    k, n = 7, 40
    z = stats.norm.ppf(0.975)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(centre - half, abs=1e-12) and hi == pytest.approx(centre + half, abs=1e-12)


def test_wilson_estimate_carries_the_method_and_says_no_data_for_zero_trials() -> None:
    e = wilson_estimate(3, 4)
    assert e.value == 0.75 and e.ci_method == "wilson"
    assert e.ci_low is not None and e.ci_high is not None and e.ci_low < 0.75 < e.ci_high
    none = wilson_estimate(0, 0)
    assert none.value is None and none.ci_low is None and none.ci_reason == "no_data"


@pytest.mark.parametrize(
    ("k_b", "n_b", "k_c", "n_c", "want"),
    [
        # Newcombe (1998), Table II, method 10: examples (a) 56/70 - 48/80 and (h) 0/10 - 0/20;
        # meshsim's difference is candidate - baseline, so the baseline is the second proportion.
        (48, 80, 56, 70, (0.0524, 0.3339)),
        (0, 20, 0, 10, (-0.1611, 0.2775)),
    ],
)
def test_newcombe_reproduces_the_published_examples(
    k_b: int, n_b: int, k_c: int, n_c: int, want: tuple[float, float]
) -> None:
    lo, hi = newcombe(k_b, n_b, k_c, n_c)
    assert lo == pytest.approx(want[0], abs=1e-4) and hi == pytest.approx(want[1], abs=1e-4)


def test_paired_difference_of_proportions_that_all_agree_is_not_zero_width() -> None:
    """Both runs error-free in every replication: the paired spread is 0, Newcombe's interval is not."""
    e = paired([1.0] * 4, [1.0] * 4, 0.0, proportions=(1.0, 4000, 1.0, 4000))
    assert e.ci_low is not None and e.ci_high is not None
    assert e.ci_low < 0.0 < e.ci_high
    lo, hi = newcombe(4000, 4000, 4000, 4000)
    assert e.ci_low == pytest.approx(lo, abs=1e-6) and e.ci_high == pytest.approx(hi, abs=1e-6)
    bare = paired([1.0] * 4, [1.0] * 4, 0.0)  # without counts: the sectioning interval alone
    assert bare.ci_low == bare.ci_high == 0.0


def test_paired_difference_keeps_the_wider_paired_interval() -> None:
    """A paired spread wider than Newcombe's interval is kept (the floor never narrows)."""
    base, cand = [0.90, 0.99, 0.92, 0.97], [0.99, 0.90, 0.97, 0.92]
    e = paired(base, cand, 0.0, proportions=(0.945, 100000, 0.945, 100000))
    plain = paired(base, cand, 0.0)
    assert (e.ci_low, e.ci_high) == (plain.ci_low, plain.ci_high)


def test_section_bounds_of_replications_is_the_symmetric_t_interval() -> None:
    secs = [9.0, 11.0, 10.5, 9.5, 12.0]
    below, above = section_bounds(secs, 10.4)
    assert below == above == pytest.approx(t_half_width(secs, 10.4), rel=1e-12)


def test_serial_sections_without_correlation_or_skew_keep_the_t_interval() -> None:
    """Alternating batches: lag-1 correlation -0.9 (-1.16 after the bias correction, clamped to 0), skewness 0."""
    secs = [1.0, -1.0] * 5
    below, above = section_bounds(secs, 0.0, serial=True)
    assert below == pytest.approx(t_half_width(secs, 0.0), rel=1e-12)
    assert above == pytest.approx(below, rel=1e-12)


def test_serial_sections_with_lag1_correlation_are_widened_by_the_ar1_factor() -> None:
    """Symmetric (skewness 0) but positively correlated batches: half-width x sqrt((1 + r) / (1 - r)),
    r the lag-1 correlation with Marriott & Pope's bias correction r1 + (1 + 4 r1) / b."""
    secs = [-2.0, -1.0, 1.0, 2.0, 2.0, 1.0, -1.0, -2.0]
    r1 = 10.0 / 20.0  # lag-1 products 2 - 1 + 2 + 4 + 2 - 1 + 2 over the sum of squares 20
    r = r1 + (1 + 4 * r1) / 8
    below, above = section_bounds(secs, 0.0, serial=True)
    want = t_half_width(secs, 0.0) * math.sqrt((1 + r) / (1 - r))
    assert below == pytest.approx(want, rel=1e-12) and above == pytest.approx(want, rel=1e-12)


def test_serial_sections_skewed_right_widen_the_upper_side() -> None:
    """Willink's G: right-skewed batch means (one long busy period) extend the interval upwards."""
    secs = [1.0, 1.2, 0.9, 1.1, 5.0, 1.0, 0.8, 1.2, 1.1, 0.9]
    c = sum(secs) / len(secs)
    below, above = section_bounds(secs, c, serial=True, skew=True)
    plain_below, plain_above = section_bounds(secs, c, serial=True, skew=False)
    assert plain_below == pytest.approx(plain_above)
    assert above > plain_above and below < plain_below


def test_subsection_skewness_is_the_pooled_batch_skewness_over_sqrt_m() -> None:
    """Deviations from each group's mean pooled: g = mean(dev^3) / s^3, s^2 = sum(dev^2) / (N - R); / sqrt(N / R)."""
    groups = [[0.0, 0.0, 3.0], [1.0, 1.0, 4.0]]  # each group's deviations: -1, -1, +2
    dev = [-1.0, -1.0, 2.0] * 2
    s2 = sum(x * x for x in dev) / (6 - 2)
    g = sum(x**3 for x in dev) / 6 / s2**1.5
    assert subsection_skewness(groups) == pytest.approx(g / math.sqrt(3), rel=1e-12)
    assert subsection_skewness([[1.0, 1.0], [2.0, 2.0]]) is None  # no spread


def test_independent_sections_with_a_skewness_widen_on_its_side() -> None:
    secs = [9.0, 11.0, 10.5, 9.5, 12.0]
    t_below, t_above = section_bounds(secs, 10.4)
    below, above = section_bounds(secs, 10.4, skewness=1.0)
    assert above > t_above and below < t_below
    assert section_bounds(secs, 10.4, skewness=0.0) == pytest.approx((t_below, t_above))
