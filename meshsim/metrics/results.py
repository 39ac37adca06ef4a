"""The typed, serialisable result of a run: the schema of ``summary.json``.

``meshsim schema`` prints :class:`Summary`'s JSON Schema. The real-mesh side writes the same schema
from Envoy stats, so predictions and measurements are compared field by field.

Conventions: latencies in milliseconds; rates in requests/s; ``success_rate`` is the fraction of
responses with status < 500 (the rule of Istio/Flagger success-rate queries); every
:class:`Estimate` carries a 95% confidence interval by sectioning (:mod:`meshsim.metrics.intervals`):
centred on the pooled estimate, its width from the spread of one estimate per replication when there
are several, else one per time batch (10) of the single run; ``null`` bounds come with a
``ci_reason``. Percentiles come from DDSketch with relative accuracy
``run.sketch_relative_accuracy``, and no quantile interval is narrower than that.
"""

from __future__ import annotations

from pydantic import Field

from meshsim.metrics.results_base import _M, Estimate, Latency
from meshsim.metrics.results_scenario import (
    AmplificationPoint,
    CanaryCheck,
    CanaryResult,
    HPADecision,
    HPAMetricValue,
    HPAReplicas,
    HPAResult,
    HPAScale,
    PushResult,
    ScenarioEventResult,
    ScenarioResult,
    SeriesPoint,
    StormAutoscaling,
    StormHPA,
    StormResult,
    StormVerdict,
    StormWindow,
    WorkloadPoint,
)

__all__ = [
    "SCHEMA_VERSION",
    "AmplificationPoint",
    "CanaryCheck",
    "CanaryResult",
    "PushResult",
    "ScenarioEventResult",
    "ScenarioResult",
    "SeriesPoint",
    "WorkloadPoint",
    "Estimate",
    "Latency",
    "ContainerCPU",
    "HPADecision",
    "HPAReplicas",
    "HPAScale",
    "HPAResult",
    "StormAutoscaling",
    "StormHPA",
    "HPAMetricValue",
    "NodeCPU",
    "RunInfo",
    "EntryResult",
    "EdgeResult",
    "CallResult",
    "ServiceResult",
    "ClusterResult",
    "ProxyResult",
    "MeshTotals",
    "StormWindow",
    "StormVerdict",
    "StormResult",
    "EdgeAmplification",
    "DepthAmplification",
    "AmplificationReport",
    "Summary",
]

SCHEMA_VERSION = "meshsim.io/summary/v1"


class RunInfo(_M):
    """Provenance: enough to reproduce the run (no wall-clock values, so the file is deterministic)."""

    meshsim_version: str
    backend: str = Field(description="'simulation' or 'real'")
    seed: int
    replications: int
    ci_method: str = Field(
        description="'sectioning_replications' (one section per replication), 'sectioning_batches' (one per time batch of a single run), or 'none' (a single real-mesh run)"
    )
    ci_level: float = 0.95
    ci_sections: int | None = Field(
        default=None, description="sections behind every interval (replications, or time batches of a single run)"
    )
    config_digest: str
    inputs: list[str]
    entry: str
    arrival: str
    rate_rps: float | None
    users: int | None
    warmup_s: float
    duration_s: float
    sketch_relative_accuracy: float = Field(
        description="DDSketch alpha: every reported quantile q' has |q' - q| <= alpha q, and no quantile CI is narrower"
    )
    warmup_suggested_s: float | None = Field(
        default=None,
        description="warm-up MSER (White 1997) suggests on the entry latency batch means, when longer than warmup_s (a warning in findings; the run still used warmup_s)",
    )
    precision_target: float | None = Field(
        default=None, description="--precision: target relative half-width of the entry p99 CI"
    )
    precision_achieved: float | None = Field(
        default=None, description="relative half-width of the entry p99 CI when the sequential procedure stopped"
    )
    precision_met: bool | None = None


class EntryResult(_M):
    """Requests entering the mesh from the load source (outside the mesh)."""

    service: str
    requests: int = Field(description="requests that arrived in the measured window and completed")
    incomplete: int = Field(description="measured requests still in flight when the run ended (drain limit)")
    throughput_rps: float
    success_rate: Estimate
    latency_ms: Latency
    latency_cdf_ms: list[tuple[float, float]] = Field(
        description="(quantile, milliseconds) pairs of the pooled latency distribution, for CDF plots"
    )
    status_codes: dict[str, int]


