"""Call-graph inference on hand-built traces: concurrency, retries, errors, self time, cycles."""

from __future__ import annotations

import itertools

from meshsim.importers.graph import build_graph
from meshsim.importers.traces import RawSpan

_ids = itertools.count(1)


def sp(
    kind: str,
    service: str,
    start: float,
    dur: float,
    parent: str = "",
    status: int = 200,
    dest: str | None = None,
    version: str = "v1",
    pod: str | None = None,
) -> RawSpan:
    return RawSpan(
        f"{next(_ids):016x}",
        parent,
        start,
        dur,
        kind,
        True,
        service,
        version,
        pod or f"{service}-0",
        status,
        status >= 500 or status == 0,
        dest,
    )


def hop(caller: RawSpan, dest: str, start: float, dur: float, status: int = 200, served: bool = True) -> list[RawSpan]:
    """A CLIENT span of ``caller`` to ``dest`` and (if ``served``) the SERVER span it reached."""
    c = sp("client", caller.service, start, dur, caller.span_id, status, dest)
    return [c] + ([sp("server", dest, start + 100, dur - 200, c.span_id, status)] if served else [])


def test_concurrent_and_sequential_calls_probability_and_self_time() -> None:
    traces = []
    for i in range(10):
        root = sp("server", "a", 0, 10_000)
        spans = [root, *hop(root, "b", 1_000, 3_000), *hop(root, "c", 2_000, 3_000)]  # b and c overlap
        if i < 4:
            spans += hop(root, "d", 6_000, 2_000)  # after both, in 4 of 10 requests
        traces.append(spans)
    g = build_graph(traces)
    vs = g.versions[("a", "v1")]
    assert vs.spans == vs.scripted == 10
    assert {k: c.present for k, c in vs.calls.items()} == {("b", 0): 10, ("c", 0): 10, ("d", 0): 4}
    assert vs.overlap[(("b", 0), ("c", 0))] == 10
    assert vs.overlap[(("b", 0), ("d", 0))] == 0
    # self time: 10 ms minus the union of [1, 4] and [2, 5] ms (4 ms), minus d's 2 ms when present
    assert sorted(round(x * 1e6) for x in vs.self_times) == [4000] * 4 + [6000] * 6
    assert list(g.versions[("b", "v1")].self_times) == [0.0028] * 10  # a leaf: its whole SERVER span


def test_a_repeated_call_after_a_failure_is_an_app_retry_and_errors_are_own_or_passed_on() -> None:
    traces = []
    for i in range(10):
        root = sp("server", "a", 0, 20_000, status=500 if i == 0 else 200)
        spans = [root]
        if i == 0:  # b fails twice: a passes the error on (not an own error of a)
            spans += hop(root, "b", 1_000, 2_000, 503) + hop(root, "b", 4_000, 2_000, 503)
        elif i < 4:  # b fails once, the retry succeeds
            spans += hop(root, "b", 1_000, 2_000, 503) + hop(root, "b", 4_000, 2_000)
        else:
            spans += hop(root, "b", 1_000, 2_000)
        traces.append(spans)
    root = sp("server", "a", 0, 500, status=500)  # fails by itself, no calls
    traces.append([root])
    g = build_graph(traces)
    vs = g.versions[("a", "v1")]
    assert (vs.spans, vs.own_errors, vs.scripted) == (11, 1, 10)
    c = vs.calls[("b", 0)]
    assert (c.present, c.retried, c.max_retries, c.failed) == (10, 4, 1, 1)
    assert ("b", 1) not in vs.calls  # the retry is not a second call site
    assert g.versions[("b", "v1")].own_errors == 5  # b's five 503s are b's own


def test_a_trace_whose_parents_form_a_cycle_is_skipped_and_counted() -> None:
    a = sp("server", "a", 0, 1_000)
    b = sp("client", "a", 10, 500, parent="x")
    b.parent, a.parent = a.span_id, b.span_id
    good = sp("server", "a", 0, 1_000)
    g = build_graph([[a, b], [good]])
    assert g.cyclic == 1 and g.versions[("a", "v1")].spans == 1


def test_a_client_span_that_reached_no_server_takes_its_destination_from_upstream_cluster() -> None:
    root = sp("server", "a", 0, 5_000)
    spans = [root, *hop(root, "b", 1_000, 1_000, status=503, served=False)]
    g = build_graph([spans])
    assert g.edges[("a", "b")].calls == 1 and g.edges[("a", "b")].errors == 1
    assert ("b", "v1") not in g.versions  # no SERVER span of b was seen


def test_gateway_spans_are_walked_through_and_unpropagated_calls_are_counted() -> None:
    gw = sp("server", "istio-ingressgateway", 0, 10_000)
    gw.gateway = True
    gwc = sp("client", "istio-ingressgateway", 100, 9_800, gw.span_id, dest="productpage")
    gwc.gateway = True
    pp = sp("server", "productpage", 200, 9_600, gwc.span_id)
    lost = sp("client", "productpage", 1_000, 1_000, dest="details")  # the app dropped the trace headers
    g = build_graph([[gw, gwc, pp], [lost]])
    assert g.entry == {"productpage": 1} and set(g.versions) == {("productpage", "v1")}
    assert g.gateway_spans == 2 and g.unowned_clients == 1
