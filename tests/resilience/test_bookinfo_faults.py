"""Bookinfo's fault-injection task with Istio's own sample files (reference §7, §2, §1.1)."""

from __future__ import annotations

from .helpers import FIX, TOPO, counters, edge, run


def _paths(fault: str, who: str) -> list[str]:
    return [
        str(TOPO / "bookinfo" / "topology.yaml"),
        str(TOPO / "bookinfo" / "platform"),
        str(TOPO / "bookinfo" / "destination-rule-all.yaml"),
        # jason -> reviews v2 (calls ratings with a 10 s app timeout), everyone else -> reviews v3 (2.5 s)
        str(TOPO / "bookinfo-samples" / "virtual-service-reviews-jason-v2-v3.yaml"),
        str(TOPO / "bookinfo-samples" / f"virtual-service-ratings-test-{fault}.yaml"),
        str(FIX / f"bookinfo-load-{who}.yaml"),
    ]


SKETCH = 0.99  # DDSketch quantiles are within 1% relative accuracy


def test_ratings_delay_jason() -> None:
    """``virtual-service-ratings-test-delay.yaml``: jason's ratings calls get a 7 s injected delay
    (DI) in reviews-v2's sidecar. The delay is not bounded by any route timeout (§7; the ratings route
    has none anyway, §2), and reviews-v2's own 10 s app timeout lets the call succeed after >= 7 s.
    But productpage calls reviews with a 3 s app timeout and one app retry (topology.yaml), so
    jason's reviews call fails after ~2 x 3 s = 6 s, before reviews answers. As in Istio's task, the
    page loads in about 6 s with reviews unavailable: productpage renders without them
    (productpage.py, ``onError: ignore`` in topology.yaml), 200."""
    s = run(_paths("delay", "jason"))
    n = s.entry.requests
    assert n >= 10 and s.entry.incomplete == 0
    assert s.entry.status_codes == {"200": n}
    # ~6 s: two 3 s app timeouts plus productpage's own few ms; certainly below 7 s
    assert 6000.0 <= s.entry.latency_ms.mean.value < 6200.0
    assert s.entry.latency_ms.p99.value < 7000.0
    r = edge(s, "reviews.v2", "ratings", "v1")
    assert r.response_flags == {"DI": r.requests} and r.status_codes == {"200": r.requests}
    assert r.latency_ms.mean.value >= 7000.0
    assert r.latency_cdf_ms[0][1] >= 7000.0 * SKETCH
    calls = {(c.source, c.destination): c for c in s.calls}
    pr = calls[("productpage.v1", "reviews")]
    assert pr.tries == 2 * pr.calls == pr.app_timeouts
    assert ("reviews.v3", "ratings") not in calls


def test_ratings_delay_others_unaffected() -> None:
    """The delay route matches ``end-user: jason`` only (§6, first match wins); everyone else goes to
    reviews v3, whose 2.5 s app timeout on ratings would turn any leaked delay into a failure: all
    succeed, no DI flag, ratings latency far below a second."""
    s = run(_paths("delay", "others"))
    n = s.entry.requests
    assert n > 300 and s.entry.status_codes == {"200": n}
    r = edge(s, "reviews.v3", "ratings", "v1")
    assert r.response_flags == {} and r.status_codes == {"200": r.requests}
    assert r.latency_ms.p99.value < 100.0
    assert s.entry.latency_ms.p99.value < 500.0


def test_ratings_abort_jason() -> None:
    """``virtual-service-ratings-test-abort.yaml``: jason's ratings calls get a local 500 with flag FI
    from reviews-v2's sidecar (§7): no upstream attempt, no retry by the sidecar (aborts happen
    before the router), no traffic on the ratings cluster. reviews-v2 answers 200 without the rating
    ("Ratings service is currently unavailable", ``onError: ignore`` in topology.yaml), so productpage
    needs no retry: one ratings call per page, and every page renders."""
    s = run(_paths("abort", "jason"))
    n = s.entry.requests
    assert s.entry.status_codes == {"200": n}
    r = edge(s, "reviews.v2", "ratings", "v1")
    assert r.requests == n
    assert r.response_flags == {"FI": r.requests} and r.status_codes == {"500": r.requests}
    assert r.attempts == 0 and r.retries == 0
    assert not [
        c
        for c in s.clusters
        if c.proxy.startswith("reviews-v2") and "ratings" in c.cluster and c.counters.get("upstream_rq_total")
    ]
    pr = edge(s, "productpage.v1", "reviews", "v2")
    assert pr.requests == n and pr.retries == 0


def test_ratings_abort_others_unaffected() -> None:
    """Non-jason requests take the second route (no fault): all succeed, no FI."""
    s = run(_paths("abort", "others"))
    n = s.entry.requests
    assert s.entry.status_codes == {"200": n}
    assert edge(s, "reviews.v3", "ratings", "v1").response_flags == {}
