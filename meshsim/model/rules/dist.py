"""Distributions: config spec -> IR :class:`~meshsim.model.ir.Dist`, and draws from an IR Dist.

Parameterisation (seconds): ``constant (value,)``, ``exponential (mean,)``, ``lognormal (mu, sigma)``
of ln X, ``uniform (low, high)``, ``empirical (samples...)`` (drawn with replacement). Draws use
numpy's ``Generator`` methods of the same names, so a stream's bytes do not depend on the caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from meshsim.config.distributions import Constant, Empirical, Exponential, Lognormal, Uniform
from meshsim.model.ir import Dist

__all__ = ["draw", "draws", "to_dist"]


def to_dist(spec: Any) -> Dist:
    """Turn a config distribution spec into an IR :class:`Dist` (seconds).

    Raises
    ------
    TypeError
        When ``spec`` is not one of the config distribution models.
    """
    if isinstance(spec, Constant):
        return Dist("constant", (spec.value,), spec.mean, 0.0)
    if isinstance(spec, Exponential):
        return Dist("exponential", (spec.mean,), spec.mean, 1.0)
    if isinstance(spec, Lognormal):
        return Dist("lognormal", (spec.mu, spec.sigma), spec.mean, spec.scv)
    if isinstance(spec, Uniform):
        return Dist("uniform", (spec.min, spec.max), spec.mean, spec.scv)
    if isinstance(spec, Empirical):
        return Dist("empirical", tuple(spec.samples), spec.mean, spec.scv)
    raise TypeError(f"not a distribution spec: {spec!r}")


def draws(d: Dist, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` samples (seconds) of ``d`` from ``rng``.

    Raises
    ------
    ValueError
        For an unknown distribution kind.
    """
    p = d.params
    if d.kind == "constant":
        return np.full(n, p[0])
    if d.kind == "exponential":
        return rng.exponential(p[0], n)
    if d.kind == "lognormal":
        return rng.lognormal(p[0], p[1], n)
    if d.kind == "uniform":
        return rng.uniform(p[0], p[1], n)
    if d.kind == "empirical":
        return rng.choice(np.asarray(p, dtype=float), n)
    raise ValueError(f"unknown distribution kind {d.kind!r}")


def draw(d: Dist, rng: np.random.Generator) -> float:
    """One sample (seconds) of ``d`` from ``rng`` (scalar draws: ``rng.exponential(mean)``, ...;
    an empirical sample is ``params[rng.integers(len)]``).

    Raises
    ------
    ValueError
        For an unknown distribution kind.
    """
    k, p = d.kind, d.params
    if k == "constant":
        return float(p[0])
    if k == "exponential":
        return float(rng.exponential(p[0]))
    if k == "lognormal":
        return float(rng.lognormal(p[0], p[1]))
    if k == "uniform":
        return float(rng.uniform(p[0], p[1]))
    if k == "empirical":
        return float(p[int(rng.integers(len(p)))])
    raise ValueError(f"unknown distribution kind {k!r}")
