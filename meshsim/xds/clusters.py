"""CDS: :class:`~meshsim.model.ir.Cluster` -> ``envoy.config.cluster.v3.Cluster`` (JSON dict).

Mirrors what istiod writes (``pilot/pkg/networking/core/cluster_builder.go``,
``cluster_traffic_policy.go``): EDS clusters over ADS for outbound (``ORIGINAL_DST`` for
``PASSTHROUGH``), ``ring_hash_lb_config`` / ``maglev_lb_config`` for consistent hashing, circuit
breakers always written (2^32-1 unless a DestinationRule set them), the LB policy, outlier detection
only when configured, the panic threshold, connect timeout, upstream protocol and
``max_requests_per_connection`` in ``HttpProtocolOptions``.

Deviation (loopback mode): the inbound cluster ``inbound|<port>||`` is a STATIC cluster with one
endpoint, the app's own address (Istio uses ORIGINAL_DST to the pod IP), and always speaks HTTP/1.1
to the app, because the workload service is an HTTP/1.1 server.
"""

from __future__ import annotations

from typing import Any

from meshsim.model.ir import Cluster, MeshModel
from meshsim.xds.common import ads_source, duration, typed
from meshsim.xds.ports import PortPlan
from meshsim.xds.tls import MATCH_KEY, endpoint_mtls, upstream_tls_socket

__all__ = ["UPSTREAM_IDLE_TIMEOUT", "build_clusters", "cluster_resource"]

UPSTREAM_IDLE_TIMEOUT = 3600.0
"""Upstream connection idle timeout, seconds (Istio default 1 h)."""


def _thresholds(c: Cluster) -> dict[str, Any]:
    cb = c.circuit_breakers
    t: dict[str, Any] = {
        "priority": "DEFAULT",
        "max_connections": cb.max_connections,
        "max_pending_requests": cb.max_pending_requests,
        "max_requests": cb.max_requests,
        "max_retries": cb.max_retries,
    }
    if cb.retry_budget is not None:
        pct, min_conc = cb.retry_budget
        t["retry_budget"] = {"budget_percent": {"value": pct}, "min_retry_concurrency": min_conc}
    return {"thresholds": [t]}


def _protocol_options(c: Cluster, force_http1: bool) -> dict[str, Any]:
    """``HttpProtocolOptions``: the idle timeout (the DestinationRule's, istiod ``applyConnectionPool``,
    else Envoy's 1 h default written out), ``max_requests_per_connection`` and the upstream protocol."""
    idle = c.idle_timeout if c.idle_timeout is not None else UPSTREAM_IDLE_TIMEOUT
    common: dict[str, Any] = {"idle_timeout": duration(idle)}
    if c.max_requests_per_connection is not None:
        common["max_requests_per_connection"] = c.max_requests_per_connection
    if c.protocol == "HTTP2" and not force_http1:
        explicit: dict[str, Any] = {"http2_protocol_options": {"max_concurrent_streams": c.max_concurrent_streams}}
    else:
        explicit = {"http_protocol_options": {}}
    body = {"common_http_protocol_options": common, "explicit_http_config": explicit}
    key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    return {key: typed(key, body)}


def _outlier(c: Cluster) -> dict[str, Any] | None:
    od = c.outlier_detection
    if od is None:
        return None
    return {
        "consecutive_5xx": od.consecutive_5xx,
        "enforcing_consecutive_5xx": od.enforcing_consecutive_5xx,
        "consecutive_gateway_failure": od.consecutive_gateway_failure,
        "enforcing_consecutive_gateway_failure": od.enforcing_consecutive_gateway_failure,
        "interval": duration(od.interval),
        "base_ejection_time": duration(od.base_ejection_time),
        "max_ejection_time": duration(od.max_ejection_time),
        "max_ejection_percent": od.max_ejection_percent,
        # Istio turns success-rate ejection off (cluster_traffic_policy.go)
        "enforcing_success_rate": 0,
    }


