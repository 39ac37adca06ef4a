"""Confidence intervals for simulation output: one function for every interval meshsim reports.

Every :class:`~meshsim.metrics.results.Estimate` in ``summary.json`` is built by :func:`interval` (or,
for a quantile held in sketches, :func:`quantile_interval`), by
**sectioning** (Asmussen & Glynn, *Stochastic Simulation*, 2007, III.5; Nakayama, "Confidence
intervals for quantiles using sectioning", ACM TOMACS 24(4), 2014): the point estimate is the
*pooled* one (all data of the run, or of all replications), and the half-width comes from the spread
of ``b`` section estimates (one per replication, or one per time batch of a single run) around it::

    S^2 = sum_i (x_i - x_pooled)^2 / (b - 1),    half = t_{b-1, 1-(1-level)/2} * S / sqrt(b)

Centred on the pooled value, the interval always contains its own value (a t-interval around the mean
of section quantiles does not: for tail quantiles that mean is biased low, Nakayama 2014 section 3).
Replications are independent sections; the time batches of one run are not, and their interval gets
the autoregression and skewness corrections of the Skart batch-means procedure
(:func:`section_bounds`), so it may be asymmetric around the value.

Rules shared by every estimate:

- a **quantile** q needs at least :func:`min_per_section` = ceil(10 / min(q, 1 - q)) samples in every
  section (10 expected samples beyond the quantile); otherwise the interval is ``null`` with
  ``ci_reason = "too_few_samples"`` and ``ci_needs`` the total samples it would need;
- a quantile's interval is never narrower than the sketch's own error around the value: DDSketch
  with relative accuracy alpha returns q' with ``|q' - q| <= alpha q`` (Masson, Rim & Lee, "DDSketch",
  PVLDB 12(12), 2019), so the interval contains ``[q'/(1+alpha), q'/(1-alpha)]``;
- a **proportion** (success rate, utilisation) is never narrower than the Wilson score interval of
  the pooled count (Wilson 1927), the interval the data would give if every sample were independent
  (so 0 errors out of n does not give a zero-width interval);
- a **difference of proportions** (:func:`paired`) is never narrower than Newcombe's hybrid score
  interval of the two pooled counts (:func:`newcombe`);
- fewer than 2 sections: ``null`` with ``ci_reason = "too_few_sections"``.

:func:`mser` detects an initial transient (MSER, White 1997) and :func:`relative_half_width` is what
the sequential ``--precision`` procedure compares with its target (Law, *Simulation Modeling and
Analysis*, 5th ed., 2015, section 9.4.1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

from ddsketch import DDSketch
from scipy import stats as sps

from meshsim.metrics.results import Estimate

__all__ = [
    "Kind",
    "LEVEL",
    "interval",
    "min_per_section",
    "mser",
    "newcombe",
    "fraction_at_most",
    "paired",
    "quantile_interval",
    "relative_half_width",
    "section_bounds",
    "subsection_skewness",
    "t_half_width",
    "wilson",
    "wilson_estimate",
]

LEVEL = 0.95
"""Confidence level of every reported interval."""

Kind = Literal["mean", "quantile", "proportion", "difference"]


def _r(x: float | None, nd: int) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), nd)


def min_per_section(q: float) -> int:
    """Samples a section needs for quantile ``q`` (0 < q < 1): ceil(10 / min(q, 1 - q)).

    At p99 that is 1000 (10 samples expected above the quantile), at p99.9 10000, at p50 20.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {q}")
    return math.ceil(10.0 / min(q, 1.0 - q) - 1e-9)


def t_half_width(sections: Sequence[float], centre: float, level: float = LEVEL) -> float:
    """Sectioning half-width: t_{b-1} x S / sqrt(b) with S^2 the spread of ``sections`` around
    ``centre`` (Asmussen & Glynn 2007, III.5). Raises ValueError with fewer than 2 sections."""
    b = len(sections)
    if b < 2:
        raise ValueError("sectioning needs at least 2 sections")
    s2 = sum((x - centre) ** 2 for x in sections) / (b - 1)
    return float(sps.t.ppf(0.5 + level / 2, b - 1)) * math.sqrt(s2 / b)


