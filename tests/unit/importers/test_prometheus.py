"""Istio metrics: the call graph, call ratios, split and rate; text exposition and query-API JSON
read alike; a cross-check against traces warns when they disagree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.importers.graph import build_graph
from meshsim.importers.prometheus import cross_check, metrics_documents, read_metrics
from meshsim.importers.traces import TraceFile, read_traces
from tests.conftest import BOOKINFO
from tests.unit.importers.formats import FIXTURE

runner = CliRunner()


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bookinfo's Istio metrics as meshsim writes them (50 requests/s for 4 s)."""
    d = tmp_path_factory.mktemp("prom")
    res = runner.invoke(
        app,
        [
            "run",
            str(BOOKINFO),
            "--rps",
            "50",
            "--duration",
            "4s",
            "--warmup",
            "1s",
            "--seed",
            "5",
            "--quiet",
            "--prometheus",
            str(d / "bookinfo.prom"),
            "--out",
            str(d / "run"),
        ],
    )
    assert res.exit_code == 0, res.output
    return d / "bookinfo.prom"


def _services(em_topology: dict[str, object]) -> dict[str, dict[str, object]]:
    return {s["name"]: s for s in em_topology["services"]}  # type: ignore[index,attr-defined]


def test_text_exposition_gives_graph_ratios_split_and_rate(prom: Path) -> None:
    em = metrics_documents(read_metrics([prom], window=4.0))
    svc = _services(em.topology)
    assert set(svc) == {"productpage", "details", "reviews", "ratings"}
    pp = svc["productpage"]["versions"]["v1"]["script"]  # type: ignore[index]
    assert [c["call"] for c in pp[1:]] == [{"service": "details"}, {"service": "reviews"}]
    assert "v3" not in svc["reviews"]["versions"]  # type: ignore[operator]
    v1_calls = [c for c in svc["reviews"]["versions"]["v1"]["script"] if "call" in c]  # type: ignore[index]
    v2_calls = [c for c in svc["reviews"]["versions"]["v2"]["script"] if "call" in c]  # type: ignore[index]
    assert v1_calls == [] and v2_calls == [{"call": {"service": "ratings"}}]
    vs = next(d for d in em.routing if d["kind"] == "VirtualService")
    weights = {r["destination"]["subset"]: r["weight"] for r in vs["spec"]["http"][0]["route"]}
    assert abs(weights["v1"] - 90) <= 5 and weights["v1"] + weights["v2"] == 100
    # 50 requests/s over 4 s: a Poisson count of mean 200, so within 3 sd = 3 * sqrt(200) / 4 requests/s
    assert em.load is not None and abs(em.load["spec"]["rate"] - 50) <= 3 * 200**0.5 / 4


def test_query_api_json_reads_like_the_text(prom: Path, tmp_path: Path) -> None:
    result = []
    for fam in text_string_to_metric_families(prom.read_text()):
        for s in fam.samples:
            if s.name in ("istio_requests_total", "istio_request_duration_milliseconds_bucket"):
                metric = dict(s.labels)
                if s.name.endswith("_bucket"):  # rate(...) drops __name__
                    metric["__name__"] = s.name
                result.append({"metric": metric, "value": [1704067200.0, str(s.value / 4.0)]})
    api = tmp_path / "query.json"
    api.write_text(json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}))
    a = metrics_documents(read_metrics([prom], window=4.0))
    b = metrics_documents(read_metrics([api]))
    assert yaml.safe_dump(a.topology) == yaml.safe_dump(b.topology) and a.load == b.load


def test_cross_check_with_traces_warns_only_when_they_disagree(prom: Path, tmp_path: Path) -> None:
    g = build_graph(read_traces(FIXTURE, TraceFile(str(FIXTURE))))
    assert cross_check(g, read_metrics([prom], window=4.0)) == []
    doubled = tmp_path / "doubled.prom"
    lines = []
    for ln in prom.read_text().splitlines():
        if ln.startswith("istio_requests_total{") and 'destination_service_name="details"' in ln:
            head, _, value = ln.rpartition(" ")
            ln = f"{head} {float(value) * 2}"
        lines.append(ln)
    doubled.write_text("\n".join(lines) + "\n")
    warnings = cross_check(g, read_metrics([doubled], window=4.0))
    assert warnings == [
        "cross-check: productpage -> details: 1.000 calls per request in the traces, 2.000 in the metrics"
    ]
    res = runner.invoke(
        app, ["import", "traces", str(FIXTURE), "--prometheus", str(doubled), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0 and "cross-check: productpage -> details" in res.output


def test_imported_metrics_topology_runs(prom: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = runner.invoke(app, ["import", "prometheus", str(prom), "--window", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["run", str(out), "--duration", "2s", "--warmup", "1s", "--quiet", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 0, res.output
