"""meshsim's own kinds (``apiVersion: meshsim.io/v1alpha1``): ``LoadProfile``, ``MeshSettings``, ``Node`` and ``SLO``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from meshsim.config.base import Duration, NonNegDuration, Percentage, StrictModel
from meshsim.config.distributions import DistSpec, Lognormal
from meshsim.config.istio import HTTPRetry, ObjectMeta
from meshsim.config.limits import MAX_REPLICAS, MAX_USERS, MAX_WEIGHT, Rate
from meshsim.config.quantity import CpuQuantity
from meshsim.config.topology import Sleep

__all__ = [
    "HeaderMixEntry",
    "LoadProfileSpec",
    "LoadProfile",
    "MTLSSettings",
    "ProxyResources",
    "AppSettings",
    "CPUSettings",
    "NodeSpec",
    "Node",
    "MeshSettingsSpec",
    "MeshSettings",
    "LatencyObjective",
    "EdgeSelector",
    "Objective",
    "SLOSpec",
    "SLO",
]


class HeaderMixEntry(StrictModel):
    """A share of requests (``weight``, relative) that carries ``headers``."""

    weight: float = Field(gt=0, le=MAX_WEIGHT)
    headers: dict[str, str] = Field(default_factory=dict)


class LoadProfileSpec(StrictModel):
    """Where load enters and how it arrives.

    - ``arrival: poisson`` (open loop, exponential inter-arrivals at ``rate`` requests/s),
      ``constant`` (open loop, fixed spacing 1/rate) or ``closed`` (``users`` clients, each sending
      its next request ``thinkTime`` after the previous response).
    - ``duration`` is the measured window after ``warmup``; nothing that starts during warm-up is
      counted.
    - ``headers`` is a weighted mix: e.g. weight 10 with ``end-user: jason`` and weight 90 with none.
    - ``gateway`` names an Istio ``Gateway`` (``name`` or ``namespace/name``): load then enters through
      that ingress gateway's Envoy, routed by the VirtualServices bound to it (uri matches on
      ``path``); unset = straight to a pod of ``entry`` (opt-in, because a profile written for direct
      entry, ``path: /``, would get 404 NR from gateway routes such as Bookinfo's ``exact: /productpage``).
      ``gatewayReplicas`` sets its pods; else the replicas of a Deployment whose pod labels match the
      Gateway's ``selector`` (Istio's ``istio: ingressgateway``); else 1.
    """

    entry: str | None = None
    path: str = "/"
    method: str = "GET"
    arrival: Literal["poisson", "constant", "closed"] = "poisson"
    rate: Rate | None = None
    users: int | None = Field(default=None, ge=1, le=MAX_USERS)
    thinkTime: Sleep | None = None
    duration: NonNegDuration = 60.0
    warmup: NonNegDuration = 5.0
    drain: NonNegDuration = 30.0
    headers: list[HeaderMixEntry] = Field(default_factory=list)
    gateway: str | None = Field(default=None, min_length=1)
    gatewayReplicas: int | None = Field(default=None, ge=1, le=MAX_REPLICAS)

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
    loopback on this project's machines (Istio's performance page, https://istio.io/latest/docs/ops/deployment/performance-and-scalability/, gives 0.3-1.4 ms p90 per
    proxy in production). Replace it with ``meshsim real calibrate`` output for your machine.

    ``perKiB``: seconds each traversal adds per KiB of the call's request and response bodies (``size`` /
    ``payloadSize`` and ``responseSize``): Envoy (and the apps behind it) read, buffer and write every byte.
    Default 2 us [UNVERIFIED as a production figure: ``meshsim real calibrate`` on this project's 2-core loopback
    machine, 512 KiB each way between two pods, gave 2.06 us on a quiet machine and 3.1 us at load average 2,
    2026-12-02; the real mesh's ``payload-sizes`` scenario (1 MiB each way) then matched its p50 within 2 %];
    0 turns it off.
    """

    latency: DistSpec = Field(default_factory=_default_sidecar_latency)
    perKiB: NonNegDuration = 2e-6


