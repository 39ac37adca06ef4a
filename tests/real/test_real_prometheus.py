"""Issue #8: the real mesh exports Istio's standard metrics (``meshsim real run --prometheus``) with the
simulator's names and labels, from per-request Envoy access logs. One 5 s run of the chain scenario
(frontend -> middle v1/v2 90/10 -> leaf failing 20 % with 503, retried by middle's sidecar), ~15 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from meshsim.telemetry.record import DURATION_BUCKETS_MS

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]


def test_real_prometheus_matches_summary(tmp_path: Path, state_dir: Path, real_deps: None) -> None:
    out, prom = tmp_path / "out", tmp_path / "metrics.prom"
    env = dict(os.environ, PYTHONPATH=str(REPO), MESHSIM_REAL_STATE=str(state_dir))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshsim.cli.real",
            "run",
            str(REPO / "real" / "scenarios" / "chain-split-retry"),
            "--out",
            str(out),
            "--duration",
            "5",
            "--warmup",
            "1",
            "--prometheus",
            str(prom),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    s = json.loads((out / "summary.json").read_text())
    fams = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert fams["istio_requests"].type == "counter"
    assert fams["istio_request_duration_milliseconds"].type == "histogram"
    totals = [x for x in fams["istio_requests"].samples if x.name == "istio_requests_total"]
    assert not json.loads((out / "access_logs.json").read_text())["lines"].get("frontend-v1-0.bad")

    # Flagger's request-success-rate for the entry workload (reporter=destination, non-5xx / all)
    # equals the load generator's success rate; both count the requests sent in the window
    dest = [
        x for x in totals if x.labels["reporter"] == "destination" and x.labels["destination_workload"] == "frontend-v1"
    ]
    n = sum(x.value for x in dest)
    ok = sum(x.value for x in dest if not x.labels["response_code"].startswith("5"))
    entry_n = s["entry"]["requests"]
    assert abs(n - entry_n) <= 2, (n, entry_n)
    assert abs(ok / n - s["entry"]["success_rate"]["value"]) <= 2 / entry_n
    assert all(x.labels["source_workload"] == "unknown" for x in dest)  # the load generator is outside the mesh

    # client-side (reporter=source) requests per edge equal summary.json's edges (Envoy counters)
    src: dict[tuple[str, str, str], float] = defaultdict(float)
    for x in totals:
        if x.labels["reporter"] == "source":
            src[
                (x.labels["source_workload"], x.labels["destination_service_name"], x.labels["destination_version"])
            ] += x.value
    for e in s["edges"]:
        got = sum(
            v
            for (w, d, ver), v in src.items()
            if w == e["source"].replace(".", "-") and d == e["destination"] and ver in (e["subset"] or ver, "unknown")
        )
        assert abs(got - e["requests"]) <= 0.01 * e["requests"] + 2, (e["source"], e["cluster"], got, e["requests"])
    # with access logs the real summary has per-edge latency (client sidecar's duration, retries inside)
    assert all(e["latency_ms"]["p50"]["value"] > 0 for e in s["edges"])
    # the 90/10 split shows in destination_version, retries hide inside source-side requests
    v2 = src[("frontend-v1", "middle", "v2")] / (
        src[("frontend-v1", "middle", "v1")] + src[("frontend-v1", "middle", "v2")]
    )
    assert 0.05 < v2 < 0.16

    # server side between sidecars: the peer is known (metadata-exchange header) and mTLS (auto mTLS)
    leaf = [
        x for x in totals if x.labels["reporter"] == "destination" and x.labels["destination_service_name"] == "leaf"
    ]
    assert {x.labels["source_workload"] for x in leaf} == {"middle-v1", "middle-v2"}
    assert {x.labels["connection_security_policy"] for x in leaf} == {"mutual_tls"}
    assert {x.labels["source_principal"] for x in leaf} == {"spiffe://cluster.local/ns/default/sa/default"}
    codes = defaultdict(float)
    for x in leaf:
        codes[x.labels["response_code"]] += x.value
    assert 0.12 < codes["503"] / (codes["503"] + codes["200"]) < 0.28  # the leaf's 20 % errors, every attempt

    # histogram: Istio's buckets; _count equals the counter of the same labels
    hist = fams["istio_request_duration_milliseconds"].samples
    les = sorted({float(x.labels["le"]) for x in hist if x.name.endswith("_bucket")})
    assert les == [*DURATION_BUCKETS_MS, float("inf")]
    counts = {tuple(sorted(x.labels.items())): x.value for x in hist if x.name.endswith("_count")}
    assert counts == {tuple(sorted(x.labels.items())): x.value for x in totals}
