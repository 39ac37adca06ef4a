"""meshsim.metrics.scenario_summary: an HPA's replicas over time and time to scale in ``summary.json``, on
``tests/scenario/fixtures/hpa.yaml`` + ``hpa-probe.yaml`` (hand computation in those files)."""

from __future__ import annotations

from pathlib import Path

from meshsim.metrics.results import ScenarioResult
from meshsim.metrics.scenario_summary import scenario_result
from meshsim.model.build import load_and_compile
from meshsim.sim.simulation import Simulation

FIX = Path(__file__).resolve().parents[2] / "scenario" / "fixtures"


def _result(*extra: str) -> ScenarioResult:
    model, _ = load_and_compile([str(FIX / "hpa.yaml"), *(str(FIX / e) for e in extra)], [])
    res = scenario_result(model, [Simulation(model, seed=3).run()])
    assert res is not None
    return res


def test_replicas_over_time_and_time_to_scale() -> None:
    """Decided at 75 s (1 -> 3), Ready at 105 s (probe), in the client's EDS at 105.65 s: 30.65 s to scale.
    The replica steps follow: desired 3 at once, Ready 1 until 105 s."""
    a = _result("hpa-probe.yaml").autoscalers[0]
    assert (a.hpa, a.workload, a.minReplicas, a.maxReplicas) == ("default/server", "server.v1", 1, 10)
    first = a.scales[0]
    assert (first.decided_s, first.from_replicas, first.to_replicas) == (75.0, 1, 3)
    assert (first.ready_s, first.routable_s, first.time_to_scale_s) == (105.0, 105.65, 30.65)
    steps = [(r.t_s, r.desiredReplicas, r.currentReplicas, r.readyReplicas) for r in a.replicas]
    assert steps[:3] == [(0.0, 1, 1, 1), (75.0, 3, 3, 1), (90.0, 4, 4, 1)]
    assert (105.0, 4, 4, 3) in steps and a.peak_replicas == 4 and a.max_reached_s is None


def test_scale_down_shows_the_stabilisation_wait() -> None:
    """hpa.yaml: recommendations fall to 1 from 150 s but the 300 s window holds 4 and then 3: 4 -> 3 at 435 s
    (every recommendation <= 3 since 135 s) and 3 -> 1 at 450 s (<= 1 since 150 s)."""
    downs = [s for s in _result().autoscalers[0].scales if s.to_replicas < s.from_replicas]
    assert [(s.decided_s, s.to_replicas, s.recommended_s) for s in downs] == [(435.0, 3, 135.0), (450.0, 1, 150.0)]


def test_no_autoscalers_key_without_an_hpa() -> None:
    """Runs without an HPA keep their summary.json as it was."""
    r = ScenarioResult(interval_s=1.0, series=[], events=[], pushes=[])
    assert "autoscalers" not in r.model_dump(mode="json") and "autoscaling" in r.model_dump(mode="json")