class MTLSSettings(StrictModel):
    """Cost of Istio mTLS between proxies (Envoy's connection pooling, https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/connection_pooling: "new connections between sidecars pay TCP
    plus an mTLS handshake"; the reference gives no figures, so every default is UNVERIFIED and a
    parameter to calibrate).

    - ``handshakeLatency``: seconds added to opening an mTLS connection, on top of ``connectLatency``
      (TLS 1.3: one more round trip plus ECDHE/certificate-verify crypto). Default 0: ``connectLatency``
      stands for the whole set-up of every connection, as before this setting existed, so results do
      not change unless you set it. Set it (UNVERIFIED, e.g. 1 ms; calibrate) to make mTLS connections
      cost more than plaintext ones (PeerAuthentication DISABLE, DR ``tls.mode: DISABLE``).
    - ``handshakeCpu``: vCPU seconds each of the two proxies spends per handshake (occupies a proxy
      worker; the handshake waits for a free one). Default 0, for the same reason (UNVERIFIED figure to
      calibrate, e.g. 0.5 ms).
    - ``requestCpu``: vCPU seconds of symmetric crypto per request per proxy hop on an mTLS
      connection, on top of ``proxy.cpuPerRequest``. Default 5 us [UNVERIFIED; AES-GCM on a few KB].
    """

    handshakeLatency: NonNegDuration = 0.0
    handshakeCpu: NonNegDuration = 0.0
    requestCpu: NonNegDuration = 5e-6


class ProxyResources(StrictModel):
    """CPU capacity of each Envoy (sidecar or gateway): ``workers`` threads (Istio's default
    ``concurrency`` 2 for a 2-CPU sidecar limit, Istio's performance page, https://istio.io/latest/docs/ops/deployment/performance-and-scalability/, and Istio's injection template) and ``cpuPerRequest`` vCPU
    seconds per request per proxy hop (Istio's performance page, https://istio.io/latest/docs/ops/deployment/performance-and-scalability/: 0.1-0.25 ms; default 0.15 ms). A request holds
    a worker for its CPU time, so a proxy saturates at ``workers / cpuPerRequest`` requests/s and
    requests queue inside it beyond that. The CPU time is part of the traversal latency
    (``sidecar.latency``), so only the wait for a busy worker adds latency. ``workers: 0`` turns the
    limit off (CPU is still counted).

    ``idleCpu`` (cores, a CPU quantity such as ``8m``): the CPU an Envoy spends whatever its traffic
    (its main thread's stats flushes, the xDS stream, health and metrics scrapes), charged only inside
    the CPU model as one burst of ``idleCpu x cfsPeriod`` CPU seconds per CFS period on the
    ``istio-proxy`` container, so it counts against the container's quota and the node's cores. Default
    0 (no published figure holds across Envoy versions, stats and scrape settings); ``meshsim real
    calibrate`` measures it from a near-idle mesh's cgroup accounting (~3 m per Envoy on this
    project's machines)."""

    workers: int = Field(default=2, ge=0, le=1024)
    cpuPerRequest: NonNegDuration = 0.15e-3
    idleCpu: CpuQuantity = Field(default=0.0, ge=0)


class AppSettings(StrictModel):
    """CPU of the application container's own HTTP handling, charged only inside the CPU model (README
    "CPU model"), on top of the script's ``cpu:`` steps:

    - ``cpuPerRequest``: CPU seconds per request the app serves (parsing it, writing the answer);
    - ``cpuPerCall``: CPU seconds per outbound call try the app makes (its HTTP client);
    - ``idleCpu``: cores the app uses with no traffic (a runtime's timers and housekeeping), charged as one
      burst per CFS period as ``proxy.idleCpu`` is.

    Default 0: an app's work is what its script says. ``meshsim real calibrate`` measures both for the real mesh's
    workload apps (an aiohttp server and client, ~0.2 ms and ~0.06 ms on this project's machines), which a model of
    that mesh needs: near a CPU limit a few percent of demand decide whether a container throttles.
    """

    cpuPerRequest: NonNegDuration = 0.0
    cpuPerCall: NonNegDuration = 0.0
    idleCpu: CpuQuantity = Field(default=0.0, ge=0)


