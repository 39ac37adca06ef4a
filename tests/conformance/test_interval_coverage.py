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
(two-sided, p > 0.001 against 0.95) guards against gross miscalibration as well. The sidecar's
traversal latency is switched off (:data:`PURE_QUEUE`) so the entry latency is exactly the sojourn time.
Every run gets an interval for all four metrics (none is withheld: each section holds >= 1000
requests, p99's minimum). Measured, with these seeds: M/M/1 covers 92-98% for every metric, single
runs and replications alike, and M/M/4 for the mean and p50 everywhere and p90 of replications;
:data:`UNDERCOVERS` lists the cases that miss, with their counts and causes.
"""

from __future__ import annotations

import math
from functools import cache

import pytest
from scipy import optimize, stats

from meshsim.metrics.summarize import latency
from meshsim.model.analytic import erlang_c
from meshsim.pipeline import load_and_compile
from meshsim.sim.simulation import Simulation
from tests.conftest import TOPOLOGIES

RUNS = 200
MU = 100.0
PURE_QUEUE = ["MeshSettings.spec.sidecar.latency={dist: constant, value: 0}", "MeshSettings.spec.proxy.workers=0"]
"""Without these the entry latency also holds two Envoy traversals (~0.5 ms, lognormal): not M/M/c."""


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
        [
            f"LoadProfile.spec.rate={rate}",
            f"LoadProfile.spec.duration={duration}",
            "LoadProfile.spec.warmup=5s",
            *PURE_QUEUE,
        ],
    )
    return model


@cache
def _coverage(topology: str, rate: float, duration: str, reps: int, truth_key: str) -> dict[str, int]:
    """Runs whose 95% CI covers the truth, per metric, over RUNS seeds (cached per case)."""
    truth = TRUTHS[truth_key]
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


def _assert_calibrated(k: int) -> None:
    p = stats.binomtest(k, RUNS, 0.95).pvalue
    assert 0.92 * RUNS <= k <= 0.98 * RUNS and p >= 0.001, f"coverage {k}/{RUNS} outside 92-98% (binomial p={p:.3g})"


TRUTHS = {"mm1": mm1_truth(70.0), "mmc": mmc_truth(320.0, 4)}
# (topology, rate, truth, duration, replications): single runs have 10 time-batch sections, each with
# >= 1000 requests (p99's minimum); 5-replication runs have 5 sections of >= 1000 requests.
CASES = {
    "mm1-single": ("mm1/mm1.yaml", 70.0, "mm1", "170s", 1),
    "mm1-5reps": ("mm1/mm1.yaml", 70.0, "mm1", "20s", 5),
    "mmc-single": ("mmc/mmc.yaml", 320.0, "mmc", "40s", 1),
    "mmc-5reps": ("mmc/mmc.yaml", 320.0, "mmc", "5s", 5),
}
# Cases that miss 92-98%, as measured with these seeds (runs that cover, of 200). They are strict xfails:
# the numbers are the method's real performance at these run lengths, not a tolerance, and a change that
# moves them into the band makes the test fail until the entry is removed. Causes, measured on 800-1000
# independent runs of the same queues (exact sojourn times, outside meshsim):
# - p99 of M/M/4 at rho 0.8: the requests beyond p99 arrive in congestion episodes of ~40-50 requests
#   (the exceedance count of a 5 s replication has mean 16 and standard deviation 26, a dispersion index
#   of ~40; 64 and 55 at 20 s), so a 1,300-1,600-request section holds about one independent tail event
#   and no interval built from 5-10 such sections is calibrated: single runs 88%, 5 replications 90%
#   (83-88% without the skewness correction; still ~91% with 20 s replications). A withholding rule based
#   on that dispersion, estimated from the sections, keeps exactly the runs whose sections happen to
#   agree, and those cover far less (5 replications, p99 with >= 5 effective tail events per section: 19%
#   of the kept runs), so there is none; a rule on counts alone would need sections many times longer
#   than these, which this test cannot afford.
# - p90 of single M/M/4 runs: 94.6% true coverage with the Skart corrections (plain t-interval: 92-94%);
#   these seeds give 180, a sample below the band rather than a method far from it.
# (Mean and p90 of the 5 replications of M/M/4 missed as well, at 183 each, with the plain t-interval: the
# replication estimates are right-skewed, runs with little congestion having a low value and a small
# spread together. Willink's skewness correction with the skewness of the 50 time batches scaled to a
# replication (:func:`meshsim.metrics.intervals.subsection_skewness`) brings them to 94.4% and 94.9% on
# 1000 independent runs, 186 and 188 here; estimated from the 5 replication values alone it did not help.)
UNDERCOVERS = {
    ("mmc-single", "p90"): 180,
    ("mmc-single", "p99"): 173,
    ("mmc-5reps", "p99"): 170,
}


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.parametrize("metric", ["mean", "p50", "p90", "p99"])
@pytest.mark.parametrize("case", list(CASES))
def test_ci_covers_the_closed_form(case: str, metric: str, request: pytest.FixtureRequest) -> None:
    """The 95% CI of the entry latency's mean/p50/p90/p99 covers the closed form in 92-98% of 200 runs."""
    if (case, metric) in UNDERCOVERS:
        k = UNDERCOVERS[case, metric]
        request.applymarker(
            pytest.mark.xfail(
                strict=True, reason=f"measured {k}/{RUNS}: runs too short for this queue (causes at UNDERCOVERS)"
            )
        )
    topology, rate, truth_key, duration, reps = CASES[case]
    _assert_calibrated(_coverage(topology, rate, duration, reps, truth_key)[metric])


def test_mmc_truth_reduces_to_mm1() -> None:
    """The Erlang-C mixture with c = 1 is the M/M/1 exponential (checks the derivation)."""
    a, b = mmc_truth(70.0, 1), mm1_truth(70.0)
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9)
