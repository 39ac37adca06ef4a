"""meshsim's own kinds (``apiVersion: meshsim.io/v1alpha1``): ``LoadProfile`` and ``MeshSettings``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from meshsim.config.base import NonNegDuration, StrictModel
from meshsim.config.distributions import DistSpec, Lognormal
from meshsim.config.istio import HTTPRetry, ObjectMeta
from meshsim.config.topology import Sleep

__all__ = ["HeaderMixEntry", "LoadProfileSpec", "LoadProfile", "MeshSettingsSpec", "MeshSettings"]


class HeaderMixEntry(StrictModel):
    """A share of requests (``weight``, relative) that carries ``headers``."""

    weight: float = Field(gt=0)
    headers: dict[str, str] = Field(default_factory=dict)


class LoadProfileSpec(StrictModel):
    """Where load enters and how it arrives.

    - ``arrival: poisson`` (open loop, exponential inter-arrivals at ``rate`` requests/s),
      ``constant`` (open loop, fixed spacing 1/rate) or ``closed`` (``users`` clients, each sending
      its next request ``thinkTime`` after the previous response).
    - ``duration`` is the measured window after ``warmup``; nothing that starts during warm-up is
      counted.
    - ``headers`` is a weighted mix: e.g. weight 10 with ``end-user: jason`` and weight 90 with none.
    """

    entry: str | None = None
    path: str = "/"
    method: str = "GET"
    arrival: Literal["poisson", "constant", "closed"] = "poisson"
    rate: float | None = Field(default=None, gt=0)
    users: int | None = Field(default=None, ge=1)
    thinkTime: Sleep | None = None
    duration: NonNegDuration = 60.0
    warmup: NonNegDuration = 5.0
    drain: NonNegDuration = 30.0
    headers: list[HeaderMixEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mode(self) -> LoadProfileSpec:
        if self.duration <= 0:
            raise ValueError("duration must be > 0")
        if self.arrival == "closed":
            if self.users is None:
                raise ValueError("closed-loop load needs 'users'")
        elif self.users is not None:
            raise ValueError("'users' is for arrival: closed; open-loop load uses 'rate'")
        return self


class LoadProfile(StrictModel):
    apiVersion: Literal["meshsim.io/v1alpha1"]
    kind: Literal["LoadProfile"]
    metadata: ObjectMeta | None = None
    spec: LoadProfileSpec = Field(default_factory=LoadProfileSpec)


def _default_sidecar_latency() -> Lognormal:
    return Lognormal(dist="lognormal", median=0.45e-3, p99=0.8e-3)


class SidecarSettings(StrictModel):
    """Cost of one Envoy traversal (request and response through one proxy), in seconds.

    Default: lognormal with median 0.45 ms and p99 0.8 ms, measured for one Envoy traversal on
    loopback on this project's machines (issue #4 notes; reference §9.2 gives 0.3-1.4 ms p90 per
    proxy in production). Replace it with ``meshsim real calibrate`` output for your machine.
    """

    latency: DistSpec = Field(default_factory=_default_sidecar_latency)


class MeshSettingsSpec(StrictModel):
    """Mesh-wide knobs, named after Istio's MeshConfig fields and pilot flags where one exists.

    - ``defaultHttpRetryPolicy``: MeshConfig's replacement for Istio's default retry policy.
    - ``excludeUnsafe503FromDefaultRetry``: pilot's ``EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY``; true
      (1.24+) means the default policy does not retry 503, false restores the <=1.23 behaviour.
    - ``maxRetriesDefault``: ``istio`` (2^32-1 on every cluster, Istio's choice) or ``envoy`` (Envoy's raw
      default of 3 concurrent retries per cluster).
    - ``networkLatency``: one-way pod-to-pod latency added per call, seconds (0 on loopback).
    """

    defaultHttpRetryPolicy: HTTPRetry | None = None
    excludeUnsafe503FromDefaultRetry: bool = True
    maxRetriesDefault: Literal["istio", "envoy"] = "istio"
    sidecar: SidecarSettings = Field(default_factory=SidecarSettings)
    networkLatency: NonNegDuration = 0.0


class MeshSettings(StrictModel):
    apiVersion: Literal["meshsim.io/v1alpha1"]
    kind: Literal["MeshSettings"]
    metadata: ObjectMeta | None = None
    spec: MeshSettingsSpec = Field(default_factory=MeshSettingsSpec)
