"""The time-dependent parts of ``summary.json`` (:mod:`meshsim.metrics.results` re-exports them): the time
series, canary analysis, scenario events and config pushes, retry-storm verdicts and HorizontalPodAutoscaler
decisions and replicas over time, and :class:`ScenarioResult` that holds them."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from meshsim.metrics.results_base import _M, Estimate, _Omitting


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
