"""The HorizontalPodAutoscaler's arithmetic, as kube-controller-manager computes it (autoscaling/v2).

Pure functions and one small history object, mirroring Kubernetes
``pkg/controller/podautoscaler/replica_calculator.go`` (the replica count a metric proposes),
``pkg/controller/podautoscaler/metrics/utilization.go`` (utilisation ratios) and
``pkg/controller/podautoscaler/horizontal.go`` (``reconcileAutoscaler``: min/max, the maximum over
metrics, stabilisation, scale rate limits), with the defaults of
``pkg/controller/podautoscaler/config/v1alpha1/defaults.go`` (sync period 15 s, tolerance 0.1,
downscale stabilisation 5 min, CPU initialisation period 5 min, initial readiness delay 30 s) and
``pkg/apis/autoscaling/v2/defaults.go`` (behavior defaults: scale up by max(4 pods, 100 %) per 15 s
with no stabilisation; scale down 100 % per 15 s after the 300 s window).

Units: metric values are **milli-units** as integers, like the controller's ``int64`` milli-values
(a pod using 0.25 cores of CPU is 250; 12.5 requests/s is 12500); utilisation is an integer percent
(truncated, ``int32(sum(usage) * 100 / sum(requests))``); times are seconds on the simulation clock.
The controller's comparisons are kept exactly: stabilisation and rate windows count a sample when
``t > now - window`` (Go's ``After(cutoff)``), the legacy downscale window when ``t >= now - window``
(``!Before(cutoff)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from meshsim.model.ir import Behavior, ScalingPolicy, ScalingRules

__all__ = [
    "SYNC_PERIOD_S",
    "TOLERANCE",
    "DOWNSCALE_STABILIZATION_S",
    "CPU_INITIALIZATION_PERIOD_S",
    "INITIAL_READINESS_DELAY_S",
    "PodState",
    "PodSample",
    "Proposal",
    "NoMetrics",
    "ScalingPolicy",
    "ScalingRules",
    "Behavior",
    "default_scale_up",
    "default_scale_down",
    "group_pod",
    "resource_utilization_replicas",
    "plain_metric_replicas",
    "object_value_replicas",
    "object_average_value_replicas",
    "HPAHistory",
    "reconcile",
]

SYNC_PERIOD_S = 15.0
"""``--horizontal-pod-autoscaler-sync-period``: the controller re-queues each HPA 15 s after a reconcile."""
TOLERANCE = 0.1
"""``--horizontal-pod-autoscaler-tolerance``: no change while the usage ratio is within [0.9, 1.1]."""
DOWNSCALE_STABILIZATION_S = 300.0
"""``--horizontal-pod-autoscaler-downscale-stabilization`` (5 min)."""
CPU_INITIALIZATION_PERIOD_S = 300.0
"""``--horizontal-pod-autoscaler-cpu-initialization-period`` (5 min)."""
INITIAL_READINESS_DELAY_S = 30.0
"""``--horizontal-pod-autoscaler-initial-readiness-delay`` (30 s)."""

PodState = Literal["ready", "unready", "missing", "ignored"]


class NoMetrics(Exception):
    """The controller cannot compute a proposal (``did not receive metrics for targeted pods``, no pods, or a
    pod without a request for a utilisation target); it sets ``ScalingActive=False`` and does not scale."""


@dataclass(frozen=True)
class PodSample:
    """One pod as the replica calculator sees it: its group (see :func:`group_pod`), its metric value
    (milli-units; None = no sample) and, for utilisation targets, the sum of its containers' requests
    (milli-cores; the ``istio-proxy`` container's included, as ``calculatePodRequests`` sums every
    container)."""

    name: str
    state: PodState
    value: int | None = None
    request: int | None = None


@dataclass(frozen=True)
class Proposal:
    """What one metric proposes: ``replicas``, and the status the HPA reports for it (``utilization``
    integer percent for utilisation targets, else None; ``average`` the raw average milli-value)."""

    replicas: int
    utilization: int | None
    average: int


def group_pod(
    *,
    now: float,
    phase: Literal["Pending", "Running", "Succeeded", "Failed"] = "Running",
    deleting: bool = False,
    has_metric: bool = True,
    cpu: bool = True,
    ready: bool | None = True,
    start_time: float | None = 0.0,
    ready_transition: float | None = 0.0,
    metric_time: float | None = None,
    metric_window: float = 0.0,
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD_S,
    initial_readiness_delay: float = INITIAL_READINESS_DELAY_S,
) -> PodState:
    """Which group ``groupPods`` puts one pod in (``replica_calculator.go``).

    Deleting or Failed pods are ignored; Pending pods are unready; a pod without a sample is missing. For a
    CPU metric only: no Ready condition (``ready`` None) or no ``start_time`` is unready; within
    ``cpu_initialization_period`` of ``start_time`` a pod is unready if not Ready or if its sample was
    taken before ``ready_transition + metric_window``; after it, unready only if not Ready and its Ready
    condition last changed before ``start_time + initial_readiness_delay`` (it never became ready).
    Times in seconds; ``metric_time`` defaults to ``now``."""
    if deleting or phase == "Failed":
        return "ignored"
    if phase == "Pending":
        return "unready"
    if not has_metric:
        return "missing"
    if not cpu:
        return "ready"
    if ready is None or start_time is None or ready_transition is None:
        return "unready"
    t_metric = now if metric_time is None else metric_time
    if start_time + cpu_initialization_period > now:
        unready = (not ready) or t_metric < ready_transition + metric_window
    else:
        unready = (not ready) and start_time + initial_readiness_delay > ready_transition
    return "unready" if unready else "ready"


def _within(ratio: float, tolerance_up: float, tolerance_down: float) -> bool:
    """``Tolerances.isWithin``: ``1 - down <= ratio <= 1 + up``."""
    return (1.0 - tolerance_down) <= ratio <= (1.0 + tolerance_up)


def _utilization(values: Mapping[str, int], requests: Mapping[str, int], target: int) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, integer percent, raw average milli-value) over the pods that have
    both a value and a request."""
    total = req = n = 0
    for name, v in values.items():
        r = requests.get(name)
        if r is None:
            continue
        total += v
        req += r
        n += 1
    if req == 0:
        raise NoMetrics("no metrics returned matched known pods")
    util = (total * 100) // req
    return util / target, util, total // n


