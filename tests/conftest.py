"""Shared fixtures: paths to the shipped examples and Istio's Bookinfo configs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = ROOT / "topologies"
BOOKINFO = TOPOLOGIES / "bookinfo"
SAMPLES = TOPOLOGIES / "bookinfo-samples"
# SHA-256 of Istio's own samples/bookinfo files (networking/*.yaml, platform/bookinfo.yaml), taken from the
# upstream files: the shipped copies are checked against it, so tests need nothing outside the repository.
ISTIO_SHA256SUMS = SAMPLES / "ISTIO-SHA256SUMS"


def istio_copy(upstream_path: str) -> Path:
    """The repository's copy of Istio's ``samples/bookinfo/<upstream_path>``."""
    if upstream_path == "platform/bookinfo.yaml":
        return BOOKINFO / "platform" / "bookinfo.yaml"
    return SAMPLES / Path(upstream_path).name


@pytest.fixture
def bookinfo_inputs() -> list[str]:
    """Bookinfo without its VirtualService (topology, load, Deployments, DestinationRules)."""
    return [
        str(BOOKINFO / "topology.yaml"),
        str(BOOKINFO / "load.yaml"),
        str(BOOKINFO / "platform" / "bookinfo.yaml"),
        str(BOOKINFO / "destination-rule-all.yaml"),
    ]
