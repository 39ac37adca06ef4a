"""The HPA arithmetic against sequences computed by hand from Kubernetes'
``pkg/controller/podautoscaler/replica_calculator.go`` and ``horizontal.go``."""

from __future__ import annotations

import pytest

from meshsim.model.rules.hpa import (
    Behavior,
    HPAHistory,
    NoMetrics,
    PodSample,
    ScalingPolicy,
    ScalingRules,
    default_scale_down,
    group_pod,
    object_average_value_replicas,
    object_value_replicas,
    plain_metric_replicas,
    reconcile,
    resource_utilization_replicas,
)


def _pods(usages: list[int | None], request: int = 300, state: str = "ready") -> list[PodSample]:
    return [
        PodSample(f"p{i}", "missing" if u is None else state, u, request)  # type: ignore[arg-type]
        for i, u in enumerate(usages)
    ]


# ------------------------------------------------------------------------------------ replica calculator
def test_utilization_is_a_truncated_integer_percent_of_all_requests() -> None:
    # 3 pods at 270/300/330 of 300m (app 200m + istio-proxy 100m): 900/900 = 100 %; 100/75 -> ceil(1.33 x 3) = 4
    p = resource_utilization_replicas(3, _pods([270, 300, 330]), 75)
    assert (p.replicas, p.utilization, p.average) == (4, 100, 300)
    # 248/300 = 82.67 % truncates to 82: 82/75 = 1.093 is inside the 10 % band -> stay at 3
    assert resource_utilization_replicas(3, _pods([248] * 3), 75).replicas == 3
    # 250/300 = 83 %: 1.107 leaves the band -> ceil(1.107 x 3) = ceil(3.32) = 4
    assert resource_utilization_replicas(3, _pods([250] * 3), 75).replicas == 4


def test_tolerance_band_is_inclusive_and_per_direction() -> None:
    assert resource_utilization_replicas(4, _pods([330] * 4), 100).replicas == 4  # 110 % / 100: on the edge
    assert resource_utilization_replicas(4, _pods([333] * 4), 100).replicas == 5  # 111 %: ceil(1.11 x 4)
    assert resource_utilization_replicas(4, _pods([270] * 4), 100).replicas == 4  # 90 %: on the lower edge
    assert resource_utilization_replicas(4, _pods([267] * 4), 100).replicas == 4  # 89 % -> ceil(0.89 x 4) = 4
    assert resource_utilization_replicas(4, _pods([210] * 4), 100).replicas == 3  # 70 % -> ceil(2.8)
    # a 5 % scale-up tolerance (behavior.scaleUp.tolerance) scales at 106 %
    assert resource_utilization_replicas(4, _pods([318] * 4), 100, tolerance_up=0.05).replicas == 5


def test_missing_pods_count_as_full_request_on_scale_down_and_zero_on_scale_up() -> None:
    # scale-down: 2 ready at 40 % of 500m, 1 missing; target 50: ratio 0.8; the missing pod at
    # max(100, 50) % = 500m gives (200+200+500)/1500 = 60 % -> 1.2 > 1: the direction flips -> stay at 3
    pods = [*_pods([200, 200], 500), PodSample("m", "missing", None, 500)]
    assert resource_utilization_replicas(3, pods, 50).replicas == 3
    # 2 ready at 20 %: ratio 0.4; with the missing pod at 500m: 800/1500 = 53 % -> 1.06, in the band -> 3
    pods = [*_pods([100, 100], 500), PodSample("m", "missing", None, 500)]
    assert resource_utilization_replicas(3, pods, 50).replicas == 3
    # scale-up: 2 ready at 100 %, 1 missing: ratio 2.0; missing at 0: 1000/1500 = 66 % -> 1.32 -> ceil(3.96) = 4
    pods = [*_pods([500, 500], 500), PodSample("m", "missing", None, 500)]
    p = resource_utilization_replicas(3, pods, 50)
    assert (p.replicas, p.utilization) == (4, 100)  # the status reports the first pass's utilisation


