"""``plan``: the Erlang-C answer for one M/M/c service; a Bookinfo plan that another seed confirms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.model.analytic import mmc_mean_response
from meshsim.pipeline import load_and_compile
from meshsim.planning.search import plan, replica_override, simulate_point
from meshsim.planning.slo import load_slos

from .helpers import BOOKINFO, single_service, slo

NO_PROXY = "MeshSettings.spec.sidecar.latency={dist: constant, value: 0}"


def erlang_c_replicas(lam: float, mu: float, c: int, target_s: float) -> int:
    """Fewest replicas r (random split: r independent M/M/c queues at lam/r) with mean response <= target."""
    r = 1
    while lam / r >= c * mu or mmc_mean_response(lam / r, mu, c) > target_s:
        r += 1
    return r


@pytest.mark.parametrize("lam,c,target_ms", [(200.0, 1, 25.0), (320.0, 4, 15.0)])
def test_plan_single_mmc_service_is_the_erlang_c_answer(tmp_path, lam: float, c: int, target_ms: float) -> None:
    want = erlang_c_replicas(lam, 100.0, c, target_ms / 1e3)
    # the margins make the simulated verdicts unambiguous: want-1 is >= 15% over, want >= 15% under
    assert mmc_mean_response(lam / want, 100.0, c) * 1e3 < 0.87 * target_ms
    assert mmc_mean_response(lam / (want - 1), 100.0, c) * 1e3 > 1.15 * target_ms
    mesh = single_service(tmp_path, lam, 10, c, duration="30s", warmup="3s")
    slos = load_slos([slo(tmp_path, f"- {{entry: server, latency: {{mean: {target_ms}ms}}}}")])
    analytic = plan([mesh], slos, [NO_PROXY], simulate=False)
    assert analytic.replicas == {"server.v1": want}
    p = plan([mesh], slos, [NO_PROXY], seed=5, replications=3, workers=2)
    assert p.feasible and p.replicas == {"server.v1": want}
    tried = [t for t in p.trace if t.phase == "simulation" and t.replicas == {"server.v1": want - 1}]
    assert tried and not tried[0].ok  # one fewer was simulated and broke the SLO
    assert tried[0].paired is not None and tried[0].paired.ci_low > 0  # paired: significantly slower


BOOKINFO_CAPACITY = [
    # reviews pods that serve one request at a time: reviews-v1 at ~0.98 utilisation with one pod
    "MockServiceGraph.services[name=reviews].concurrency=1",
    "LoadProfile.spec.rate=285",
    "LoadProfile.spec.duration=10s",
    "LoadProfile.spec.warmup=2s",
]


@pytest.mark.conformance
def test_bookinfo_plan_is_confirmed_by_another_seed_and_minimal(tmp_path) -> None:
    slos = load_slos([slo(tmp_path, "- {entry: productpage, latency: {p99: 150ms}, successRate: 99%}")])
    p = plan([str(BOOKINFO)], slos, BOOKINFO_CAPACITY, seed=1, replications=3, workers=2)
    assert p.feasible
    bott = p.bottleneck
    assert bott == "reviews.v1"
    model, _ = load_and_compile([str(BOOKINFO)], BOOKINFO_CAPACITY)
    plan_sets = BOOKINFO_CAPACITY + p.overrides
    confirm = simulate_point([str(BOOKINFO)], plan_sets, slos, seed=2, replications=3, workers=2, criterion="point")
    assert confirm.ok, confirm.checks
    fewer = simulate_point(
        [str(BOOKINFO)],
        [*plan_sets, replica_override(model, bott, p.replicas[bott] - 1)],
        slos,
        seed=2,
        replications=3,
        workers=2,
        criterion="point",
    )
    assert not fewer.ok
    p99 = fewer.check("entry:productpage/latency.p99")
    assert p99 is not None and p99.value > 150
    # the plan is no bigger than needed on any workload, in the search's own simulations
    for k, v in p.replicas.items():
        if v > 1:
            assert any(t.replicas.get(k) == v - 1 and not t.ok for t in p.trace if t.phase == "simulation")


def test_cli_plan_writes_plan_trace_and_provenance(tmp_path) -> None:
    mesh = single_service(tmp_path, 200, 10, 1, duration="10s", warmup="2s")
    s = slo(tmp_path, "- {entry: server, latency: {mean: 25ms}}")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["plan", mesh, "--slo", s, "--analytic-only", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "server.v1=4" in res.output
    doc = json.loads((out / "plan.json").read_text())
    assert doc["replicas"] == {"server.v1": 4} and doc["simulated"] is False
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["inputs"][0]["path"] == mesh and len(prov["inputs"][0]["sha256"]) == 64
    assert prov["versions"]["meshsim"] and prov["digest"]


def test_cli_plan_bad_slo_is_one_line_exit_2(tmp_path) -> None:
    mesh = single_service(tmp_path, 200, 10, 1)
    s = slo(tmp_path, "- {entry: nosuch, latency: {mean: 25ms}}")
    res = CliRunner().invoke(app, ["plan", mesh, "--slo", s, "--analytic-only", "-q", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "spec.objectives[0].entry" in res.output and s in res.output.replace("\n", "")


def test_cli_plan_with_an_hpa_searches_its_settings(tmp_path) -> None:
    """A config with an HPA: ``meshsim plan`` answers with minReplicas / maxReplicas / target (plan.json
    ``kind: hpa``), the same answer as :func:`meshsim.planning.hpa.plan_hpa`."""
    fix = str(Path(__file__).resolve().parents[1] / "scenario" / "fixtures" / "hpa-plan.yaml")
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app, ["plan", fix, "-r", "1", "--criterion", "point", "--workers", "1", "-q", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    d = json.loads((out / "plan.json").read_text())
    assert d["kind"] == "hpa" and d["feasible"]
    assert d["hpas"] == [{"hpa": "default/server", "min_replicas": 2, "max_replicas": 2, "target": 60.0}]
    assert "minReplicas=2 maxReplicas=2 target=60" in " ".join(res.output.split())
    assert (out / "plan_trace.csv").exists() and (out / "provenance.json").exists()