class EdgeResult(_M):
    """Requests from one workload's sidecar to one cluster (destination subset).

    ``requests`` are requests the caller's sidecar received from its app (app-level retries each
    count); ``attempts`` are upstream tries (sidecar retries included); ``amplification`` =
    attempts / requests.

    One accounting on both backends: a local reply of the client sidecar is a request with no attempt, as
    Istio's ``istio_requests_total`` (reporter=source) counts it: a fault-filter abort (flag ``FI``), no healthy
    host (``UH``), a pool or breaker overflow (``UO``). A request with no route (``NR``) has no cluster: the
    simulator reports it on an edge with an empty ``cluster``, the real mesh likewise from the client sidecar's
    ``http.<stat_prefix>.no_route`` counter (``destination`` empty when the workload calls more than one service
    whose routes can miss). An AuthorizationPolicy denial is an attempt the
    server sidecar answered 403 (``denied_by``). On the real mesh requests are ``upstream_rq_total -
    upstream_rq_retry + upstream_rq_pending_overflow + upstream_cx_none_healthy`` of the cluster plus the
    fault aborts its callers saw.
    """

    source: str
    destination: str
    subset: str
    cluster: str
    requests: int = Field(
        description="requests the caller's app sent through its sidecar to this cluster, local replies (FI, UH, UO) included"
    )
    attempts: int = Field(description="upstream attempts (Envoy's upstream_rq_total), sidecar retries included")
    retries: int = Field(description="sidecar retries (Envoy's upstream_rq_retry)")
    amplification: float | None
    success_rate: Estimate
    latency_ms: Latency
    latency_cdf_ms: list[tuple[float, float]]
    response_flags: dict[str, int]
    status_codes: dict[str, int]
    denied_by: dict[str, int] = Field(
        default_factory=dict,
        description="403s the destination's server sidecar returned, per AuthorizationPolicy (namespace/name) that denied them",
    )


class ProxyResult(_M):
    """One Envoy (sidecar or gateway pod) over the measured window, summed over replications
    : ``requests`` traversals through it; ``vcpu`` mean vCPU used (requests, mTLS crypto
     and handshakes; MeshSettings ``proxy`` and ``mtls``); ``utilization`` = vcpu / ``workers``;
     ``p_wait`` the fraction of traversals that found every worker busy and ``mean_wait_ms`` their
     mean wait (queueing inside the proxy)."""

    proxy: str
    workload: str
    workers: int
    requests: int
    handshakes: int
    vcpu: float
    utilization: float | None
    p_wait: float | None
    mean_wait_ms: float | None


class ContainerCPU(_M):
    """One container's CPU over the measured window, named as the kernel's cgroup accounting names it
    (``cpuacct.usage``; ``cpu.stat``: ``nr_periods``, ``nr_throttled``, ``throttled_time``; see
    https://docs.kernel.org/scheduler/sched-bwc.html). ``container`` is ``istio-proxy`` for the sidecar (the
    name Istio's injector gives it) or ``app`` for the app container. ``cpu_cores`` is the mean CPU used (CPU
    seconds per second), ``request_cores``/``limit_cores`` the Kubernetes ``resources.requests.cpu``/
    ``limits.cpu`` (null when unset), ``utilization_of_request``/``_of_limit`` = cpu_cores / those.
    ``cpu_cores`` is the mean over replications; ``nr_periods``, ``nr_throttled`` and ``throttled_time_s``
    (seconds) are summed over replications, like Envoy's counters."""

    pod: str
    container: str
    node: str | None
    request_cores: float | None
    limit_cores: float | None
    cpu_cores: float
    utilization_of_request: float | None
    utilization_of_limit: float | None
    nr_periods: int
    nr_throttled: int
    throttled_time_s: float


class NodeCPU(_M):
    """One node: ``cores`` its capacity (``status.capacity.cpu``), ``cpu_cores`` the mean CPU its containers
    used, ``utilization`` = cpu_cores / cores, ``mean_runqueue_wait_ms`` the mean time a runnable thread
    waited for a core (null when not measured). Means over replications."""

    node: str
    cores: float
    cpu_cores: float
    utilization: float
    mean_runqueue_wait_ms: float | None


