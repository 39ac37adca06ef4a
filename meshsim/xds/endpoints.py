"""EDS: outbound cluster endpoints -> ``envoy.config.endpoint.v3.ClusterLoadAssignment`` (JSON dicts).

istiod sends one assignment per EDS cluster, the pods selected by the (subset) labels, all healthy,
all in priority 0 and one locality when no outlier detection is configured (``pilot/pkg/xds/endpoints/
endpoint_builder.go``). Each pod is addressed at its loopback pod address and the
service port, where its sidecar's inbound listener waits.

Deviation: locality priorities (which Istio adds when outlier detection is configured) are not
written; the model has no localities yet, so all endpoints would be P0 anyway.
"""

from __future__ import annotations

from typing import Any

from meshsim.model.ir import MeshModel
from meshsim.xds.ports import PortPlan
from meshsim.xds.tls import MATCH_KEY, endpoint_mtls

__all__ = ["build_endpoints"]


def build_endpoints(model: MeshModel, proxy_id: str, plan: PortPlan) -> list[dict[str, Any]]:
    """EDS for ``proxy_id``: one ``ClusterLoadAssignment`` per outbound EDS cluster, sorted by name.

    The content does not depend on the proxy (no locality yet); ``proxy_id`` is kept so the signature
    matches the other builders. A cluster with no endpoints gets an empty assignment (calls give 503
    UH, as in Istio).
    """
    if proxy_id not in {p.id for p in model.proxies} | set(model.gateway.proxies if model.gateway else ()):
        raise KeyError(proxy_id)
    ports = {s.name: s.port for s in model.services}
    out = []
    for c in model.clusters:
        if c.discovery != "EDS":  # an ORIGINAL_DST cluster (PASSTHROUGH) has no assignment
            continue
        mtls = endpoint_mtls(model, c)
        mixed = len(set(mtls.values())) > 1
        lb_endpoints = []
        for eid in c.endpoints:
            lbe: dict[str, Any] = {
                "endpoint": {"address": {"socket_address": {"address": plan.ip(eid), "port_value": ports[c.service]}}},
                "health_status": "HEALTHY",
            }
            if mixed:  # the cluster picks each pod's transport socket by this (clusters.py)
                tag = "istio" if mtls[eid] else "disabled"
                lbe["metadata"] = {"filter_metadata": {"envoy.transport_socket_match": {MATCH_KEY: tag}}}
            lb_endpoints.append(lbe)
        cla: dict[str, Any] = {
            "cluster_name": c.name,
            "endpoints": [{"lb_endpoints": lb_endpoints}] if lb_endpoints else [],
        }
        out.append(cla)
    return sorted(out, key=lambda r: r["cluster_name"])
