"""Fault-injected aborts are counted the same way by both backends: a request the app made with no upstream
attempt (never retried: the fault filter answers before the router)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]


def test_fault_aborts_are_requests_without_attempts_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    scenario = scenarios_dir / "fault-abort"
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "MESHSIM_REAL_STATE": str(state_dir)}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshsim.cli.real",
            "run",
            str(scenario),
            "--out",
            str(out),
            "--duration",
            "6",
            "--warmup",
            "1",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert p.returncode == 0, p.stderr
    real = json.loads((out / "summary.json").read_text())
    (edge,) = real["edges"]
    (call,) = real["calls"]
    # every call the app made is one edge request, the aborted ones included; Envoy's counters and the app's own
    # count are read at slightly different instants, so a request or two in flight at the window's edges may be
    # counted by one side only
    assert call["calls"] > 400
    assert abs(edge["requests"] - call["calls"]) <= 3, (edge["requests"], call["calls"])
    n_fi = edge["response_flags"]["FI"]
    assert abs(n_fi / edge["requests"] - 0.25) < 4 * (0.25 * 0.75 / edge["requests"]) ** 0.5
    # aborted requests have no attempt; the others are tried up to 3 times against backend's 5 % errors
    assert abs((edge["attempts"] - edge["retries"]) - (edge["requests"] - n_fi)) <= 3

    model, _ = load_and_compile([str(scenario)], ["LoadProfile.spec.duration=30s"])
    sim = simulate(model, seed=3, workers=1)
    (sim_edge,) = sim.edges
    assert sim_edge.attempts - sim_edge.retries == sim_edge.requests - sim_edge.response_flags["FI"]
    # the same definition gives the same amplification: 0.75 x (1 + 0.05 + 0.05^2) = 0.789 on both sides
    expected = 0.75 * (1 + 0.05 + 0.05**2)
    for amp, n in ((real["mesh"]["amplification"], edge["requests"]), (sim.mesh.amplification, sim_edge.requests)):
        assert amp is not None and abs(amp - expected) < 4 * (0.25 * 0.75 / n) ** 0.5 + 0.01, (amp, n)
