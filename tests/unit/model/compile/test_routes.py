"""Route building: matches, consistent-hash keys, retry bases and domains (meshsim.model.compile.routes)."""

from __future__ import annotations

from meshsim.model.compile import compile_model
from meshsim.model.compile.routes import domains_for
from meshsim.model.ir import HashPolicy, HeaderMatcher, StringMatcher
from meshsim.sim.routing import RouteRT, select_route

from .support import CHAIN, config

VS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: back}
spec:
  hosts: [back]
  http:
  - name: canary
    match:
    - name: tester
      headers: {x-canary: {}}
      withoutHeaders: {x-block: {exact: "yes"}, x-legacy: {regex: "*"}}
    route:
    - destination: {host: back, subset: v2}
  - route:
    - destination: {host: back, subset: v1}
"""

DR = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: back}
spec:
  host: back
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    portLevelSettings:
    - port: {number: 8080}
      connectionPool: {tcp: {maxConnections: 5}}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 0s}}}
"""


def _routes(*texts: str) -> list:
    m = compile_model(config(CHAIN, *texts))
    (vh,) = [v for v in m.virtual_hosts if v.host.startswith("back.")]
    return list(vh.routes)


def test_presence_and_without_headers_compile_as_istiod_translates_them() -> None:
    canary, _ = _routes(VS, DR)
    (m,) = canary.matches
    assert m.name == "tester"
    assert m.headers == (
        HeaderMatcher("x-block", StringMatcher("exact", "yes"), invert=True, treat_missing_as_empty=True),
        HeaderMatcher("x-canary", None),
        HeaderMatcher("x-legacy", None, invert=True),
    )


def test_the_simulator_routes_presence_and_without_headers_as_envoy() -> None:
    rts = [RouteRT(r) for r in _routes(VS, DR)]

    def to(headers: dict[str, str]) -> str:
        rt = select_route(rts, "/", "GET", headers, 8080, {})
        assert rt is not None
        return rt.route.clusters[0].cluster.split("|")[2]

    assert to({"x-canary": ""}) == "v2"  # present with an empty value
    assert to({}) == "v1"
    assert to({"x-canary": "1", "x-block": "yes"}) == "v1"
    assert to({"x-canary": "1", "x-block": "no"}) == "v2"
    assert to({"x-canary": "1", "x-legacy": "a"}) == "v1"


def test_hash_keys_follow_hash_for_http_destination() -> None:
    """Subset hash over top-level; a port-level entry without a hash does not hide the top-level one for
    the route (it does for the cluster's LB, which the port entry replaces)."""
    canary, default = _routes(VS, DR)
    assert canary.hash_policy == (HashPolicy("cookie", "session", 0.0, ""),)
    assert default.hash_policy == (HashPolicy("header", "x-user"),)
    # single-destination consistent-hash routes: the mesh default policy without previous_hosts
    assert canary.retry_policy is not None and not canary.retry_policy.previous_hosts
    m = compile_model(config(CHAIN, DR))
    assert m.cluster("outbound|8080||back.default.svc.cluster.local").lb_policy == "LEAST_REQUEST"
    assert m.cluster("outbound|8080|v2|back.default.svc.cluster.local").lb_policy == "RING_HASH"
    # no VirtualService: the default route carries the hash and keeps the predicate
    (vh,) = [v for v in m.virtual_hosts if v.host.startswith("back.")]
    (route,) = vh.routes
    assert route.hash_policy == (HashPolicy("header", "x-user"),)
    assert route.retry_policy is not None and route.retry_policy.previous_hosts


def test_domains_drop_the_bare_name_for_another_namespace() -> None:
    m = compile_model(config(CHAIN))
    (vh,) = [v for v in m.virtual_hosts if v.host.startswith("back.")]
    fqdn = "back.default.svc.cluster.local"
    assert set(vh.domains) == {fqdn, f"{fqdn}.", "back", "back.default.svc", "back.default"}
    assert set(domains_for(vh, "default", "other")) == set(vh.domains) - {"back"}
    assert domains_for(vh, "default", "default") == vh.domains
