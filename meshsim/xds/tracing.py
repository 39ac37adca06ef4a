"""Tracing: Envoy's own Zipkin tracer in every HTTP connection manager of a snapshot.

What istiod writes for a mesh with ``meshConfig.defaultConfig.tracing.zipkin`` and 100 % sampling
(``pilot/pkg/networking/core/tracing.go``), reduced to what an importer reads:

- each HCM gets ``tracing`` with the ``envoy.tracers.zipkin`` provider (Envoy
  ``api/envoy/config/trace/v3/zipkin.proto``): spans POSTed as Zipkin v2 JSON
  (``collector_endpoint_version: HTTP_JSON``) to ``/api/v2/spans`` on the cluster ``zipkin``,
  ``shared_span_context: false`` (the server sidecar's span is a child of the client sidecar's, as
  Istio sets it), 128-bit trace ids; ``random_sampling``, ``client_sampling`` and
  ``overall_sampling`` at 100 %;
- ``custom_tags`` ``istio.canonical_service``, ``istio.canonical_revision`` and ``istio.namespace``
  as literals (Istio adds them from the pod's labels);
- a STATIC cluster ``zipkin`` pointing at the collector.

Envoy adds ``node_id``, ``upstream_cluster``, ``component: proxy``, ``http.status_code`` and
``guid:x-request-id`` itself (``source/common/tracing/common_values.h``) and names the span's local
endpoint after the node's cluster (the service). The listeners' ``traffic_direction`` makes the
outbound span a CLIENT span and the inbound one a SERVER span. Spans are batched (Envoy's runtime
``tracing.zipkin.min_flush_spans`` 5, ``tracing.zipkin.flush_interval_ms`` 5000).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from meshsim.xds.common import TYPE_CLUSTER, TYPE_LISTENER
from meshsim.xds.snapshot import Snapshot

__all__ = ["ZIPKIN_CLUSTER", "ZIPKIN_PATH", "ZIPKIN_PROTO_MODULE", "ZipkinTarget", "with_zipkin_tracing"]

ZIPKIN_CLUSTER = "zipkin"
"""The collector's cluster (Istio's name for it)."""
ZIPKIN_PATH = "/api/v2/spans"
"""Zipkin's v2 span intake (``openzipkin/zipkin-api`` ``zipkin2-api.yaml``)."""
ZIPKIN_PROTO_MODULE = "envoy.config.trace.v3.zipkin_pb2"
"""The module that registers ``envoy.config.trace.v3.ZipkinConfig`` for ``typed_config`` parsing."""
_HCM = "envoy.filters.network.http_connection_manager"


@dataclass(frozen=True)
class ZipkinTarget:
    """Where spans go: ``address``/``port`` of a Zipkin v2 HTTP collector, and the Istio tags of each
    node (``{node id: {tag: value}}``; nodes not listed get none)."""

    address: str
    port: int
    tags: dict[str, dict[str, str]]


def _tracing(tags: dict[str, str]) -> dict[str, Any]:
    return {
        "provider": {
            "name": "envoy.tracers.zipkin",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
                "collector_cluster": ZIPKIN_CLUSTER,
                "collector_endpoint": ZIPKIN_PATH,
                "collector_endpoint_version": "HTTP_JSON",
                "shared_span_context": False,
                "trace_id_128bit": True,
            },
        },
        "random_sampling": {"value": 100.0},
        "client_sampling": {"value": 100.0},
        "overall_sampling": {"value": 100.0},
        "custom_tags": [{"tag": k, "literal": {"value": v}} for k, v in sorted(tags.items())],
    }


def _cluster(target: ZipkinTarget) -> dict[str, Any]:
    return {
        "name": ZIPKIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ZIPKIN_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": target.address, "port_value": target.port}}
                            }
                        }
                    ]
                }
            ],
        },
    }


def _hash(resources: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(resources, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def with_zipkin_tracing(snap: Snapshot, target: ZipkinTarget) -> Snapshot:
    """``snap`` with Zipkin tracing in every HTTP connection manager of its listeners and the ``zipkin``
    cluster added; other resources unchanged, versions of the changed types recomputed. ``snap`` is not
    modified."""
    resources = {t: list(r) for t, r in snap.resources.items()}
    tags = target.tags.get(snap.node, {})
    listeners = copy.deepcopy(resources.get(TYPE_LISTENER, []))
    for lst in listeners:
        for chain in lst.get("filter_chains", []):
            for f in chain.get("filters", []):
                if f.get("name") == _HCM:
                    f["typed_config"]["tracing"] = _tracing(tags)
    resources[TYPE_LISTENER] = listeners
    clusters = [c for c in resources.get(TYPE_CLUSTER, []) if c.get("name") != ZIPKIN_CLUSTER]
    resources[TYPE_CLUSTER] = [*clusters, _cluster(target)]
    versions = dict(snap.versions)
    versions[TYPE_LISTENER] = _hash(resources[TYPE_LISTENER])
    versions[TYPE_CLUSTER] = _hash(resources[TYPE_CLUSTER])
    return Snapshot(snap.node, resources, versions)
