"""The CFS arithmetic on the real kernel and in the simulator alike (real/scenarios/cpu-app-throttle): an app
burning 30 ms of CPU per request under a 200m limit (20 ms of quota per 100 ms period), one request every 212.8 ms,
so the requests' phases in the period are spread evenly: 90 % of them are throttled once, over 2.1 periods per
request on average (``Documentation/scheduler/sched-bwc.rst``): 42.9 % of periods throttled, p50 70 ms
(derivation in the scenario's file). The real kernel adds its own slack (5 ms bandwidth slices,
the app's HTTP handling on the same quota, wake-up latency), hence the wider real band."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.pipeline import load_and_compile, simulate

pytestmark = pytest.mark.real


def test_a_cpu_step_over_its_quota_is_throttled_as_the_cfs_arithmetic_says_on_both_backends(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    from meshsim.real.options import RunOptions
    from meshsim.real.runner import run_real_sync

    model, _ = load_and_compile([str(scenarios_dir / "cpu-app-throttle")], [])
    real = run_real_sync(model, RunOptions(out=tmp_path / "out", duration=8, warmup=2))
    sim = simulate(model, seed=1, workers=1)
    for s, band in ((sim, 0.05), (real, 0.2)):
        (app,) = [c for c in s.containers if c.pod == "app-v1-0" and c.container == "app"]
        assert app.nr_periods > 0, app
        assert app.nr_throttled / app.nr_periods == pytest.approx(0.9 / 2.1, rel=band), app
        # 30 ms of CPU x 4.7 req/s: 0.141 cores (plus the real app's HTTP handling, ~1 %)
        assert app.cpu_cores == pytest.approx(0.141, rel=band / 2), app
        assert s.entry.latency_ms.p50.value == pytest.approx(70.0, rel=band)