def section_bounds(
    sections: Sequence[float],
    centre: float,
    level: float = LEVEL,
    *,
    serial: bool = False,
    skew: bool = True,
    skewness: float | None = None,
) -> tuple[float, float]:
    """Distances ``(below, above)`` of the interval's ends from ``centre``: the interval is
    ``[centre - below, centre + above]``.

    Independent sections (replications): the sectioning t-interval, ``below = above =``
    :func:`t_half_width` (Law, *Simulation Modeling and Analysis*, 5th ed., 2015, section 9.4.1);
    with ``skewness`` (the skewness of one section's estimate, measured on finer data, see
    :func:`subsection_skewness`) Willink's skewness correction below uses it.

    ``serial=True`` (consecutive time batches of one run) adds the two corrections of the Skart
    batch-means procedure (Tafazzoli & Wilson, "Skart: a skewness- and autoregression-adjusted
    batch-means procedure for simulation analysis", IIE Transactions 43(2), 2011, section 3):

    - *autoregression*: the variance is inflated by ``A = (1 + r) / (1 - r)`` (the variance of the
      mean of an AR(1) series; batches of a short run are correlated when they are not much longer
      than the system's relaxation time), with ``r = r1 + (1 + 4 r1) / b`` the lag-1 correlation
      ``r1`` of the sections around ``centre`` corrected for its bias in short series (Marriott &
      Pope, "Bias in the estimation of autocorrelations", Biometrika 41(3/4), 1954), clamped to
      [0, 0.9];
    - *skewness*: with ``B`` the sections' sample skewness and ``beta = B / (6 sqrt(b))``, the
      t quantile ``z`` is replaced by Willink's ``G(z) = ((1 + 6 beta (z - beta))^(1/3) - 1) /
      (2 beta)`` ("A confidence interval and test for the mean of an asymmetric distribution",
      Communications in Statistics - Theory and Methods 34(4), 2005), which widens the interval on
      the side of the skew: ``below = G(t) h``, ``above = -G(-t) h`` with ``h = S sqrt(A / b)``
      (``skew=False`` keeps the t quantile).

    Raises ValueError with fewer than 2 sections.
    """
    b = len(sections)
    if b < 2:
        raise ValueError("sectioning needs at least 2 sections")
    d = [x - centre for x in sections]
    ss = sum(x * x for x in d)
    t = float(sps.t.ppf(0.5 + level / 2, b - 1))
    if ss <= 0:
        return 0.0, 0.0
    s = math.sqrt(ss / (b - 1))
    a, gamma = 1.0, skewness or 0.0
    if serial and b >= 3:
        r1 = sum(x * y for x, y in pairwise(d)) / ss
        r = min(0.9, max(0.0, r1 + (1 + 4 * r1) / b))
        a = (1 + r) / (1 - r)
        gamma = b / ((b - 1) * (b - 2)) * sum(x**3 for x in d) / s**3 if skew else 0.0
    h = s * math.sqrt(a / b)
    beta = gamma / (6 * math.sqrt(b))

    def g(z: float) -> float:
        if abs(beta) < 1e-12:
            return z
        v = 1 + 6 * beta * (z - beta)
        return (math.copysign(abs(v) ** (1 / 3), v) - 1) / (2 * beta)

    return g(t) * h, -g(-t) * h


def subsection_skewness(groups: Sequence[Sequence[float]]) -> float | None:
    """Skewness of one section's estimate, from the estimates of its sub-sections.

    ``groups[i]`` holds the sub-section estimates of section i (the time batches of replication i).
    Their deviations from their own section's mean are pooled, ``g = mean(dev^3) / s^3`` with
    ``s^2 = sum(dev^2) / (N - R)`` (N values in R groups), and the result is ``g / sqrt(m)`` with
    ``m = N / R``: the skewness of a mean of m independent sub-sections (the third cumulant of a sum
    grows as m, the cube of its standard deviation as m^(3/2)). With 5 replications of 10 batches this
    rests on 50 values where the 5 replication estimates themselves give a skewness too noisy to
    correct with. Positive correlation between batches leaves the section estimate more skewed than
    this, so the correction errs small. None with fewer than 3 values or no spread.
    """
    dev: list[float] = []
    for grp in groups:
        if grp:
            mu = sum(grp) / len(grp)
            dev += [x - mu for x in grp]
    n_groups = sum(1 for grp in groups if grp)
    if len(dev) < 3 or len(dev) <= n_groups:
        return None
    s2 = sum(x * x for x in dev) / (len(dev) - n_groups)
    if s2 <= 0:
        return None
    g = sum(x**3 for x in dev) / len(dev) / s2**1.5
    return g / math.sqrt(len(dev) / n_groups)


