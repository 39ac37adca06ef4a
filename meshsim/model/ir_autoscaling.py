"""The compiled HorizontalPodAutoscalers of the mesh model (part of :mod:`meshsim.model.ir`, which re-exports
every name): autoscaling/v2 metrics, behavior and scaling policies with Kubernetes' defaults resolved
(``pkg/apis/autoscaling/v2/defaults.go``). Times in seconds; frozen dataclasses of tuples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ScalingPolicy:
    """``HPAScalingPolicy``: change by ``value`` pods or percent within ``period_s`` seconds."""

    type: Literal["Pods", "Percent"]
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    """``HPAScalingRules`` after defaulting: ``stabilization_s`` the stabilisation window, ``select`` the
    policy choice (``Max`` = the largest change, ``Min`` the smallest, ``Disabled`` no scaling this way),
    ``tolerance`` the band around a usage ratio of 1 in this direction (``--horizontal-pod-autoscaler-tolerance``
    0.1, or ``behavior.scale*.tolerance``)."""

    stabilization_s: float
    policies: tuple[ScalingPolicy, ...]
    select: Literal["Max", "Min", "Disabled"] = "Max"
    tolerance: float = 0.1


def _default_scale_up() -> ScalingRules:
    return ScalingRules(0.0, (ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0)), "Max")


def _default_scale_down() -> ScalingRules:
    return ScalingRules(300.0, (ScalingPolicy("Percent", 100, 15.0),), "Max")


@dataclass(frozen=True)
class Behavior:
    """``spec.behavior`` with every field defaulted (``pkg/apis/autoscaling/v2/defaults.go``
    ``GenerateHPAScaleUpRules``/``GenerateHPAScaleDownRules``: up by max(4 pods, 100 %) per 15 s with no window;
    down by 100 % per 15 s after the 300 s window). An HPA **without** ``behavior`` is not this: it takes the
    legacy path (``HPAIR.behavior`` None)."""

    scale_up: ScalingRules = field(default_factory=_default_scale_up)
    scale_down: ScalingRules = field(default_factory=_default_scale_down)


@dataclass(frozen=True)
class HPAMetricIR:
    """One HPA metric meshsim observes. ``source``: ``Resource`` (container CPU, ``name`` ``cpu``), ``Pods``
    (each pod's inbound request rate, requests/s) or ``Object`` (a Service's inbound request rate, requests/s,
    ``name`` the Service). ``target_type``: ``Utilization`` (``target`` = integer percent of the pods' summed
    CPU requests), ``AverageValue`` (milli-units per pod) or ``Value`` (milli-units in all)."""

    source: Literal["Resource", "Pods", "Object"]
    name: str
    target_type: Literal["Utilization", "AverageValue", "Value"]
    target: int


@dataclass(frozen=True)
class HPAIR:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler resolved against the mesh: it scales the workload
    ``service``/``version`` (its ``scaleTargetRef`` Deployment) between ``min_replicas`` and ``max_replicas``."""

    name: str
    namespace: str
    service: str
    version: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[HPAMetricIR, ...]
    behavior: Behavior | None = None
    sync_s: float = 15.0
    """The controller's sync period, seconds (``MeshSettings.spec.autoscaling``, as every field below)."""
    tolerance: float = 0.1
    """The legacy path's band around a usage ratio of 1 (a behavior carries its own per direction)."""
    downscale_window_s: float = 300.0
    metric_window_s: float = 30.0
    """The window a pod's request rate is averaged over, seconds."""
    startup_s: float = 10.0
    """From a scale-up decision until the new pod's containers have started, seconds (its readiness probe, if any,
    adds to it)."""

    @property
    def workload(self) -> str:
        return f"{self.service}.{self.version}"
