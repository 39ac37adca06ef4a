"""Request and response bodies cost each sidecar traversal ``sidecar.perKiB`` (MeshSettings): the call's
latency shifts by exactly 2 traversals x perKiB x KiB, the random draws being the same (common seed)."""

from __future__ import annotations

import pytest

from meshsim.model.build import load_and_compile
from meshsim.pipeline import simulate
from tests.conftest import ROOT

FIX = str(ROOT / "tests" / "fixtures" / "valid" / "payload-sizes.yaml")


def _mean_call_ms(sets: list[str]) -> float:
    model, _ = load_and_compile([FIX], sets)
    s = simulate(model, seed=4, workers=1)
    (e,) = [e for e in s.edges if e.destination == "b"]
    assert e.latency_ms.mean.value is not None
    return e.latency_ms.mean.value


def test_bodies_cost_each_traversal_per_kib() -> None:
    big = _mean_call_ms([])  # the default 2 us per KiB
    small = _mean_call_ms(
        ["MockServiceGraph.services[name=a].script[0].call.size=0", "MockServiceGraph.services[name=b].responseSize=0"]
    )
    off = _mean_call_ms(["MeshSettings.spec.sidecar.perKiB=0"])
    assert big - small == pytest.approx(2 * 2e-3 * 4096, abs=2e-3)  # 2 traversals x 2 us x 4096 KiB = 16.4 ms
    assert off == pytest.approx(small, abs=2e-3)
