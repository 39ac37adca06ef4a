# ruff: noqa: T201
"""How the p99 interval's coverage grows with run length on a busy M/M/4 queue (not a test).

    python benchmarks/coverage_run_length.py [--runs 2000] [--seed 11]   (~3 min on 2 cores)

M/M/4 at rho 0.8 (lambda 320/s, mu 100/s) simulated exactly outside meshsim: FIFO with the
Kiefer-Wolfowitz workload recursion (each arrival takes the earliest-free of c servers), vectorised
over independent runs with numpy, each run starting empty with a 5 s warm-up, like the conformance
test in ``tests/conformance/test_interval_coverage.py``. Every run's sojourn times go through the
same interval rules meshsim applies to its sketches (:func:`meshsim.metrics.intervals.section_bounds`
on the sections' fractions of requests at or below the pooled quantile, inverted through the pooled
empirical distribution; the subsection skewness for replications, the Skart corrections for time
batches), on exact values instead of sketches. It prints, per run length, the fraction of runs whose
95% interval covers the closed-form p50, p90 and p99 (Erlang-C mixture, as in that test).

Its purpose is the run length that test needs: requests beyond M/M/4's p99 arrive in congestion
episodes, so a short section holds few independent tail events and the interval undercovers.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import optimize

from meshsim.metrics.intervals import section_bounds, subsection_skewness
from meshsim.model.analytic import erlang_c

LAM, MU, C, WARMUP = 320.0, 100.0, 4, 5.0
QS = (0.5, 0.9, 0.99)


def truth(q: float) -> float:
    """The M/M/c FIFO sojourn-time quantile q (seconds): Exp(mu) with probability 1 - C, else Exp(c mu - lambda) + Exp(mu)."""
    pw, th = erlang_c(LAM, MU, C), C * MU - LAM

    def cdf(t: float) -> float:
        hypo = 1 - (th * math.exp(-MU * t) - MU * math.exp(-th * t)) / (th - MU)
        return (1 - pw) * (1 - math.exp(-MU * t)) + pw * hypo

    return float(optimize.brentq(lambda t: cdf(t) - q, 0.0, 10.0, xtol=1e-12))


def simulate(runs: int, horizon: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times and sojourn times (seconds), shape (runs, n), of ``runs`` independent queues."""
    n = int(LAM * horizon * 1.2) + 200
    arr = np.cumsum(rng.exponential(1 / LAM, (runs, n)), axis=1)
    svc = rng.exponential(1 / MU, (runs, n))
    free, soj, idx = np.zeros((runs, C)), np.empty((runs, n)), np.arange(runs)
    for k in range(n):
        j = free.argmin(axis=1)
        done = np.maximum(arr[:, k], free[idx, j]) + svc[:, k]
        free[idx, j] = done
        soj[:, k] = done - arr[:, k]
    return arr, soj


def _quantile(w: np.ndarray, p: float) -> float:
    return float(np.quantile(w, min(max(p, 0.0), 1.0), method="inverted_cdf"))


def _batches(a: np.ndarray, w: np.ndarray, end: float, b: int = 10) -> list[np.ndarray]:
    edges = np.linspace(WARMUP, end, b + 1)
    return [w[(a >= edges[i]) & (a < edges[i + 1])] for i in range(b)]


def covers(sections: list[np.ndarray], subs: list[list[np.ndarray]] | None, q: float, xi: float) -> bool:
    """Whether the interval of quantile q from these sections covers ``xi``."""
    pooled = np.concatenate(sections)
    x = _quantile(pooled, q)
    fr = [float(np.mean(s <= x)) for s in sections]
    gamma = None if subs is None else subsection_skewness([[float(np.mean(b <= x)) for b in g] for g in subs])
    below, above = section_bounds(fr, float(np.mean(pooled <= x)), serial=subs is None, skewness=gamma)
    return _quantile(pooled, q - above) <= xi <= _quantile(pooled, q + below)


def coverage(length: float, reps: int, runs: int, rng: np.random.Generator) -> dict[float, float]:
    """Fraction of ``runs`` whose interval covers each quantile: ``reps`` replications of ``length`` s
    (reps = 1: one run, 10 time batches)."""
    end = WARMUP + length
    arr, soj = simulate(runs * reps, end, rng)
    xi = {q: truth(q) for q in QS}
    hits = dict.fromkeys(QS, 0)
    for r in range(runs):
        kept = []
        for k in range(reps):
            a, w = arr[r * reps + k], soj[r * reps + k]
            m = (a >= WARMUP) & (a < end)
            kept.append((a[m], w[m]))
        if reps == 1:
            secs, subs = _batches(*kept[0], end), None
        else:
            secs, subs = [w for _, w in kept], [_batches(a, w, end) for a, w in kept]
        for q in QS:
            hits[q] += covers(secs, subs, q, xi[q])
    return {q: h / runs for q, h in hits.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print("case                      p50    p90    p99")
    for reps, length in ((5, 5.0), (5, 20.0), (5, 40.0), (1, 40.0), (1, 100.0), (1, 200.0)):
        cov = coverage(length, reps, args.runs, rng)
        label = f"{reps} x {length:g} s replications" if reps > 1 else f"one {length:g} s run"
        print(f"{label:24s}" + "".join(f" {cov[q]:6.3f}" for q in QS), flush=True)


if __name__ == "__main__":
    main()
