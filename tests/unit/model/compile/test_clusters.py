"""Cluster building: Istio's defaults and DestinationRule merging (meshsim.model.compile.clusters)."""

from __future__ import annotations

from meshsim.model.compile import compile_model
from meshsim.model.ir import UINT32_MAX

from .support import CHAIN, config

DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: back}
spec:
  host: back
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {http: {http1MaxPendingRequests: 7}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {http: {http2MaxRequests: 9}}
  - name: v2
    labels: {version: v2}
"""


def test_no_destination_rule_gives_istio_defaults() -> None:
    m = compile_model(config(CHAIN))
    c = m.cluster("outbound|8080||back.default.svc.cluster.local")
    assert c.lb_policy == "LEAST_REQUEST" and c.outlier_detection is None
    cb = c.circuit_breakers
    assert (cb.max_connections, cb.max_pending_requests, cb.max_requests, cb.max_retries) == (UINT32_MAX,) * 4
    assert len(c.endpoints) == 3
    assert m.inbound_cluster("back").direction == "inbound"


def test_subset_policy_replaces_the_top_level_block_whole() -> None:
    m = compile_model(config(CHAIN, DR))
    top = m.cluster("outbound|8080||back.default.svc.cluster.local")
    v1 = m.cluster("outbound|8080|v1|back.default.svc.cluster.local")
    v2 = m.cluster("outbound|8080|v2|back.default.svc.cluster.local")
    assert top.lb_policy == v1.lb_policy == "ROUND_ROBIN"
    assert top.circuit_breakers.max_pending_requests == 7
    # the subset's connectionPool replaces the top-level one (Istio MergeTrafficPolicy), so 7 is gone
    assert (v1.circuit_breakers.max_pending_requests, v1.circuit_breakers.max_requests) == (UINT32_MAX, 9)
    assert v2.circuit_breakers.max_pending_requests == 7
    assert len(v1.endpoints) == 2 and len(v2.endpoints) == 1
