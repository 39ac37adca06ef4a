"""Summaries of short runs of the shipped examples, simulated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.metrics.results import Summary
from meshsim.pipeline import load_and_compile, simulate

REPO = Path(__file__).resolve().parents[3]
TOPO = REPO / "topologies"
BOOKINFO = str(TOPO / "bookinfo")
GATEWAY = str(TOPO / "bookinfo-samples" / "bookinfo-gateway.yaml")
SHORT = ["LoadProfile.spec.duration=5s", "LoadProfile.spec.warmup=1s"]


def _run(paths: list[str], overrides: list[str]) -> Summary:
    model, _ = load_and_compile(paths, overrides)
    return simulate(model, seed=1, replications=1, workers=1)


@pytest.fixture(scope="session")
def bookinfo() -> Summary:
    """Bookinfo as shipped (90/10 reviews split), 5 s."""
    return _run([BOOKINFO], SHORT)


@pytest.fixture(scope="session")
def bookinfo_gateway() -> Summary:
    """Bookinfo with the load entering through Istio's bookinfo-gateway."""
    return _run([BOOKINFO, GATEWAY], [*SHORT, "LoadProfile.spec.gateway=bookinfo-gateway"])


@pytest.fixture(scope="session")
def bookinfo_ratings_down() -> Summary:
    """Bookinfo with every ratings response a 500: reviews-v2 -> ratings succeeds 0 % of the time."""
    return _run([BOOKINFO], [*SHORT, "MockServiceGraph.services[name=ratings].errorRate=1"])


@pytest.fixture(scope="session")
def storm() -> Summary:
    """topologies/storm/mesh as shipped: the leaf 2x slower for 5 s leaves the chain metastable."""
    return _run([str(TOPO / "storm" / "mesh")], [])


@pytest.fixture(scope="session")
def canary() -> Summary:
    """The README's canary example: Flagger's analysis promotes reviews v2."""
    return _run(
        [
            str(TOPO / "bookinfo" / "topology.yaml"),
            str(TOPO / "bookinfo" / "platform"),
            str(TOPO / "bookinfo" / "destination-rule-all.yaml"),
            str(TOPO / "canary"),
        ],
        [],
    )
