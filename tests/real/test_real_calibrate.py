"""``meshsim real calibrate`` end to end on real Envoys, short: six runs, a MeshSettings the pipeline loads,
CPU per traversal and idle CPU from cgroup accounting and a per-KiB cost from the body run."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]


def test_calibrate_measures_cpu_per_traversal_and_cost_per_kib(
    tmp_path: Path, state_dir: Path, real_deps: None
) -> None:
    from meshsim.real.calibrate import calibrate

    out = tmp_path / "calibration.yaml"
    res = calibrate(out, tmp_path / "runs", rate=60.0, duration=3.0, warmup=1.0, body_kib=256)
    assert set(res.quantiles_ms) >= {"direct", "one", "chain", "bodies"}
    # bodies of 256 KiB each way take longer than none: Envoy and the apps copy every byte
    assert res.per_kib_raw_s is not None and res.per_kib_raw_s > 0
    if res.cpu_note:  # no root or no cgroup controllers on this machine: said, not guessed
        assert res.cpu is None
    else:
        assert res.cpu is not None
        slopes = res.cpu.per_request_ms
        assert all(slopes[k] > 0 for k in slopes if k.endswith("/istio-proxy")), slopes
        assert 0.01 < res.cpu.envoy_per_traversal_ms < 5.0
        # the near-idle run: every container's idle CPU is measured, and it is below its CPU under load
        idle = res.cpu.idle_cores
        assert idle is not None and set(idle) == set(slopes)
        assert all(0 <= idle[k] for k in idle), idle
        assert res.cpu.envoy_idle_cores is not None and res.cpu.envoy_idle_cores < 0.1
        assert "idleCpu:" in out.read_text()
    model, _ = load_and_compile([str(REPO / "topologies" / "mm1"), str(out)])
    assert model.settings.sidecar_per_kib == pytest.approx(res.per_kib_s, rel=1e-3, abs=1e-9)
