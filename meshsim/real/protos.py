"""JSON resource dicts -> protobuf ``Any`` for the ADS server (needs ``xds-protos``, imported lazily).

Importing the ``*_pb2`` modules registers every message type our resources embed as ``typed_config``
(HCM, router, fault, previous_hosts predicate, upstream HTTP protocol options, TLS, TLS inspector,
file access log), so
``json_format.ParseDict`` can resolve their ``@type``.
"""

from __future__ import annotations

import importlib
from typing import Any

from meshsim.errors import MeshsimError
from meshsim.xds.common import TYPE_CLUSTER, TYPE_ENDPOINT, TYPE_LISTENER, TYPE_ROUTE

__all__ = ["to_any", "MissingRealDeps", "require_real_deps"]

_MESSAGES = {
    TYPE_CLUSTER: ("envoy.config.cluster.v3.cluster_pb2", "Cluster"),
    TYPE_ENDPOINT: ("envoy.config.endpoint.v3.endpoint_pb2", "ClusterLoadAssignment"),
    TYPE_LISTENER: ("envoy.config.listener.v3.listener_pb2", "Listener"),
    TYPE_ROUTE: ("envoy.config.route.v3.route_pb2", "RouteConfiguration"),
}
_EMBEDDED = (
    "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2",
    "envoy.extensions.filters.http.router.v3.router_pb2",
    "envoy.extensions.filters.http.fault.v3.fault_pb2",
    "envoy.extensions.retry.host.previous_hosts.v3.previous_hosts_pb2",
    "envoy.extensions.upstreams.http.v3.http_protocol_options_pb2",
    "envoy.extensions.transport_sockets.tls.v3.tls_pb2",
    "envoy.extensions.transport_sockets.raw_buffer.v3.raw_buffer_pb2",
    "envoy.extensions.filters.listener.tls_inspector.v3.tls_inspector_pb2",
    "envoy.extensions.access_loggers.file.v3.file_pb2",
)
_classes: dict[str, Any] = {}


class MissingRealDeps(MeshsimError):
    """The real-mesh extra is not installed."""


def require_real_deps() -> None:
    """Import grpc, the xDS protos, aiohttp, uvloop and cryptography, or raise one readable error.

    Raises
    ------
    MissingRealDeps
        Naming the missing package and the pip command.
    """
    for mod, pkg in (
        ("grpc", "grpcio"),
        ("envoy.service.discovery.v3.ads_pb2_grpc", "xds-protos"),
        ("aiohttp", "aiohttp"),
        ("uvloop", "uvloop"),
        ("cryptography.x509", "cryptography"),
    ):
        try:
            importlib.import_module(mod)
        except ImportError:
            raise MissingRealDeps(f"real mode needs {pkg}: pip install 'meshsim[real]'") from None


def _load() -> None:
    if _classes:
        return
    for mod in _EMBEDDED:
        importlib.import_module(mod)
    for type_url, (mod, name) in _MESSAGES.items():
        _classes[type_url] = getattr(importlib.import_module(mod), name)


def to_any(type_url: str, resource: dict[str, Any]) -> Any:
    """Parse ``resource`` (proto3 JSON dict of ``type_url``) and pack it into a ``google.protobuf.Any``.

    Raises
    ------
    google.protobuf.json_format.ParseError
        If the dict does not match the message schema (a translation bug).
    """
    from google.protobuf import any_pb2, json_format

    _load()
    msg = json_format.ParseDict(resource, _classes[type_url]())
    out = any_pb2.Any()
    out.Pack(msg)
    return out
