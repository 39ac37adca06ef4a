"""mTLS translation: transport sockets follow the model's PeerAuthentication / DR tls.mode decision."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from meshsim.config import load
from meshsim.model import compile_model
from meshsim.xds import build_all, plan_ports
from meshsim.xds.common import TYPE_CLUSTER, TYPE_ENDPOINT, TYPE_LISTENER
from meshsim.xds.tls import client_sends_mtls

REPO = Path(__file__).resolve().parents[2]
SCEN = str(REPO / "real" / "scenarios" / "mtls")
VAR = REPO / "real" / "variants" / "mtls"


def _snaps(*variants: str) -> dict[str, Any]:
    model = compile_model(load([SCEN, *(str(VAR / v) for v in variants)]))
    return build_all(model, plan_ports(model))


def _cluster(snap: Any, prefix: str) -> dict[str, Any]:
    return next(c for c in snap.resources[TYPE_CLUSTER] if c["name"].startswith(prefix))


def _inbound(snap: Any) -> dict[str, Any]:
    return next(v for v in snap.resources[TYPE_LISTENER] if v["name"] == "virtualInbound")


def test_client_decision_matches_tls_state() -> None:
    assert client_sends_mtls(None, "PERMISSIVE") and client_sends_mtls(None, "STRICT")
    assert not client_sends_mtls(None, "DISABLE")
    assert not client_sends_mtls("DISABLE", "STRICT")  # refused by the server: 503 UC
    assert client_sends_mtls("ISTIO_MUTUAL", "DISABLE")  # refused by the server


def test_strict_back_permissive_front() -> None:
    s = _snaps("strict.yaml")
    out = _cluster(s["front-v1-0"], "outbound|8080||back")
    ts = out["transport_socket"]["typed_config"]
    assert ts["@type"].endswith("UpstreamTlsContext")
    ctx = ts["common_tls_context"]
    assert ctx["tls_certificates"][0]["certificate_chain"]["filename"] == "/etc/certs/front-v1-0/cert-chain.pem"
    assert ctx["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]["exact"] == (
        "spiffe://cluster.local/ns/default/sa/default"
    )
    back = _inbound(s["back-v1-0"])
    assert len(back["filter_chains"]) == 1 and "listener_filters" not in back
    assert back["filter_chains"][0]["transport_socket"]["typed_config"]["require_client_certificate"] is True
    front = _inbound(s["front-v1-0"])  # PERMISSIVE: the load generator's plaintext and mTLS both accepted
    assert [fc["filter_chain_match"]["transport_protocol"] for fc in front["filter_chains"]] == ["tls", "raw_buffer"]
    assert front["listener_filters"][0]["name"] == "envoy.filters.listener.tls_inspector"


def test_disable_is_plaintext_everywhere() -> None:
    for snap in _snaps("disable.yaml", "no-keepalive.yaml").values():
        assert all("transport_socket" not in c for c in snap.resources[TYPE_CLUSTER])
        assert all("transport_socket" not in fc for fc in _inbound(snap)["filter_chains"])


def test_mixed_cluster_uses_transport_socket_matches() -> None:
    model = compile_model(load([SCEN]))
    svcs = []
    for svc in model.services:  # a second back pod whose workload is DISABLE
        if svc.name == "back":
            w = svc.workloads[0]
            w2 = dataclasses.replace(w, version="v2", mtls_mode="DISABLE")
            e2 = dataclasses.replace(svc.endpoints[0], id="back-v2-0", version="v2")
            svc = dataclasses.replace(svc, workloads=(w, w2), endpoints=(*svc.endpoints, e2))
        svcs.append(svc)
    clusters = tuple(
        dataclasses.replace(c, endpoints=(*c.endpoints, "back-v2-0")) if c.service == "back" and not c.subset else c
        for c in model.clusters
    )
    model = dataclasses.replace(model, services=tuple(svcs), clusters=clusters)
    snap = build_all(model, plan_ports(model))["front-v1-0"]
    c = _cluster(snap, "outbound|8080||back")
    assert "transport_socket" not in c
    assert [m["name"] for m in c["transport_socket_matches"]] == ["tlsMode-istio", "tlsMode-disabled"]
    cla = next(x for x in snap.resources[TYPE_ENDPOINT] if x["cluster_name"] == c["name"])
    tags = [
        e["metadata"]["filter_metadata"]["envoy.transport_socket_match"]["tlsMode"]
        for e in cla["endpoints"][0]["lb_endpoints"]
    ]
    assert tags == ["istio", "disabled"]


def test_gateway_pod_translation() -> None:
    model = compile_model(load([str(REPO / "real" / "scenarios" / "gateway")]))
    plan = plan_ports(model)
    snaps = build_all(model, plan)
    gw = snaps["istio-ingressgateway-0"]
    (lst,) = gw.resources[TYPE_LISTENER]
    assert lst["address"]["socket_address"] == {"address": plan.ip("istio-ingressgateway-0"), "port_value": 8080}
    assert lst["filter_chains"][0]["filters"][0]["typed_config"]["rds"]["route_config_name"] == "http.8080"
    names = [c["name"] for c in gw.resources[TYPE_CLUSTER]]
    assert not any(n.startswith("inbound|") for n in names)  # no app behind a gateway
    c = _cluster(gw, "outbound|8080||front")
    chain = c["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificates"][0]["certificate_chain"]
    assert chain["filename"] == "/etc/certs/istio-ingressgateway-0/cert-chain.pem"
    # the gateway-bound VS reaches the gateway only, never the sidecars' outbound routes
    (rc,) = gw.resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"]
    assert rc["virtual_hosts"][0]["routes"][0]["route"]["cluster"] == "outbound|8080||front.default.svc.cluster.local"
