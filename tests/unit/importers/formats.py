"""Test helpers: re-encode meshsim's traces in the other formats a real mesh produces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshsim.telemetry.zipkin import jaeger_to_zipkin

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "traces" / "bookinfo-jaeger.json"
"""15 Bookinfo traces written by ``meshsim run topologies/bookinfo --rps 20 --duration 1s --warmup 1s
--seed 5 --traces FILE --trace-sample 1``, re-serialised without indentation."""


def jaeger_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text())
    return doc


def zipkin_spans() -> list[dict[str, Any]]:
    return jaeger_to_zipkin(jaeger_doc())


def otlp_doc(spans: list[dict[str, Any]], old_names: bool = False) -> dict[str, Any]:
    """Zipkin v2 spans as one OTLP/JSON ``ExportTraceServiceRequest``: a resource per service
    (``service.name``), integer kinds, times in ns as strings, ``status.code`` 2 for errors,
    every tag a ``stringValue`` (as Envoy's OpenTelemetry tracer writes them)."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        tags = dict(s["tags"])
        err = tags.pop("error", None) == "true"
        o: dict[str, Any] = {
            "traceId": s["traceId"].upper() if len(by_service) % 2 else s["traceId"],  # hex, any case
            "spanId": s["id"],
            "parentSpanId": s.get("parentId", ""),
            "name": s["name"],
            "kind": {"SERVER": 2, "CLIENT": 3}[s["kind"]],
            "startTimeUnixNano": str(s["timestamp"] * 1000),
            "endTimeUnixNano": str((s["timestamp"] + s["duration"]) * 1000),
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in tags.items()],
            "status": {"code": 2} if err else {},
        }
        by_service.setdefault(s["localEndpoint"]["serviceName"], []).append(o)
    key, scope = ("instrumentationLibrarySpans", "instrumentationLibrary") if old_names else ("scopeSpans", "scope")
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]},
                key: [{scope: {"name": "envoy"}, "spans": sp}],
            }
            for name, sp in by_service.items()
        ]
    }
