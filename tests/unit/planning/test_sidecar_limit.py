"""The sidecar CPU limit search (meshsim.planning.sidecar_limit) on the two-service chain of
topologies/cpu-throttling: 200 req/s, 0.29 ms of Envoy CPU per traversal, two traversals per request in the
entry sidecar, so it needs 0.116 cores; below that it cannot keep up at any latency."""

from __future__ import annotations

import pytest

from meshsim.analysis.slo import load_slos
from meshsim.pipeline import load_and_compile
from meshsim.planning.sidecar_limit import limit_overrides, sidecar_cpu_limit
from tests.conftest import TOPOLOGIES

CHAIN = str(TOPOLOGIES / "cpu-throttling")
SLO = str(TOPOLOGIES / "slo" / "cpu-throttling.yaml")


def test_limit_overrides_set_every_deployment_and_keep_requests_at_most_the_limit() -> None:
    sets = limit_overrides([("frontend-v1", 0.1), ("backend-v1", None)], 60)
    model, _ = load_and_compile([CHAIN], sets)
    for s in model.services:
        (w,) = s.workloads
        assert w.proxy_cpu.limit_cores == pytest.approx(0.06)
        assert w.proxy_cpu.request_cores == pytest.approx(0.06)  # 100m lowered to the limit


def test_the_search_brackets_the_smallest_limit_that_holds() -> None:
    r = sidecar_cpu_limit([CHAIN], load_slos([SLO]), ["LoadProfile.spec.duration=10s"], replications=2)
    assert r.limit_m is not None and r.failed_at_m is not None
    assert r.failed_at_m < r.limit_m <= 1.05 * r.failed_at_m + 1
    # the entry sidecar's demand is 116m: a limit at or below it saturates, so the answer lies above it
    assert r.limit_m > 116
    assert r.deployments == ["backend-v1", "frontend-v1"] and r.untouched == []
    by_step = {t.action: t.ok for t in r.trace}
    assert by_step["sidecar limit 2000m"] and not by_step["sidecar limit 10m"]
    assert len(r.trace) <= 12
