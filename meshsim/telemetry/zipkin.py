"""meshsim's traces as an Istio sidecar's Envoy would report them to Zipkin (v2 JSON, ``ListOfSpans``).

Only the sidecar spans are kept (``component: proxy``: the caller's CLIENT span and the callee's
SERVER span of every hop); application spans are dropped and each kept span's ``parentId`` is its
nearest kept ancestor, which is what Istio's ``shared_span_context: false`` gives (a SERVER span's
parent is the caller's CLIENT span; Envoy ``source/extensions/tracers/zipkin/tracer.cc``). Fields
follow ``openzipkin/zipkin-api`` ``zipkin2-api.yaml``: ``kind`` ``CLIENT``/``SERVER``, ``timestamp``
and ``duration`` in integer µs, tags as strings, ``localEndpoint.serviceName`` Istio's
``<app>.<namespace>`` lower-cased (Zipkin lower-cases names), span names ``<fqdn>:<port>/*`` as
Istio's default routes decorate them (``pilot/pkg/networking/core/route/route.go``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["jaeger_to_zipkin"]


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def jaeger_to_zipkin(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Convert a Jaeger ``/api/traces`` document written by :mod:`meshsim.telemetry.jaeger`."""
    out: list[dict[str, Any]] = []
    for tr in doc.get("data", []):
        procs = tr.get("processes", {})
        spans = {sp["spanID"]: sp for sp in tr["spans"]}
        tags_of = {sid: {t["key"]: t["value"] for t in sp["tags"]} for sid, sp in spans.items()}
        kept = {sid for sid, t in tags_of.items() if t.get("component") == "proxy"}

        def parent_of(sid: str, spans: dict[str, Any] = spans, kept: set[str] = kept) -> str | None:
            refs = spans[sid]["references"]
            p = refs[0]["spanID"] if refs else None
            while p is not None and p not in kept:
                refs = spans[p]["references"] if p in spans else []
                p = refs[0]["spanID"] if refs else None
            return p

        for sid in sorted(kept):
            sp, tags = spans[sid], tags_of[sid]
            cluster = str(tags.get("upstream_cluster", ""))
            ns = str(tags.get("istio.namespace", "default"))
            if cluster.startswith("outbound|"):
                _, port, _, host = cluster.split("|")
            else:
                port, host = (
                    cluster.split("|")[1] if "|" in cluster else "",
                    f"{tags.get('istio.canonical_service')}.{ns}.svc.cluster.local",
                )
            zs: dict[str, Any] = {
                "traceId": tr["traceID"],
                "id": sid,
                "kind": str(tags["span.kind"]).upper(),
                "name": f"{host}:{port}/*",
                "timestamp": sp["startTime"],
                "duration": max(sp["duration"], 1),
                "localEndpoint": {"serviceName": str(procs[sp["processID"]]["serviceName"]).lower()},
                "tags": {
                    k: _str(v)
                    for k, v in sorted(tags.items())
                    if k not in ("meshsim.children", "status", "span.kind") and _str(v) != ""
                },
            }
            parent = parent_of(sid)
            if parent is not None:
                zs["parentId"] = parent
            out.append(zs)
    return out
