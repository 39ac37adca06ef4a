"""A killed pod's requests in flight are reset, end to end (Scenario ``kill``, control plane, client
sidecar, client app): fixtures/kill-inflight.yaml."""

from __future__ import annotations

from tests.resilience.helpers import counters, edge, fx, run


def test_requests_in_flight_on_a_killed_pod_fail_with_uc_and_are_not_retried() -> None:
    """Every failure is a reset of a request in flight on the dead pod (503 UC, not retried under
    Istio's default retryOn, so client's app answers 500); at 5 requests/s of 2 s over two pods, one
    to ten are in flight on it. Requests sent to it after the kill, before EDS drops it, fail to
    connect and are retried on the other pod (connect-failure), so they succeed."""
    s = run(fx("kill-inflight.yaml"))
    e = edge(s, "client.v1", "server")
    n_uc = e.response_flags.get("UC", 0)
    assert 1 <= n_uc <= 10
    assert e.response_flags == {"UC": n_uc} and e.status_codes.get("503") == n_uc
    assert s.entry.status_codes.get("500") == n_uc
    c = counters(s, "client-v1-0", "outbound|8080||server")
    assert c["upstream_rq_rx_reset"] == n_uc
    assert c["upstream_cx_connect_fail"] == c["upstream_rq_retry"] == c["upstream_rq_retry_success"]