def test_unready_pods_count_as_zero_only_on_scale_up() -> None:
    # 1 ready at 200 % + 1 unready (pending); target 100: first pass ratio 2.0 with the unready pod left out;
    # second pass (600 + 0) / 600 = 100 % -> in the band -> stay at 2
    pods = [PodSample("a", "ready", 600, 300), PodSample("b", "unready", None, 300)]
    assert resource_utilization_replicas(2, pods, 100).replicas == 2
    # at 300 %: (900 + 0)/600 = 150 % -> ceil(1.5 x 2) = 3
    pods = [PodSample("a", "ready", 900, 300), PodSample("b", "unready", None, 300)]
    assert resource_utilization_replicas(2, pods, 100).replicas == 3
    # scale-down with an unready pod: it is simply dropped: 30 % -> ceil(0.3 x 1) = 1
    pods = [PodSample("a", "ready", 90, 300), PodSample("b", "unready", None, 300)]
    assert resource_utilization_replicas(2, pods, 100).replicas == 1


def test_no_metrics_and_missing_requests_are_errors() -> None:
    with pytest.raises(NoMetrics, match="did not receive metrics"):
        resource_utilization_replicas(2, [PodSample("a", "unready", None, 300)], 80)
    with pytest.raises(NoMetrics, match="no pods"):
        resource_utilization_replicas(2, [], 80)
    with pytest.raises(NoMetrics, match="missing request"):
        resource_utilization_replicas(2, [PodSample("a", "ready", 100, None)], 80)


def test_plain_metrics_average_per_pod_and_object_metrics() -> None:
    # Pods metric: 3 pods at 15, 20, 25 req/s (milli: 15000...), target 10 req/s: avg 20000 -> ratio 2 -> 6
    p = plain_metric_replicas(3, _pods([15000, 20000, 25000]), 10000)
    assert (p.replicas, p.average) == (6, 20000)
    # a missing pod counts as the target on a scale-down: 2 at 5 req/s + 1 missing; ratio 0.5;
    # (5+5+10)/3 = 6.666 -> int 6666 -> 0.6666 -> ceil(0.6666 x 3) = 2
    pods = [*_pods([5000, 5000]), PodSample("m", "missing", None, None)]
    assert plain_metric_replicas(3, pods, 10000).replicas == 2
    # Object Value: 250 req/s at the ingress against a 100 req/s target: ratio 2.5 x 3 ready pods = ceil(7.5) = 8
    assert object_value_replicas(3, 250_000, 100_000, 3).replicas == 8
    assert object_value_replicas(0, 250_000, 100_000, 0).replicas == 3  # from zero: ceil(2.5)
    assert object_value_replicas(3, 105_000, 100_000, 3).replicas == 3  # in the band
    # Object AverageValue: 250 req/s over 10 per pod -> 25 pods; the status shows ceil(250/3 per pod)
    p = object_average_value_replicas(3, 250_000, 10_000)
    assert (p.replicas, p.average) == (25, 83334)


# --------------------------------------------------------------------------------------------- pod groups
def test_group_pods() -> None:
    assert group_pod(now=100, deleting=True) == "ignored"
    assert group_pod(now=100, phase="Failed") == "ignored"
    assert group_pod(now=100, phase="Pending") == "unready"
    assert group_pod(now=100, has_metric=False) == "missing"
    assert group_pod(now=100, cpu=False, ready=False) == "ready"  # readiness only matters for CPU
    assert group_pod(now=100, ready=None) == "unready"
    # within the 5 min CPU initialisation period: ready since t=60 but the sample (t=80, window 30 s)
    # was taken before 60 + 30 -> unready; a sample at t=95 counts
    assert group_pod(now=100, start_time=0, ready_transition=60, metric_time=80, metric_window=30) == "unready"
    assert group_pod(now=100, start_time=0, ready_transition=60, metric_time=95, metric_window=30) == "ready"
    # after the period: a not-ready pod is unready only if it never became ready within 30 s of its start
    assert group_pod(now=400, start_time=0, ready=False, ready_transition=10) == "unready"
    assert group_pod(now=400, start_time=0, ready=False, ready_transition=350) == "ready"


# --------------------------------------------------------------------------------------------- reconcile
def _run(proposals: list[int], *, current: int, behavior: Behavior | None, lo: int = 1, hi: int = 100) -> list[int]:
    """Reconcile every 15 s from t=0 with one metric's proposals; returns spec.replicas after each sync."""
    h = HPAHistory()
    out = []
    for k, p in enumerate(proposals):
        current = reconcile(
            h, now=15.0 * k, current=current, min_replicas=lo, max_replicas=hi, proposals=[p], behavior=behavior
        )
        out.append(current)
    return out


