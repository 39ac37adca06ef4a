"""The simulator follows the corrected translation on the audit's reproductions (inputs in ``_audit/``):
a port-level entry without ``outlierDetection`` leaves its port without ejections, and a VirtualService
``retries`` block does not inherit the mesh default's ``retryOn``."""

from __future__ import annotations

from pathlib import Path

from scipy import stats

from meshsim.pipeline import load_and_compile, simulate

AUDIT = Path(__file__).resolve().parent / "_audit"


def _run(*names: str):  # noqa: ANN202
    model, _ = load_and_compile([str(AUDIT / n) for n in names])
    return model, simulate(model, seed=3, replications=1, workers=1)


def test_a_port_level_entry_without_outlier_detection_ejects_nothing() -> None:
    """istiod GetPortLevelTrafficPolicy: the port entry (connectionPool only) replaces the top-level
    outlierDetection, so the always-503 pod is never ejected and keeps its third of the requests."""
    model, s = _run("port-level-inherit.yaml", "port-level-inherit-load.yaml")
    name = "outbound|8080||server.default.svc.cluster.local"
    assert model.cluster(name).outlier_detection is None
    assert model.cluster(name).circuit_breakers.max_pending_requests == 1000
    (cl,) = [c for c in s.clusters if c.proxy.startswith("front") and c.cluster == name]
    assert cl.counters["outlier_detection.ejections_enforced_total"] == 0
    (e,) = [e for e in s.edges if e.source.startswith("front") and e.destination == "server"]
    failed = round(e.requests * (1 - e.success_rate.value))
    lo, hi = stats.binom.interval(0.999, e.requests, 1 / 3)  # P2C over 3 equal pods: a third to the bad one
    assert lo <= failed <= hi


def test_a_retries_block_does_not_inherit_the_mesh_default_retry_on() -> None:
    """Istio converts b's block (attempts 1) from its built-in retryOn, which does not retry 503: none of
    b's 20 % 503s is retried, whatever the mesh default says."""
    for mesh in ("mesh-default-retry.yaml", "mesh-default-retry-attempts0.yaml"):
        model, s = _run(mesh)
        (vh,) = [v for v in model.virtual_hosts if v.host.startswith("b.")]
        rp = vh.routes[0].retry_policy
        assert rp is not None and rp.num_retries == 1 and "5xx" not in rp.retry_on
        (e,) = [e for e in s.edges if e.source.startswith("a") and e.destination == "b"]
        assert e.retries == 0 and e.attempts == e.requests
        lo, hi = stats.binom.interval(0.999, e.requests, 0.8)
        assert lo <= round(e.requests * e.success_rate.value) <= hi
