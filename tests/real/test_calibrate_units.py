"""Calibration pieces that need no Envoy: the per-traversal fit and the calibration file round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from meshsim.errors import MeshsimError
from meshsim.real.calibrate import CalibrationResult, calibration_override, fit_traversal, read_calibration

REPO = Path(__file__).resolve().parents[2]


def test_fit_traversal_recovers_a_known_lognormal() -> None:
    rng = np.random.default_rng(3)
    med, p99 = 1.2e-3, 6e-3
    sigma = np.log(p99 / med) / 2.3263478740408408
    s = np.exp(np.log(med) + sigma * rng.standard_normal((3, 400_000))).sum(axis=0)
    m, q = fit_traversal(float(np.percentile(s, 50)), float(np.percentile(s, 99)))
    assert abs(m / med - 1) < 0.05 and abs(q / p99 - 1) < 0.08


def test_calibration_file_is_a_mesh_settings_the_pipeline_loads(tmp_path: Path) -> None:
    from meshsim.pipeline import load_and_compile

    res = CalibrationResult(
        quantiles_ms={k: {"p50": 1.0, "p90": 2.0, "p99": 4.0} for k in ("direct", "one", "chain")},
        envoy_traversal_ms={"p50": 0.4, "p90": 0.5, "p99": 0.9},
        app_overhead_ms={"p50": 1.0, "p90": 2.0, "p99": 4.0},
        fitted_median_s=1.3e-3,
        fitted_p99_s=7.5e-3,
        chain_check_ms={"p50": 4.0, "p99": 12.0},
        one_check_ms={"p50": 1.3, "p99": 7.5},
        loadavg=[1.0, 1.0, 1.0],
        valid={"direct": True, "one": False, "chain": True},
        rate=100.0,
        duration=10.0,
    )
    f = tmp_path / "calibration.yaml"
    f.write_text(res.to_yaml())
    assert read_calibration(f) == {"dist": "lognormal", "median": "1300us", "p99": "7500us"}
    model, _ = load_and_compile([str(REPO / "real" / "scenarios" / "fault-delay"), str(f)])
    d = model.settings.sidecar_latency
    assert d.kind == "lognormal" and abs(np.exp(d.params[0]) - 1.3e-3) < 1e-9
    # a scenario with its own MeshSettings takes the calibration as an override
    model, _ = load_and_compile([str(REPO / "real" / "scenarios" / "retries-envoy-raw")], [calibration_override(f)])
    assert abs(np.exp(model.settings.sidecar_latency.params[0]) - 1.3e-3) < 1e-9
    assert model.settings.max_retries_default == 3


def test_bad_calibration_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(MeshsimError, match="no such file"):
        read_calibration(tmp_path / "nope.yaml")
    f = tmp_path / "c.yaml"
    f.write_text("apiVersion: meshsim.io/v1alpha1\nkind: LoadProfile\n")
    with pytest.raises(MeshsimError, match="exactly one MeshSettings"):
        read_calibration(f)
    f.write_text(
        "apiVersion: meshsim.io/v1alpha1\nkind: MeshSettings\nspec: {sidecar: {latency: {dist: lognormal, median: 2ms, p99: 1ms}}}\n"
    )
    with pytest.raises(MeshsimError) as exc:
        read_calibration(f)
    assert "\n" not in str(exc.value) and str(f) in str(exc.value)