def cluster_resource(c: Cluster, app_address: tuple[str, int] | None = None) -> dict[str, Any]:
    """One Envoy cluster for ``c``.

    Outbound clusters are ``type: EDS`` with ``service_name`` = cluster name (istiod's convention).
    Inbound clusters need ``app_address`` (the app's ``(ip, port)``) and become ``type: STATIC``.
    """
    out: dict[str, Any] = {"name": c.name}
    if c.direction == "outbound" and c.discovery == "ORIGINAL_DST":
        out["type"] = "ORIGINAL_DST"  # PASSTHROUGH (istiod applyLoadBalancer): no EDS, no load assignment
    elif c.direction == "outbound":
        out["type"] = "EDS"
        out["eds_cluster_config"] = {"eds_config": ads_source(), "service_name": c.name}
    else:
        if app_address is None:
            raise ValueError(f"inbound cluster {c.name} needs the app address")
        out["type"] = "STATIC"
        out["load_assignment"] = {
            "cluster_name": c.name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": app_address[0], "port_value": app_address[1]}}
                            }
                        }
                    ]
                }
            ],
        }
    out["connect_timeout"] = duration(c.connect_timeout)
    out["lb_policy"] = c.lb_policy
    if c.lb_policy == "RING_HASH" and c.ring_hash_min_ring_size is not None:
        out["ring_hash_lb_config"] = {"minimum_ring_size": str(c.ring_hash_min_ring_size)}
    elif c.lb_policy == "MAGLEV" and c.maglev_table_size is not None:
        out["maglev_lb_config"] = {"table_size": str(c.maglev_table_size)}
    out["circuit_breakers"] = _thresholds(c)
    out["common_lb_config"] = {"healthy_panic_threshold": {"value": c.healthy_panic_threshold}}
    od = _outlier(c)
    if od is not None:
        out["outlier_detection"] = od
    out["typed_extension_protocol_options"] = _protocol_options(c, force_http1=c.direction == "inbound")
    return out


def build_clusters(model: MeshModel, proxy_id: str, plan: PortPlan) -> list[dict[str, Any]]:
    """CDS for sidecar ``proxy_id``: every outbound cluster of the mesh (Istio sends all of them when
    no ``Sidecar`` resource scopes the proxy) plus the proxy's own inbound cluster, sorted by name.
    Outbound clusters get an mTLS ``transport_socket`` when the model says so for their pods
    (:mod:`meshsim.xds.tls`; per-endpoint ``transport_socket_matches`` when the pods differ).

    Raises
    ------
    KeyError
        If ``proxy_id`` is not a proxy of ``model``.
    """
    proxy = next((p for p in model.proxies if p.id == proxy_id), None)
    gateway = model.gateway is not None and proxy_id in model.gateway.proxies
    if proxy is None and not gateway:
        raise KeyError(proxy_id)
    out = []
    for c in model.clusters:
        res = cluster_resource(c)
        decisions = set(endpoint_mtls(model, c).values())
        if decisions == {True}:
            res["transport_socket"] = upstream_tls_socket(model, c, plan.cert_dir, proxy_id)
        elif decisions == {True, False}:
            # Istio's auto-mTLS form: the socket is chosen per endpoint by its metadata (endpoints.py)
            res["transport_socket_matches"] = [
                {
                    "name": "tlsMode-istio",
                    "match": {MATCH_KEY: "istio"},
                    "transport_socket": upstream_tls_socket(model, c, plan.cert_dir, proxy_id),
                },
                {
                    "name": "tlsMode-disabled",
                    "match": {},
                    "transport_socket": {
                        "name": "envoy.transport_sockets.raw_buffer",
                        "typed_config": typed("envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"),
                    },
                },
            ]
        out.append(res)
    if proxy is not None:  # a gateway pod has no app behind it
        inbound = model.inbound_cluster(proxy.service)
        out.append(cluster_resource(inbound, plan.app_address(proxy_id)))
    return sorted(out, key=lambda r: r["name"])
