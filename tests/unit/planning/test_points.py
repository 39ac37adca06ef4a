"""The planner's cost model: pods by their CPU requests when the CPU model is on, vCPU per replica otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile
from meshsim.planning.points import pod_vcpu, requests_cost

ROOT = Path(__file__).resolve().parents[3]


def test_with_the_cpu_model_pods_cost_their_requests() -> None:
    # topologies/cpu-throttling: each pod's sidecar requests 100m (sidecar.istio.io/proxyCPU), its app nothing
    model, _ = load_and_compile([str(ROOT / "topologies" / "cpu-throttling")], [])
    assert pod_vcpu(model, "frontend.v1", 1.0) == pytest.approx(0.1)
    c = requests_cost(model, {"frontend.v1": 3}, 1.0, 0.35)
    assert c is not None and c.basis == "requests"
    assert c.pods == 4  # 3 frontends and the configured backend
    assert c.replica_vcpu == pytest.approx(0.4) and c.sidecar_vcpu == 0.0 and c.total_vcpu == pytest.approx(0.4)


def test_without_the_cpu_model_there_is_no_requests_cost() -> None:
    model, _ = load_and_compile([str(ROOT / "topologies" / "mm1")], [])
    assert requests_cost(model, {}, 1.0, 0.35) is None
    assert pod_vcpu(model, model.workloads[0].key, 1.5) == 1.5
