"""Translate a compiled :class:`~meshsim.model.ir.MeshModel` into Envoy v3 xDS resources.

One translation, two backends: the simulator interprets the model, and this package turns the same
model into the per-sidecar CDS/EDS/LDS/RDS that the real control plane (:mod:`meshsim.real`) serves.
Builders are pure functions ``(model, proxy_id, port_plan) -> list[dict]`` returning proto3-JSON
dicts; nothing here imports grpc or protobuf.
"""

from meshsim.xds.clusters import build_clusters
from meshsim.xds.endpoints import build_endpoints
from meshsim.xds.listeners import build_listeners
from meshsim.xds.ports import PortPlan, PortPlanError, plan_ports
from meshsim.xds.routes import build_routes
from meshsim.xds.snapshot import (
    Snapshot,
    SnapshotError,
    build_all,
    build_snapshot,
    check_snapshot,
)

__all__ = [
    "PortPlan",
    "PortPlanError",
    "Snapshot",
    "SnapshotError",
    "build_all",
    "build_clusters",
    "build_endpoints",
    "build_listeners",
    "build_routes",
    "build_snapshot",
    "check_snapshot",
    "plan_ports",
]
