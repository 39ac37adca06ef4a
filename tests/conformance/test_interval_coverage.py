"""Coverage of meshsim's 95% confidence intervals against closed-form sojourn-time distributions.

M/M/1 (lambda = 70/s, mu = 100/s, rho = 0.7): the FIFO sojourn time is exponential with rate
mu - lambda (Kleinrock, *Queueing Systems* I, 1975, eq. 3.28). M/M/c (c = 4, lambda = 320/s,
mu = 100/s, rho = 0.8): with probability 1 - C(c, rho) (Erlang C) the sojourn is Exp(mu), else it is
Exp(c mu - lambda) wait plus Exp(mu) service, a hypoexponential; quantiles come from that CDF with
scipy's ``brentq``.

Over 200 independent short runs per case (seeds 0..199), the interval of the mean, p50, p90 and p99
must cover the true value in 92-98% of runs, for single-run sectioning (10 time batches) and for
5-replication runs (5 sections). The runs are long enough that every p99 section holds >= 1000
requests (:func:`meshsim.metrics.intervals.min_per_section`); the warm-up (5 s) is >= 10 relaxation
times of either queue (1 / (mu (1 - sqrt(rho))^2) ~ 0.37 s at rho 0.7; ~1.1 s for M/M/c at rho 0.8).
The sketch's relative accuracy is :data:`meshsim.metrics.recorder.RELATIVE_ACCURACY`.

Deterministic (fixed seeds); the 92-98% band is the acceptance criterion itself, and a binomial test
(two-sided, p > 0.001 against 0.95) guards against gross miscalibration as well.
"""

from __future__ import annotations

import math
from functools import cache

import pytest
from scipy import optimize, stats

from meshsim.metrics.summarize import latency
from meshsim.model.analytic import erlang_c
from meshsim.pipeline import load_and_compile
from meshsim.sim.engine import Simulation
from tests.conftest import TOPOLOGIES

RUNS = 200
MU = 100.0


def mm1_truth(lam: float) -> dict[str, float]:
    """Mean (ms) and quantiles (ms) of the M/M/1 sojourn time, Exp(mu - lambda)."""
    r = MU - lam
    out = {"mean": 1e3 / r}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        out[name] = 1e3 * -math.log(1 - q) / r
    return out


def mmc_truth(lam: float, c: int) -> dict[str, float]:
    """Mean and quantiles (ms) of the M/M/c FIFO sojourn time (Erlang-C mixture)."""
    pw = erlang_c(lam, MU, c)
    th = c * MU - lam

    def cdf(t: float) -> float:
        served = 1 - math.exp(-MU * t)
        hypo = 1 - (th * math.exp(-MU * t) - MU * math.exp(-th * t)) / (th - MU)
        return (1 - pw) * served + pw * hypo

    out = {"mean": 1e3 * (1 / MU + pw / th)}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        out[name] = 1e3 * optimize.brentq(lambda t, q=q: cdf(t) - q, 0.0, 10.0, xtol=1e-12)
    return out


@cache
def _model(topology: str, rate: float, duration: str):  # type: ignore[no-untyped-def]
    model, _ = load_and_compile(
        [str(TOPOLOGIES / topology)],
        [f"LoadProfile.spec.rate={rate}", f"LoadProfile.spec.duration={duration}", "LoadProfile.spec.warmup=5s"],
    )
    return model


def _coverage(topology: str, rate: float, duration: str, reps: int, truth: dict[str, float]) -> dict[str, int]:
    model = _model(topology, rate, duration)
    hits = dict.fromkeys(truth, 0)
    for seed in range(RUNS):
        tallies = []
        for r in range(reps):
            res = Simulation(model, seed, r).run()
            assert res.entry_latency is not None
            tallies.append(res.entry_latency)
        lat = latency(tallies)
        for name, want in truth.items():
            e = getattr(lat, name)
            assert e.ci_low is not None and e.ci_high is not None, (name, e)
            hits[name] += e.ci_low <= want <= e.ci_high
    return hits


def _assert_calibrated(hits: dict[str, int]) -> None:
    bad = {}
    for name, k in hits.items():
        p = stats.binomtest(k, RUNS, 0.95).pvalue
        if not (0.92 * RUNS <= k <= 0.98 * RUNS) or p < 0.001:
            bad[name] = f"{k}/{RUNS} (binomial p={p:.3g})"
    assert not bad, f"coverage outside 92-98%: {bad} (all: {hits})"


CASES = [
    # (topology, rate, truth, single-run duration, per-replication duration)
    pytest.param("mm1/mm1.yaml", 70.0, mm1_truth(70.0), "170s", "20s", id="mm1-rho0.7"),
    pytest.param("mmc/mmc.yaml", 320.0, mmc_truth(320.0, 4), "40s", "5s", id="mmc-c4-rho0.8"),
]


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.parametrize(("topology", "rate", "truth", "single", "per_rep"), CASES)
def test_single_run_sectioning_covers(topology: str, rate: float, truth: dict[str, float], single: str, per_rep: str) -> None:
    """One run, 10 time-batch sections: the 95% CI of mean, p50, p90, p99 covers 92-98% of the time."""
    _assert_calibrated(_coverage(topology, rate, single, 1, truth))


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.parametrize(("topology", "rate", "truth", "single", "per_rep"), CASES)
def test_five_replications_cover(topology: str, rate: float, truth: dict[str, float], single: str, per_rep: str) -> None:
    """Five replications as sections: the 95% CI of mean, p50, p90, p99 covers 92-98% of the time."""
    _assert_calibrated(_coverage(topology, rate, per_rep, 5, truth))


def test_mmc_truth_reduces_to_mm1() -> None:
    """The Erlang-C mixture with c = 1 is the M/M/1 exponential (checks the derivation)."""
    a, b = mmc_truth(70.0, 1), mm1_truth(70.0)
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9)