def _replicas(
    current: int,
    values: dict[str, int],
    n_ready: int,
    missing: Sequence[PodSample],
    unready: Sequence[PodSample],
    ratio_of: Callable[[Mapping[str, int]], float],
    down_fill: Callable[[PodSample], int],
    tolerance_up: float,
    tolerance_down: float,
) -> int:
    """The replica count ``GetResourceReplicas`` / ``calcPlainMetricReplicas`` compute from the ready pods'
    ``values`` (the one function they share but for the ratio and the scale-down fill-in):
    without missing pods and without unready pods on a scale-up, ``ceil(ratio x ready pods)`` unless the ratio
    is within tolerance. Else the conservative second pass: missing pods at ``down_fill`` on a scale-down and 0
    on a scale-up, unready pods at 0 on a scale-up; no change if the new ratio is within tolerance or flips
    direction, or if the new count would."""
    ratio = ratio_of(values)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        return current if _within(ratio, tolerance_up, tolerance_down) else math.ceil(ratio * n_ready)
    filled = dict(values)
    if missing:
        if ratio < 1.0:
            for p in missing:
                filled[p.name] = down_fill(p)
        elif ratio > 1.0:
            for p in missing:
                filled[p.name] = 0
    if scale_up_with_unready:
        for p in unready:
            filled[p.name] = 0
    new_ratio = ratio_of(filled)
    if _within(new_ratio, tolerance_up, tolerance_down) or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current
    replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def _split(pods: Sequence[PodSample]) -> tuple[int, list[PodSample], list[PodSample], dict[str, int]]:
    """``groupPods``' groups: (ready pods, unready, missing, the ready pods' values); raises :class:`NoMetrics`
    without pods or without a value."""
    if not pods:
        raise NoMetrics("no pods returned by selector while calculating replica count")
    ready = [p for p in pods if p.state == "ready"]
    unready = [p for p in pods if p.state == "unready"]
    missing = [p for p in pods if p.state == "missing"]
    values = {p.name: int(p.value) for p in ready if p.value is not None}
    if not values:
        raise NoMetrics("did not receive metrics for targeted pods (pods might be unready)")
    return len(ready), unready, missing, values


def resource_utilization_replicas(
    current: int,
    pods: Sequence[PodSample],
    target_utilization: int,
    tolerance_up: float = TOLERANCE,
    tolerance_down: float = TOLERANCE,
) -> Proposal:
    """A ``Resource`` metric with a ``Utilization`` target (percent of request): ``GetResourceReplicas``
    (:func:`_replicas`); a missing pod counts as ``max(100, target)`` % of its request on a scale-down. Raises
    :class:`NoMetrics` when no pod has a sample or a pod lacks a request."""
    n_ready, unready, missing, values = _split(pods)
    requests: dict[str, int] = {}
    for p in pods:
        if p.state == "ignored":
            continue
        if p.request is None:
            raise NoMetrics(f"missing request for cpu in pod {p.name}")
        requests[p.name] = p.request
    _, util, average = _utilization(values, requests, target_utilization)
    fallback = max(100, target_utilization)
    replicas = _replicas(
        current,
        values,
        n_ready,
        missing,
        unready,
        lambda v: _utilization(v, requests, target_utilization)[0],
        lambda p: requests[p.name] * fallback // 100,
        tolerance_up,
        tolerance_down,
    )
    return Proposal(replicas, util, average)


