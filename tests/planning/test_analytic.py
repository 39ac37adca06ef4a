"""The analytic pre-screen (meshsim.model.analytic): closed forms, then cross-checks with the simulator."""

from __future__ import annotations

import math

import pytest

from meshsim.model.analytic import Moments, analyze, erlang_c, mgc_mean_wait, mmc_mean_response, mmc_mean_wait
from meshsim.pipeline import load_and_compile, simulate

from .helpers import BOOKINFO, single_service, write


@pytest.mark.parametrize("lam,mu,c", [(0.5, 1.0, 1), (3.0, 1.0, 4), (7.0, 1.0, 8)])
def test_allen_cunneen_is_exact_for_mmc(lam: float, mu: float, c: int) -> None:
    assert mgc_mean_wait(lam, 1 / mu, 1.0, c) == pytest.approx(mmc_mean_wait(lam, mu, c))


@pytest.mark.parametrize("scv", [0.0, 0.5, 2.0])
def test_allen_cunneen_is_pollaczek_khinchine_for_mg1(scv: float) -> None:
    lam, s = 60.0, 0.01
    rho = lam * s
    es2 = s * s * (1 + scv)
    assert mgc_mean_wait(lam, s, scv, 1) == pytest.approx(lam * es2 / (2 * (1 - rho)))


def test_pinned_erlang_c_value() -> None:
    # pyworkforce queuing/tests/test_erlang.py: 100 calls per 30 min, 3 min AHT, 14 agents
    a = 100 / 30 * 3
    assert erlang_c(a, 1.0, 14) == pytest.approx(0.1741, abs=1e-3)


def test_moments_algebra() -> None:
    x = Moments(2.0, 5.0)  # var 1
    assert (x + x).var == pytest.approx(2.0)
    assert x.times(3).m1 == 6.0 and x.times(3).var == pytest.approx(3.0)
    mix = Moments.mix([(0.5, x)])
    assert mix.m1 == 1.0 and mix.m2 == 2.5


@pytest.mark.parametrize("replicas,concurrency", [(1, 4), (3, 1)])
def test_single_service_is_erlang_c_per_replica(tmp_path, replicas: int, concurrency: int) -> None:
    rate = 320.0 if concurrency == 4 else 240.0
    model, _ = load_and_compile([single_service(tmp_path, rate, 10, concurrency, replicas)])
    est = analyze(model)
    w = est.workload("server.v1")
    lam = rate / replicas  # kube-proxy picks a pod at random: each replica is its own M/M/c
    assert w.p_wait == pytest.approx(erlang_c(lam, 100.0, concurrency))
    assert w.mean_response_ms == pytest.approx(1e3 * mmc_mean_response(lam, 100.0, concurrency))
    assert w.utilization == pytest.approx(lam * 0.01 / concurrency)
    assert est.bottleneck == "server.v1" and est.stable


def test_mm1_p99_from_monte_carlo_matches_closed_form(tmp_path) -> None:
    # M/M/1 response time is exponential with rate mu - lambda: p99 = ln(100) / (mu - lambda)
    model, _ = load_and_compile(
        [single_service(tmp_path, 50, 10, 1)], ["MeshSettings.spec.sidecar.latency={dist: constant, value: 0}"]
    )
    est = analyze(model, samples=40000)
    want = 1e3 * math.log(100) / (100 - 50)
    assert est.p99_ms == pytest.approx(want, rel=0.05)
    assert est.p50_ms == pytest.approx(1e3 * math.log(2) / 50, rel=0.05)


def test_unstable_is_reported_not_raised(tmp_path) -> None:
    model, _ = load_and_compile([single_service(tmp_path, 200, 10, 1)])
    est = analyze(model)
    assert not est.stable and math.isinf(est.p99_ms) and est.workload("server.v1").utilization == pytest.approx(2.0)
    assert analyze(model, replicas={"server.v1": 3}).stable


def test_retry_amplification_closed_form(tmp_path) -> None:
    # callee fails 20% at random; the route retries 5xx 3 times: attempts per request = sum_{k<=3} 0.2^k,
    # final failure 0.2^4
    path = write(
        tmp_path,
        "retry.yaml",
        """
        apiVersion: meshsim.io/v1alpha1
        kind: MockServiceGraph
        services:
        - name: front
          script: [{call: back}]
        - name: back
          errorRate: 20%
          script: [{sleep: 1ms}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: back}
        spec:
          hosts: [back]
          http:
          - route: [{destination: {host: back}}]
            retries: {attempts: 3, retryOn: 5xx}
        ---
        apiVersion: meshsim.io/v1alpha1
        kind: LoadProfile
        metadata: {name: retry}
        spec: {entry: front, rate: 200, duration: 20s, warmup: 1s}
        """,
    )
    model, _ = load_and_compile([path])
    est = analyze(model)
    (edge,) = est.edges
    want = sum(0.2**k for k in range(4))
    assert edge.amplification == pytest.approx(want)
    assert est.success_rate == pytest.approx(1 - 0.2**4)
    assert est.workload("back.v1").arrival_rate_rps == pytest.approx(200 * want)
    # the simulator agrees within a binomial-sized tolerance (about 4000 requests)
    s = simulate(model, seed=3, replications=1)
    sim_amp = s.edges[0].amplification
    assert abs(sim_amp - want) < 4 * math.sqrt(want * 0.25 / s.edges[0].requests) + 0.01


@pytest.mark.conformance
def test_bookinfo_analytic_matches_simulation() -> None:
    # reviews pods with 2 workers each and 2 replicas of v1: real queueing at reviews-v1 (rho ~ 0.5)
    over = [
        "LoadProfile.spec.rate=500",
        "LoadProfile.spec.duration=10s",
        "LoadProfile.spec.warmup=2s",
        "MockServiceGraph.services[name=reviews].concurrency=2",
        "MockServiceGraph.services[name=reviews].versions.v1.replicas=2",
    ]
    model, _ = load_and_compile([str(BOOKINFO)], over)
    est = analyze(model, samples=40000)
    s = simulate(model, seed=11, replications=3, workers=2)
    lat = s.entry.latency_ms
    # the analytic model is an approximation (least-request balancing as a pooled queue, independent
    # hops): the simulated 95% CI, widened by 10% (mean) and 20% (p99), must cover it
    for got, est_v, slack in ((lat.mean, est.mean_ms, 0.10), (lat.p99, est.p99_ms, 0.20)):
        assert got.ci_low * (1 - slack) <= est_v <= got.ci_high * (1 + slack), (got, est_v)
    util = {(x.name, x.version): x.utilization.value for x in s.services if x.utilization is not None}
    for w in est.workloads:
        if w.utilization is not None and w.arrival_rate_rps > 0:
            assert w.utilization == pytest.approx(util[(w.service, w.version)], rel=0.08, abs=0.01)


def test_closed_loop_and_cycles_are_refused(tmp_path) -> None:
    model, _ = load_and_compile(
        [single_service(tmp_path, 50, 10, 1)],
        ["LoadProfile.spec.arrival=closed", "LoadProfile.spec.users=3", "LoadProfile.spec.rate=null"],
    )
    with pytest.raises(ValueError, match="open-loop"):
        analyze(model)
    with pytest.raises(ValueError, match="unknown workload"):
        analyze(load_and_compile([single_service(tmp_path, 50, 10, 1)])[0], replicas={"nope.v1": 2})
