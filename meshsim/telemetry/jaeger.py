"""Sampled request traces from the simulator as Jaeger JSON (``meshsim run --traces FILE --trace-sample P``).

The file is what Jaeger's query API returns (``GET /api/traces``): ``{"data": [trace, ...]}``, each
trace ``{"traceID", "spans", "processes"}``, each span with ``traceID``, ``spanID``,
``operationName``, ``references`` (``CHILD_OF``), ``startTime`` and ``duration`` in microseconds,
``tags`` and ``processID``. Simulated time 0 is mapped to :data:`EPOCH_US` so the file is deterministic.

Span nesting (so that spans add up to a request's latency): the root span ``entry <service>`` covers
the request from its arrival at the load source to its response. A span whose tag
``meshsim.children`` is ``sequential`` is tiled by its children (they follow each other without gaps,
so their durations add up to its own): the root (network and inbound proxy, then the entry pod's
``inbound`` span; or the gateway's ``router`` span), ``inbound`` (inbound pool, queue for a worker,
``app``), ``app`` (its script: ``sleep``, ``call``, ``concurrent``), ``call`` (one ``router`` span per
app try, ``app backoff``), ``router`` (``fault delay``, ``pending connection``, ``attempt n``,
``retry backoff``) and ``attempt`` (``proxies and network``: both traversals, worker waits and the
network; then the server's ``inbound``). ``concurrent`` spans have overlapping children; ``cut``
attempts were abandoned by a timeout while the server kept working (their children outlast them).
Boundaries are rounded to whole microseconds before durations are taken, so the sums are exact.

Sidecar spans carry the tags a real Istio sidecar's Envoy writes (``source/common/tracing/
http_tracer_impl.cc`` and ``common_values.h``; Istio's custom tags from
``pilot/pkg/networking/core/tracing.go`` ``buildServiceTags``), so a trace importer reads meshsim's
traces and a real mesh's the same way: each ``router`` span is the caller sidecar's CLIENT span
(``span.kind: client``, ``component: proxy``, ``upstream_cluster: outbound|<port>||<fqdn>``, one per
request whatever the retries), each ``inbound`` span the server sidecar's SERVER span
(``upstream_cluster: inbound|<port>||``), both with ``http.status_code`` (a string, ``"0"`` without
a response), ``error: true`` for 5xx or no response, and ``istio.canonical_service``,
``istio.canonical_revision``, ``istio.namespace`` of the pod that wrote them. Every other span is an
application span (no ``component``). Processes are named as Istio's tracing service name,
``<app>.<namespace>`` (``pkg/bootstrap/config.go`` ``getServiceCluster``), with the pod name as the
``hostname`` tag; ``node_id`` is the pod name, and ``router~<pod>.<namespace>`` for an ingress
gateway's pods (Istio's node type for gateways, ``pilot/pkg/model/context.go`` ``Router``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshsim import atomic
from meshsim.telemetry.record import Span, Trace

if TYPE_CHECKING:
    from meshsim.model.ir import MeshModel

__all__ = ["EPOCH_US", "PodInfo", "pod_info", "jaeger_trace", "to_jaeger", "write_jaeger"]

EPOCH_US = 1_704_067_200_000_000
"""2024-01-01T00:00:00Z in microseconds: simulated time 0."""


def _us(t: float) -> int:
    return EPOCH_US + round(t * 1e6)


def _tag(k: str, v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"key": k, "type": "bool", "value": v}
    if isinstance(v, int):
        return {"key": k, "type": "int64", "value": v}
    if isinstance(v, float):
        return {"key": k, "type": "float64", "value": round(v, 6)}
    return {"key": k, "type": "string", "value": str(v)}


class PodInfo:
    """What the sidecar of one pod tags its spans with: service, version (Istio's canonical
    revision), namespace and the service's port (``None`` when unknown)."""

    __slots__ = ("service", "version", "namespace", "port", "gateway")

    def __init__(
        self, service: str, version: str, namespace: str = "default", port: int | None = None, gateway: bool = False
    ) -> None:
        self.service, self.version, self.namespace, self.port = service, version, namespace, port
        self.gateway = gateway


def pod_info(
    model: MeshModel | None, traces: Sequence[Trace] = ()
) -> tuple[dict[str, PodInfo], dict[str, tuple[str, int | None]]]:
    """``({pod: PodInfo}, {service: (namespace, port)})`` from the model's endpoints, else (no model)
    from the spans themselves (``app <service>.<version>`` on a pod; Istio's fallback revision
    ``latest`` where a pod wrote no app span)."""
    pods: dict[str, PodInfo] = {}
    svcs: dict[str, tuple[str, int | None]] = {}
    if model is not None:
        for svc in model.services:
            svcs[svc.name] = (svc.namespace, svc.port)
            for ep in svc.endpoints:
                pods[ep.id] = PodInfo(svc.name, ep.version, svc.namespace, svc.port)
        gw = model.gateway
        if gw is not None:  # Istio's gateway pods: canonical service from their app label, node type "router"
            app = dict(gw.labels).get("app") or gw.workload
            for proxy in gw.proxies:
                pods[proxy] = PodInfo(app, "latest", gw.namespace, None, gateway=True)
        return pods, svcs
    for tr in traces:
        for sp in tr.spans:
            if sp.operation.startswith("app ") and sp.process not in pods:
                service, _, version = sp.operation[4:].rpartition(".")
                pods[sp.process] = PodInfo(service, version or "latest")
            elif sp.operation.startswith("inbound ") and sp.process not in pods:
                svcs.setdefault(sp.operation[8:], ("default", None))
    for tr in traces:
        for sp in tr.spans:
            if sp.operation.startswith("inbound ") and sp.process not in pods:
                pods[sp.process] = PodInfo(sp.operation[8:], "latest")
    return pods, svcs


