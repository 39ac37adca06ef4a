"""Ingress gateway: Bookinfo through Istio's own bookinfo-gateway.yaml (unmodified)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import ISTIO_SHA256SUMS

from tests.mesh.helpers import BOOKINFO, GATEWAY_YAML, SHORT, fx, run


def test_gateway_file_is_istios_byte_identical() -> None:
    sums = dict(reversed(line.split()) for line in ISTIO_SHA256SUMS.read_text().splitlines() if line.strip())
    assert hashlib.sha256(Path(GATEWAY_YAML).read_bytes()).hexdigest() == sums["networking/bookinfo-gateway.yaml"]


def test_bookinfo_through_its_gateway_has_the_gateway_hop() -> None:
    s = run([*BOOKINFO, GATEWAY_YAML, *fx("gateway-load.yaml")])
    gw = [e for e in s.edges if e.source == "istio-ingressgateway"]
    assert [(e.destination, e.cluster) for e in gw] == [
        ("productpage", "outbound|9080||productpage.default.svc.cluster.local")
    ]
    assert gw[0].requests == s.entry.requests > 900
    assert gw[0].status_codes == {"200": gw[0].requests}
    cl = [c for c in s.clusters if c.proxy == "istio-ingressgateway-0"]
    assert len(cl) == 1 and cl[0].counters["upstream_rq_total"] == s.entry.requests
    assert any(p.proxy == "istio-ingressgateway-0" and p.requests == s.entry.requests for p in s.proxies)


def test_gateway_routes_match_on_the_load_path() -> None:
    # bookinfo's gateway VS matches exact /productpage, prefix /static, ...: "/" matches nothing (404 NR at the gateway)
    s = run([*BOOKINFO, GATEWAY_YAML, *fx("gateway-load.yaml")], ["LoadProfile.spec.path=/"])
    assert s.entry.status_codes == {"404": s.entry.requests}
    assert s.edges[0].response_flags == {"NR": s.entry.requests}
    s = run([*BOOKINFO, GATEWAY_YAML, *fx("gateway-load.yaml")], ["LoadProfile.spec.path=/static/img.png"])
    assert s.entry.status_codes == {"200": s.entry.requests}


def test_gateway_bound_vs_does_not_reach_sidecars_and_mesh_vs_does_not_reach_the_gateway() -> None:
    # the gateway-bound VS (hosts "*") changes nothing for the sidecars: same results without the gateway hop
    plain = run([*BOOKINFO, str(Path(BOOKINFO[0]).parent / "load.yaml")], SHORT)
    with_file = run([*BOOKINFO, str(Path(BOOKINFO[0]).parent / "load.yaml"), GATEWAY_YAML], SHORT)
    assert plain.entry == with_file.entry and plain.edges == with_file.edges
    # a mesh VS on productpage with a fault abort applies to sidecars only, not to the gateway's route
    abort = fx("productpage-abort-mesh.yaml")
    s = run([*BOOKINFO, GATEWAY_YAML, *fx("gateway-load.yaml"), *abort])
    assert s.entry.status_codes == {"200": s.entry.requests}


def test_gateway_replicas_from_load_profile() -> None:
    s = run([*BOOKINFO, GATEWAY_YAML, *fx("gateway-load.yaml")], ["LoadProfile.spec.gatewayReplicas=2"])
    pods = sorted({c.proxy for c in s.clusters if c.proxy.startswith("istio-ingressgateway")})
    assert pods == ["istio-ingressgateway-0", "istio-ingressgateway-1"]
