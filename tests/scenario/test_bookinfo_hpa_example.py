"""topologies/bookinfo-hpa: the HPAs on reviews scale up during the spike, each scale-up routable 10.65 s
(10 s start-up + 0.5 s EndpointSlice + debounce and push) after the decision, and down after the 60 s window."""

from __future__ import annotations

from pathlib import Path

from meshsim.metrics.scenario_summary import scenario_result
from meshsim.model.build import load_and_compile
from meshsim.sim.simulation import Simulation

TOPO = Path(__file__).resolve().parents[2] / "topologies"
PATHS = [
    str(TOPO / "bookinfo" / "topology.yaml"),
    str(TOPO / "bookinfo" / "platform"),
    str(TOPO / "bookinfo" / "destination-rule-all.yaml"),
    str(TOPO / "bookinfo-hpa"),
]


def test_reviews_scales_with_the_spike_and_back() -> None:
    model, _ = load_and_compile(PATHS, [])
    res = scenario_result(model, [Simulation(model, seed=1).run()])
    assert res is not None
    by = {a.workload: a for a in res.autoscalers}
    assert sorted(by) == ["reviews.v1", "reviews.v2", "reviews.v3"]
    for a in by.values():
        ups = [s for s in a.scales if s.to_replicas > s.from_replicas]
        downs = [s for s in a.scales if s.to_replicas < s.from_replicas]
        assert a.peak_replicas >= 3 and ups and downs
        assert all(s.time_to_scale_s is not None and 10.6 <= s.time_to_scale_s <= 10.75 for s in ups)
        # the spike ends at 150 s: no scale-down before the 60 s window after the last high recommendation
        assert all(s.decided_s >= 150.0 + 60.0 for s in downs)
