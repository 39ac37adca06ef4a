"""meshsim.analysis.verdict: how a replication's HorizontalPodAutoscalers bear on its storm verdict, from the
raw HPA reports the simulator writes (``Autoscaler.report``); hand-made reports, so each case is exact."""

from __future__ import annotations

from typing import Any

from meshsim.analysis.verdict import Trigger, autoscaling_effect
from meshsim.metrics.results import StormVerdict

TRIG = Trigger(20.0, 25.0, "slow leaf.v1 x2")


def _verdict(verdict: str, recovered_at: float | None = None) -> StormVerdict:
    return StormVerdict(
        replication=0,
        verdict=verdict,
        recovered_at_s=recovered_at,
        baseline_goodput_rps=70.0,
        end_goodput_rps=70.0,
        baseline_p99_ms=10.0,
        end_p99_ms=10.0,
    )


def _report(top: int, routable: float | None, max_replicas: int = 6) -> dict[str, Any]:
    steps = [(0.0, 1, 1, 1)]
    scalings = []
    if top > 1:
        steps += [(30.0, top, top, 1), (40.0, top, top, top)]
        scalings.append({"decided": 30.0, "from": 1, "to": top, "ready": 40.0, "routable": routable})
    return {
        "hpa": "default/leaf",
        "workload": "leaf.v1",
        "min": 1,
        "max": max_replicas,
        "steps": steps,
        "scalings": scalings,
    }


def test_recovered_after_the_new_pods_were_routable_is_rescued() -> None:
    e = autoscaling_effect([_report(6, 40.65)], _verdict("recovered", 60.0), TRIG, 5.0)
    assert e.rescued
    h = e.hpas[0]
    assert (h.replicas_before, h.replicas_reached, h.maxReplicas, h.first_scale_up_s, h.routable_s) == (
        1,
        6,
        6,
        30.0,
        40.65,
    )
    assert e.summary == (
        "recovered after autoscaling: HPA default/leaf scaled leaf.v1 1 -> 6 (its maxReplicas), "
        "new pods routable from 40.6s; healthy from 60s"
    )


def test_recovered_before_the_new_pods_were_routable_is_not_rescued() -> None:
    e = autoscaling_effect([_report(4, 40.65)], _verdict("recovered", 30.0), TRIG, 5.0)
    assert not e.rescued and e.summary.startswith("recovered without autoscaling's help: ")
    assert "1 -> 4 of at most 6" in e.summary


def test_metastable_at_max_replicas_says_there_were_not_enough_pods() -> None:
    e = autoscaling_effect([_report(2, 40.65, max_replicas=2)], _verdict("metastable"), TRIG, 5.0)
    assert not e.rescued
    assert e.summary.startswith("metastable despite autoscaling (not enough pods at maxReplicas): ")


def test_metastable_short_of_max_replicas_says_autoscaling_did_not_catch_up() -> None:
    e = autoscaling_effect([_report(3, None)], _verdict("metastable"), TRIG, 5.0)
    assert "autoscaling did not catch up" in e.summary and "routable" not in e.summary


def test_no_scale_up() -> None:
    e = autoscaling_effect([_report(1, None)], _verdict("metastable"), TRIG, 5.0)
    assert e.summary == "metastable, no scale-up: HPA default/leaf kept leaf.v1 at 1 pod(s)"
    assert e.hpas[0].first_scale_up_s is None


def test_a_verdict_without_autoscaling_keeps_its_json() -> None:
    assert "autoscaling" not in _verdict("stable").model_dump(mode="json")
