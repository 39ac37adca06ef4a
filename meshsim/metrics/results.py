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

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

__all__ = [
    "SCHEMA_VERSION",
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


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Omitting(_M):
    """A model whose ``_omit_empty`` fields are left out of its JSON when empty or null: fields added for
    HorizontalPodAutoscalers, absent from the summaries of runs without one (which stay as they were)."""

    _omit_empty: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_empty(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if isinstance(out, dict):
            for k in self._omit_empty:
                if k in out and not out[k]:
                    del out[k]
        return out


class Estimate(_M):
    """A point estimate with its 95% confidence interval (``ci_low``/``ci_high`` may be null).

    ``ci_method`` names how the interval was built (``sectioning``: spread of per-replication or
    per-batch estimates around the pooled value; ``paired_sectioning``: the same over paired
    per-replication differences; ``wilson``: a binomial score interval); when the bounds are null,
    ``ci_reason`` says why (``too_few_samples``: a section holds fewer samples than the quantile
    needs, ``ci_needs`` is the total it would need; ``too_few_sections``; ``no_data``).
    """

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_method: str | None = None
    ci_reason: str | None = None
    ci_needs: int | None = Field(
        default=None, description="samples (requests) the interval would need when ci_reason is too_few_samples"
    )


class Latency(_M):
    """Latency in milliseconds: mean and percentiles, each with a CI."""

    mean: Estimate
    p50: Estimate
    p90: Estimate
    p99: Estimate
    p999: Estimate


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


class WorkloadPoint(_M):
    """One workload in one interval, measured at its pods (Istio ``reporter=destination``)."""

    rps: float
    success_rate: float | None
    p99_ms: float | None


class AmplificationPoint(_M):
    rps: float
    amplification: float


class SeriesPoint(_M):
    """One time-series interval starting at ``t_s`` (seconds from the start, warm-up included)."""

    t_s: float
    entry_rps: float
    entry_success_rate: float | None
    entry_p99_ms: float | None
    workloads: dict[str, WorkloadPoint]
    canary_weight_configured: float | None = None
    canary_weight_observed: float | None = Field(
        default=None, description="percent of the service's requests the canary pods served"
    )
    ejected_hosts: float = Field(
        0.0, description="hosts ejected by outlier detection, summed over sidecars, at the interval's end"
    )
    queue: dict[str, float] = Field(
        default_factory=dict, description="requests waiting for a worker per workload at the interval's end"
    )
    edges: dict[str, AmplificationPoint] = Field(
        default_factory=dict, description="'source->destination': sidecar requests/s and upstream attempts per request"
    )
    calls: dict[str, AmplificationPoint] = Field(
        default_factory=dict, description="'source->destination': app-level calls/s and tries per call"
    )


class CanaryCheck(_M):
    t_s: float
    passed: bool
    reason: str
    weight: float


class CanaryResult(_M):
    """The rollout as Flagger would run it, from replication 0, plus outcome counts over replications.

    ``p_promoted`` / ``p_rolled_back`` are fractions of replications with Wilson 95% intervals: for a
    healthy canary, ``p_rolled_back`` is the probability of a false rollback; for a bad one,
    ``p_promoted`` is the probability of a false promotion.
    """

    name: str
    service: str
    primary: str
    canary: str
    outcome: str = Field(description="'promoted', 'rolled_back' or 'in_progress' (the run ended first)")
    at_s: float | None
    verdict: str
    failed_checks: int
    weights: list[tuple[float, float]]
    checks: list[CanaryCheck]
    rollout_requests: int = Field(description="entry requests from the start of the rollout to its outcome")
    rollout_errors: int
    rollout_slow: int = Field(description="of those, slower than the request-duration maximum")
    outcomes: dict[str, int]
    p_promoted: Estimate
    p_rolled_back: Estimate


class ScenarioEventResult(_M):
    t_s: float
    action: str
    description: str


class PushResult(_M):
    """One istiod push: when it started, which changes it carried, when proxies applied it."""

    t_s: float
    version: int
    changes: list[str]
    first_applied_s: float
    last_applied_s: float
    proxies: int


class StormWindow(_M):
    """One verdict window (``window_s`` long, starting at ``t_s``): entry goodput (successes/s), entry
    p99 (ms, from the merged sketch of the window) and whether both are within tolerance of the
    pre-trigger baseline."""

    t_s: float
    goodput_rps: float
    p99_ms: float | None
    healthy: bool


class StormHPA(_M):
    """One HorizontalPodAutoscaler during a storm (seconds from the start): the target's pods when the trigger
    started (``replicas_before``) and the most it ran from then on (``replicas_reached``, of ``maxReplicas``);
    its first scale-up from the trigger's start (``first_scale_up_s``) and when that scale-up's pods were in
    every sidecar's EDS (``routable_s``)."""

    hpa: str
    workload: str
    replicas_before: int
    replicas_reached: int
    maxReplicas: int
    first_scale_up_s: float | None = None
    routable_s: float | None = None


class StormAutoscaling(_M):
    """How a replication's HorizontalPodAutoscalers bear on its verdict: ``rescued`` when it recovered and a
    scale-up's pods were in every sidecar's EDS before its first healthy window to the end had ended (the
    recovery followed the new capacity; the same storm without the HPA, e.g. as a ``meshsim storm
    --mitigations`` variant, shows whether it would have recovered anyway); ``summary`` says so in words,
    naming the HPAs and the replicas they reached."""

    rescued: bool
    summary: str
    hpas: list[StormHPA]


class StormVerdict(_Omitting):
    """The metastability verdict of one replication (Bronson et al. HotOS'21; Huang et al. OSDI'22).

    ``verdict``: ``stable`` (no window degraded beyond tolerance), ``recovered`` (degraded, then
    healthy from ``recovered_at_s`` to the end of the measured window; ``recovery_s`` counts from the
    trigger's end) or ``metastable`` (the last window is still degraded after the trigger ended).
    ``autoscaling``: present when the mesh has a HorizontalPodAutoscaler.
    """

    _omit_empty: ClassVar[tuple[str, ...]] = ("autoscaling",)

    replication: int
    verdict: str
    recovered_at_s: float | None = None
    recovery_s: float | None = None
    baseline_goodput_rps: float
    end_goodput_rps: float
    baseline_p99_ms: float | None
    end_p99_ms: float | None
    peak_queue: dict[str, float] = Field(
        default_factory=dict,
        description="largest requests waiting for a worker per workload, any interval after the trigger started",
    )
    end_queue: dict[str, float] = Field(
        default_factory=dict, description="requests waiting per workload at the end of the measured window"
    )
    end_amplification: dict[str, float] = Field(
        default_factory=dict, description="'src->dst' sidecar attempts per request over the last window"
    )
    baseline_amplification: dict[str, float] = Field(
        default_factory=dict, description="'src->dst' sidecar attempts per request before the trigger"
    )
    failed_requests: int = Field(
        0, description="entry requests that failed from the trigger's start to the end of the measured window"
    )
    autoscaling: StormAutoscaling | None = None


class StormResult(_M):
    """Verdict of replication 0 with its evidence over time, and the outcome over all replications.

    The trigger window is ``[trigger_start_s, trigger_end_s)``; the baseline is the measured time
    before it; ``windows`` are consecutive ``window_s`` windows of replication 0. A window is healthy
    when its goodput is at least ``(1 - goodput_tolerance)`` x baseline and its p99 at most
    ``p99_factor`` x baseline. ``p_*`` are fractions of replications with Wilson 95% intervals.
    """

    trigger: str
    trigger_start_s: float
    trigger_end_s: float
    window_s: float
    goodput_tolerance: float
    p99_factor: float
    verdict: StormVerdict
    windows: list[StormWindow]
    replications: list[StormVerdict]
    outcomes: dict[str, int]
    p_stable: Estimate
    p_recovered: Estimate
    p_metastable: Estimate
    mean_recovery_s: float | None = None


class HPAMetricValue(_M):
    """One HPA metric at one sync: ``value`` what the controller saw (requests/s; per pod for a ``Pods`` metric or
    an ``AverageValue`` target), ``target`` its target, ``error`` why it had no value (the controller's
    ``FailedGetPodsMetric``-style condition), if so."""

    metric: str
    value: float | None
    target: float
    error: str | None = None


class HPADecision(_M):
    """One reconcile of a HorizontalPodAutoscaler (replication 0): at ``t_s``, ``current`` replicas
    (``spec.replicas``), ``ready`` of them Ready, ``recommendation`` the largest metric's proposal (null when
    every metric failed), ``desired`` after stabilisation and rate limits."""

    t_s: float
    hpa: str
    workload: str
    current: int
    recommendation: int | None
    desired: int
    ready: int
    metrics: list[HPAMetricValue]


class HPAReplicas(_M):
    """A HorizontalPodAutoscaler's replica counts from ``t_s`` (seconds) until the next point, in the
    HPA status' terms: ``desiredReplicas`` its last reconcile's result, ``currentReplicas`` the target's pods
    (pods being deleted excluded), ``readyReplicas`` those of them Ready."""

    t_s: float
    desiredReplicas: int
    currentReplicas: int
    readyReplicas: int


class HPAScale(_M):
    """One scale of a HorizontalPodAutoscaler (seconds from the start). A scale-up: ``ready_s`` when its new pods
    are Ready, ``routable_s`` when the last sidecar applied the push that adds them (null: not within the run),
    ``time_to_scale_s`` = ``routable_s`` - ``decided_s``. A scale-down: ``recommended_s`` the sync from which every
    recommendation was at or below ``to``, so ``decided_s`` - ``recommended_s`` is the stabilisation wait."""

    decided_s: float
    from_replicas: int
    to_replicas: int
    ready_s: float | None = None
    routable_s: float | None = None
    time_to_scale_s: float | None = None
    recommended_s: float | None = None


class HPAResult(_M):
    """One HorizontalPodAutoscaler over the run (replication 0): its replica counts over time, its scales, the
    most pods it ran and when it first reached ``maxReplicas`` (null: never)."""

    hpa: str
    workload: str
    minReplicas: int
    maxReplicas: int
    replicas: list[HPAReplicas]
    scales: list[HPAScale]
    peak_replicas: int
    max_reached_s: float | None = None


class ScenarioResult(_Omitting):
    """What changed over time (replication 0) and how the mesh responded."""

    _omit_empty: ClassVar[tuple[str, ...]] = ("autoscalers",)

    interval_s: float
    series: list[SeriesPoint]
    events: list[ScenarioEventResult]
    pushes: list[PushResult]
    canary: CanaryResult | None = None
    storm: StormResult | None = Field(
        default=None, description="metastability verdict when the scenario has a bounded trigger (meshsim.storm)"
    )
    autoscaling: list[HPADecision] = Field(
        default_factory=list, description="every HorizontalPodAutoscaler reconcile (sync period apart)"
    )
    autoscalers: list[HPAResult] = Field(
        default_factory=list,
        description="each HorizontalPodAutoscaler's replicas over time and time to scale (absent without one)",
    )


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
