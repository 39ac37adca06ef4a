"""Retry backoff and per-try timeouts (reference §1.2, §1.3, §1.4, §2)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from meshsim.model.compile import convert_retry_policy, default_retry_policy
from meshsim.pipeline import load_and_compile
from meshsim.sim.simulation import Simulation
from meshsim.sim.sampling import Uniform

from .helpers import ALPHA, assert_binomial, counters, edge, fx, run

CEILINGS_MS = [25, 50, 100, 200, 250, 250, 250]


def test_backoff_is_uniform_below_envoy_ceilings() -> None:
    """Reference §1.4 (Envoy ``backoff_strategy.cc``): I_1 = B = 25 ms, I_{n+1} = 2 I_n while
    I_n < floor(M/2) else M = 250 ms; the wait before retry n is ``R mod I_n`` ms, a uniform
    *integer* on [0, I_n). Checks, per n: every draw is a whole millisecond in [0, I_n); the
    integers are uniform (chi-square); and integer + U[0,1) is U[0, I_n) (Kolmogorov-Smirnov),
    which also pins the ceiling (a 24 or 26 ms ceiling would fail)."""
    model, _ = load_and_compile(fx("front-server-ok.yaml", "mesh-zero.yaml", "load-open.yaml"))
    sidecar = Simulation(model, seed=1).replicas["front-v1-0"].sidecar
    sidecar.u = Uniform(np.random.default_rng(20240603))
    jitter = np.random.default_rng(7)
    rp = default_retry_policy()
    assert (rp.backoff_base, rp.backoff_max) == (0.025, 0.25)
    draws = 4000
    for n, ceiling in enumerate(CEILINGS_MS, start=1):
        ms = np.array([sidecar._backoff(rp, n) * 1e3 for _ in range(draws)])
        ints = np.rint(ms)
        assert np.allclose(ms, ints, atol=1e-9), f"retry {n}: backoff not whole ms"
        assert ints.min() >= 0 and ints.max() <= ceiling - 1, f"retry {n}: outside [0, {ceiling})"
        counts = np.bincount(ints.astype(int), minlength=ceiling)
        assert stats.chisquare(counts).pvalue > ALPHA, f"retry {n}: integers not uniform"
        cont = ints + jitter.random(draws)
        ks = stats.kstest(cont, stats.uniform(loc=0, scale=ceiling).cdf)
        assert ks.pvalue > ALPHA, f"retry {n}: KS against U[0,{ceiling}) p={ks.pvalue:.2g}"


def test_backoff_follows_istio_backoff_setting() -> None:
    """Reference §1.1/§1.4: VirtualService ``backoff: 2s`` sets the base; max is 10 x base, so the
    ceilings are 2000, 4000, 8000, 16000, 20000 ms."""
    from meshsim.config.istio import HTTPRetry

    rp = convert_retry_policy(HTTPRetry(attempts=5, retryOn="5xx", backoff=2.0), default_retry_policy())
    assert rp is not None
    model, _ = load_and_compile(fx("front-server-ok.yaml", "mesh-zero.yaml", "load-open.yaml"))
    sidecar = Simulation(model, seed=1).replicas["front-v1-0"].sidecar
    sidecar.u = Uniform(np.random.default_rng(11))
    for n, ceiling in enumerate([2000, 4000, 8000, 16000, 20000, 20000], start=1):
        ms = np.array([sidecar._backoff(rp, n) * 1e3 for _ in range(3000)])
        assert ms.min() >= 0 and ms.max() < ceiling
        ks = stats.kstest(ms + np.random.default_rng(n).random(ms.size), stats.uniform(loc=0, scale=ceiling).cdf)
        assert ks.pvalue > ALPHA, f"retry {n}: KS p={ks.pvalue:.2g}"


def test_per_try_timeout_closed_form() -> None:
    """Reference §1.2, §1.3, §2: the per-try timer (100 ms) starts when the attempt has a connection;
    with zero sidecar cost and an exponential service of mean 50 ms an attempt times out with
    probability e^{-100/50} = e^{-2}, independently (unbounded workers: no queueing). A per-try
    timeout is a local reset, retried because retryOn has ``5xx``; with 2 retries the end-to-end
    success is 1 - (e^{-2})^3. Final failures are 504 with flags UT and URX."""
    s = run(
        fx("slow-server.yaml", "mesh-zero.yaml", "load-open.yaml"),
        ["LoadProfile.spec.rate=500", "LoadProfile.spec.duration=30s"],
    )
    q = math.exp(-2)
    c = counters(s, "front-v1-0", "outbound|8080||server.")
    assert_binomial(int(c["upstream_rq_per_try_timeout"]), int(c["upstream_rq_total"]), q, "per-try timeout fraction")
    e = edge(s, "front.v1", "server")
    n = e.requests
    failed = n - round(e.success_rate.value * n)
    assert_binomial(n - failed, n, 1 - q**3, "end-to-end success")
    assert e.status_codes.get("504", 0) == failed
    assert sum(v for k, v in e.response_flags.items() if set(k.split(",")) == {"UT", "URX"}) == failed
    assert c["upstream_rq_retry"] == e.attempts - n
    assert c["upstream_rq_per_try_timeout"] == e.attempts - n + failed
