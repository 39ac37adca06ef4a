"""Shared helpers for the mesh tests (gateway, mTLS, authorization, proxy CPU, telemetry)."""

from __future__ import annotations

from pathlib import Path

from meshsim.metrics.results import Summary
from meshsim.pipeline import load_and_compile, simulate

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures"
REPO = HERE.parents[1]
BOOKINFO = [
    str(REPO / "topologies" / "bookinfo" / p) for p in ("topology.yaml", "platform", "destination-rule-all.yaml")
]
GATEWAY_YAML = str(REPO / "topologies" / "bookinfo-samples" / "bookinfo-gateway.yaml")
"""Istio's samples/bookinfo/networking/bookinfo-gateway.yaml, byte-identical."""
SHORT = ["LoadProfile.spec.duration=10s", "LoadProfile.spec.warmup=2s"]


def fx(*names: str) -> list[str]:
    return [str(FIX / n) for n in names]


def run(paths: list[str], overrides: list[str] | None = None, seed: int = 1) -> Summary:
    model, _ = load_and_compile(paths, overrides or [])
    return simulate(model, seed=seed, replications=1, workers=1)
