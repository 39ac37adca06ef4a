"""Changes over time: ``kind: Scenario`` (a timeline of events) and ``kind: CanaryPolicy`` (Flagger).

Both are ``apiVersion: meshsim.io/v1alpha1``. Times are durations from the start of the simulation
(warm-up included).

Scenario example::

    kind: Scenario
    spec:
      controlPlane: {propagation: {dist: lognormal, median: 5ms, p99: 50ms}}
      events:
      - at: 30s
        apply: {apiVersion: networking.istio.io/v1, kind: VirtualService, ...}   # a whole document
      - {at: 40s, kill: {pod: reviews-v1-0}}
      - {at: 50s, scale: {service: reviews, version: v2, replicas: 3}}
      - {at: 60s, slow: {service: ratings, factor: 5, duration: 10s}}
      - {at: 60s, errors: {service: ratings, rate: 50%, duration: 10s}}
      - {at: 90s, load: {rate: 300, ramp: 20s}}          # or a spike: {rate: 500, duration: 5s}

CanaryPolicy follows Flagger's ``analysis`` block (https://docs.flagger.app/usage/how-it-works): every ``interval`` the controller
checks the canary's metrics over their window; all pass: the weight rises by ``stepWeight`` (or the
next of ``stepWeights``) up to ``maxWeight``, then promotion; a failed check (a metric out of range, or
no data: Flagger's "Halt advancement no values found") keeps the weight and counts towards
``threshold``; reaching it rolls back (100% to the primary).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from meshsim.config.base import NonNegDuration, Percentage, StrictModel
from meshsim.config.distributions import DistSpec, Lognormal
from meshsim.config.istio import ObjectMeta
from meshsim.config.limits import MAX_FACTOR, Rate, Replicas

__all__ = [
    "ControlPlaneSpec",
    "ScaleEvent",
    "KillEvent",
    "SlowEvent",
    "ErrorsEvent",
    "LoadEvent",
    "ScenarioEvent",
    "ScenarioSpec",
    "Scenario",
    "CanaryMetric",
    "CanaryAnalysis",
    "CanaryPolicySpec",
    "CanaryPolicy",
]


def _default_propagation() -> Lognormal:
    return Lognormal(dist="lognormal", median=5e-3, p99=50e-3)


class ControlPlaneSpec(StrictModel):
    """istiod's push pipeline (istiod's debounced pushes: pilot/pkg/xds/discovery.go, ``PILOT_DEBOUNCE_AFTER``/``PILOT_DEBOUNCE_MAX``).

    - ``debounceAfter`` / ``debounceMax``: ``PILOT_DEBOUNCE_AFTER`` (100 ms quiet) and
      ``PILOT_DEBOUNCE_MAX`` (10 s), endpoint changes debounced too (``PILOT_ENABLE_EDS_DEBOUNCE``).
    - ``pushThrottle``: ``PILOT_PUSH_THROTTLE``, concurrent per-proxy pushes (default 100; since 1.21
      ``min(15 + 5 GOMAXPROCS, 100)``).
    - ``pushInit``: PushContext initialisation before the first proxy is pushed [UNVERIFIED; a parameter].
    - ``propagation``: time from the start of a proxy's push to Envoy applying it [UNVERIFIED: the
      reference has no figure for small meshes; default lognormal median 5 ms, p99 50 ms; replace it
      with push->ACK data from ``meshsim real``].
    - ``endpointDelay``: Kubernetes EndpointSlice update after a pod change [UNVERIFIED; 0.5 s].
    """

    debounceAfter: NonNegDuration = 0.1
    debounceMax: NonNegDuration = 10.0
    pushThrottle: int = Field(default=100, ge=1, le=100_000)
    pushInit: NonNegDuration = 0.02
    propagation: DistSpec = Field(default_factory=_default_propagation)
    endpointDelay: NonNegDuration = 0.5


class ScaleEvent(StrictModel):
    """Set a version's replicas (new pods serve at once; sidecars learn of them through EDS)."""

    service: str
    version: str | None = None
    replicas: Replicas


class KillEvent(StrictModel):
    """A pod dies at once: connections to it fail until every sidecar's EDS drops it."""

    pod: str


class SlowEvent(StrictModel):
    """Multiply a service's (or one version's) sleeps by ``factor`` for ``duration`` (None = for good)."""

    service: str
    version: str | None = None
    factor: float = Field(gt=0, le=MAX_FACTOR)
    duration: NonNegDuration | None = None


class ErrorsEvent(StrictModel):
    """Set a service's error rate to ``rate`` for ``duration`` (None = for good)."""

    service: str
    version: str | None = None
    rate: Percentage
    status: int | None = Field(default=None, ge=100, le=599)
    duration: NonNegDuration | None = None


