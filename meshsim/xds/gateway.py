"""The ingress gateway Envoy (Istio Gateway + gateway-bound VirtualServices): CDS/EDS/LDS/RDS.

What istiod sends an ``istio-ingressgateway`` pod (``pilot/pkg/networking/core/gateway.go``), reduced to
the model: every outbound cluster (the gateway is an mTLS client like a sidecar, with its own
identity ``istio-ingressgateway-service-account`` in ``istio-system``), one listener on the Gateway
server's port and one ``RouteConfiguration`` ``http.<port>`` built only from the VirtualServices bound
to the Gateway (:class:`~meshsim.model.ir.GatewayIR`), HTTP filters fault + router.

Loopback deviation: a Gateway port below 1024 is served on port + 8000 (80 -> 8080, 443 -> 8443),
as the istio-ingressgateway Deployment's container does (``targetPort``), since we run without root.
No TLS termination at the gateway (Gateway ``tls`` is not modelled).
"""

from __future__ import annotations

from typing import Any

from meshsim.model.ir import GatewayIR, MeshModel
from meshsim.xds.clusters import build_clusters
from meshsim.xds.common import ads_source, typed
from meshsim.xds.endpoints import build_endpoints
from meshsim.xds.listeners import _HCM_TYPE, HCM_FILTER, _router
from meshsim.xds.ports import PortPlan
from meshsim.xds.routes import FAULT_FILTER, route_entries
from meshsim.xds.telemetry import access_log, peer_header

__all__ = ["gateway_listen_port", "gateway_of", "gateway_resources"]


def gateway_of(model: MeshModel, pod: str) -> GatewayIR | None:
    """The model's gateway if ``pod`` is one of its pods, else None."""
    gw = model.gateway
    return gw if gw is not None and pod in gw.proxies else None


def gateway_listen_port(gw: GatewayIR) -> int:
    """Where the gateway pod listens: the Gateway server port, + 8000 below 1024 (no root)."""
    p = gw.virtual_host.port
    return p + 8000 if p < 1024 else p


def gateway_resources(model: MeshModel, pod: str, plan: PortPlan) -> dict[str, list[dict[str, Any]]]:
    """``{"clusters", "endpoints", "listeners", "routes"}`` for gateway pod ``pod``."""

    gw = gateway_of(model, pod)
    if gw is None:
        raise KeyError(pod)
    port = gateway_listen_port(gw)
    vh = gw.virtual_host
    labels = dict(gw.labels)
    route_name = f"http.{port}"
    rc = {
        "name": route_name,
        "virtual_hosts": [
            {
                "name": vh.name,
                "domains": list(vh.domains),
                "routes": [e for r in vh.routes for e in route_entries(r, vh, labels)],
                "include_request_attempt_count": True,
            }
        ],
        "validate_clusters": False,
    }
    log_path = plan.access_log_path(pod)
    if log_path is not None:
        rc["request_headers_to_add"] = peer_header(pod)
    fault = {"name": FAULT_FILTER, "typed_config": typed("envoy.extensions.filters.http.fault.v3.HTTPFault")}
    hcm = {
        "name": HCM_FILTER,
        "typed_config": typed(
            _HCM_TYPE,
            {
                "stat_prefix": f"outbound_0.0.0.0_{port}",
                "codec_type": "AUTO",
                "stream_idle_timeout": "0s",
                "use_remote_address": True,
                "normalize_path": True,
                "http_filters": [fault, _router()],
                "rds": {"config_source": ads_source(), "route_config_name": route_name},
                **({"access_log": access_log(log_path, "source")} if log_path is not None else {}),
            },
        ),
    }
    listener = {
        "name": f"0.0.0.0_{port}",
        "address": {"socket_address": {"address": plan.ip(pod), "port_value": port}},
        "filter_chains": [{"filters": [hcm]}],
        "traffic_direction": "OUTBOUND",
    }
    return {
        "clusters": build_clusters(model, pod, plan),
        "endpoints": build_endpoints(model, pod, plan),
        "listeners": [listener],
        "routes": [rc],
    }
