"""The shipped trace file written by the real mesh (``topologies/traces/bookinfo-real-zipkin.json``: real
Envoy sidecars' own Zipkin tracer, ``meshsim real run topologies/bookinfo real/scenarios/bookinfo-90-10
--rps 20 --duration 3 --warmup 1 --seed 5 --traces FILE``) imports as Bookinfo with its 90/10 split."""

from __future__ import annotations

from pathlib import Path

from meshsim.importers.graph import build_graph
from meshsim.importers.traces import TraceFile, read_traces

SAMPLE = Path(__file__).resolve().parents[3] / "topologies" / "traces" / "bookinfo-real-zipkin.json"


def test_real_envoy_spans_give_bookinfos_graph() -> None:
    info = TraceFile(str(SAMPLE))
    g = build_graph(read_traces(SAMPLE, info))
    assert info.fmt == "zipkin" and info.unnamed == 0 and info.split == 0
    assert g.proxy_traces == g.traces and g.cyclic == 0 and g.unowned_clients == 0
    assert set(g.versions) == {
        ("productpage", "v1"),
        ("details", "v1"),
        ("reviews", "v1"),
        ("reviews", "v2"),
        ("ratings", "v1"),
    }
    assert dict(g.entry) == {"productpage": g.versions[("productpage", "v1")].spans}
    pp = g.versions[("productpage", "v1")]
    assert {k: c.present for k, c in pp.calls.items()} == {("details", 0): pp.scripted, ("reviews", 0): pp.scripted}
    rv = g.edges[("productpage", "reviews")].versions
    n = rv["v1"] + rv["v2"]
    assert abs(rv["v1"] / n - 0.9) <= 3 * (0.09 / n) ** 0.5  # the VirtualService's 90/10, within 3 binomial SE
    v2 = g.versions[("reviews", "v2")]
    assert v2.calls[("ratings", 0)].present == v2.scripted and not g.versions[("reviews", "v1")].calls
