"""Per-node snapshots: every xDS resource one sidecar gets, checked for consistency, with versions.

A :class:`Snapshot` is what a SotW ADS server answers a node with (all resources of each type in every
response, as LDS/CDS require). Versions are content hashes per type, so pushing an unchanged model is
a no-op and a changed resource always gets a new version.

Also builds the two bootstraps:

- :func:`dynamic_bootstrap`: what a sidecar starts with (node id, admin, ADS over gRPC to the control
  plane; istio-agent's ``envoy_bootstrap.json`` plays this role in Istio);
- :func:`static_bootstrap`: the same resources inlined (EDS clusters become STATIC with their load
  assignment, RDS becomes an inline ``route_config``) for ``envoy --mode validate``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from meshsim.errors import MeshsimError
from meshsim.model.ir import MeshModel
from meshsim.xds.clusters import build_clusters
from meshsim.xds.common import (
    TYPE_CLUSTER,
    TYPE_ENDPOINT,
    TYPE_LISTENER,
    TYPE_ORDER,
    TYPE_ROUTE,
    ads_source,
)
from meshsim.xds.endpoints import build_endpoints
from meshsim.xds.gateway import gateway_of, gateway_resources
from meshsim.xds.listeners import HCM_FILTER, build_listeners
from meshsim.xds.ports import PortPlan
from meshsim.xds.routes import build_routes

__all__ = [
    "XDS_CLUSTER",
    "Snapshot",
    "SnapshotError",
    "build_all",
    "build_snapshot",
    "check_snapshot",
    "dynamic_bootstrap",
    "resource_name",
    "static_bootstrap",
]

XDS_CLUSTER = "xds-grpc"
"""Name of the bootstrap cluster pointing at the control plane (Istio's name for it)."""


class SnapshotError(MeshsimError):
    """A generated snapshot is inconsistent (a bug in the translation, or an unroutable model)."""


def resource_name(type_url: str, res: dict[str, Any]) -> str:
    """The xDS resource name of ``res`` (``cluster_name`` for EDS, ``name`` otherwise)."""
    return str(res["cluster_name"] if type_url == TYPE_ENDPOINT else res["name"])


def _hash(resources: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(resources, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Snapshot:
    """All resources for one node. ``resources[type_url]`` is a list of JSON dicts; ``versions[type_url]``
    a content hash of that list."""

    node: str
    resources: dict[str, list[dict[str, Any]]]
    versions: dict[str, str]

    def names(self, type_url: str) -> list[str]:
        """Resource names of one type, in order."""
        return [resource_name(type_url, r) for r in self.resources[type_url]]

    def get(self, type_url: str, names: list[str] | None = None) -> list[dict[str, Any]]:
        """Resources of ``type_url``; with ``names`` (EDS/RDS subscriptions) only those, in the order asked."""
        res = self.resources.get(type_url, [])
        if not names:
            return list(res)
        by = {resource_name(type_url, r): r for r in res}
        return [by[n] for n in names if n in by]


def check_snapshot(snap: Snapshot) -> None:
    """Consistency check, as Envoy would fail at runtime otherwise.

    - every cluster a route (or weighted cluster) names exists in CDS;
    - every EDS cluster in CDS has a ``ClusterLoadAssignment``, and every assignment has an EDS cluster;
    - every RDS name an HCM refers to exists;
    - names are unique per type.

    Raises
    ------
    SnapshotError
        On the first violation, naming the node and resource.
    """
    for t in TYPE_ORDER:
        names = snap.names(t)
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise SnapshotError(f"node {snap.node}: duplicate {t.rsplit('.', 1)[-1]} names {dup}")
    clusters = {c["name"]: c for c in snap.resources[TYPE_CLUSTER]}
    eds_clusters = {n for n, c in clusters.items() if c.get("type") == "EDS"}
    cla_names = set(snap.names(TYPE_ENDPOINT))
    for n in sorted(eds_clusters - cla_names):
        raise SnapshotError(f"node {snap.node}: EDS cluster {n} has no endpoints resource")
    for n in sorted(cla_names - eds_clusters):
        raise SnapshotError(f"node {snap.node}: endpoints resource {n} has no EDS cluster")

    def check_routes(rc: dict[str, Any]) -> None:
        for vh in rc.get("virtual_hosts", []):
            for r in vh.get("routes", []):
                action = r.get("route", {})
                targets = (
                    [action["cluster"]]
                    if "cluster" in action
                    else [w["name"] for w in action.get("weighted_clusters", {}).get("clusters", [])]
                )
                if not targets:
                    raise SnapshotError(f"node {snap.node}: route {r.get('name')} in {vh['name']} has no cluster")
                for t in targets:
                    if t not in clusters:
                        raise SnapshotError(
                            f"node {snap.node}: route {r.get('name')} in {vh['name']} names unknown cluster {t}"
                        )

    route_names = set(snap.names(TYPE_ROUTE))
    for rc in snap.resources[TYPE_ROUTE]:
        check_routes(rc)
    for lst in snap.resources[TYPE_LISTENER]:
        for fc in lst["filter_chains"]:
            for f in fc["filters"]:
                if f["name"] != HCM_FILTER:
                    continue
                cfg = f["typed_config"]
                if "rds" in cfg:
                    rn = cfg["rds"]["route_config_name"]
                    if rn not in route_names:
                        raise SnapshotError(f"node {snap.node}: listener {lst['name']} needs route {rn}, not in RDS")
                else:
                    check_routes(cfg["route_config"])


def build_snapshot(model: MeshModel, proxy_id: str, plan: PortPlan) -> Snapshot:
    """Translate ``model`` for sidecar ``proxy_id`` and check the result (:func:`check_snapshot`)."""

    if gateway_of(model, proxy_id) is not None:
        g = gateway_resources(model, proxy_id, plan)
        resources = {
            TYPE_CLUSTER: g["clusters"],
            TYPE_ENDPOINT: g["endpoints"],
            TYPE_LISTENER: g["listeners"],
            TYPE_ROUTE: g["routes"],
        }
        snap = Snapshot(proxy_id, resources, {t: _hash(r) for t, r in resources.items()})
        check_snapshot(snap)
        return snap
    resources = {
        TYPE_CLUSTER: build_clusters(model, proxy_id, plan),
        TYPE_ENDPOINT: build_endpoints(model, proxy_id, plan),
        TYPE_LISTENER: build_listeners(model, proxy_id, plan),
        TYPE_ROUTE: build_routes(model, proxy_id, plan),
    }
    snap = Snapshot(proxy_id, resources, {t: _hash(r) for t, r in resources.items()})
    check_snapshot(snap)
    return snap


def build_all(model: MeshModel, plan: PortPlan) -> dict[str, Snapshot]:
    """Snapshots for every proxy of ``model`` (sidecars, then gateway pods), keyed by proxy id."""
    ids = [p.id for p in model.proxies] + list(model.gateway.proxies if model.gateway is not None else ())
    return {pid: build_snapshot(model, pid, plan) for pid in ids}


def _node(proxy_id: str, service: str) -> dict[str, Any]:
    return {"id": proxy_id, "cluster": service}


def _admin(ip: str, port: int) -> dict[str, Any]:
    return {"address": {"socket_address": {"address": ip, "port_value": port}}}


def dynamic_bootstrap(model: MeshModel, proxy_id: str, plan: PortPlan) -> dict[str, Any]:
    """The bootstrap a sidecar starts with: node identity, admin on ``<pod ip>:15000``, and ADS
    (SotW, gRPC, V3) for LDS and CDS; RDS and EDS are named inside those resources as ``ads``."""
    proxy = next((p for p in model.proxies if p.id == proxy_id), None)
    if proxy is not None:
        service = proxy.service
    elif model.gateway is not None and proxy_id in model.gateway.proxies:
        service = model.gateway.workload
    else:
        raise KeyError(proxy_id)
    return {
        "node": _node(proxy_id, service),
        "admin": _admin(plan.ip(proxy_id), plan.admin_port),
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
                "set_node_on_first_message_only": True,
            },
            "cds_config": ads_source(),
            "lds_config": ads_source(),
        },
        "static_resources": {
            "clusters": [
                {
                    "name": XDS_CLUSTER,
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "typed_extension_protocol_options": {
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            "explicit_http_config": {"http2_protocol_options": {}},
                        }
                    },
                    "load_assignment": {
                        "cluster_name": XDS_CLUSTER,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": plan.xds_address,
                                                    "port_value": plan.xds_port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ]
        },
    }


def static_bootstrap(snap: Snapshot, plan: PortPlan, service: str = "") -> dict[str, Any]:
    """``snap`` as a static bootstrap (for ``envoy --mode validate``): EDS clusters become STATIC with
    their assignment inlined, RDS references become inline ``route_config``. Same resources otherwise."""
    clas = {c["cluster_name"]: c for c in snap.resources[TYPE_ENDPOINT]}
    routes = {r["name"]: r for r in snap.resources[TYPE_ROUTE]}
    clusters = []
    for c in snap.resources[TYPE_CLUSTER]:
        c = copy.deepcopy(c)
        if c.get("type") == "EDS":
            del c["eds_cluster_config"]
            c["type"] = "STATIC"
            c["load_assignment"] = copy.deepcopy(clas[c["name"]])
        clusters.append(c)
    listeners = []
    for lst in snap.resources[TYPE_LISTENER]:
        lst = copy.deepcopy(lst)
        for fc in lst["filter_chains"]:
            for f in fc["filters"]:
                cfg = f["typed_config"]
                if f["name"] == HCM_FILTER and "rds" in cfg:
                    cfg["route_config"] = copy.deepcopy(routes[cfg.pop("rds")["route_config_name"]])
        listeners.append(lst)
    return {
        "node": _node(snap.node, service or snap.node),
        "admin": _admin(plan.ip(snap.node), plan.admin_port),
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }
