"""Single-service queues against closed forms (Erlang C) and Little's law.

Each check: the simulated value lies inside its 99% CI widened by 2% of the analytic value, over
independent replications (fixed seeds, so the test is deterministic).
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

from meshsim.experiments.replicate import run_replications
from meshsim.model.analytic import erlang_c, mmc_mean_wait
from meshsim.pipeline import load_and_compile
from tests.conftest import TOPOLOGIES


def _ci99(xs: list[float]) -> tuple[float, float]:
    n = len(xs)
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = stats.t.ppf(0.995, n - 1) * sd / math.sqrt(n)
    return m - h, m + h


def _inside(xs: list[float], want: float) -> None:
    lo, hi = _ci99(xs)
    slack = 0.02 * want
    assert lo - slack <= want <= hi + slack, f"{want:.5g} outside [{lo:.5g}, {hi:.5g}] (+/- {slack:.3g})"


@pytest.mark.conformance
@pytest.mark.parametrize(
    ("topology", "lam", "c", "duration"),
    [("mm1/mm1.yaml", 80.0, 1, "150s"), ("mmc/mmc.yaml", 320.0, 4, "60s")],
)
def test_wait_matches_erlang_c(topology: str, lam: float, c: int, duration: str) -> None:
    """Mean wait and P(wait > 0) of a FIFO worker pool (rho = 0.8) match Erlang C."""
    model, _ = load_and_compile([str(TOPOLOGIES / topology)], [f"LoadProfile.spec.duration={duration}"])
    reps = run_replications(model, seed=7, replications=8, workers=2)
    mu = 100.0
    waits = [r.workloads["server.v1"]["wait_sum"] / r.workloads["server.v1"]["arrivals"] for r in reps]
    p_wait = [r.workloads["server.v1"]["waited"] / r.workloads["server.v1"]["arrivals"] for r in reps]
    _inside(waits, mmc_mean_wait(lam, mu, c))
    _inside(p_wait, erlang_c(lam, mu, c))


@pytest.mark.conformance
def test_littles_law_per_service(bookinfo_inputs: list[str]) -> None:
    """L = lambda W for every workload of Bookinfo at moderate load (time-average vs per-request)."""
    model, _ = load_and_compile(
        bookinfo_inputs + [str(TOPOLOGIES / "bookinfo" / "virtual-service-reviews-90-10.yaml")],
        ["LoadProfile.spec.rate=300", "LoadProfile.spec.duration=60s"],
    )
    reps = run_replications(model, seed=3, replications=1, workers=1)
    r = reps[0]
    window = r.t_end - r.t_start
    for key, w in r.workloads.items():
        if not w["arrivals"]:
            continue
        lam = w["arrivals"] / window
        wbar = w["residence_sum"] / w["arrivals"]
        L = w["in_system"]
        assert L == pytest.approx(lam * wbar, rel=0.03, abs=1e-3), key
