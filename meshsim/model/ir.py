"""The compiled mesh: resolved, frozen, and shaped like Envoy's own config.

One :class:`MeshModel` feeds both backends: the simulator interprets it, and the real control plane
(``meshsim.xds``) translates it into Envoy v3 resources. So its nouns are Envoy's: a route table of
ordered routes (first match wins) with weighted clusters, clusters named
``outbound|<port>|<subset>|<fqdn>`` with endpoints, an LB policy, circuit-breaker thresholds and
outlier detection, plus the workloads behind the endpoints.

All times are float seconds, sizes int bytes, probabilities floats in [0, 1]. Every object is a frozen
dataclass of tuples, so a model can be hashed, compared and shared between processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from meshsim.model.ir_authz import AuthzCondition, AuthzOperation, AuthzPolicy, AuthzRule, AuthzSource
from meshsim.model.ir_autoscaling import HPAIR, Behavior, HPAMetricIR, ScalingPolicy, ScalingRules

__all__ = [
    "UINT32_MAX",
    "Dist",
    "ContainerCPUSpec",
    "PodLifecycle",
    "ReadinessProbe",
    "NodeIR",
    "SleepStep",
    "CpuStep",
    "AppRetryPolicy",
    "CallStep",
    "ConcurrentStep",
    "Step",
    "Workload",
    "Endpoint",
    "Service",
    "StringMatcher",
    "HeaderMatcher",
    "HashPolicy",
    "RouteMatch",
    "RetryPolicy",
    "FaultPolicy",
    "WeightedCluster",
    "Route",
    "VirtualHost",
    "CircuitBreakers",
    "OutlierDetectionPolicy",
    "Cluster",
    "Proxy",
    "LoadSpec",
    "MeshSettingsIR",
    "AuthzSource",
    "AuthzOperation",
    "AuthzCondition",
    "AuthzRule",
    "AuthzPolicy",
    "ScalingPolicy",
    "ScalingRules",
    "Behavior",
    "HPAMetricIR",
    "HPAIR",
    "GatewayIR",
    "MeshModel",
]

UINT32_MAX = 4294967295
"""Istio's value for every circuit-breaker threshold it sets (``getDefaultCircuitBreakerThresholds``)."""