def plain_metric_replicas(
    current: int,
    pods: Sequence[PodSample],
    target_average: int,
    tolerance_up: float = TOLERANCE,
    tolerance_down: float = TOLERANCE,
) -> Proposal:
    """A ``Pods`` metric or a ``Resource`` ``AverageValue`` target: ``calcPlainMetricReplicas``
    (:func:`_replicas`); the ratio is ``int(sum / n) / target`` (``GetMetricUsageRatio``) and a missing pod
    counts as the target on a scale-down."""
    n_ready, unready, missing, values = _split(pods)
    replicas = _replicas(
        current,
        values,
        n_ready,
        missing,
        unready,
        lambda v: (sum(v.values()) // len(v)) / target_average,
        lambda _p: target_average,
        tolerance_up,
        tolerance_down,
    )
    return Proposal(replicas, None, sum(values.values()) // len(values))


def object_value_replicas(
    current: int,
    usage: int,
    target: int,
    ready_pods: int,
    tolerance_up: float = TOLERANCE,
    tolerance_down: float = TOLERANCE,
) -> Proposal:
    """An ``Object`` (or ``External``) metric with a ``Value`` target: ``getUsageRatioReplicaCount``;
    ``ceil(usage / target x ready pods)``, or ``ceil(usage / target)`` from zero replicas (scale to zero)."""
    ratio = usage / target
    if current == 0:
        return Proposal(math.ceil(ratio), None, usage)
    if _within(ratio, tolerance_up, tolerance_down):
        return Proposal(current, None, usage)
    return Proposal(math.ceil(ratio * ready_pods), None, usage)


def object_average_value_replicas(
    status_replicas: int,
    usage: int,
    target_average: int,
    tolerance_up: float = TOLERANCE,
    tolerance_down: float = TOLERANCE,
) -> Proposal:
    """An ``Object`` (or ``External``) metric with an ``AverageValue`` target:
    ``GetObjectPerPodMetricReplicas``; ``ceil(usage / target)`` unless ``usage / (target x status.replicas)`` is
    within tolerance. Reports the per-pod average ``ceil(usage / status.replicas)``."""
    replicas = status_replicas
    ratio = usage / (target_average * status_replicas)
    if not _within(ratio, tolerance_up, tolerance_down):
        replicas = math.ceil(usage / target_average)
    return Proposal(replicas, None, math.ceil(usage / status_replicas))


# --------------------------------------------------------------------------------------------- behavior
def default_scale_up() -> ScalingRules:
    """``GenerateHPAScaleUpRules`` defaults: no stabilisation; max(4 pods, 100 %) per 15 s."""
    return Behavior().scale_up


def default_scale_down(window_s: float = DOWNSCALE_STABILIZATION_S) -> ScalingRules:
    """``GenerateHPAScaleDownRules`` defaults: the controller's downscale window (nil ->
    ``--horizontal-pod-autoscaler-downscale-stabilization``, ``maybeInitScaleDownStabilizationWindow``);
    100 % per 15 s."""
    return ScalingRules(window_s, (ScalingPolicy("Percent", 100, 15.0),), "Max")


@dataclass
class _Event:
    change: int
    t: float
    outdated: bool = False


@dataclass
class HPAHistory:
    """The controller's memory of one HPA: timestamped raw recommendations and scale events (replaced in
    place when old, as ``stabilizeRecommendation*`` and ``storeScaleEvent`` do, so it stays bounded)."""

    recommendations: list[tuple[int, float]] = field(default_factory=list)
    scale_up_events: list[_Event] = field(default_factory=list)
    scale_down_events: list[_Event] = field(default_factory=list)

    def record_initial(self, current: int, now: float) -> None:
        """``recordInitialRecommendation``: seed the history with the current size at the first reconcile, so
        a new HPA cannot scale below it before the downscale window has passed."""
        if not self.recommendations:
            self.recommendations.append((current, now))

    def store_event(self, behavior: Behavior | None, prev: int, new: int, now: float) -> None:
        """``storeScaleEvent``: only with a behavior; an event older than the direction's longest policy period
        is marked outdated and the last outdated one is reused."""
        if behavior is None:
            return
        if new > prev:
            events, rules, change = self.scale_up_events, behavior.scale_up, new - prev
        else:
            events, rules, change = self.scale_down_events, behavior.scale_down, prev - new
        longest = max((p.period_s for p in rules.policies), default=0.0)
        slot = -1
        for i, e in enumerate(events):
            if e.t < now - longest:
                e.outdated = True
            if e.outdated:
                slot = i
        if slot >= 0:
            events[slot] = _Event(change, now)
        else:
            events.append(_Event(change, now))


def _changed_in(period_s: float, events: Sequence[_Event], now: float) -> int:
    """``getReplicasChangePerPeriod``: the replicas changed by events after ``now - period``."""
    cutoff = now - period_s
    return sum(e.change for e in events if e.t > cutoff)


def _rate_limit(current: int, h: HPAHistory, rules: ScalingRules, now: float, up: bool) -> int:
    """``calculateScaleUpLimitWithScalingRules`` (``up``) / ``calculateScaleDownLimitWithBehaviors``: per policy,
    from the replicas at the start of its period (``current - added + removed`` within it), ``+ value`` pods or
    ``ceil(x (1 + value/100))`` up, ``- value`` or ``int(x (1 - value/100))`` down; ``Max`` takes the largest
    change, ``Min`` the smallest, ``Disabled`` keeps ``current``."""
    if rules.select == "Disabled":
        return current
    largest = rules.select != "Min"
    pick = max if largest == up else min
    result: int | None = None
    for p in rules.policies:
        start = (
            current
            - _changed_in(p.period_s, h.scale_up_events, now)
            + _changed_in(p.period_s, h.scale_down_events, now)
        )
        if up:
            proposed = start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100))
        else:
            proposed = start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _stabilize_legacy(h: HPAHistory, desired: int, now: float, window_s: float) -> int:
    """``stabilizeRecommendation``: the max of the recommendations not older than the window, then record."""
    best = desired
    cutoff = now - window_s
    slot = -1
    for i, (rec, t) in enumerate(h.recommendations):
        if t < cutoff:
            slot = i
        elif rec > best:
            best = rec
    if slot >= 0:
        h.recommendations[slot] = (desired, now)
    else:
        h.recommendations.append((desired, now))
    return best