class AutoscalingSettings(StrictModel):
    """How HorizontalPodAutoscalers run: ``syncPeriod`` kube-controller-manager's
    ``--horizontal-pod-autoscaler-sync-period`` (15 s), ``tolerance`` its ``--horizontal-pod-autoscaler-tolerance``
    (0.1; ``pkg/controller/podautoscaler/config/v1alpha1/defaults.go``), ``downscaleStabilization`` its
    ``--horizontal-pod-autoscaler-downscale-stabilization`` (5 min); ``metricWindow`` the window a pod's request
    rate is averaged over (30 s [UNVERIFIED]: an adapter's ``rate(...[30s])``; metrics-server reports CPU over a
    similar window); ``podStartup`` the time from a scale-up decision until the new pod's containers have started
    (scheduling, image pull, container start; 10 s [UNVERIFIED]: a cached image). Without a ``readinessProbe``
    on the Deployment's app container the pod is Ready then; with one, at the probe's first counted success
    (``meshsim.model.rules.lifecycle``). A Ready pod then reaches the sidecars through the control plane's
    EndpointSlice delay and push."""

    syncPeriod: Duration = Field(default=15.0, ge=1.0)
    tolerance: float = Field(default=0.1, ge=0, le=1)
    downscaleStabilization: NonNegDuration = 300.0
    metricWindow: Duration = Field(default=30.0, ge=1.0)
    podStartup: NonNegDuration = 10.0


class CPUSettings(StrictModel):
    """The CPU model (nodes, container requests and limits, CFS throttling; README "CPU model").

    - ``enabled``: unset = on exactly when the config has a ``Node`` or a CPU request/limit (a Deployment's
      ``resources``, a ``sidecar.istio.io/proxyCPU``/``proxyCPULimit`` annotation); ``true``/``false``
      force it. Off, every container has unlimited CPU of its own (meshsim's behaviour before the model).
    - ``nodeCores``: the cores of each node meshsim adds when pods do not fit the ``Node`` documents
      (or there are none): the default node shape. Default 4 [a common small cloud node; UNVERIFIED
      as a production figure].
    - ``cfsPeriod``: the CFS bandwidth period (kubelet ``--cpu-cfs-quota-period``, default 100 ms,
      Kubernetes ``pkg/kubelet/cm/helpers_linux.go`` ``QuotaPeriod``; the kernel allows 1 ms to 1 s,
      ``kernel/sched/core.c``).
    """

    enabled: bool | None = None
    nodeCores: CpuQuantity = Field(default=4.0, gt=0)
    cfsPeriod: NonNegDuration = Field(default=0.1, ge=0.001, le=1.0)


class MeshSettingsSpec(StrictModel):
    """Mesh-wide knobs, named after Istio's MeshConfig fields and pilot flags where one exists.

    - ``defaultHttpRetryPolicy``: MeshConfig's replacement for Istio's default retry policy.
    - ``excludeUnsafe503FromDefaultRetry``: pilot's ``EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY``; true
      (1.24+) means the default policy does not retry 503, false restores the <=1.23 behaviour.
    - ``maxRetriesDefault``: ``istio`` (2^32-1 on every cluster, Istio's choice) or ``envoy`` (Envoy's raw
      default of 3 concurrent retries per cluster).
    - ``networkLatency``: one-way pod-to-pod latency added per call, seconds (0 on loopback).
    - ``updateMergeWindow``: Envoy's cluster ``common_lb_config.update_merge_window`` (default 1 s; Istio
      does not set it): outlier ejections/un-ejections within it of the previous host-set update reach
      the load balancer only when it ends. The real mesh showed a re-ejected pod receiving requests for
      about a second (real/README.md), which this reproduces.
    - ``connectLatency``: time to establish a new sidecar-to-sidecar connection (TCP, plus the mTLS
      handshake in a real mesh). Default 100 us, a loopback TCP connect; the reference gives no
      figure for the handshake [UNVERIFIED: calibrate, e.g. 1-3 ms with mTLS]. Matters only when
      connections are not reused (``maxRequestsPerConnection``, bursts beyond the pool). An mTLS
      connection adds ``mtls.handshakeLatency`` to it.
    - ``mtls``: handshake latency and crypto CPU (:class:`MTLSSettings`).
    - ``proxy``: worker threads and CPU per request of every proxy (:class:`ProxyResources`).
    - ``cpu``: the CPU model's switch, default node shape and CFS period (:class:`CPUSettings`).
    - ``app``: the application container's own CPU per request and per call in the CPU model (:class:`AppSettings`).
    """

    defaultHttpRetryPolicy: HTTPRetry | None = None
    excludeUnsafe503FromDefaultRetry: bool = True
    maxRetriesDefault: Literal["istio", "envoy"] = "istio"
    sidecar: SidecarSettings = Field(default_factory=SidecarSettings)
    networkLatency: NonNegDuration = 0.0
    connectLatency: NonNegDuration = 100e-6
    updateMergeWindow: NonNegDuration = 1.0
    mtls: MTLSSettings = Field(default_factory=MTLSSettings)
    proxy: ProxyResources = Field(default_factory=ProxyResources)
    autoscaling: AutoscalingSettings = Field(default_factory=AutoscalingSettings)
    cpu: CPUSettings = Field(default_factory=CPUSettings)
    app: AppSettings = Field(default_factory=AppSettings)


