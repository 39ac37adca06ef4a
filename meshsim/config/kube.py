"""The few Kubernetes objects meshsim reads: ``apps/v1 Deployment`` and ``v1 Service``.

A Deployment supplies a version's replicas and pod labels; a Service supplies the port and the pod
selector. Every other field is ignored (they do not change the simulation). Other Kubernetes kinds
(ServiceAccount, ConfigMap, ...) are skipped by the loader with a one-line note.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from meshsim.config.base import OpenModel
from meshsim.config.istio import ObjectMeta
from meshsim.config.limits import MAX_REPLICAS

__all__ = ["Deployment", "KubeService"]


class _Selector(OpenModel):
    matchLabels: dict[str, str] = Field(default_factory=dict)


class _TemplateMeta(OpenModel):
    labels: dict[str, str] = Field(default_factory=dict)


class _Template(OpenModel):
    metadata: _TemplateMeta = Field(default_factory=_TemplateMeta)


class _DeploymentSpec(OpenModel):
    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    selector: _Selector = Field(default_factory=_Selector)
    template: _Template = Field(default_factory=_Template)


class Deployment(OpenModel):
    apiVersion: str
    kind: Literal["Deployment"]
    metadata: ObjectMeta
    spec: _DeploymentSpec = Field(default_factory=_DeploymentSpec)

    @property
    def pod_labels(self) -> dict[str, str]:
        return dict(self.spec.template.metadata.labels or self.spec.selector.matchLabels)


class _ServicePort(OpenModel):
    port: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: str | None = None
    appProtocol: str | None = None


class _ServiceSpec(OpenModel):
    ports: list[_ServicePort] = Field(default_factory=list)
    selector: dict[str, str] = Field(default_factory=dict)


class KubeService(OpenModel):
    apiVersion: str
    kind: Literal["Service"]
    metadata: ObjectMeta
    spec: _ServiceSpec = Field(default_factory=_ServiceSpec)