class LoadEvent(StrictModel):
    """Change the open-loop rate: a step (``rate``), a linear ``ramp`` to ``rate`` over that time, or a
    spike (``rate`` for ``duration``, then back to the previous rate)."""

    rate: Rate
    ramp: NonNegDuration | None = None
    duration: NonNegDuration | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> LoadEvent:
        if self.ramp is not None and self.duration is not None:
            raise ValueError("give either ramp or duration (a spike), not both")
        return self


class ScenarioEvent(StrictModel):
    """One event: exactly one of ``apply``, ``scale``, ``kill``, ``slow``, ``errors``, ``load``."""

    at: NonNegDuration
    apply: dict[str, Any] | None = None
    scale: ScaleEvent | None = None
    kill: KillEvent | None = None
    slow: SlowEvent | None = None
    errors: ErrorsEvent | None = None
    load: LoadEvent | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ScenarioEvent:
        set_ = [k for k in ("apply", "scale", "kill", "slow", "errors", "load") if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("an event sets exactly one of apply, scale, kill, slow, errors, load")
        return self

    @property
    def action(self) -> str:
        return next(k for k in ("apply", "scale", "kill", "slow", "errors", "load") if getattr(self, k) is not None)


class ScenarioSpec(StrictModel):
    controlPlane: ControlPlaneSpec = Field(default_factory=ControlPlaneSpec)
    timeSeriesInterval: NonNegDuration = 1.0
    events: list[ScenarioEvent] = Field(default_factory=list)

    @model_validator(mode="after")
    def _positive_interval(self) -> ScenarioSpec:
        if self.timeSeriesInterval <= 0:
            raise ValueError("timeSeriesInterval must be > 0")
        return self


class Scenario(StrictModel):
    apiVersion: Literal["meshsim.io/v1alpha1"]
    kind: Literal["Scenario"]
    metadata: ObjectMeta | None = None
    spec: ScenarioSpec = Field(default_factory=ScenarioSpec)


class _Range(StrictModel):
    min: float | None = None
    max: float | None = None


class CanaryMetric(StrictModel):
    """Flagger's built-in metrics: ``request-success-rate`` (percent of non-5xx, ``thresholdRange.min``)
    and ``request-duration`` (p99 in ms, ``thresholdRange.max``), over ``interval`` (default: the
    analysis interval), measured at the canary's pods (Istio ``reporter=destination``)."""

    name: Literal["request-success-rate", "request-duration"]
    thresholdRange: _Range
    interval: NonNegDuration | None = None


def _default_metrics() -> list[CanaryMetric]:
    return [
        CanaryMetric(name="request-success-rate", thresholdRange=_Range(min=99)),
        CanaryMetric(name="request-duration", thresholdRange=_Range(max=500)),
    ]


class CanaryAnalysis(StrictModel):
    interval: NonNegDuration = 60.0
    threshold: int = Field(default=5, ge=1, le=10_000)
    maxWeight: int = Field(default=50, ge=1, le=100)
    stepWeight: int | None = Field(default=None, ge=1, le=100)
    stepWeights: list[int] | None = None
    metrics: list[CanaryMetric] = Field(default_factory=_default_metrics)

    @model_validator(mode="after")
    def _steps(self) -> CanaryAnalysis:
        if self.interval <= 0:
            raise ValueError("interval must be > 0")
        if self.stepWeights is not None:
            if self.stepWeight is not None:
                raise ValueError("give stepWeight or stepWeights, not both")
            if not self.stepWeights or any(
                b <= a for a, b in zip(self.stepWeights, self.stepWeights[1:], strict=False)
            ):
                raise ValueError("stepWeights must be increasing")
            if not all(1 <= w <= 100 for w in self.stepWeights):
                raise ValueError("stepWeights must be within 1..100")
        return self

    def weights(self) -> list[int]:
        """The canary weights the rollout steps through, ending at ``maxWeight``."""
        if self.stepWeights is not None:
            return [w for w in self.stepWeights if w <= self.maxWeight] or [self.maxWeight]
        step = self.stepWeight or 10
        out = list(range(step, self.maxWeight + 1, step))
        if not out or out[-1] != self.maxWeight:
            out.append(self.maxWeight)
        return out


class CanaryPolicySpec(StrictModel):
    """Roll ``canary`` (a DestinationRule subset of ``service``) out against ``primary``, starting at
    ``startAt``; the controller rewrites ``service``'s VirtualService through the control plane."""

    service: str
    primary: str
    canary: str
    startAt: NonNegDuration = 0.0
    analysis: CanaryAnalysis = Field(default_factory=CanaryAnalysis)


class CanaryPolicy(StrictModel):
    apiVersion: Literal["meshsim.io/v1alpha1"]
    kind: Literal["CanaryPolicy"]
    metadata: ObjectMeta | None = None
    spec: CanaryPolicySpec
