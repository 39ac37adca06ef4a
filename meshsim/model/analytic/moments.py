"""First two moments of times (seconds), and the distributions the analytic model composes them from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from meshsim.model.ir import (
    Dist,
)

__all__ = ["ZERO", "Moments", "dist_moments"]


@dataclass(frozen=True)
class Moments:
    """First and second moments of a non-negative random time (seconds, seconds²)."""

    m1: float
    m2: float

    @property
    def var(self) -> float:
        return max(0.0, self.m2 - self.m1 * self.m1)

    @property
    def scv(self) -> float:
        return self.var / (self.m1 * self.m1) if self.m1 > 0 else 0.0

    def __add__(self, other: Moments) -> Moments:
        """Sum of two independent times."""
        return Moments(self.m1 + other.m1, self.m2 + 2 * self.m1 * other.m1 + other.m2)

    def times(self, k: int) -> Moments:
        """Sum of ``k`` independent copies."""
        return Moments(k * self.m1, k * self.m2 + k * (k - 1) * self.m1 * self.m1)

    @staticmethod
    def mix(parts: Sequence[tuple[float, Moments]]) -> Moments:
        """Mixture: with probability ``p_i`` the time is distributed as ``M_i`` (probabilities sum to 1;
        any remainder is a zero time)."""
        return Moments(sum(p * m.m1 for p, m in parts), sum(p * m.m2 for p, m in parts))


ZERO = Moments(0.0, 0.0)


def dist_moments(d: Dist) -> Moments:
    """Moments of an IR :class:`~meshsim.model.ir.Dist` from its ``mean`` and ``scv``."""
    return Moments(d.mean, d.mean * d.mean * (1.0 + d.scv))


def uniform_moments(ceiling: float) -> Moments:
    return Moments(ceiling / 2.0, ceiling * ceiling / 3.0)


def geometric_tries(q: float, n_max: int) -> list[float]:
    """P(K = k) for k = 1..n_max when each try fails retriably with probability ``q``."""
    probs = [q ** (k - 1) * (1 - q) for k in range(1, n_max)]
    probs.append(q ** (n_max - 1))
    return probs


def max_moments(ms: Sequence[Moments]) -> Moments:
    """Moments of the maximum of independent times, each approximated by a gamma distribution with
    the same mean and SCV (numerical integration of ``1 − Π F_i``)."""
    live = [m for m in ms if m.m1 > 0]
    if not live:
        return ZERO
    if len(live) == 1:
        return live[0]
    hi = max(m.m1 + 12 * math.sqrt(m.var) for m in live) * 1.05
    grid = np.linspace(0.0, hi, 4001)
    cdf = np.ones_like(grid)
    for m in live:
        if m.scv <= 1e-9:
            cdf *= (grid >= m.m1).astype(float)
        else:
            cdf *= sps.gamma.cdf(grid, 1.0 / m.scv, scale=m.m1 * m.scv)
    surv = 1.0 - cdf
    m1 = float(np.trapezoid(surv, grid))
    m2 = float(np.trapezoid(2 * grid * surv, grid))
    return Moments(m1, m2)