def test_legacy_scale_up_is_capped_at_twice_current_or_four() -> None:
    assert _run([10, 10, 10], current=1, behavior=None) == [4, 8, 10]
    assert _run([50], current=3, behavior=None) == [6]
    assert _run([50], current=3, behavior=None, hi=5) == [5]


def test_legacy_scale_down_waits_for_the_stabilisation_window() -> None:
    # 5 pods at t=0, proposals drop to 2 from t=15: the t=0 recommendation (5) counts while t >= now - 300,
    # so the first scale-down is at t=315 (sync 21)
    seq = _run([5] + [2] * 22, current=5, behavior=None)
    assert seq[:21] == [5] * 21 and seq[21:] == [2, 2]
    # a new HPA cannot go below its starting size for 5 min even if it never recommended it
    assert _run([2] * 22, current=5, behavior=None)[20:] == [5, 2]


def test_behavior_defaults_scale_up_by_max_of_four_pods_and_doubling() -> None:
    # from 2: max(2+4, ceil(2 x 2)) = 6; the t=0 event is not within (15 - 15, 15] -> from 6: max(10, 12) = 12;
    # then 24 but the proposal is 20
    assert _run([20, 20, 20], current=2, behavior=Behavior()) == [6, 12, 20]


def test_behavior_rate_limit_counts_events_within_the_policy_period() -> None:
    up = ScalingRules(0.0, (ScalingPolicy("Pods", 4, 60.0),))
    b = Behavior(scale_up=up)
    # +4 per 60 s: 2 -> 6 at t=0; the +4 event stays in the window until t=60 (strictly after now - 60)
    assert _run([20] * 6, current=2, behavior=b) == [6, 6, 6, 6, 10, 10]


def test_behavior_scale_down_window_and_policies() -> None:
    # default scale-down: the 300 s window counts t > now - 300, so the t=0 samples leave it at t=300 (one sync
    # earlier than the legacy path); 100 % per 15 s allows 10 -> 2 at once
    seq = _run([10] + [2] * 21, current=10, behavior=Behavior())
    assert seq[:20] == [10] * 20 and seq[20:] == [2, 2]
    # no window and 1 pod per 60 s: 5 -> 4 at t=0, then one more each time the last event leaves the period
    down = ScalingRules(0.0, (ScalingPolicy("Pods", 1, 60.0),))
    assert _run([1] * 10, current=5, behavior=Behavior(scale_down=down)) == [4, 4, 4, 4, 3, 3, 3, 3, 2, 2]
    # Disabled: never scales down
    off = ScalingRules(0.0, (ScalingPolicy("Percent", 100, 15.0),), "Disabled")
    assert _run([1] * 4, current=5, behavior=Behavior(scale_down=off)) == [5] * 4
    # min clamp
    assert _run(
        [1] * 2, current=5, behavior=Behavior(scale_down=ScalingRules(0.0, default_scale_down().policies)), lo=3
    ) == [3, 3]


def test_min_max_and_failed_metrics() -> None:
    h = HPAHistory()
    assert reconcile(h, now=0, current=12, min_replicas=1, max_replicas=10, proposals=[50]) == 10
    assert reconcile(HPAHistory(), now=0, current=0, min_replicas=1, max_replicas=10, proposals=[5]) == 0
    assert reconcile(HPAHistory(), now=0, current=1, min_replicas=3, max_replicas=10, proposals=[1]) == 3
    # one of two metrics failed: no scale-down on partial data, a scale-up goes ahead; all failed: no change
    assert reconcile(HPAHistory(), now=0, current=5, min_replicas=1, max_replicas=10, proposals=[None, 3]) == 5
    assert reconcile(HPAHistory(), now=0, current=5, min_replicas=1, max_replicas=20, proposals=[None, 7]) == 7
    assert reconcile(HPAHistory(), now=0, current=5, min_replicas=1, max_replicas=10, proposals=[None]) == 5
    # the max over metrics
    assert reconcile(HPAHistory(), now=0, current=5, min_replicas=1, max_replicas=20, proposals=[3, 8, 6]) == 8


def test_history_stays_bounded() -> None:
    h = HPAHistory()
    cur = 2
    for k in range(2000):
        cur = reconcile(
            h, now=15.0 * k, current=cur, min_replicas=1, max_replicas=50, proposals=[2 + (k % 40)], behavior=Behavior()
        )
    assert len(h.recommendations) <= 22 and len(h.scale_up_events) <= 3 and len(h.scale_down_events) <= 3
