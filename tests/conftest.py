"""Shared fixtures: paths to the shipped examples and Istio's Bookinfo configs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = ROOT / "topologies"
BOOKINFO = TOPOLOGIES / "bookinfo"
SAMPLES = TOPOLOGIES / "bookinfo-samples"
SHARED_BOOKINFO = ROOT.parent / "shared" / "inputs" / "bookinfo"


@pytest.fixture
def bookinfo_inputs() -> list[str]:
    """Bookinfo without its VirtualService (topology, load, Deployments, DestinationRules)."""
    return [
        str(BOOKINFO / "topology.yaml"),
        str(BOOKINFO / "load.yaml"),
        str(BOOKINFO / "platform" / "bookinfo.yaml"),
        str(BOOKINFO / "destination-rule-all.yaml"),
    ]