LbPolicy = Literal["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "RING_HASH", "MAGLEV", "CLUSTER_PROVIDED"]
Protocol = Literal["HTTP1", "HTTP2"]


@dataclass(frozen=True)
class Dist:
    """A distribution of seconds: ``kind`` in constant/exponential/lognormal/uniform/empirical.

    ``params`` by kind: constant ``(value,)``; exponential ``(mean,)``; lognormal ``(mu, sigma)`` of the
    underlying normal; uniform ``(low, high)``; empirical ``(sample, ...)``. ``mean`` and ``scv``
    (squared coefficient of variation) serve the analytic model.
    """

    kind: str
    params: tuple[float, ...]
    mean: float
    scv: float


@dataclass(frozen=True)
class SleepStep:
    """Hold the worker for a duration drawn from ``dist`` (isotope ``sleep``)."""

    dist: Dist
    index: int


@dataclass(frozen=True)
class CpuStep:
    """Burn CPU for a duration drawn from ``dist`` (seconds of CPU time; a meshsim extension of the isotope
    script, ``cpu: {dist...}``, which stock isotope ignores): unlike ``sleep``, which waits, it needs a core
    and counts against the container's CPU limit."""

    dist: Dist
    index: int


@dataclass(frozen=True)
class AppRetryPolicy:
    """Application retries: ``attempts`` after the first try, on ``retry_on`` outcomes, fixed backoff."""

    attempts: int
    retry_on: frozenset[str]
    backoff: float


@dataclass(frozen=True)
class CallStep:
    """An outbound call through the caller's own sidecar.

    ``host`` is the destination FQDN; ``probability`` the chance the call is made (isotope's integer
    percent / 100); ``timeout`` the app's own per-call deadline (None = none, as isotope);
    ``on_error`` ``fail`` (isotope: a failed call fails the caller) or ``ignore``.
    """

    service: str
    host: str
    port: int
    path: str
    method: str
    headers: tuple[tuple[str, str], ...]
    request_size: int
    probability: float
    timeout: float | None
    retries: AppRetryPolicy | None
    on_error: Literal["fail", "ignore"]
    index: int


@dataclass(frozen=True)
class ConcurrentStep:
    """A group of sleeps and calls started together; the step ends when all have ended."""

    steps: tuple[SleepStep | CpuStep | CallStep, ...]
    index: int


Step = SleepStep | CpuStep | CallStep | ConcurrentStep


@dataclass(frozen=True)
class ReadinessProbe:
    """The app container's ``readinessProbe`` timing, seconds (Kubernetes defaults 0/10/1:
    ``pkg/apis/core/v1/defaults.go`` ``SetDefaults_Probe``). meshsim's apps answer every probe, so only
    the timing matters."""

    initial_delay_s: float = 0.0
    period_s: float = 10.0
    success_threshold: int = 1


@dataclass(frozen=True)
class PodLifecycle:
    """How a pod of a workload starts and stops: ``readiness`` its app container's probe (None: Ready as soon
    as its containers have started); ``grace_s`` the pod's ``terminationGracePeriodSeconds`` (Kubernetes
    default 30 s); ``drain_s`` the sidecar's ``terminationDrainDuration`` (Istio ``ProxyConfig`` default 5 s,
    ``pkg/config/mesh/mesh.go``; a ``proxy.istio.io/config`` pod annotation overrides it)."""

    readiness: ReadinessProbe | None = None
    grace_s: float = 30.0
    drain_s: float = 5.0


@dataclass(frozen=True)
class ContainerCPUSpec:
    """A container's Kubernetes CPU resources, in cores (``resources.requests.cpu`` / ``limits.cpu``;
    ``100m`` = 0.1). None = not set. A limit is a CFS quota of ``limit x period`` CPU seconds per period
    (https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/); a request weights the
    container's share of a contended node (``cpu.shares`` = request x 1024)."""

    request_cores: float | None = None
    limit_cores: float | None = None
    threads: int | None = None
    """Worker threads that can run at once (the sidecar's Envoy ``concurrency``); None = one per request
    the container handles (the app: its ``concurrency`` workers, unbounded when unset)."""


@dataclass(frozen=True)
class NodeIR:
    """A node: ``cores`` = its ``status.capacity.cpu``; ``cfs_period`` the CFS bandwidth period of its
    containers' quotas (seconds; kubelet ``--cpu-cfs-quota-period``, default 100 ms); ``labels`` what
    ``nodeSelector`` matches."""

    name: str
    cores: float
    cfs_period: float = 0.1
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Workload:
    """One version of a service: its pods' behaviour.

    ``concurrency`` is workers per replica (None = unbounded); ``error_rate`` the probability that a
    request fails (``error_mode`` ``random``) or the per-pod cadence 1/N (``every_nth``, isotope);
    ``error_status`` the status returned on failure.
    """

    service: str
    version: str
    labels: tuple[tuple[str, str], ...]
    replicas: int
    concurrency: int | None
    script: tuple[Step, ...]
    error_rate: float
    error_status: int
    error_mode: Literal["random", "every_nth"]
    response_size: int
    forward_headers: tuple[str, ...] | None
    name: str = ""
    """Istio's workload name (the Deployment's name, ``reviews-v2``; ``<service>-<version>`` without one)."""
    namespace: str = "default"
    service_account: str = "default"
    """The pods' ``serviceAccountName`` (Kubernetes default ``default``): the mTLS identity."""
    mtls_mode: Literal["STRICT", "PERMISSIVE", "DISABLE"] = "PERMISSIVE"
    """What its server sidecar accepts, from PeerAuthentication (none = PERMISSIVE, Istio's default)."""
    app_cpu: ContainerCPUSpec = ContainerCPUSpec()
    """The app container's CPU resources (the Deployment's first container)."""
    proxy_cpu: ContainerCPUSpec = ContainerCPUSpec()
    """The ``istio-proxy`` container's (annotations ``sidecar.istio.io/proxyCPU``/``proxyCPULimit``)."""
    nodes: tuple[str, ...] = ()
    """The node each replica runs on, by replica index; empty when the CPU model is off."""
    lifecycle: PodLifecycle = PodLifecycle()
    """Readiness probe and termination timing of its pods (the Deployment's pod template)."""

    @property
    def workload_name(self) -> str:
        """Istio's ``source_workload``/``destination_workload``: the Deployment's name, else
        ``<service>-<version>``."""
        return self.name or f"{self.service}-{self.version}"

    @property
    def principal(self) -> str:
        """SPIFFE principal as AuthorizationPolicy writes it: ``cluster.local/ns/<ns>/sa/<sa>``."""
        return f"cluster.local/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def key(self) -> str:
        return f"{self.service}.{self.version}"


@dataclass(frozen=True)
class Endpoint:
    """One pod: ``id`` is its pod name (``reviews-v2-0``), also the id of its sidecar proxy."""

    id: str
    service: str
    version: str
    replica: int
    labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Service:
    """A Kubernetes Service: ``host`` is its FQDN, ``port`` its (first) HTTP port."""

    name: str
    namespace: str
    host: str
    port: int
    protocol: Protocol
    workloads: tuple[Workload, ...]
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True)
class StringMatcher:
    """``kind`` exact/prefix/regex; ``ignore_case`` for uri matches with ``ignoreUriCase``."""

    kind: Literal["exact", "prefix", "regex"]
    value: str
    ignore_case: bool = False


