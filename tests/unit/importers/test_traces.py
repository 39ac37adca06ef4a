"""Jaeger, Zipkin v2 and OTLP/JSON readers: one meaning, whatever the format."""

from __future__ import annotations

import json
from pathlib import Path

from meshsim.importers.graph import Graph, build_graph
from meshsim.importers.traces import TraceFile, detect_format, read_traces
from tests.unit.importers.formats import FIXTURE, jaeger_doc, otlp_doc, zipkin_spans


def _graph(path: Path) -> tuple[Graph, TraceFile]:
    info = TraceFile(str(path))
    return build_graph(read_traces(path, info)), info


def _shape(g: Graph) -> dict[str, object]:
    return {
        "versions": {
            k: (
                v.spans,
                v.scripted,
                sorted(v.pods),
                {c: s.present for c, s in v.calls.items()},
                sorted(round(x * 1e6) for x in v.self_times),
            )
            for k, v in g.versions.items()
        },
        "edges": {k: (e.calls, dict(e.versions)) for k, e in g.edges.items()},
        "entry": dict(g.entry),
    }


def test_meshsim_jaeger_has_the_sidecar_tags_envoy_writes() -> None:
    servers = clients = 0
    for tr in jaeger_doc()["data"]:
        for sp in tr["spans"]:
            tags = {t["key"]: t["value"] for t in sp["tags"]}
            if tags.get("span.kind") == "server":
                servers += 1
                assert tags["upstream_cluster"] == "inbound|9080||" and tags["component"] == "proxy"
            elif tags.get("span.kind") == "client":
                clients += 1
                assert tags["upstream_cluster"].startswith("outbound|9080||") and tags["upstream_cluster"].endswith(
                    ".default.svc.cluster.local"
                )
            if "span.kind" in tags:
                assert tags["istio.canonical_service"] and tags["istio.canonical_revision"].startswith("v")
                assert tags["http.status_code"] == "200"
    assert servers == 15 + 15 + 15 + 2 and clients == 15 + 15 + 2


def test_jaeger_reader_reads_services_versions_pods_and_the_call_graph() -> None:
    g, info = _graph(FIXTURE)
    assert (info.fmt, info.traces, info.spans, info.problems) == ("jaeger", 15, 301, [])
    assert set(g.versions) == {
        ("productpage", "v1"),
        ("details", "v1"),
        ("reviews", "v1"),
        ("reviews", "v2"),
        ("ratings", "v1"),
    }
    assert g.versions[("reviews", "v2")].pods == {"reviews-v2-0"}
    assert g.edges[("productpage", "reviews")].versions == {"v1": 13, "v2": 2}
    assert g.entry == {"productpage": 15} and g.proxy_traces == 15
    # app spans (sleep, call, attempt, ...) are not hops: productpage's self time excludes its calls
    vs = g.versions[("productpage", "v1")]
    assert vs.calls[("details", 0)].present == 15 and len(vs.self_times) == 15


def test_zipkin_flat_and_list_of_traces_and_otlp_give_the_same_graph_as_jaeger(tmp_path: Path) -> None:
    ref = _shape(_graph(FIXTURE)[0])
    spans = zipkin_spans()
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(list(reversed(spans))))  # any order, traces mixed
    by_trace: dict[str, list[object]] = {}
    for s in spans:
        by_trace.setdefault(s["traceId"], []).append(s)
    nested = tmp_path / "traces.json"
    nested.write_text(json.dumps(list(by_trace.values())))
    otlp = tmp_path / "otlp.json"
    otlp.write_text(json.dumps(otlp_doc(spans)))
    old = tmp_path / "otlp-old.json"
    old.write_text(json.dumps(otlp_doc(spans, old_names=True)))
    lines = tmp_path / "otlp-lines.json"  # a collector's file exporter: one request per line
    half = len(spans) // 2
    lines.write_text(json.dumps(otlp_doc(spans[:half])) + "\n" + json.dumps(otlp_doc(spans[half:])) + "\n")
    for path, fmt in ((flat, "zipkin"), (nested, "zipkin"), (otlp, "otlp"), (old, "otlp"), (lines, "otlp")):
        g, info = _graph(path)
        assert info.fmt == fmt and info.problems == [], path.name
        assert _shape(g) == ref, path.name


def test_zipkin_lower_cased_names_and_istio_node_ids(tmp_path: Path) -> None:
    spans = zipkin_spans()
    for s in spans:
        s["localEndpoint"]["serviceName"] = s["localEndpoint"]["serviceName"].lower()
        s["tags"].pop("istio.canonical_service")  # service from localEndpoint "<app>.<namespace>"
        pod = s["tags"]["node_id"]
        s["tags"]["node_id"] = f"sidecar~10.0.0.7~{pod}.default~default.svc.cluster.local"
    p = tmp_path / "z.json"
    p.write_text(json.dumps(spans))
    g, _ = _graph(p)
    assert ("reviews", "v2") in g.versions and g.versions[("reviews", "v2")].pods == {"reviews-v2-0"}


def test_app_instrumented_otel_traces_without_sidecars(tmp_path: Path) -> None:
    def span(sid: str, parent: str, kind: int, t0: int, t1: int, status: int = 0) -> dict[str, object]:
        return {
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": sid,
            "parentSpanId": parent,
            "name": "GET",
            "kind": kind,
            "startTimeUnixNano": str(t0 * 1000),
            "endTimeUnixNano": t1 * 1000,
            "attributes": [{"key": "http.response.status_code", "value": {"intValue": "500" if status else "200"}}],
            "status": {"code": status},
        }

    def res(name: str, version: str, spans: list[dict[str, object]]) -> dict[str, object]:
        attrs = [
            {"key": "service.name", "value": {"stringValue": name}},
            {"key": "service.version", "value": {"stringValue": version}},
            {"key": "k8s.pod.name", "value": {"stringValue": f"{name}-abc"}},
        ]
        return {"resource": {"attributes": attrs}, "scopeSpans": [{"scope": {}, "spans": spans}]}

    doc = {
        "resourceSpans": [
            res("web", "1.2", [span("a" * 16, "", 2, 0, 10_000), span("b" * 16, "a" * 16, 3, 2_000, 6_000)]),
            res("api", "2.0", [span("c" * 16, "b" * 16, 2, 2_500, 5_500)]),
        ]
    }
    p = tmp_path / "otel.json"
    p.write_text(json.dumps(doc))
    assert detect_format(p) == "otlp"
    g, _ = _graph(p)
    assert g.entry == {"web": 1} and g.edges[("web", "api")].versions == {"2.0": 1}
    assert list(g.versions[("web", "1.2")].self_times) == [0.006]  # 10 ms minus the 4 ms call
    assert g.versions[("api", "2.0")].pods == {"api-abc"}


def test_a_bare_array_of_jaeger_traces_and_otlp_kind_names(tmp_path: Path) -> None:
    ref = _shape(_graph(FIXTURE)[0])
    arr = tmp_path / "download.json"
    arr.write_text(json.dumps(jaeger_doc()["data"]))
    g, info = _graph(arr)
    assert info.fmt == "jaeger" and _shape(g) == ref
    doc = otlp_doc(zipkin_spans())
    for rs in doc["resourceSpans"]:
        for s in rs["scopeSpans"][0]["spans"]:
            s["kind"] = {2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT"}[s["kind"]]
    p = tmp_path / "names.json"
    p.write_text(json.dumps(doc))
    assert _shape(_graph(p)[0]) == ref
