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


PORT_LEVEL = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: back}
spec:
  host: back
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 3}
    retryBudget: {percent: 25, minRetryConcurrency: 4}
    portLevelSettings:
    - port: {number: 8080}
      connectionPool: {http: {http1MaxPendingRequests: 11, idleTimeout: 30s}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {simple: RANDOM}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      retryBudget: {percent: 50}
      portLevelSettings:
      - port: {number: 8080}
        loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 251}}}
"""


def test_a_port_level_entry_replaces_every_block_and_drops_the_retry_budget() -> None:
    """GetPortLevelTrafficPolicy: the entry for the port is the whole policy; MergeTrafficPolicy then
    lets a subset's set blocks (or its port entry, all four blocks) replace it."""
    m = compile_model(config(CHAIN, PORT_LEVEL))
    top = m.cluster("outbound|8080||back.default.svc.cluster.local")
    assert top.lb_policy == "LEAST_REQUEST" and top.outlier_detection is None
    assert top.circuit_breakers.max_pending_requests == 11 and top.circuit_breakers.retry_budget is None
    assert top.idle_timeout == 30.0
    v1 = m.cluster("outbound|8080|v1|back.default.svc.cluster.local")
    assert v1.lb_policy == "RANDOM" and v1.circuit_breakers.max_pending_requests == 11
    v2 = m.cluster("outbound|8080|v2|back.default.svc.cluster.local")
    assert (v2.lb_policy, v2.maglev_table_size) == ("MAGLEV", 251)
    assert v2.circuit_breakers.max_pending_requests == UINT32_MAX and v2.idle_timeout is None
    assert v2.circuit_breakers.retry_budget is None  # the subset's port entry carries no budget


def _lb(block: str) -> object:
    dr = f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: back}}
spec:
  host: back
  trafficPolicy:
    loadBalancer: {block}
"""
    return compile_model(config(CHAIN, dr)).cluster("outbound|8080||back.default.svc.cluster.local")


def test_load_balancer_policies() -> None:
    """istiod applyLoadBalancer / ApplyRingHashLoadBalancer."""
    c = _lb("{simple: PASSTHROUGH}")
    assert (c.lb_policy, c.discovery) == ("CLUSTER_PROVIDED", "ORIGINAL_DST")
    c = _lb("{consistentHash: {httpHeaderName: x}}")
    assert (c.lb_policy, c.ring_hash_min_ring_size, c.discovery) == ("RING_HASH", 1024, "EDS")
    c = _lb("{consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 64}}}")
    assert (c.lb_policy, c.ring_hash_min_ring_size) == ("RING_HASH", 64)
    c = _lb("{consistentHash: {useSourceIp: true, ringHash: {}}}")
    assert (c.lb_policy, c.ring_hash_min_ring_size) == ("RING_HASH", None)
    c = _lb("{simple: LEAST_CONN}")
    assert c.lb_policy == "LEAST_REQUEST"


def test_invalid_consistent_hash_is_refused() -> None:
    import pytest

    from meshsim.errors import ConfigError

    for block, why in (
        ("{consistentHash: {maglev: {tableSize: 100}}}", "prime"),
        ("{consistentHash: {httpHeaderName: a, useSourceIp: true}}", "only one hash key"),
        ("{simple: RANDOM, consistentHash: {httpHeaderName: a}}", "only one of simple and consistentHash"),
        ("{consistentHash: {httpCookie: {name: ''}}}", "httpCookie"),
    ):
        with pytest.raises(ConfigError, match=why):
            _lb(block)