@dataclass(frozen=True)
class HeaderMatcher:
    """Envoy ``HeaderMatcher``: ``matcher`` None is ``present_match`` (the header is present, any value);
    ``invert`` for Istio ``withoutHeaders``; ``treat_missing_as_empty`` matches an absent header as the
    empty string (``treat_missing_header_as_empty``, which istiod sets on ``withoutHeaders`` string matches)."""

    name: str
    matcher: StringMatcher | None
    invert: bool = False
    treat_missing_as_empty: bool = False


@dataclass(frozen=True)
class HashPolicy:
    """One Envoy ``RouteAction.hash_policy`` entry, as istiod writes it from a DestinationRule
    ``loadBalancer.consistentHash`` (``route.go`` ``ConsistentHashToHashPolicy``).

    ``kind``: ``header`` (``name`` the header), ``cookie`` (``name``, ``cookie_ttl`` seconds or None,
    ``cookie_path``), ``source_ip`` (the downstream address), ``query_parameter`` (``name``).
    """

    kind: Literal["header", "cookie", "source_ip", "query_parameter"]
    name: str = ""
    cookie_ttl: float | None = None
    cookie_path: str = ""


@dataclass(frozen=True)
class RouteMatch:
    """One Istio ``HTTPMatchRequest``: all fields must match (AND)."""

    uri: StringMatcher | None = None
    method: StringMatcher | None = None
    headers: tuple[HeaderMatcher, ...] = ()
    port: int | None = None
    source_labels: tuple[tuple[str, str], ...] = ()
    name: str = ""
    """The match's ``name``: istiod names the Envoy route ``<http name>.<match name>``."""


@dataclass(frozen=True)
class RetryPolicy:
    """Envoy ``RouteAction.retry_policy`` as Istio writes it (istiod ``pilot/pkg/networking/core/route/retry/retry.go``).

    ``num_retries`` retries after the first try; ``retry_on`` the tokens of Envoy's ``retry_state_impl.cc``;
    ``per_try_timeout`` None = none; backoff ceilings start at ``backoff_base`` and double up to
    ``backoff_max`` (Envoy: 10x base); ``previous_hosts`` enables the retry host predicate with
    ``host_selection_retry_max_attempts`` re-picks (Istio: 5).
    """

    num_retries: int
    retry_on: frozenset[str]
    retriable_status_codes: frozenset[int]
    per_try_timeout: float | None
    backoff_base: float
    backoff_max: float
    previous_hosts: bool
    host_selection_retry_max_attempts: int


@dataclass(frozen=True)
class FaultPolicy:
    """Envoy HTTP fault filter config: delay and abort fractions in [0, 1]."""

    delay_fraction: float
    delay: float
    abort_fraction: float
    abort_status: int


@dataclass(frozen=True)
class WeightedCluster:
    cluster: str
    weight: int


@dataclass(frozen=True)
class Route:
    """An Envoy route: ``matches`` OR'ed (empty = match everything), then weighted ``clusters``.

    ``timeout`` None means Istio's default: no route timeout. ``source`` names the VirtualService
    and ``http[i]`` index it came from (or ``default`` for the route Istio adds with no VS).
    """

    name: str
    matches: tuple[RouteMatch, ...]
    clusters: tuple[WeightedCluster, ...]
    timeout: float | None
    retry_policy: RetryPolicy | None
    fault: FaultPolicy | None
    source: str
    hash_policy: tuple[HashPolicy, ...] = ()
    """Consistent-hash keys of the destinations (empty: the cluster's LB picks without a key)."""


