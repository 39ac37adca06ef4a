"""Service-time distribution specs (meshsim's extension of isotope's ``sleep``).

A spec only describes a distribution and knows its moments; sampling lives in
:mod:`meshsim.sim.sampling`, bound to a named random stream at build time.

YAML forms (all times are durations)::

    sleep: 20ms                                   # constant, as isotope
    sleep: {dist: constant, value: 5ms}
    sleep: {dist: exponential, mean: 20ms}
    sleep: {dist: lognormal, median: 20ms, p99: 150ms}
    sleep: {dist: uniform, min: 5ms, max: 15ms}
    sleep: {dist: empirical, samples: [3ms, 5ms, 8ms]}
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from meshsim.config.base import NonNegDuration, StrictModel
from meshsim.config.limits import MAX_SAMPLES

__all__ = [
    "Constant",
    "Exponential",
    "Lognormal",
    "Uniform",
    "Empirical",
    "DistSpec",
    "Z99",
]

Z99 = 2.3263478740408408
"""Standard normal 0.99 quantile, used to turn (median, p99) into a lognormal sigma."""


class Constant(StrictModel):
    """Always ``value`` seconds. mean = value, SCV = 0."""

    dist: Literal["constant"]
    value: NonNegDuration

    @property
    def mean(self) -> float:
        return self.value

    @property
    def scv(self) -> float:
        return 0.0


class Exponential(StrictModel):
    """Exponential with ``mean`` seconds. SCV = 1."""

    dist: Literal["exponential"]
    mean_: NonNegDuration = Field(alias="mean")

    @model_validator(mode="after")
    def _positive(self) -> Exponential:
        if self.mean_ <= 0:
            raise ValueError("mean must be > 0")
        return self

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def scv(self) -> float:
        return 1.0


class Lognormal(StrictModel):
    """Lognormal given its median and 99th percentile (seconds).

    mu = ln(median), sigma = ln(p99/median) / z_0.99. mean = exp(mu + sigma^2/2),
    SCV = exp(sigma^2) - 1.
    """

    dist: Literal["lognormal"]
    median: NonNegDuration
    p99: NonNegDuration

    @model_validator(mode="after")
    def _order(self) -> Lognormal:
        if self.median <= 0:
            raise ValueError("median must be > 0")
        if self.p99 <= self.median:
            raise ValueError("p99 must be greater than median")
        return self

    @property
    def mu(self) -> float:
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / Z99

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def scv(self) -> float:
        return math.exp(self.sigma**2) - 1.0


class Uniform(StrictModel):
    """Uniform on [min, max] seconds."""

    dist: Literal["uniform"]
    min: NonNegDuration
    max: NonNegDuration

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if self.max < self.min:
            raise ValueError("max must be >= min")
        return self

    @property
    def mean(self) -> float:
        return (self.min + self.max) / 2

    @property
    def scv(self) -> float:
        m = self.mean
        return 0.0 if m == 0 else ((self.max - self.min) ** 2 / 12) / m**2


class Empirical(StrictModel):
    """Resample uniformly from measured ``samples`` (seconds)."""

    dist: Literal["empirical"]
    samples: list[NonNegDuration] = Field(min_length=1, max_length=MAX_SAMPLES)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples)

    @property
    def scv(self) -> float:
        m = self.mean
        if m == 0:
            return 0.0
        var = sum((x - m) ** 2 for x in self.samples) / len(self.samples)
        return var / m**2


DistSpec = Annotated[Constant | Exponential | Lognormal | Uniform | Empirical, Field(discriminator="dist")]
"""Any service-time distribution, discriminated on ``dist``."""