class MeshSettings(StrictModel):
    apiVersion: Literal["meshsim.io/v1alpha1"]
    kind: Literal["MeshSettings"]
    metadata: ObjectMeta | None = None
    spec: MeshSettingsSpec = Field(default_factory=MeshSettingsSpec)


class NodeSpec(StrictModel):
    """A node's ``cores`` (a CPU quantity, as a Kubernetes Node's ``status.capacity.cpu``)."""

    cores: CpuQuantity = Field(gt=0)


class Node(StrictModel):
    """``kind: Node`` (meshsim's short form of a Kubernetes Node): ``metadata.name``, ``metadata.labels``
    (matched by pods' ``nodeSelector``) and ``spec.cores``. Giving one turns the CPU model on."""

    apiVersion: Literal["meshsim.io/v1alpha1"]
    kind: Literal["Node"]
    metadata: ObjectMeta
    spec: NodeSpec


class LatencyObjective(StrictModel):
    """Latency maxima in seconds (written as durations, e.g. ``150ms``); unset = no objective."""

    mean: NonNegDuration | None = None
    p50: NonNegDuration | None = None
    p90: NonNegDuration | None = None
    p99: NonNegDuration | None = None


class EdgeSelector(StrictModel):
    """Client-sidecar requests from ``source`` (a service, or a workload ``service.version``) to the
    service ``destination`` (optionally one ``subset``), summed over the matching edges."""

    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)
    subset: str | None = None


class Objective(StrictModel):
    """One service-level objective, on the entry requests (``entry: <service>``, the LoadProfile's
    entry) or on an ``edge``: latency maxima, a success-rate minimum (fraction or ``"99.5%"``; status
    < 500 counts as success) and an amplification maximum (upstream attempts / requests, >= 1)."""

    name: str | None = None
    entry: str | None = None
    edge: EdgeSelector | None = None
    latency: LatencyObjective | None = None
    successRate: Percentage | None = None
    amplification: float | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_target(self) -> Objective:
        if (self.entry is None) == (self.edge is None):
            raise ValueError("give exactly one of 'entry' (a service name) or 'edge'")
        if self.latency is None and self.successRate is None and self.amplification is None:
            raise ValueError("give at least one of 'latency', 'successRate', 'amplification'")
        if self.entry is not None and self.amplification is not None:
            raise ValueError("'amplification' applies to an 'edge' (entry requests are not retried)")
        return self

    @property
    def label(self) -> str:
        """``name`` if given, else ``entry:<svc>`` or ``edge:<src>-><dst>[/subset]``."""
        if self.name:
            return self.name
        if self.entry is not None:
            return f"entry:{self.entry}"
        assert self.edge is not None
        sub = f"/{self.edge.subset}" if self.edge.subset else ""
        return f"edge:{self.edge.source}->{self.edge.destination}{sub}"


class SLOSpec(StrictModel):
    """The objectives that must all hold."""

    objectives: list[Objective] = Field(min_length=1)


class SLO(StrictModel):
    """``kind: SLO``: what ``meshsim plan`` and ``meshsim check`` hold a config to."""

    apiVersion: Literal["meshsim.io/v1alpha1"]
    kind: Literal["SLO"]
    metadata: ObjectMeta | None = None
    spec: SLOSpec
