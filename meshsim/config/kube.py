"""The few Kubernetes objects meshsim reads: ``apps/v1 Deployment``, ``v1 Service`` and ``v1 Node``.

A Deployment supplies a version's replicas and pod labels, its app container's ``readinessProbe`` timing and
the pod's ``terminationGracePeriodSeconds`` (pod lifecycle), and for the CPU model its app container's
``resources`` (``requests.cpu``/``limits.cpu``), the pod's ``nodeName``/``nodeSelector`` and the
sidecar's CPU annotations (``sidecar.istio.io/proxyCPU``/``proxyCPULimit``); a Service supplies the port
and the pod selector; a Node its ``status.capacity.cpu`` and labels. Every other field is ignored (they do
not change the simulation). Other Kubernetes kinds (ServiceAccount, ConfigMap, ...) are skipped by the
loader with a one-line note.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from meshsim.config.base import OpenModel
from meshsim.config.istio import ObjectMeta
from meshsim.config.limits import MAX_REPLICAS
from meshsim.config.quantity import CpuQuantity

__all__ = ["Deployment", "KubeService", "KubeNode", "Probe", "ResourceList", "Resources"]


class _Selector(OpenModel):
    matchLabels: dict[str, str] = Field(default_factory=dict)


class _TemplateMeta(OpenModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ResourceList(OpenModel):
    """``requests`` or ``limits`` of a container: only ``cpu`` matters to meshsim (cores)."""

    cpu: CpuQuantity | None = None


class Resources(OpenModel):
    """A container's ``resources``."""

    requests: ResourceList = Field(default_factory=ResourceList)
    limits: ResourceList = Field(default_factory=ResourceList)


class Probe(OpenModel):
    """A container's ``readinessProbe`` timing (``k8s.io/api/core/v1`` ``Probe``; defaults from
    ``pkg/apis/core/v1/defaults.go``): seconds, and consecutive successes before Ready. The handler
    (``httpGet``, ``exec``, ...) is ignored: meshsim's apps answer every probe."""

    initialDelaySeconds: int = Field(default=0, ge=0)
    periodSeconds: int = Field(default=10, ge=1)
    successThreshold: int = Field(default=1, ge=1)


class _Container(OpenModel):
    name: str = ""
    resources: Resources = Field(default_factory=Resources)
    readinessProbe: Probe | None = None


class _PodSpec(OpenModel):
    containers: list[_Container] = Field(default_factory=list)
    nodeName: str | None = None
    nodeSelector: dict[str, str] = Field(default_factory=dict)
    terminationGracePeriodSeconds: int = Field(default=30, ge=0)
    """Seconds from a pod's deletion until the kubelet kills its containers (Kubernetes default 30)."""


class _Template(OpenModel):
    metadata: _TemplateMeta = Field(default_factory=_TemplateMeta)
    spec: _PodSpec = Field(default_factory=_PodSpec)


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


class _NodeCapacity(OpenModel):
    cpu: CpuQuantity | None = None


class _NodeStatus(OpenModel):
    capacity: _NodeCapacity = Field(default_factory=_NodeCapacity)


class KubeNode(OpenModel):
    """A Kubernetes ``v1 Node`` (as ``kubectl get node -o yaml`` prints it): its name, labels (for
    ``nodeSelector``) and ``status.capacity.cpu`` (cores). The loader keeps a Node's ``status``, which it
    drops from every other kind."""

    apiVersion: str
    kind: Literal["Node"]
    metadata: ObjectMeta
    status: _NodeStatus = Field(default_factory=_NodeStatus)