class CallResult(_M):
    """Application-level calls from one workload to one service, as the app sees them (its own
    timeout and retries included); ``tries`` / ``calls`` is the app-level amplification."""

    source: str
    destination: str
    calls: int
    tries: int
    app_retries: int
    app_timeouts: int
    skipped: int = Field(description="calls not made because of `probability`")
    success_rate: float | None
    latency_ms: Latency


class ServiceResult(_M):
    """One service version (workload), summed over its replicas.

    ``utilization`` = mean busy workers / (replicas x concurrency) (null when concurrency is
    unbounded); ``mean_queue_length`` = mean requests waiting for a worker (all replicas);
    ``p_wait`` = fraction of requests that waited for a worker; Little's law:
    ``mean_in_system`` = ``arrival_rate_rps`` x ``mean_residence_ms`` / 1000.
    """

    name: str
    version: str
    replicas: int
    concurrency: int | None
    arrival_rate_rps: float
    utilization: Estimate | None
    mean_busy_workers: float
    mean_queue_length: float
    mean_in_system: float
    mean_wait_ms: float | None
    p_wait: float | None
    mean_residence_ms: float | None
    error_rate: float | None


class ClusterResult(_M):
    """Envoy counters of one cluster in one sidecar, named as Envoy names them
    (``upstream_rq_total``, ``upstream_rq_retry``, ``outlier_detection.ejections_enforced_total``, ...);
    ``outlier_detection.ejections_active`` is a time average. Summed over replications."""

    proxy: str
    cluster: str
    counters: dict[str, float]


class MeshTotals(_M):
    """Whole-mesh sidecar totals: ``amplification`` = upstream attempts / sidecar requests."""

    requests: int
    attempts: int
    amplification: float | None


class EdgeAmplification(_M):
    """Retry amplification of one workload -> service edge (``depth``: hops of the caller from the
    entry workload, 0 = the entry). ``sidecar`` = upstream attempts / sidecar requests (Envoy
    retries); ``app`` = tries / app calls (application retries); ``total`` = sidecar x app, the
    attempts the destination receives per call the caller's code makes. ``worst_case`` is the
    static bound (1 + app retries) x (1 + sidecar retries) of this edge and ``path_worst_case`` the
    product along the worst call path from the entry."""

    source: str
    destination: str
    depth: int
    sidecar: float | None
    app: float | None
    total: float | None
    worst_case: float
    path_worst_case: float
    flagged: bool


class DepthAmplification(_M):
    """All edges whose caller is ``depth`` hops from the entry, pooled (attempts / requests)."""

    depth: int
    sidecar: float | None
    app: float | None


class AmplificationReport(_M):
    """Retry amplification per edge and per call depth, with edges above ``threshold`` (attempts per
    app-level call) flagged; ``over_time`` holds per-interval, per-depth amplification from the
    scenario series (replication 0), when there is one."""

    threshold: float
    edges: list[EdgeAmplification]
    depths: list[DepthAmplification]
    flagged: list[str]
    over_time: list[dict[str, float | int | None]] = Field(default_factory=list)


class Summary(_M):
    """The content of ``summary.json``."""

    schema_version: str = SCHEMA_VERSION
    run: RunInfo
    entry: EntryResult
    edges: list[EdgeResult]
    calls: list[CallResult]
    services: list[ServiceResult]
    clusters: list[ClusterResult]
    mesh: MeshTotals
    scenario: ScenarioResult | None = None
    findings: list[str] = Field(default_factory=list)
    proxies: list[ProxyResult] = Field(default_factory=list, description="CPU and worker queueing per proxy")
    containers: list[ContainerCPU] = Field(
        default_factory=list, description="CPU and CFS throttling per container (empty when the CPU model is off)"
    )
    nodes: list[NodeCPU] = Field(default_factory=list, description="CPU per node (empty when the CPU model is off)")
    amplification: AmplificationReport | None = Field(
        default=None, description="retry amplification per edge and depth (meshsim.storm.amplification)"
    )
