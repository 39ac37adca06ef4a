"""Kubernetes ``HorizontalPodAutoscaler`` (``autoscaling/v2``, and ``autoscaling/v1``'s CPU target), as users
write it and as the API server validates it.

Validation follows ``pkg/apis/autoscaling/validation/validation.go``: ``minReplicas`` >= 1 (0 only behind the
``HPAScaleToZero`` alpha gate, off by default), ``maxReplicas`` >= 1 and >= ``minReplicas``, exactly the metric
source its ``type`` names, a policy ``value`` > 0 and ``periodSeconds`` in 1..1800, a stabilisation window in
0..3600 s, at least one policy when ``policies`` is given. Defaults follow ``pkg/apis/autoscaling/v2/defaults.go``:
``minReplicas`` 1; no metrics = CPU at 80 % utilisation; a ``behavior`` block's missing fields from
``GenerateHPAScaleUpRules``/``GenerateHPAScaleDownRules`` (see :class:`meshsim.model.ir.Behavior`). Metric
values are Kubernetes quantities (``500m``, ``10``, ``1.5k``), kept as milli-units.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from meshsim.config.base import OpenModel
from meshsim.config.istio import ObjectMeta
from meshsim.config.limits import MAX_REPLICAS
from meshsim.config.quantity import MilliQuantity, parse_milli

__all__ = ["HorizontalPodAutoscaler", "MetricSpec", "ScalingRulesSpec", "parse_milli"]


class _CrossVersionRef(OpenModel):
    apiVersion: str | None = None
    kind: str = Field(min_length=1)
    name: str = Field(min_length=1)


class _Target(OpenModel):
    type: Literal["Utilization", "Value", "AverageValue"]
    averageUtilization: int | None = Field(default=None, ge=1)
    value: MilliQuantity | None = None
    averageValue: MilliQuantity | None = None

    @model_validator(mode="after")
    def _set(self) -> _Target:
        need = {"Utilization": "averageUtilization", "Value": "value", "AverageValue": "averageValue"}[self.type]
        if getattr(self, need) is None:
            raise ValueError(f"a {self.type} target sets {need}")
        return self

    def amount(self) -> int:
        """The value its ``type`` names: a percent (Utilization) or milli-units (Value, AverageValue)."""
        v = {"Utilization": self.averageUtilization, "Value": self.value, "AverageValue": self.averageValue}[self.type]
        assert v is not None  # checked by the validator
        return v


class _Identifier(OpenModel):
    name: str = Field(min_length=1)
    selector: dict[str, Any] | None = None


class _ResourceSource(OpenModel):
    name: str = Field(min_length=1)
    target: _Target


class _ContainerResourceSource(OpenModel):
    name: str = Field(min_length=1)
    container: str = Field(min_length=1)
    target: _Target


class _PodsSource(OpenModel):
    metric: _Identifier
    target: _Target

    @model_validator(mode="after")
    def _avg(self) -> _PodsSource:
        if self.target.type != "AverageValue":
            raise ValueError("a Pods metric takes an AverageValue target (validation.go validatePodsSource)")
        return self


class _ObjectSource(OpenModel):
    describedObject: _CrossVersionRef
    metric: _Identifier
    target: _Target

    @model_validator(mode="after")
    def _kind(self) -> _ObjectSource:
        if self.target.type == "Utilization":
            raise ValueError("an Object metric takes a Value or AverageValue target")
        return self


class _ExternalSource(OpenModel):
    metric: _Identifier
    target: _Target


_SOURCES = {
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "Pods": "pods",
    "Object": "object",
    "External": "external",
}


class MetricSpec(OpenModel):
    type: Literal["Resource", "ContainerResource", "Pods", "Object", "External"]
    resource: _ResourceSource | None = None
    containerResource: _ContainerResourceSource | None = None
    pods: _PodsSource | None = None
    object: _ObjectSource | None = None
    external: _ExternalSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MetricSpec:
        want = _SOURCES[self.type]
        if getattr(self, want) is None:
            raise ValueError(f"type {self.type} needs {want}: (must populate information for the given metric source)")
        extra = [f for f in _SOURCES.values() if f != want and getattr(self, f) is not None]
        if extra:
            raise ValueError(
                f"{', '.join(extra)} set beside type {self.type} (must populate the given metric source only)"
            )
        return self


class _Policy(OpenModel):
    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    periodSeconds: int = Field(gt=0, le=1800)


class ScalingRulesSpec(OpenModel):
    stabilizationWindowSeconds: int | None = Field(default=None, ge=0, le=3600)
    selectPolicy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[_Policy] | None = None
    tolerance: MilliQuantity | None = None
    """``behavior.scale*.tolerance`` (KEP-4951, Kubernetes 1.33+), a quantity such as ``50m`` (5 %)."""

    @model_validator(mode="after")
    def _some(self) -> ScalingRulesSpec:
        if self.policies is not None and not self.policies:
            raise ValueError("policies: must specify at least one Policy")
        return self


class _Behavior(OpenModel):
    scaleUp: ScalingRulesSpec | None = None
    scaleDown: ScalingRulesSpec | None = None


class _Spec(OpenModel):
    scaleTargetRef: _CrossVersionRef
    minReplicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    maxReplicas: int = Field(ge=1, le=MAX_REPLICAS)
    metrics: list[MetricSpec] = Field(default_factory=list)
    behavior: _Behavior | None = None
    targetCPUUtilizationPercentage: int | None = Field(default=None, ge=1)
    """``autoscaling/v1`` only."""

    @field_validator("maxReplicas")
    @classmethod
    def _bounds(cls, v: int, info: ValidationInfo) -> int:
        lo = info.data.get("minReplicas", 1)
        if v < lo:
            raise ValueError(f"{v} must be greater than or equal to `minReplicas` ({lo})")
        return v


class HorizontalPodAutoscaler(OpenModel):
    """An HPA; ``status`` and other fields meshsim does not read are ignored."""

    apiVersion: Literal["autoscaling/v2", "autoscaling/v1"]
    kind: Literal["HorizontalPodAutoscaler"]
    metadata: ObjectMeta
    spec: _Spec

    @model_validator(mode="after")
    def _versions(self) -> HorizontalPodAutoscaler:
        s = self.spec
        if self.apiVersion == "autoscaling/v1" and (s.metrics or s.behavior):
            raise ValueError("autoscaling/v1 has only targetCPUUtilizationPercentage; metrics and behavior are v2")
        if self.apiVersion == "autoscaling/v2" and s.targetCPUUtilizationPercentage is not None:
            raise ValueError("targetCPUUtilizationPercentage is autoscaling/v1; v2 says it as a Resource metric")
        return self

    def metric_list(self) -> list[MetricSpec]:
        """The metrics with Kubernetes' default: no metric = CPU at 80 % (``DefaultCPUUtilization``), or v1's
        ``targetCPUUtilizationPercentage``."""
        if self.spec.metrics:
            return list(self.spec.metrics)
        pct = self.spec.targetCPUUtilizationPercentage or 80
        return [
            MetricSpec(
                type="Resource",
                resource=_ResourceSource(name="cpu", target=_Target(type="Utilization", averageUtilization=pct)),
            )
        ]