def _fqdn(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def _sidecar_tags(sp: Span, pods: dict[str, PodInfo], svcs: dict[str, tuple[str, int | None]]) -> list[dict[str, Any]]:
    """Envoy's and Istio's tags for a ``router`` (CLIENT) or ``inbound`` (SERVER) span, else []."""
    op = sp.operation
    if op.startswith("router "):
        kind = "client"
        dest = op[7:]
        ns, port = svcs.get(dest, ("default", None))
        cluster = f"outbound|{port if port is not None else ''}||{_fqdn(dest, ns)}"
    elif op.startswith("inbound "):
        kind = "server"
        info = pods.get(sp.process)
        port = info.port if info is not None else None
        cluster = f"inbound|{port if port is not None else ''}||"
    else:
        return []
    status = sp.tags.get("status")
    code = status if isinstance(status, int) else 0
    tags = [
        ("component", "proxy"),
        ("span.kind", kind),
        ("upstream_cluster", cluster),
        ("upstream_cluster.name", cluster),
        ("http.status_code", str(code)),
    ]
    info = pods.get(sp.process)
    if info is not None:
        tags += [
            ("istio.canonical_revision", info.version),
            ("istio.canonical_service", info.service),
            ("istio.namespace", info.namespace),
        ]
    return [_tag(k, v) for k, v in tags]


def jaeger_trace(
    tr: Trace,
    replication: int = 0,
    model: MeshModel | None = None,
    pods: tuple[dict[str, PodInfo], dict[str, tuple[str, int | None]]] | None = None,
) -> dict[str, Any]:
    """One :class:`Trace` as a Jaeger trace object (``model`` or ``pods`` from :func:`pod_info`
    give the sidecar spans their service, revision and cluster tags)."""
    trace_id = f"{replication:016x}{tr.index + 1:016x}"
    pod_map, svc_map = pods if pods is not None else pod_info(model, [tr])
    procs: dict[str, str] = {}
    spans = []
    for sp in sorted(tr.spans, key=lambda x: x.span_id):
        pid = procs.setdefault(sp.process, f"p{len(procs) + 1}")
        start = _us(sp.start)
        refs = [] if sp.parent == 0 else [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": f"{sp.parent:016x}"}]
        info = pod_map.get(sp.process)
        node = f"router~{sp.process}.{info.namespace}" if info is not None and info.gateway else sp.process
        tags = [_tag("meshsim.children", sp.children), _tag("node_id", node)]
        tags += [_tag(k, v) for k, v in sorted(sp.tags.items())]
        tags += _sidecar_tags(sp, pod_map, svc_map)
        status = sp.tags.get("status")
        if isinstance(status, int) and (
            status >= 500 or (status == 0 and sp.operation.startswith(("router ", "inbound ")))
        ):
            tags.append(_tag("error", True))
        spans.append(
            {
                "traceID": trace_id,
                "spanID": f"{sp.span_id:016x}",
                "flags": 1,
                "operationName": sp.operation,
                "references": refs,
                "startTime": start,
                "duration": _us(sp.end) - start,
                "tags": tags,
                "logs": [],
                "processID": pid,
                "warnings": None,
            }
        )
    processes = {}
    for name, pid in procs.items():
        info = pod_map.get(name)
        service = f"{info.service}.{info.namespace}" if info is not None else name
        processes[pid] = {"serviceName": service, "tags": [_tag("hostname", name)]}
    return {"traceID": trace_id, "spans": spans, "processes": processes, "warnings": None}


def to_jaeger(traces_per_rep: Sequence[tuple[int, Sequence[Trace]]], model: MeshModel | None = None) -> dict[str, Any]:
    """``[(replication, traces), ...]`` as a Jaeger ``/api/traces`` response."""
    pods = pod_info(model, [t for _, ts in traces_per_rep for t in ts])
    data = [jaeger_trace(t, rep, pods=pods) for rep, ts in traces_per_rep for t in ts]
    return {"data": data, "total": len(data), "limit": 0, "offset": 0, "errors": None}


def write_jaeger(
    traces_per_rep: Sequence[tuple[int, Sequence[Trace]]], path: Path, model: MeshModel | None = None
) -> Path:
    """Write the traces to ``path`` as Jaeger JSON (atomically: a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(to_jaeger(traces_per_rep, model), indent=1) + "\n")
    return path
