"""Circuit breaking: Istio's circuit-breaking task (reference §3.1, §3.2, §1.2, §1.6)."""

from __future__ import annotations

from .helpers import counters, edge, fx, run

SERVER = "outbound|8080||server."


def _run(users: int):
    s = run(fx("cb-task.yaml"), [f"LoadProfile.spec.users={users}"])
    return s, edge(s, "front.v1", "server"), counters(s, "front-v1-0", SERVER)


def test_three_closed_loop_clients_overflow_with_uo_and_no_retry() -> None:
    """Reference §3.2: with maxConnections 1 and http1MaxPendingRequests 1, a third concurrent request
    finds the one connection busy and the pending slot taken, so it overflows at once: a local 503
    with flag UO, counted as ``upstream_rq_pending_overflow``. Reference §1.2/§1.3: an Overflow reset
    is never retried, even though the route retries 5xx twice, and is not an upstream request
    (``upstream_rq_total`` counts only attached streams). maxRequestsPerConnection 1 closes every
    connection after one request (``upstream_cx_max_requests``)."""
    s, e, c = _run(3)
    uo = e.response_flags.get("UO", 0)
    assert uo > 0
    assert e.response_flags == {"UO": uo}
    assert e.status_codes == {"200": e.requests - uo, "503": uo}
    assert c["upstream_rq_pending_overflow"] == uo
    # never retried: no retry of any kind; each request is either one upstream try or one overflow
    assert e.retries == 0 and c["upstream_rq_retry"] == 0 and c["upstream_rq_retry_overflow"] == 0
    assert e.attempts + uo == e.requests
    assert c["upstream_rq_total"] == e.attempts == e.requests - uo
    # one request per connection
    assert c["upstream_cx_total"] == c["upstream_cx_max_requests"] == c["upstream_rq_total"]
    # the entry sees front's failure (the app fails the call) for exactly the overflowed requests
    assert s.entry.status_codes.get("500", 0) == uo


def test_two_closed_loop_clients_overflow_while_the_replacement_connection_is_set_up() -> None:
    """Reference §3.2/§3.3, Istio's circuit-breaking task at ``-c 2``: with maxRequestsPerConnection 1
    every request needs a new connection. While it is being set up (TCP + mTLS handshake, 2 ms here)
    the waiting request holds the single pending slot, so the other client's next request overflows
    (Envoy's ``newStreamImpl`` checks pending before ``tryCreateNewConnections``): some 503 UO, never
    retried."""
    s = run(fx("cb-task.yaml", "connect-2ms.yaml"), ["LoadProfile.spec.users=2"])
    e = edge(s, "front.v1", "server")
    c = counters(s, "front-v1-0", SERVER)
    uo = e.response_flags.get("UO", 0)
    assert uo > 0
    assert e.response_flags == {"UO": uo}
    assert c["upstream_rq_pending_overflow"] == uo
    assert e.retries == 0 and c["upstream_rq_retry"] == 0
    assert e.attempts + uo == e.requests


def test_two_closed_loop_clients_fit_when_connections_are_instant() -> None:
    """The mechanism above, switched off: with connection set-up time 0, two concurrent requests fit
    the limits exactly (one on the connection, one pending, attached the instant the connection is
    replaced), so nothing overflows and every request but the first waits in the pending queue."""
    s = run(fx("cb-task.yaml", "mesh-zero.yaml"), ["LoadProfile.spec.users=2"])
    e = edge(s, "front.v1", "server")
    c = counters(s, "front-v1-0", SERVER)
    assert e.requests > 1000
    assert e.response_flags == {} and c["upstream_rq_pending_overflow"] == 0
    # all but the first request and the few at the end of the run (one client already stopped) wait
    assert c["upstream_rq_pending_total"] >= e.requests - 4
    assert c["upstream_cx_max_requests"] == c["upstream_rq_total"] == e.requests
