"""A HorizontalPodAutoscaler in the simulator, against the hand computation of
``tests/scenario/fixtures/hpa.yaml`` (constant arrivals, so every window count is exact to an arrival)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.model.build import load_and_compile
from meshsim.model.errors import CompileError
from meshsim.sim.simulation import Simulation

FIX = Path(__file__).resolve().parents[2] / "scenario" / "fixtures" / "hpa.yaml"


def _run() -> tuple[list[dict], dict[float, int]]:
    model, _ = load_and_compile([str(FIX)], [])
    sim = Simulation(model, seed=3)
    seen: dict[float, int] = {}

    def probe():  # requests the first added pod has received, at given times
        for t in (85.0, 85.64, 85.7, 86.5):
            yield sim.env.timeout(t - sim.env.now)
            rep = sim.pods.replicas.get("server-v1-1")
            seen[t] = rep.sidecar.inbound.c.upstream_rq_total if rep is not None else -1

    sim.env.process(probe())
    res = sim.run()
    assert res.scenario is not None
    return res.scenario["autoscaling"], seen


def test_step_in_load_scales_up_at_the_first_sync_after_the_band_and_down_after_the_window() -> None:
    d, seen = _run()
    at = {x["t"]: x for x in d}
    assert sorted(at) == [15.0 * k for k in range(37)]  # a reconcile at 0 and every 15 s
    # no sample before one full 30 s metric window: the controller reports no metrics and keeps 1 pod
    assert at[0.0]["recommendation"] is None and at[15.0]["recommendation"] is None
    assert "did not receive metrics" in at[0.0]["metrics"][0]["error"]
    # 20 req/s against a 25 req/s target: 0.8, outside the band but already at minReplicas
    assert [at[t]["desired"] for t in (30.0, 45.0, 60.0)] == [1, 1, 1]
    # the step to 100 req/s at 60 s: the window (45, 75] averages (15 x 20 + 15 x 100) / 30 = 60 req/s
    # (less the few requests still between the client and the server's inbound cluster at the window's edges
    # and the rate switch: 5 at most), 2.4 x the target -> ceil(2.4 x 1) = 3, under the legacy cap max(2 x 1, 4)
    assert abs(at[75.0]["metrics"][0]["value"] - 60.0) <= 5 / 30
    assert (at[75.0]["current"], at[75.0]["desired"]) == (1, 3)
    # the two new pods are Ready 10 s later (85 s) and reach the client's EDS 0.65 s after that
    # (EndpointSlice 0.5 s + debounce 0.1 s + init 0.02 s + propagation 0.03 s): no request before 85.65 s
    assert seen[85.0] == 0 and seen[85.64] == 0 and seen[86.5] > 0
    # at 90 s they are Ready but have no full window (missing): on a scale-up they count as 0, so the one
    # pod's 90 req/s gives (90 + 0 + 0) / 3 / 25 = 1.2 -> ceil(1.2 x 3) = 4
    assert at[90.0]["ready"] == 3 and at[90.0]["recommendation"] == 4 and at[90.0]["desired"] == 4
    # back to 20 req/s from 120 s: recommendations fall at once, but the legacy downscale window keeps the
    # highest one of the last 300 s: 4 (t=120) until 420, 3 (t=135) at 435, then 1
    assert all(at[t]["desired"] == 4 for t in (150.0, 300.0, 420.0))
    assert at[120.0]["recommendation"] == 4 and at[135.0]["recommendation"] == 3
    assert (at[435.0]["desired"], at[450.0]["desired"], at[465.0]["current"]) == (3, 1, 1)


def test_same_seed_same_decisions() -> None:
    assert _run()[0] == _run()[0]


def test_cpu_utilisation_target_reads_the_cpu_model() -> None:
    """tests/scenario/fixtures/hpa-cpu.yaml: 100 req/s x (5 ms app + 0.15 ms sidecar) = 515m used of 300m
    requested (app 200m + Istio's 100m sidecar default), ``int(515 x 100 / 300)`` = 171 %; against 50 % the
    ratio 3.42 gives ceil(3.42 x 1) = 4 pods at the first sync with a full 30 s window, within the legacy cap
    max(2 x 1, 4)."""
    model, _ = load_and_compile([str(FIX.parent / "hpa-cpu.yaml")], [])
    res = Simulation(model, seed=1).run()
    assert res.scenario is not None
    at = {d["t"]: d for d in res.scenario["autoscaling"]}
    assert at[15.0]["recommendation"] is None  # no full window yet
    assert at[30.0]["metrics"][0]["value"] == 171.0 and at[30.0]["metrics"][0]["target"] == 50.0
    assert (at[30.0]["current"], at[30.0]["desired"]) == (1, 4)


def test_cpu_metric_with_the_cpu_model_turned_off_is_refused() -> None:
    """The same HPA with the CPU model forced off: nothing observes CPU, so the compile says so (exit 2)."""
    with pytest.raises(CompileError, match="needs the CPU model"):
        load_and_compile([str(FIX.parent / "hpa-cpu.yaml")], ["MeshSettings.spec.cpu.enabled=false"])


def test_a_readiness_probe_delays_the_new_pods_first_request() -> None:
    """tests/scenario/fixtures/hpa-probe.yaml: the pods added at 75 s are Ready at 105 s (probe ticks every 10 s
    from creation, the first counted 15 s in rounds up to 20 s, two successes needed) and reach the client's EDS
    0.65 s later; with the 2 s grace period the pods a scale-down deletes stop answering 2 s after it."""
    model, _ = load_and_compile([str(FIX), str(FIX.parent / "hpa-probe.yaml")], [])
    sim = Simulation(model, seed=3)
    seen: dict[float, int] = {}

    def probe():  # type: ignore[no-untyped-def]
        for t in (95.7, 105.0, 105.64, 106.5):
            yield sim.env.timeout(t - sim.env.now)
            seen[t] = sim.pods.replicas["server-v1-1"].sidecar.inbound.c.upstream_rq_total

    sim.env.process(probe())
    res = sim.run()
    assert res.scenario is not None
    at = {x["t"]: x for x in res.scenario["autoscaling"]}
    assert (at[75.0]["current"], at[75.0]["desired"]) == (1, 3)
    assert at[90.0]["ready"] == 1 and at[105.0]["ready"] == 3  # not Ready at 90 s, Ready at 105 s
    assert seen[95.7] == seen[105.0] == seen[105.64] == 0 and seen[106.5] > 0
    gone = {(e["pod"], e["deleted"], e["gone"]) for e in sim.pods.terminated}
    assert all(g == d + 2.0 for _, d, g in gone) and len(gone) >= 1


def test_pods_a_scale_down_deletes_terminate_after_the_sidecar_drain() -> None:
    """hpa.yaml (no Deployment: Istio's 5 s terminationDrainDuration before Kubernetes' 30 s grace): the pods
    deleted at 435 s (4 -> 3) and 450 s (3 -> 1) stop answering 5 s later, the highest-numbered first."""
    model, _ = load_and_compile([str(FIX)], [])
    sim = Simulation(model, seed=3)
    sim.run()
    got = [(e["pod"], e["deleted"], e["gone"]) for e in sim.pods.terminated]
    assert got == [
        ("server-v1-3", 435.0, 440.0),
        ("server-v1-1", 450.0, 455.0),
        ("server-v1-2", 450.0, 455.0),
    ]
