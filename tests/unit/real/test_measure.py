"""The real summary counts requests as the simulator does: local replies are requests without an attempt."""

from __future__ import annotations

from meshsim.pipeline import load_and_compile
from meshsim.real.measure import _edges
from tests.conftest import ROOT

ONE_SLOW = str(ROOT / "tests" / "fixtures" / "valid" / "one-slow-replica.yaml")


def test_local_replies_are_requests_without_attempts() -> None:
    """90 attempts of which 10 retries, 5 pool overflows (UO), 3 with no healthy host (UH) and 12 fault-filter
    aborts the app saw (FI): 100 requests, 90 attempts."""
    model, _ = load_and_compile([ONE_SLOW])
    (cluster,) = [c.name for c in model.clusters if c.service == "backend"]
    per_edge = {
        ("frontend.v1", cluster): {
            "upstream_rq_total": 90.0,
            "upstream_rq_retry": 10.0,
            "upstream_rq_pending_overflow": 5.0,
            "upstream_cx_none_healthy": 3.0,
        }
    }
    apps = {"frontend-v1-0": {"fault_aborts": {"backend": 12}}}
    (edge,) = _edges(model, {}, apps, per_edge, None)
    assert (edge.requests, edge.attempts, edge.retries) == (100, 90, 10)
    assert edge.amplification == 0.9
    assert edge.response_flags.get("FI") == 12 and edge.response_flags.get("UH") == 3