def wilson(successes: float, n: float, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` of a binomial proportion (Wilson, JASA 22, 1927), from
    scipy's ``binomtest(k, n).proportion_ci(method="wilson")``; ``successes`` is rounded to the
    nearest count. Raises ValueError unless ``n`` >= 1 and 0 <= successes <= n."""
    k, m = int(round(successes)), int(round(n))
    ci = sps.binomtest(k, m).proportion_ci(confidence_level=level, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def wilson_estimate(k: int, n: int, level: float = LEVEL, nd: int = 6) -> Estimate:
    """The Estimate of a proportion ``k / n`` of independent trials (e.g. replications whose outcome
    is a category) with its :func:`wilson` interval; all null when ``n`` = 0."""
    if n <= 0:
        return Estimate(value=None, ci_reason="no_data")
    lo, hi = wilson(k, n, level)
    return Estimate(value=_r(k / n, nd), ci_low=_r(lo, nd), ci_high=_r(hi, nd), ci_method="wilson")


def interval(
    pooled: float | None,
    sections: Sequence[float | None],
    counts: Sequence[int] | None = None,
    *,
    kind: Kind = "mean",
    q: float | None = None,
    relative_accuracy: float = 0.0,
    pooled_n: int | None = None,
    nonnegative: bool = False,
    level: float = LEVEL,
    nd: int = 4,
    method: str = "sectioning",
    serial: bool = False,
    skewness: float | None = None,
) -> Estimate:
    """The :class:`Estimate` of one metric, by sectioning (module docstring for the rules).

    Parameters
    ----------
    pooled:
        The point estimate from all data (None: no data, the Estimate is all null).
    sections:
        One estimate per section (replication or time batch); None marks an empty section.
    counts:
        Samples in each section (same length as ``sections``); needed for ``kind="quantile"``.
    kind:
        ``quantile`` (needs ``q``), ``mean``, ``proportion`` (kept in [0, 1], Wilson floor from
        ``pooled_n``) or ``difference`` (paired differences; no clamping).
    relative_accuracy:
        The sketch's alpha for quantiles (and differences of quantiles): the interval contains
        ``[v/(1+alpha), v/(1-alpha)]`` for a quantile, ``v +/- relative_accuracy`` for a difference
        (pass ``alpha x (|baseline| + |candidate|)`` as an absolute there).
    nonnegative:
        Clamp the lower bound at 0 (latencies).
    serial:
        The sections are consecutive time batches of one run (not independent replications): the
        interval gets :func:`section_bounds`' autoregression and skewness corrections.
    skewness:
        For independent sections: the skewness of one section's estimate measured on finer data
        (:func:`subsection_skewness`), for :func:`section_bounds`' skewness correction.

    Raises
    ------
    ValueError
        If ``kind="quantile"`` without ``q`` or ``counts``.
    """
    if pooled is None or (isinstance(pooled, float) and math.isnan(pooled)):
        return Estimate(value=None, ci_reason="no_data")
    b = len(sections)
    need: int | None = None
    if kind == "quantile":
        if q is None or counts is None:
            raise ValueError("a quantile interval needs q and the per-section counts")
        m = min_per_section(q)
        need = max(2, b) * m
        if b < 2:
            return Estimate(value=_r(pooled, nd), ci_method=method, ci_reason="too_few_sections", ci_needs=need)
        if min(counts) < m or any(x is None for x in sections):
            return Estimate(value=_r(pooled, nd), ci_method=method, ci_reason="too_few_samples", ci_needs=need)
    vals = [x for x in sections if x is not None]
    if len(vals) < 2 or len(vals) < b:
        reason = "too_few_sections" if len(vals) < 2 else "too_few_samples"
        return Estimate(value=_r(pooled, nd), ci_method=method, ci_reason=reason, ci_needs=need)
    below, above = section_bounds([float(x) for x in vals], float(pooled), level, serial=serial, skewness=skewness)
    lo, hi = pooled - below, pooled + above
    if kind == "quantile" and relative_accuracy > 0:
        lo = min(lo, pooled / (1 + relative_accuracy))
        hi = max(hi, pooled / (1 - relative_accuracy))
    elif kind == "difference" and relative_accuracy > 0:
        lo = min(lo, pooled - relative_accuracy)
        hi = max(hi, pooled + relative_accuracy)
    if kind == "proportion":
        if pooled_n:
            wl, wh = wilson(pooled * pooled_n, pooled_n, level)
            lo, hi = min(lo, wl), max(hi, wh)
        lo, hi = max(0.0, lo), min(1.0, hi)
    if nonnegative:
        lo = max(0.0, lo)
    return Estimate(value=_r(pooled, nd), ci_low=_r(lo, nd), ci_high=_r(hi, nd), ci_method=method)


def fraction_at_most(sk: DDSketch, v: float) -> float:
    """Fraction of the values in ``sk`` that are <= ``v``, at the sketch's resolution: every value in
    ``v``'s bucket counts (DDSketch's own rank rule; uses its store layout as
    :func:`meshsim.metrics.recorder._add_many` does). ``sk`` must be non-empty."""
    m = sk._mapping
    below = sk._negative_store.count + sk._zero_count if v > m.min_possible else 0.0
    if v > m.min_possible:
        st = sk._store
        k = m.key(v)
        i = k - st.offset
        if i >= 0:
            below += sum(st.bins[: i + 1])
    return float(below / sk.count)


def quantile_interval(
    merged: DDSketch | None,
    sections: Sequence[DDSketch | None],
    q: float,
    relative_accuracy: float,
    *,
    level: float = LEVEL,
    nd: int = 4,
    serial: bool = False,
    subsections: Sequence[Sequence[DDSketch | None]] | None = None,
) -> Estimate:
    """The Estimate of quantile ``q`` from a pooled sketch and one sketch per section.

    Sectioning on the probability scale, then inverted: with ``x`` the pooled quantile, each
    section gives ``p_i`` = its fraction of values <= ``x``; :func:`section_bounds` of the ``p_i``
    around the pooled fraction give an interval ``[P - below, P + above]`` for F(x), and the
    quantile's interval is ``[F^-1(q - above), F^-1(q + below)]`` of the pooled sketch (the CI of
    F(x) inverted, as in Heidelberger & Lewis, "Quantile estimation in dependent sequences",
    Operations Research 32(1), 1984; sectioning as in Nakayama 2014). Section *fractions* are means
    of indicators, whose t-interval stays calibrated for tail quantiles at section sizes where the
    spread of section *quantiles* is skewed and undercovers (measured: M/M/1 at rho 0.7, p99 with
    1200 requests per section, 85% coverage on the quantile scale, 92% on this one).

    ``serial=True`` (time batches of one run): the fractions get :func:`section_bounds`'
    autoregression and skewness corrections, as batch means do. Independent sections with
    ``subsections`` (each replication's batch sketches): the skewness correction with
    :func:`subsection_skewness` of the batches' fractions.

    Never narrower than the sketch's own error (module docstring); null when a section holds fewer
    than :func:`min_per_section`.
    """
    counts = [int(sk.count) if sk is not None else 0 for sk in sections]
    if merged is None or merged.count == 0:
        return Estimate(value=None, ci_reason="no_data")
    value = float(merged.get_quantile_value(q) or 0.0)
    b = len(sections)
    m = min_per_section(q)
    need = max(2, b) * m
    if b < 2:
        return Estimate(value=_r(value, nd), ci_method="sectioning", ci_reason="too_few_sections", ci_needs=need)
    if min(counts) < m:
        return Estimate(value=_r(value, nd), ci_method="sectioning", ci_reason="too_few_samples", ci_needs=need)
    fr = [fraction_at_most(sk, value) for sk in sections if sk is not None]
    gamma = None
    if subsections is not None and not serial:
        gamma = subsection_skewness(
            [[fraction_at_most(sk, value) for sk in grp if sk is not None and sk.count] for grp in subsections]
        )
    below, above = section_bounds(fr, fraction_at_most(merged, value), level, serial=serial, skewness=gamma)
    lo = float(merged.get_quantile_value(max(0.0, q - above)) or 0.0)
    hi = float(merged.get_quantile_value(min(1.0, q + below)) or 0.0)
    if relative_accuracy > 0:
        lo = min(lo, value / (1 + relative_accuracy))
        hi = max(hi, value / (1 - relative_accuracy))
    return Estimate(value=_r(value, nd), ci_low=_r(max(0.0, lo), nd), ci_high=_r(hi, nd), ci_method="sectioning")


def newcombe(k_base: float, n_base: float, k_cand: float, n_cand: float, level: float = LEVEL) -> tuple[float, float]:
    """Hybrid score interval ``(low, high)`` of the difference of two proportions
    ``k_cand / n_cand - k_base / n_base`` (Newcombe, "Interval estimation for the difference between
    independent proportions", Statistics in Medicine 17(8), 1998, method 10): with ``(l, u)`` each
    proportion's :func:`wilson` interval and ``d`` the difference,
    ``[d - sqrt((p_c - l_c)^2 + (u_b - p_b)^2), d + sqrt((u_c - p_c)^2 + (p_b - l_b)^2)]``.
    Never zero-width (0 of n against 0 of n included). Raises ValueError unless both ``n`` >= 1."""
    pb, pc = k_base / n_base, k_cand / n_cand
    lb, ub = wilson(k_base, n_base, level)
    lc, uc = wilson(k_cand, n_cand, level)
    d = pc - pb
    return d - math.hypot(pc - lc, ub - pb), d + math.hypot(uc - pc, pb - lb)


def paired(
    base: Sequence[float | None],
    cand: Sequence[float | None],
    pooled_diff: float | None = None,
    resolution: float = 0.0,
    nd: int = 6,
    *,
    proportions: tuple[float, int, float, int] | None = None,
) -> Estimate:
    """Paired difference candidate - baseline over replications (common random numbers).

    The value is ``pooled_diff`` (candidate pooled - baseline pooled) when given, else the mean of
    the per-replication differences; the interval is the sectioning interval of those differences
    (:func:`interval` with ``kind="difference"``), never narrower than +/- ``resolution`` (for
    quantiles: alpha x (|baseline| + |candidate|), what two sketches can resolve).

    For a difference of proportions pass ``proportions = (p_base, n_base, p_cand, n_cand)`` (pooled
    proportions and their sample counts): the interval is then never narrower than :func:`newcombe`'s
    hybrid score interval, so replications that all agree (0 errors in both runs) do not give a
    zero-width interval. Newcombe's independent-samples method is the one that applies: the runs share
    random numbers, but the requests of the two runs are not matched one to one (a config change moves
    retries, routing and timing), so the 2x2 table the paired-data version needs (Newcombe, Statistics
    in Medicine 17(22), 1998) does not exist. Common random numbers correlate the two proportions
    positively, which only narrows the true interval, so this floor errs on the wide side.
    """
    d = [c - b for b, c in zip(base, cand, strict=False) if b is not None and c is not None]
    if not d:
        return Estimate(value=_r(pooled_diff, nd), ci_reason="no_data" if pooled_diff is None else "too_few_sections")
    centre = pooled_diff if pooled_diff is not None else sum(d) / len(d)
    est = interval(centre, d, kind="difference", relative_accuracy=resolution, nd=nd, method="paired_sectioning")
    if proportions is None or est.ci_low is None or est.ci_high is None:
        return est
    pb, nb, pc, nc = proportions
    if nb < 1 or nc < 1:
        return est
    lo, hi = newcombe(pb * nb, nb, pc * nc, nc)
    if lo < est.ci_low or hi > est.ci_high:
        return Estimate(
            value=est.value,
            ci_low=_r(min(est.ci_low, lo), nd),
            ci_high=_r(max(est.ci_high, hi), nd),
            ci_method=est.ci_method,
        )
    return est


def relative_half_width(e: Estimate) -> float | None:
    """max(hi - v, v - lo) / |v| of an Estimate; None without an interval or with v = 0."""
    if e.value is None or e.ci_low is None or e.ci_high is None or e.value == 0:
        return None
    return max(e.ci_high - e.value, e.value - e.ci_low) / abs(e.value)


def mser(means: Sequence[float], weights: Sequence[float] | None = None) -> int:
    """MSER truncation point of a series of batch means (White, "An effective truncation heuristic
    for bias reduction in simulation output", Simulation 69(6), 1997; MSER-5 when each mean is over 5
    observations).

    Returns d* in ``0 .. len(means) // 2`` minimising the estimated squared standard error of the
    mean of ``means[d:]``: ``sum_{i>=d} w_i (Y_i - Ybar_d)^2 / (sum_{i>=d} w_i)^2`` (with weights =
    observations per batch; unweighted is White's form). Truncation beyond half the series is not
    considered (White's rule: the statistic is unreliable there).
    """
    n = len(means)
    if n < 4:
        return 0
    w = list(weights) if weights is not None else [1.0] * n
    best, best_d = math.inf, 0
    for d in range(n // 2 + 1):
        ys, ws = means[d:], w[d:]
        tw = sum(ws)
        if tw <= 0:
            continue
        ybar = sum(y * wi for y, wi in zip(ys, ws, strict=True)) / tw
        stat = sum(wi * (y - ybar) ** 2 for y, wi in zip(ys, ws, strict=True)) / (tw * tw)
        if stat < best - 1e-15 * abs(best if math.isfinite(best) else 0.0):
            best, best_d = stat, d
    return best_d
