"""HTTP/2 pool limits end to end (real/scenarios/h2-pool: grpc b behind maxConnections 1,
maxRequestsPerConnection 1, http1MaxPendingRequests 1, maxConcurrentStreams 1, 2 ms connect, 5 ms streams,
100 requests/s): the overflow fraction is the closed form of tests/unit/sim/test_cluster_h2.py,
``1 - 1 / (q + lam (C + D))`` with ``q = exp(-lam D)`` (23.5 %), plus the sidecars' small traversal cost."""

from __future__ import annotations

import math

from tests.resilience.helpers import REPO, counters, edge, run


def test_h2_pool_overflows_as_the_closed_form() -> None:
    s = run([str(REPO / "real" / "scenarios" / "h2-pool")], ["LoadProfile.spec.duration=30s"])
    e = edge(s, "a.v1", "b")
    lam, c_lat, d = 100.0, 0.002, 0.005
    expected = 1 - 1 / (math.exp(-lam * d) + lam * (c_lat + d))
    n_uo = e.response_flags["UO"]
    assert e.requests > 2500
    assert abs(n_uo / e.requests - expected) < 0.03, (n_uo / e.requests, expected)
    c = counters(s, "a-v1-0", "outbound|8080||b")
    assert c["upstream_rq_pending_overflow"] == n_uo
    assert c["upstream_cx_overflow"] > 0 and c["upstream_cx_max_requests"] == c["upstream_cx_total"]