def _stabilize_behavior(h: HPAHistory, current: int, desired: int, now: float, b: Behavior) -> int:
    """``stabilizeRecommendationWithBehaviors``: ``current`` clamped into [min of the scale-up window, max of
    the scale-down window] (each including ``desired``), then record the raw ``desired``."""
    up_cut = now - b.scale_up.stabilization_s
    down_cut = now - b.scale_down.stabilization_s
    up, down = desired, desired
    slot = -1
    for i, (rec, t) in enumerate(h.recommendations):
        if t > up_cut:
            up = min(rec, up)
        if t > down_cut:
            down = max(rec, down)
        if t < up_cut and t < down_cut:
            slot = i
    out = min(max(current, up), down)
    if slot >= 0:
        h.recommendations[slot] = (desired, now)
    else:
        h.recommendations.append((desired, now))
    return out


def reconcile(
    h: HPAHistory,
    *,
    now: float,
    current: int,
    min_replicas: int,
    max_replicas: int,
    proposals: Sequence[int | None],
    behavior: Behavior | None = None,
    downscale_window_s: float = DOWNSCALE_STABILIZATION_S,
) -> int:
    """One ``reconcileAutoscaler`` at ``now``: the new ``spec.replicas`` of the target.

    ``current`` is the target's ``spec.replicas``; ``proposals`` one per metric (None = that metric failed).
    Out-of-range sizes go to the nearest bound without metrics; ``current == 0`` with ``min_replicas != 0``
    disables scaling. The proposal is the max over metrics; with some failed, only if it is not below
    ``current``; with all failed, no change. Then stabilisation and limits: legacy (``behavior`` None:
    the max over the downscale window, then ``[min, min(max, max(2 x current, 4))]``) or with a behavior
    (the windows and rate policies of ``behavior``, then ``[min, max]``). A changed size is stored as a scale
    event."""
    h.record_initial(current, now)
    if current == 0 and min_replicas != 0:
        return current
    if current > max_replicas:
        desired = max_replicas
    elif current < min_replicas:
        desired = min_replicas
    else:
        ok = [p for p in proposals if p is not None]
        if not ok:
            return current
        proposal = max(ok)
        if len(ok) < len(proposals) and proposal < current:
            return current
        if behavior is None:
            stab = _stabilize_legacy(h, proposal, now, downscale_window_s)
            upper = min(max_replicas, max(2 * current, 4))
            desired = min_replicas if stab < min_replicas else min(stab, upper)
        else:
            stab = _stabilize_behavior(h, current, proposal, now, behavior)
            desired = stab
            if stab > current:
                limit = max(_rate_limit(current, h, behavior.scale_up, now, up=True), current)
                desired = min(stab, min(max_replicas, limit))
            elif stab < current:
                limit = min(_rate_limit(current, h, behavior.scale_down, now, up=False), current)
                desired = max(stab, max(min_replicas, limit))
    if desired != current:
        h.store_event(behavior, current, desired, now)
    return desired
