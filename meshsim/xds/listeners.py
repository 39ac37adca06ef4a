"""LDS: a sidecar's two listeners -> ``envoy.config.listener.v3.Listener`` (JSON dicts).

- ``virtualOutbound`` on ``<pod ip>:15001``: the app calls it with the destination host in the Host
  header; its HTTP connection manager takes the route table ``outbound`` over RDS and runs the
  ``fault`` filter then the ``router`` (istiod's outbound HTTP filter order, ``listener_builder.go``,
  minus telemetry/authn filters that are not modelled).
- ``virtualInbound`` on ``<pod ip>:<service port>`` (where other pods and the load generator dial the
  pod): an inline route to ``inbound|<port>||`` (Istio's sidecar data path: outbound listener, router, upstream cluster, inbound listener), router only (server sidecars never
  inject VirtualService faults).

With :attr:`PortPlan.access_log_dir` set both HCMs also write a JSON access log
(:mod:`meshsim.xds.telemetry`). The inbound listener takes mTLS, plaintext or both as the pod's PeerAuthentication says
(:mod:`meshsim.xds.tls`).

Both HCMs set ``stream_idle_timeout: 0s`` and leave the downstream idle timeout at Envoy's 1 h, as
istiod does for sidecars (Envoy ``http_connection_manager.proto``).
"""

from __future__ import annotations

from typing import Any

from meshsim.model.ir import MeshModel
from meshsim.xds.common import ads_source, typed
from meshsim.xds.ports import PortPlan
from meshsim.xds.routes import FAULT_FILTER, OUTBOUND_ROUTE_NAME, inbound_route_config
from meshsim.xds.telemetry import access_log
from meshsim.xds.tls import downstream_tls_socket, workload_of

__all__ = ["HCM_FILTER", "INBOUND_LISTENER", "OUTBOUND_LISTENER", "build_listeners"]

OUTBOUND_LISTENER = "virtualOutbound"
INBOUND_LISTENER = "virtualInbound"
HCM_FILTER = "envoy.filters.network.http_connection_manager"
_HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _router() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": typed("envoy.extensions.filters.http.router.v3.Router"),
    }


def _hcm(
    stat_prefix: str,
    http_filters: list[dict[str, Any]],
    routing: dict[str, Any],
    log_path: str | None = None,
    reporter: str = "source",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "stat_prefix": stat_prefix,
        "codec_type": "AUTO",
        "stream_idle_timeout": "0s",
        "use_remote_address": False,
        "normalize_path": True,
        "http_filters": http_filters,
    }
    body.update(routing)
    if log_path is not None:
        body["access_log"] = access_log(log_path, reporter)
    return {"name": HCM_FILTER, "typed_config": typed(_HCM_TYPE, body)}


def _listener(name: str, ip: str, port: int, hcm: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": ip, "port_value": port}},
        "filter_chains": [{"filters": [hcm]}],
        "traffic_direction": "OUTBOUND" if name == OUTBOUND_LISTENER else "INBOUND",
    }


def _inbound_tls(lst: dict[str, Any], mode: str, tls: dict[str, Any]) -> None:
    """Apply the pod's PeerAuthentication mode to its inbound listener: STRICT = mTLS only, DISABLE =
    plaintext only, PERMISSIVE = both, told apart by the TLS inspector (istiod's form)."""
    if mode == "DISABLE":
        return
    (plain,) = lst["filter_chains"]
    secure = {"filters": plain["filters"], "transport_socket": tls}
    if mode == "STRICT":
        lst["filter_chains"] = [secure]
        return
    secure["filter_chain_match"] = {"transport_protocol": "tls"}
    plain["filter_chain_match"] = {"transport_protocol": "raw_buffer"}
    lst["filter_chains"] = [secure, plain]
    lst["listener_filters"] = [
        {
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": typed("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"),
        }
    ]


def build_listeners(model: MeshModel, proxy_id: str, plan: PortPlan) -> list[dict[str, Any]]:
    """LDS for ``proxy_id``: ``virtualInbound`` and ``virtualOutbound`` (sorted by name)."""
    proxy = next((p for p in model.proxies if p.id == proxy_id), None)
    if proxy is None:
        raise KeyError(proxy_id)
    ip = plan.ip(proxy_id)
    svc = model.service(proxy.service)
    fault = {"name": FAULT_FILTER, "typed_config": typed("envoy.extensions.filters.http.fault.v3.HTTPFault")}
    outbound = _listener(
        OUTBOUND_LISTENER,
        ip,
        plan.outbound_port,
        _hcm(
            f"outbound_{plan.outbound_port}",
            [fault, _router()],
            {"rds": {"config_source": ads_source(), "route_config_name": OUTBOUND_ROUTE_NAME}},
            plan.access_log_path(proxy_id),
        ),
    )
    inbound = _listener(
        INBOUND_LISTENER,
        ip,
        svc.port,
        _hcm(
            f"inbound_{svc.port}",
            [_router()],
            # meshsim's HTTP2 ports are gRPC ones (type: grpc, or a port named grpc*/http2*)
            {"route_config": inbound_route_config(proxy.inbound_cluster, svc.port, grpc=svc.protocol == "HTTP2")},
            plan.access_log_path(proxy_id),
            "destination",
        ),
    )
    mode = workload_of(model, proxy_id).mtls_mode
    _inbound_tls(inbound, mode, downstream_tls_socket(plan.cert_dir, proxy_id))
    return [inbound, outbound]
