"""Calibration pieces that need no Envoy: the per-traversal fit, the CPU slopes, the per-KiB cost and the
calibration file round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from meshsim.errors import MeshsimError
from meshsim.real.calibrate import (
    CalibrationResult,
    CpuFit,
    calibration_override,
    calibration_overrides,
    cpu_fit,
    fit_traversal,
    per_kib,
    read_calibration,
)

REPO = Path(__file__).resolve().parents[3]


def test_fit_traversal_recovers_a_known_lognormal() -> None:
    rng = np.random.default_rng(3)
    med, p99 = 1.2e-3, 6e-3
    sigma = np.log(p99 / med) / 2.3263478740408408
    s = np.exp(np.log(med) + sigma * rng.standard_normal((3, 400_000))).sum(axis=0)
    m, q = fit_traversal(float(np.percentile(s, 50)), float(np.percentile(s, 99)))
    assert abs(m / med - 1) < 0.05 and abs(q / p99 - 1) < 0.08


def test_calibration_file_is_a_mesh_settings_the_pipeline_loads(tmp_path: Path) -> None:
    from meshsim.pipeline import load_and_compile

    res = _result(valid={"direct": True, "one": False, "chain": True})
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


def test_cpu_fit_recovers_slopes_and_intercepts_of_two_rates() -> None:
    # front's Envoy: 2 traversals x 0.3 ms + 40m fixed; back's: 1 x 0.3 ms + 20m; apps 0.5 / 0.25 ms, no fixed
    def cores(r: float) -> dict[str, float]:
        return {
            "front-v1-0/istio-proxy": 0.04 + r * 0.6e-3,
            "back-v1-0/istio-proxy": 0.02 + r * 0.3e-3,
            "front-v1-0/app": r * 0.5e-3,
            "back-v1-0/app": r * 0.25e-3,
        }

    fit = cpu_fit(50.0, cores(50.0), 150.0, cores(150.0))
    assert fit.envoy_per_traversal_ms == pytest.approx(0.3)
    assert fit.per_request_ms["front-v1-0/app"] == pytest.approx(0.5)
    assert fit.fixed_cores["front-v1-0/istio-proxy"] == pytest.approx(0.04)
    assert fit.fixed_cores["back-v1-0/app"] == pytest.approx(0.0, abs=1e-12)
    # back only answers (0.25 ms); front answers and makes one call (0.5 ms): 0.25 ms per call
    assert fit.app_per_request_ms == pytest.approx(0.25)
    assert fit.app_per_call_ms == pytest.approx(0.25)


def test_cpu_fit_with_an_idle_run_takes_averages_over_the_idle_cpu() -> None:
    # CPU per request falls with the rate: front's Envoy uses 8m idle, 95m at 100 req/s and 138m at 200;
    # the line through the loaded runs meets zero load at 52m, far above the idle 8m
    lo = {
        "front-v1-0/istio-proxy": 0.095,
        "back-v1-0/istio-proxy": 0.050,
        "front-v1-0/app": 0.06,
        "back-v1-0/app": 0.03,
    }
    hi = {
        "front-v1-0/istio-proxy": 0.138,
        "back-v1-0/istio-proxy": 0.080,
        "front-v1-0/app": 0.10,
        "back-v1-0/app": 0.05,
    }
    idle = {
        "front-v1-0/istio-proxy": 0.008,
        "back-v1-0/istio-proxy": 0.006,
        "front-v1-0/app": 0.004,
        "back-v1-0/app": 0.002,
    }
    fit = cpu_fit(100.0, lo, 200.0, hi, rate_idle=1.0, cores_idle=idle)
    assert fit.fixed_cores["front-v1-0/istio-proxy"] == pytest.approx(0.052)  # the straight line's intercept
    slope = 0.043 / 100  # front's Envoy, cores per req/s
    assert fit.idle_cores is not None and fit.average_ms is not None
    assert fit.idle_cores["front-v1-0/istio-proxy"] == pytest.approx(0.008 - slope)
    assert fit.average_ms["front-v1-0/istio-proxy"] == pytest.approx((0.138 - (0.008 - slope)) / 200 * 1e3)
    # the Envoy cost per traversal is the averages' sum over 3 traversals, so the chain's Envoy CPU at 200
    # req/s is reproduced: 200 x 3 x per-traversal + both idles = both measured
    idles = fit.idle_cores["front-v1-0/istio-proxy"] + fit.idle_cores["back-v1-0/istio-proxy"]
    assert 200 * 3 * fit.envoy_per_traversal_ms / 1e3 + idles == pytest.approx(0.138 + 0.080)
    assert fit.envoy_idle_cores == pytest.approx(idles / 2)
    assert fit.app_per_request_ms == pytest.approx(fit.average_ms["back-v1-0/app"])


def test_idle_cpu_is_written_and_applied(tmp_path: Path) -> None:
    fit = CpuFit(
        per_request_ms={"back-v1-0/istio-proxy": 0.3},
        fixed_cores={"back-v1-0/istio-proxy": 0.02},
        rates_rps=(100.0, 200.0),
        envoy_per_traversal_ms=0.25,
        app_per_request_ms=0.2,
        app_per_call_ms=0.1,
        idle_cores={"back-v1-0/istio-proxy": 0.007},
        idle_rate_rps=1.0,
        average_ms={"back-v1-0/istio-proxy": 0.33},
        envoy_idle_cores=0.007,
        app_idle_cores=0.0031,
    )
    f = tmp_path / "calibration.yaml"
    f.write_text(_result(cpu=fit).to_yaml())
    sets = calibration_overrides(f)
    assert 'MeshSettings.spec.proxy.idleCpu="7m"' in sets and 'MeshSettings.spec.app.idleCpu="3m"' in sets
    from meshsim.pipeline import load_and_compile

    model, _ = load_and_compile([str(REPO / "real" / "scenarios" / "cpu-app-throttle")], sets)
    assert model.settings.proxy_idle_cpu == pytest.approx(0.007)
    assert model.settings.app_idle_cpu == pytest.approx(0.003)


def test_cpu_fit_refuses_rates_too_close_or_no_accounting() -> None:
    with pytest.raises(MeshsimError, match="do not differ enough"):
        cpu_fit(100.0, {"a/app": 0.1}, 110.0, {"a/app": 0.11})
    with pytest.raises(MeshsimError, match="no container CPU"):
        cpu_fit(100.0, {}, 200.0, {})


def test_per_kib_divides_the_p50_shift_by_traversals_and_both_directions() -> None:
    # 512 KiB each way over two traversals at 1 us per KiB: 2 x 1024 KiB x 1 us = 2.048 ms
    assert per_kib(4.0, 4.0 + 2.048, 512) == pytest.approx(1e-6)
    assert per_kib(4.0, 3.9, 512) < 0  # noise stays visible; the caller floors it


def _result(**kw: object) -> CalibrationResult:
    base: dict[str, object] = dict(
        quantiles_ms={k: {"p50": 1.0, "p90": 2.0, "p99": 4.0} for k in ("direct", "one", "chain")},
        envoy_traversal_ms={"p50": 0.4, "p90": 0.5, "p99": 0.9},
        app_overhead_ms={"p50": 1.0, "p90": 2.0, "p99": 4.0},
        fitted_median_s=1.3e-3,
        fitted_p99_s=7.5e-3,
        chain_check_ms={"p50": 4.0, "p99": 12.0},
        one_check_ms={"p50": 1.3, "p99": 7.5},
        loadavg=[1.0, 1.0, 1.0],
        valid={"direct": True, "one": True, "chain": True},
        rate=100.0,
        duration=10.0,
    )
    base.update(kw)
    return CalibrationResult(**base)  # type: ignore[arg-type]


def test_measured_cpu_and_per_kib_are_written_and_applied_as_overrides(tmp_path: Path) -> None:
    from meshsim.pipeline import load_and_compile

    fit = CpuFit(
        per_request_ms={"back-v1-0/istio-proxy": 0.3},
        fixed_cores={"back-v1-0/istio-proxy": 0.02},
        rates_rps=(100.0, 200.0),
        envoy_per_traversal_ms=0.25,
        app_per_request_ms=0.2,
        app_per_call_ms=-0.01,
    )
    f = tmp_path / "calibration.yaml"
    f.write_text(_result(per_kib_s=0.0, per_kib_raw_s=-1e-7, body_kib=512, cpu=fit).to_yaml())
    assert "noise, written as 0" in f.read_text()
    sets = calibration_overrides(f)
    assert sets[1:] == [
        'MeshSettings.spec.sidecar.perKiB="0ns"',
        'MeshSettings.spec.proxy.cpuPerRequest="250us"',
        'MeshSettings.spec.app.cpuPerRequest="200us"',
        'MeshSettings.spec.app.cpuPerCall="0us"',  # a negative slope difference is noise: floored
    ]
    # a scenario with its own MeshSettings takes every calibrated field
    model, _ = load_and_compile([str(REPO / "real" / "scenarios" / "retries-envoy-raw")], sets)
    assert model.settings.proxy_cpu_per_request == pytest.approx(250e-6)
    assert model.settings.sidecar_per_kib == 0.0
    assert model.settings.app_cpu_per_request == pytest.approx(200e-6)


def test_a_calibration_without_cpu_says_why_and_sets_only_the_latency(tmp_path: Path) -> None:
    f = tmp_path / "calibration.yaml"
    f.write_text(_result(cpu_note="needs root (per-container cgroups)").to_yaml())
    assert "# CPU not measured: needs root" in f.read_text()
    assert calibration_overrides(f) == [calibration_override(f)]
