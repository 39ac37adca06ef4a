"""Fit a service's self times to lognormal, gamma or an empirical distribution.

Candidates are fitted by maximum likelihood with the location fixed at 0 (``scipy.stats.lognorm.fit``,
``scipy.stats.gamma.fit``); the goodness-of-fit score is the Kolmogorov-Smirnov distance
``D = sup |F_n(x) - F(x)|`` (``scipy.stats.kstest``), 0 = perfect. The best candidate is kept when
``D <= max(max_ks, 1.36 / sqrt(n))`` (the second term is the KS test's 5 % critical value for
``n`` samples, Massey 1951, so small samples are not rejected for noise); otherwise, or when too few samples or many zeros make a parametric fit meaningless,
the empirical distribution (``quantiles`` evenly spaced sample quantiles, resampled uniformly by
meshsim) is used. meshsim's ``sleep`` has no gamma form, so a gamma winner is also written as
empirical quantiles; the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from meshsim.config.distributions import Z99

__all__ = ["Fit", "fit_self_times"]


@dataclass
class Fit:
    """The chosen distribution as a meshsim ``sleep`` mapping (seconds), and every candidate's KS
    distance (``scores``: ``{"lognormal": D, "gamma": D, "empirical": D}``)."""

    chosen: str
    sleep: dict[str, Any]
    n: int
    scores: dict[str, float] = field(default_factory=dict)
    note: str = ""


def _fmt(seconds: float) -> str:
    """A duration string meshsim parses, in µs resolution."""
    return f"{max(seconds, 0.0) * 1e6:.0f}us"


def fit_self_times(samples: np.ndarray, max_ks: float = 0.05, quantiles: int = 200, min_parametric: int = 30) -> Fit:
    """Fit ``samples`` (seconds, 1-D) and return a :class:`Fit`.

    Raises
    ------
    ValueError
        If ``samples`` is empty.
    """
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    if n == 0:
        raise ValueError("no samples")
    qs = np.quantile(x, (np.arange(min(quantiles, n)) + 0.5) / min(quantiles, n))
    empirical = {"dist": "empirical", "samples": [_fmt(v) for v in qs]}
    if float(x[-1] - x[0]) <= 1e-6:
        return Fit("constant", {"dist": "constant", "value": _fmt(float(x[0]))}, n, {}, "all self times equal")
    scores: dict[str, float] = {}
    scores["empirical"] = float(stats.kstest(x, lambda v: np.searchsorted(qs, v, side="right") / len(qs)).statistic)
    zeros = float(np.mean(x <= 1e-6))
    if n < min_parametric or zeros > 0.05:
        why = f"{n} samples" if n < min_parametric else f"{zeros:.0%} of self times are 0"
        return Fit("empirical", empirical, n, scores, f"no parametric fit ({why})")
    xp = np.maximum(x, 1e-6)
    shape, _, scale = stats.lognorm.fit(xp, floc=0)
    scores["lognormal"] = float(stats.kstest(xp, "lognorm", args=(shape, 0, scale)).statistic)
    a, _, gscale = stats.gamma.fit(xp, floc=0)
    scores["gamma"] = float(stats.kstest(xp, "gamma", args=(a, 0, gscale)).statistic)
    best = min(("lognormal", "gamma"), key=lambda k: scores[k])
    limit = max(max_ks, 1.36 / math.sqrt(n))
    if scores[best] > limit:
        return Fit(
            "empirical", empirical, n, scores, f"best parametric fit {best} has KS {scores[best]:.3f} > {limit:.3f}"
        )
    if best == "lognormal" and shape > 0:
        mu, sigma = math.log(scale), float(shape)
        sleep = {"dist": "lognormal", "median": _fmt(math.exp(mu)), "p99": _fmt(math.exp(mu + Z99 * sigma))}
        if sleep["median"] == sleep["p99"]:
            return Fit("empirical", empirical, n, scores, "lognormal too narrow for µs resolution")
        return Fit("lognormal", sleep, n, scores)
    return Fit(
        "empirical",
        empirical,
        n,
        scores,
        "gamma fits best; meshsim's sleep has no gamma form, written as empirical quantiles",
    )
