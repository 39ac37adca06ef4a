"""Shared helpers for the resilience acceptance tests."""

from __future__ import annotations

import math
from pathlib import Path

from scipy import stats

from meshsim.metrics.results import ClusterResult, EdgeResult, Summary
from meshsim.pipeline import load_and_compile, simulate

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures"
REPO = HERE.parents[1]
TOPO = REPO / "topologies"

ALPHA = 1e-3
"""Significance level of every statistical check: a correct engine fails a given check with
probability 1e-3, and the seeds are fixed, so a pass is reproducible."""


def fx(*names: str) -> list[str]:
    return [str(FIX / n) for n in names]


def run(paths: list[str], overrides: list[str] | None = None, seed: int = 1, replications: int = 1) -> Summary:
    model, _ = load_and_compile(paths, overrides or [])
    return simulate(model, seed=seed, replications=replications, workers=1)


def edge(s: Summary, source: str, destination: str, subset: str = "") -> EdgeResult:
    hits = [e for e in s.edges if e.source == source and e.destination == destination and e.subset == subset]
    assert len(hits) == 1, (
        f"edge {source}->{destination}/{subset!r} not unique: {[(e.source, e.destination, e.subset) for e in s.edges]}"
    )
    return hits[0]


def counters(s: Summary, proxy: str, cluster_prefix: str) -> dict[str, float]:
    """Counters of the one cluster of ``proxy`` whose name starts with ``cluster_prefix``."""
    hits: list[ClusterResult] = [c for c in s.clusters if c.proxy == proxy and c.cluster.startswith(cluster_prefix)]
    assert len(hits) == 1, [(c.proxy, c.cluster) for c in s.clusters]
    return hits[0].counters


def assert_binomial(k: int, n: int, p: float, what: str) -> None:
    """Two-sided exact binomial test of ``k`` successes in ``n`` against probability ``p``."""
    pv = stats.binomtest(int(k), int(n), p).pvalue
    assert pv > ALPHA, f"{what}: {k}/{n} = {k / n:.5f}, expected {p:.5f} (binomial p-value {pv:.2g})"


def assert_mean(total: float, n: int, mean: float, var: float, what: str) -> None:
    """Normal-approximation test of a sample mean ``total/n`` of i.i.d. values with known mean and variance."""
    z = (total / n - mean) / math.sqrt(var / n)
    crit = stats.norm.ppf(1 - ALPHA / 2)
    assert abs(z) < crit, f"{what}: {total / n:.5f}, expected {mean:.5f} (z = {z:.2f})"
