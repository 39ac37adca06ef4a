"""meshsim.planning.hpa on tests/scenario/fixtures/hpa-plan.yaml (a spike above one pod's capacity): the target
ladder at minReplicas 1 fails (the spike outruns the scale-up), one more pod of floor meets the SLO, and the
cheapest point is the highest target there, which never scales: maxReplicas = the 2 pods it ran."""

from __future__ import annotations

from pathlib import Path

from meshsim.analysis.slo import load_slos
from meshsim.model.build import load_and_compile
from meshsim.planning.hpa import HPASetting, hpa_overrides, plan_hpa

FIX = str(Path(__file__).resolve().parents[2] / "scenario" / "fixtures" / "hpa-plan.yaml")


def test_the_cheapest_hpa_setting_meeting_the_slo() -> None:
    p = plan_hpa([FIX], load_slos([FIX]), replications=1, workers=1, criterion="point")
    assert p.feasible
    assert [t.action for t in p.trace] == [
        "minReplicas +0, target x1.5",
        "minReplicas +0, target x1.25",
        "minReplicas +0, target x1",
        "minReplicas +0, target x0.75",
        "minReplicas +0, target x0.5",
        "minReplicas +1, target x0.5",
        "minReplicas +1, target x1.5",
    ]
    assert [t.ok for t in p.trace] == [False] * 5 + [True, True]
    assert p.settings == [HPASetting("default/server", 2, 2, 60.0)]
    chosen = p.trace[-1]
    assert p.cost_vcpu == chosen.cost_vcpu and chosen.cost_vcpu < p.trace[5].cost_vcpu
    assert chosen.mean_pods == {"default/server": 2.0} and chosen.peak_pods == {"default/server": 2}
    assert p.configured == [HPASetting("default/server", 1, 6, 40.0)]


def test_overrides_name_the_hpa_fields() -> None:
    model, _ = load_and_compile([FIX], [])
    h = model.autoscalers[0]
    assert hpa_overrides(h, HPASetting("default/server", 2, 4, 30.0)) == [
        "HorizontalPodAutoscaler/server.spec.minReplicas=2",
        "HorizontalPodAutoscaler/server.spec.maxReplicas=4",
        "HorizontalPodAutoscaler/server.spec.metrics[0].pods.target.averageValue=30000m",
    ]
    changed, _ = load_and_compile([FIX], hpa_overrides(h, HPASetting("default/server", 2, 4, 30.0)))
    c = changed.autoscalers[0]
    assert (c.min_replicas, c.max_replicas, c.metrics[0].target) == (2, 4, 30000)
