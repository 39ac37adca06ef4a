"""Telemetry out: Istio's Prometheus metrics and Jaeger traces from `meshsim run`."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.telemetry.record import DURATION_BUCKETS_MS
from tests.mesh.helpers import BOOKINFO, GATEWAY_YAML, SHORT, fx

runner = CliRunner()
LOAD = str(Path(BOOKINFO[0]).parent / "load.yaml")
ERRORS = "MockServiceGraph.services[name=details].errorRate=0.1"
FAIL_WITH_DETAILS = "MockServiceGraph.services[name=productpage].script[1].call.onError=fail"
"""Bookinfo's productpage renders without details (onError: ignore); here it fails with it."""


def _sets(*extra: str) -> list[str]:
    out: list[str] = []
    for s in (*SHORT, *extra):
        out += ["--set", s]
    return out


def _flagger_success_rate(samples: list, workload: str) -> float:
    """Flagger's request-success-rate: sum(rate(istio_requests_total{reporter="destination",
    destination_workload=~"X",response_code!~"5.*"})) / sum(rate(... without the code filter))."""
    sel = [s for s in samples if s.labels["reporter"] == "destination" and s.labels["destination_workload"] == workload]
    ok = sum(s.value for s in sel if not s.labels["response_code"].startswith("5"))
    return ok / sum(s.value for s in sel)


def test_prometheus_file_parses_and_flagger_success_rate_equals_summary(tmp_path: Path) -> None:
    prom = tmp_path / "metrics.prom"
    res = runner.invoke(
        app,
        [
            "run",
            *BOOKINFO,
            LOAD,
            *_sets(ERRORS, FAIL_WITH_DETAILS),
            "--out",
            str(tmp_path / "o"),
            "-q",
            "--prometheus",
            str(prom),
        ],
    )
    assert res.exit_code == 0, res.output
    fams = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert set(fams) == {"istio_requests", "istio_request_duration_milliseconds"}
    assert fams["istio_requests"].type == "counter" and fams["istio_request_duration_milliseconds"].type == "histogram"
    totals = [s for s in fams["istio_requests"].samples if s.name == "istio_requests_total"]
    for s in totals:
        for label in (
            "reporter",
            "source_workload",
            "destination_workload",
            "destination_version",
            "destination_service",
            "response_code",
            "response_flags",
        ):
            assert label in s.labels
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    sr = summary["entry"]["success_rate"]["value"]
    assert 0.8 < sr < 0.95  # details fails 10% and productpage fails with it
    assert math.isclose(_flagger_success_rate(totals, "productpage-v1"), sr, abs_tol=1e-6)
    # counters agree with summary.json edges (reporter=source, client side)
    src = defaultdict(float)
    for s in totals:
        if s.labels["reporter"] == "source":
            src[(s.labels["source_workload"], s.labels["destination_service_name"])] += s.value
    edges = defaultdict(int)
    for e in summary["edges"]:
        edges[(e["source"].replace(".", "-"), e["destination"])] += e["requests"]
    assert dict(src) == dict(edges)
    # histogram: Istio's (Envoy's default) buckets; +Inf bucket = _count = the counter of the same labels
    hist = fams["istio_request_duration_milliseconds"].samples
    les = sorted({float(s.labels["le"]) for s in hist if s.name.endswith("_bucket")})
    assert les == [*DURATION_BUCKETS_MS, math.inf]
    counts = {tuple(sorted((k, v) for k, v in s.labels.items())): s.value for s in hist if s.name.endswith("_count")}
    assert counts == {tuple(sorted(s.labels.items())): s.value for s in totals}


def test_jaeger_traces_load_and_spans_add_up_to_latency(tmp_path: Path) -> None:
    out = tmp_path / "traces.json"
    res = runner.invoke(
        app,
        [
            "run",
            *BOOKINFO,
            GATEWAY_YAML,
            *fx("gateway-load.yaml"),
            "--set",
            "LoadProfile.spec.rate=40",
            "--set",
            "LoadProfile.spec.duration=5s",
            "--set",
            "DestinationRule/reviews.spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection=1",
            "--set",
            ERRORS,
            "--out",
            str(tmp_path / "o"),
            "-q",
            "--traces",
            str(out),
            "--trace-sample",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert set(doc) >= {"data"} and len(doc["data"]) == summary["entry"]["requests"]
    roots_ms = []
    for t in doc["data"]:
        assert set(t) >= {"traceID", "spans", "processes"}
        ids = {s["spanID"] for s in t["spans"]}
        children = defaultdict(list)
        roots = []
        for s in t["spans"]:
            assert {
                "traceID",
                "spanID",
                "operationName",
                "references",
                "startTime",
                "duration",
                "tags",
                "processID",
            } <= set(s)
            assert s["traceID"] == t["traceID"] and s["processID"] in t["processes"] and s["duration"] >= 0
            if s["references"]:
                (ref,) = s["references"]
                assert ref["refType"] == "CHILD_OF" and ref["spanID"] in ids
                children[ref["spanID"]].append(s)
            else:
                roots.append(s)
        assert len(roots) == 1
        roots_ms.append(roots[0]["duration"] / 1e3)
        for s in t["spans"]:
            kind = next(tag["value"] for tag in s["tags"] if tag["key"] == "meshsim.children")
            if kind == "sequential":
                kids = sorted(children[s["spanID"]], key=lambda k: k["startTime"])
                assert kids, s["operationName"]
                # the children tile the span: contiguous, and their durations add up to its own
                assert kids[0]["startTime"] == s["startTime"]
                for a, b in pairwise(kids):
                    assert a["startTime"] + a["duration"] == b["startTime"], (s["operationName"], a["operationName"])
                assert sum(k["duration"] for k in kids) == s["duration"], s["operationName"]
    # the root spans are the entry requests: their mean is summary.json's mean latency
    mean = sum(roots_ms) / len(roots_ms)
    assert math.isclose(mean, summary["entry"]["latency_ms"]["mean"]["value"], abs_tol=2e-3)
    ops = {s["operationName"] for t in doc["data"] for s in t["spans"]}
    assert {"router productpage", "pending connection", "queue for a worker"} & ops
    assert any(op.startswith("attempt") for op in ops)


def test_tracing_does_not_change_results(tmp_path: Path) -> None:
    a = runner.invoke(app, ["run", *BOOKINFO, LOAD, *_sets(), "--out", str(tmp_path / "a"), "-q"])
    b = runner.invoke(
        app,
        [
            "run",
            *BOOKINFO,
            LOAD,
            *_sets(),
            "--out",
            str(tmp_path / "b"),
            "-q",
            "--traces",
            str(tmp_path / "t.json"),
            "--trace-sample",
            "0.01",
        ],
    )
    assert a.exit_code == b.exit_code == 0
    sa = json.loads((tmp_path / "a" / "summary.json").read_text())
    sb = json.loads((tmp_path / "b" / "summary.json").read_text())
    sa["run"]["inputs"] = sb["run"]["inputs"] = None
    assert sa == sb
    assert 0 < len(json.loads((tmp_path / "t.json").read_text())["data"]) < sb["entry"]["requests"]