@dataclass(frozen=True)
class VirtualHost:
    """Routes for one destination host, in order (first match wins; no match gives 404 NR)."""

    name: str
    host: str
    port: int
    domains: tuple[str, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class CircuitBreakers:
    """Envoy ``circuit_breakers.thresholds[DEFAULT]`` (istiod ``pilot/pkg/networking/core/cluster_traffic_policy.go``).

    ``retry_budget`` is ``(percent in [0,100], min_retry_concurrency)`` and replaces ``max_retries``.
    """

    max_connections: int = UINT32_MAX
    max_pending_requests: int = UINT32_MAX
    max_requests: int = UINT32_MAX
    max_retries: int = UINT32_MAX
    retry_budget: tuple[float, int] | None = None


@dataclass(frozen=True)
class OutlierDetectionPolicy:
    """Envoy ``outlier_detection`` as Istio writes it (istiod ``cluster_traffic_policy.go``, Envoy ``outlier_detection.proto``)."""

    consecutive_5xx: int
    enforcing_consecutive_5xx: int
    consecutive_gateway_failure: int
    enforcing_consecutive_gateway_failure: int
    interval: float
    base_ejection_time: float
    max_ejection_time: float
    max_ejection_percent: int


@dataclass(frozen=True)
class Cluster:
    """An Envoy cluster: ``outbound|port|subset|host`` (client side) or ``inbound|port||`` (server side).

    ``endpoints`` are endpoint ids; ``healthy_panic_threshold`` in percent (Istio: 0 when outlier
    detection is configured); ``max_requests_per_connection`` None = unlimited.
    """

    name: str
    direction: Literal["outbound", "inbound"]
    service: str
    host: str
    port: int
    subset: str
    endpoints: tuple[str, ...]
    lb_policy: LbPolicy
    circuit_breakers: CircuitBreakers
    outlier_detection: OutlierDetectionPolicy | None
    protocol: Protocol
    max_requests_per_connection: int | None
    max_concurrent_streams: int
    connect_timeout: float
    healthy_panic_threshold: float
    tls_mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = None
    """DestinationRule ``trafficPolicy.tls.mode``; None = Istio auto mTLS (mTLS unless the server's
    PeerAuthentication is DISABLE)."""
    discovery: Literal["EDS", "ORIGINAL_DST"] = "EDS"
    """``ORIGINAL_DST`` for ``loadBalancer.simple: PASSTHROUGH`` (with ``lb_policy`` ``CLUSTER_PROVIDED``)."""
    ring_hash_min_ring_size: int | None = None
    """``ring_hash_lb_config.minimum_ring_size`` for ``RING_HASH`` (Istio writes 1024 unless set)."""
    maglev_table_size: int | None = None
    """``maglev_lb_config.table_size`` for ``MAGLEV``; None = Envoy's 65537."""
    idle_timeout: float | None = None
    """Upstream connection idle timeout, seconds (``connectionPool.http.idleTimeout``, else
    ``tcp.idleTimeout``); None = unset (Envoy's default, 1 h)."""


@dataclass(frozen=True)
class Proxy:
    """One sidecar: ``id`` equals its pod's endpoint id; ``inbound_cluster`` names its inbound cluster."""

    id: str
    service: str
    version: str
    labels: tuple[tuple[str, str], ...]
    inbound_cluster: str


@dataclass(frozen=True)
class LoadSpec:
    """The load source: outside the mesh, it calls a random pod of ``entry`` (kube-proxy style)."""

    entry: str
    path: str
    method: str
    arrival: Literal["poisson", "constant", "closed"]
    rate: float | None
    users: int | None
    think_time: Dist | None
    duration: float
    warmup: float
    drain: float
    header_mix: tuple[tuple[float, tuple[tuple[str, str], ...]], ...]


@dataclass(frozen=True)
class MeshSettingsIR:
    """Mesh-wide parameters: per-traversal sidecar latency, one-way network latency and the time to
    open a new upstream connection (seconds)."""

    sidecar_latency: Dist
    network_latency: float
    max_retries_default: int
    connect_latency: float = 0.0
    mtls_handshake_latency: float = 0.0
    """Seconds added to opening an mTLS connection (MeshSettings ``mtls.handshakeLatency``)."""
    mtls_handshake_cpu: float = 0.0
    """vCPU seconds per handshake in each of the two proxies."""
    mtls_request_cpu: float = 0.0
    """vCPU seconds of crypto per request per proxy hop on an mTLS connection."""
    proxy_workers: int = 0
    """Worker threads per proxy (0 = no CPU limit); Istio default 2 (ProxyConfig ``concurrency``)."""
    proxy_cpu_per_request: float = 0.0
    """vCPU seconds per request per proxy hop (0.1-0.25 ms: https://istio.io/latest/docs/ops/deployment/performance-and-scalability/)."""
    update_merge_window: float = 0.0
    """Envoy ``update_merge_window`` (s): outlier ejections within it of the last host-set update
    reach the LB when it ends (MeshSettings ``updateMergeWindow``, Envoy default 1 s)."""
    sidecar_per_kib: float = 0.0
    """Seconds each sidecar traversal adds per KiB of a call's request plus response body (MeshSettings
    ``sidecar.perKiB``)."""
    app_cpu_per_request: float = 0.0
    """CPU seconds the app container spends per request it serves, in the CPU model (MeshSettings
    ``app.cpuPerRequest``)."""
    app_cpu_per_call: float = 0.0
    """CPU seconds the app container spends per outbound call try, in the CPU model (MeshSettings ``app.cpuPerCall``)."""
    proxy_idle_cpu: float = 0.0
    """Cores each sidecar's ``istio-proxy`` container uses whatever its traffic, in the CPU model (MeshSettings
    ``proxy.idleCpu``)."""
    app_idle_cpu: float = 0.0
    """Cores each app container uses with no traffic, in the CPU model (MeshSettings ``app.idleCpu``)."""


@dataclass(frozen=True)
class GatewayIR:
    """An ingress gateway Envoy: ``name`` the Gateway's ``namespace/name``; ``workload`` its workload
    name (the Deployment's, else ``istio-ingressgateway``) and ``proxies`` its pod ids
    (``istio-ingressgateway-0``, ...); ``virtual_host`` its route table, built only from the
    VirtualServices bound to the Gateway (Istio ``virtual_service.proto`` ``gateways``). Its identity is ``service_account`` in
    ``namespace`` (Istio's ``istio-ingressgateway-service-account`` in ``istio-system``)."""

    name: str
    workload: str
    namespace: str
    service_account: str
    proxies: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    virtual_host: VirtualHost

    @property
    def principal(self) -> str:
        return f"cluster.local/ns/{self.namespace}/sa/{self.service_account}"


@dataclass(frozen=True)
class MeshModel:
    """The resolved mesh.

    ``clusters`` are the outbound clusters every client sidecar has; ``inbound_clusters`` one per
    service (Envoy name ``inbound|<port>||``, held by each of that service's sidecars);
    ``virtual_hosts`` is the outbound route table every sidecar receives (Istio sends all sidecars
    the same outbound config when no Sidecar resource scopes it).
    """

    services: tuple[Service, ...]
    clusters: tuple[Cluster, ...]
    inbound_clusters: tuple[Cluster, ...]
    virtual_hosts: tuple[VirtualHost, ...]
    proxies: tuple[Proxy, ...]
    load: LoadSpec
    settings: MeshSettingsIR
    digest: str = ""
    notes: tuple[str, ...] = field(default=(), compare=False)
    timeline: Any = field(default=None, compare=False, repr=False)
    """A :class:`meshsim.model.timeline.Timeline` when the config has a Scenario or CanaryPolicy."""
    gateway: GatewayIR | None = None
    """The ingress gateway load enters through (LoadProfile ``gateway``), or None (straight to a pod)."""
    authz: tuple[AuthzPolicy, ...] = ()
    """Every ALLOW/DENY AuthorizationPolicy with the workloads it selects (order: namespace, name)."""
    nodes: tuple[NodeIR, ...] = ()
    """The nodes pods are placed on; empty = the CPU model is off (every container has unlimited CPU of its own)."""
    autoscalers: tuple[HPAIR, ...] = ()
    """Every HorizontalPodAutoscaler, resolved (order: namespace, name)."""

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def inbound_cluster(self, service: str) -> Cluster:
        for c in self.inbound_clusters:
            if c.service == service:
                return c
        raise KeyError(service)

    def virtual_host(self, host: str) -> VirtualHost:
        for v in self.virtual_hosts:
            if v.host == host:
                return v
        raise KeyError(host)

    @property
    def workloads(self) -> tuple[Workload, ...]:
        return tuple(w for s in self.services for w in s.workloads)

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(e for s in self.services for e in s.endpoints)
