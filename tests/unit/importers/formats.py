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


def write_many(path: Path, n_spans: int, fmt: str = "zipkin", interleave: int = 1, lite: bool = False) -> int:
    """Write at least ``n_spans`` Bookinfo spans (the fixture's traces repeated with fresh trace and
    span ids, 50 ms apart) to ``path`` without holding them: a flat Zipkin ``ListOfSpans`` or OTLP/JSON
    (one ``ExportTraceServiceRequest`` per line, a resource per service per batch, as a collector's file
    exporter writes). ``interleave`` traces are written mixed, span by span (Zipkin only); ``lite``
    keeps only the tags the graph needs (service, revision, status, proxy marker). Returns the number
    of traces written."""
    base = zipkin_spans()
    if lite:
        keep = ("component", "http.status_code", "istio.canonical_revision", "istio.canonical_service")
        base = [{**s, "tags": {k: v for k, v in s["tags"].items() if k in keep}} for s in base]
    traces: dict[str, list[dict[str, Any]]] = {}
    for s in base:
        traces.setdefault(s["traceId"], []).append(s)
    shapes = list(traces.values())
    t0 = min(s["timestamp"] for s in base)
    n = 0
    written = 0

    def copy(k: int, trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
        shift = k * 50_000 - (trace[0]["timestamp"] - t0)
        out = []
        for s in trace:
            c = dict(s)
            c["traceId"] = f"{k + 1:032x}"
            c["id"] = f"{k:08x}{s['id'][-8:]}"
            if "parentId" in s:
                c["parentId"] = f"{k:08x}{s['parentId'][-8:]}"
            c["timestamp"] = s["timestamp"] + shift
            out.append(c)
        return out

    with path.open("w") as f:
        if fmt == "zipkin":
            f.write("[")
        while written < n_spans:
            batch = [copy(n + i, shapes[(n + i) % len(shapes)]) for i in range(interleave)]
            n += interleave
            if fmt == "zipkin":
                mixed = [s for group in zip(*batch, strict=False) for s in group] + [
                    s for tr in batch for s in tr[min(len(t) for t in batch) :]
                ]
                for s in mixed:
                    f.write(("," if written else "") + json.dumps(s))
                    written += 1
            else:
                spans = [s for tr in batch for s in tr]
                f.write(json.dumps(otlp_doc(spans)) + "\n")
                written += len(spans)
        if fmt == "zipkin":
            f.write("]")
    return n
