"""A header added mid-chain routes the next hop on both backends (real/scenarios/header-propagation: a adds
``x-canary: 1`` on its call to b; b forwards the headers of the request it serves; c's VirtualService sends
x-canary=1 to v2). Counts, not latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real


def test_b_forwards_the_header_it_received_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    scenario = str(scenarios_dir / "header-propagation")
    model, _ = load_and_compile([scenario], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out", duration=6, warmup=1))
    sim = simulate(model, seed=1, workers=1)
    for s in (real, sim):
        to_c = {e.subset: e.requests for e in s.edges if e.source == "b.v1" and e.destination == "c"}
        assert to_c.get("v2", 0) > 200 and to_c.get("v1", 0) == 0, to_c
