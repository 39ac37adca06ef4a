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


NR_MESH = """
apiVersion: isotope.mock/v1alpha1
kind: MockServiceGraph
services:
- name: front
  isEntrypoint: true
  script: [{call: back}, {call: other}]
- name: back
- name: other
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: back}
spec:
  hosts: [back]
  http:
  - match: [{headers: {x-canary: {exact: "1"}}}]
    route: [{destination: {host: back}}]
"""


def _nr_model(*extra: str):  # type: ignore[no-untyped-def]
    from meshsim.model.compile import compile_model
    from tests.unit.model.compile.support import config

    return compile_model(config(NR_MESH, *extra))


def test_no_route_replies_are_requests_on_an_edge_without_cluster() -> None:
    """Envoy's ``http.outbound_<port>.no_route`` delta of the client sidecar: requests with no attempt, on the
    destination whose virtual host can miss (back has a header match only; other has a catch-all route)."""
    from meshsim.real.measure import _no_route_edges

    model = _nr_model()
    before = {"front-v1-0": {"http.outbound_15001.no_route": 3.0}}
    after = {"front-v1-0": {"http.outbound_15001.no_route": 10.0, "http.inbound_8080.no_route": 99.0}}
    findings: list[str] = []
    (edge,) = _no_route_edges(model, before, after, findings)
    assert (edge.source, edge.destination, edge.cluster, edge.subset) == ("front.v1", "back", "", "")
    assert (edge.requests, edge.attempts, edge.amplification) == (7, 0, 0.0)
    assert edge.response_flags == {"NR": 7} and edge.status_codes == {"404": 7} and not findings
    assert _no_route_edges(model, after, after, findings) == []


def test_no_route_destination_that_cannot_be_told_is_empty_and_said() -> None:
    from meshsim.real.measure import _no_route_edges

    other_vs = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other}
spec:
  hosts: [other]
  http:
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: other}}]
"""
    findings: list[str] = []
    (edge,) = _no_route_edges(_nr_model(other_vs), {}, {"front-v1-0": {"http.outbound_15001.no_route": 2.0}}, findings)
    assert edge.destination == "" and edge.requests == 2
    assert findings == ["2 request(s) of front.v1 got 404 NR for a service that cannot be told apart"]
