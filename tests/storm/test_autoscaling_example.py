"""The storm example with an HPA on the leaf (topologies/storm/autoscaling): scaling out to 6 pods rescues it,
a 2-pod cap does not, because the storm's attempt rate (~9 x 70 req/s) is above what 2 pods serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.model.build import load_and_compile
from meshsim.sim.simulation import Simulation
from meshsim.storm.phase import run_storm_point

REPO = Path(__file__).resolve().parents[2]
MESH = str(REPO / "topologies" / "storm" / "mesh")
HPA = REPO / "topologies" / "storm" / "autoscaling"
LONG = ["LoadProfile.spec.duration=200s"]


@pytest.mark.slow
def test_autoscaling_to_six_pods_recovers() -> None:
    pt = run_storm_point([MESH, str(HPA / "hpa-rescues.yaml")], LONG, seed=1, replications=4, workers=2)
    assert pt.outcomes["recovered"] == 4, pt.outcomes
    assert pt.storm is not None
    model, _ = load_and_compile([MESH, str(HPA / "hpa-rescues.yaml")], LONG)
    res = Simulation(model, seed=1).run()
    assert res.scenario is not None
    changes = [
        (d["t"], d["current"], d["desired"]) for d in res.scenario["autoscaling"] if d["desired"] != d["current"]
    ]
    # the window (0, 30] holds the storm's attempts: the legacy cap allows 1 -> 4, then 4 -> 6 (maxReplicas)
    assert changes[:2] == [(30.0, 1, 4), (45.0, 4, 6)]
    for v in pt.storm.replications:
        assert v.end_queue["leaf.v1"] < 20 and v.end_amplification["mid.v1->leaf"] < 1.1
        assert v.autoscaling is not None and v.autoscaling.rescued
        assert v.autoscaling.summary.startswith("recovered after autoscaling: HPA default/leaf scaled leaf.v1 1 -> 6")
    assert (pt.row()["rescued_by_hpa"], pt.row()["replicas_reached"]) == (4, 6)


@pytest.mark.slow
def test_autoscaling_capped_at_two_pods_stays_metastable() -> None:
    pt = run_storm_point([MESH, str(HPA / "hpa-too-small.yaml")], LONG, seed=1, replications=4, workers=2)
    assert pt.outcomes["metastable"] == 4, pt.outcomes
    assert pt.storm is not None
    for v in pt.storm.replications:
        assert v.end_goodput_rps < 0.1 * v.baseline_goodput_rps
        assert v.autoscaling is not None and not v.autoscaling.rescued
        assert "not enough pods at maxReplicas" in v.autoscaling.summary
    assert (pt.row()["rescued_by_hpa"], pt.row()["replicas_reached"]) == (0, 2)
