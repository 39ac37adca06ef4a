"""The analytic model takes a ``cpu:`` step as service time, as it takes a ``sleep`` (at full speed: it
has no CPU contention), and the M/M/1 closed form holds with one."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.model.analytic import analyze
from meshsim.pipeline import load_and_compile

TOPO = """\
services:
- name: a
  isEntrypoint: true
  concurrency: 1
  script:
  - {step}: {{dist: exponential, mean: 10ms}}
---
apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {{name: l}}
spec: {{rate: 50, duration: 1s, warmup: 0s, drain: 1s}}
---
apiVersion: meshsim.io/v1alpha1
kind: MeshSettings
metadata: {{name: m}}
spec: {{sidecar: {{latency: {{dist: constant, value: 0}}}}, proxy: {{workers: 0}}}}
"""


def _estimate(tmp_path: Path, step: str):  # type: ignore[no-untyped-def]
    f = tmp_path / f"{step}.yaml"
    f.write_text(TOPO.format(step=step))
    model, _ = load_and_compile([str(f)], [])
    return analyze(model)


def test_cpu_step_is_service_time_like_sleep(tmp_path: Path) -> None:
    cpu = _estimate(tmp_path, "cpu")
    sleep = _estimate(tmp_path, "sleep")
    # M/M/1 with rho = 50 x 10 ms = 0.5: mean sojourn 10 ms / (1 - 0.5) = 20 ms
    assert cpu.mean_ms == pytest.approx(20.0, rel=1e-6)
    assert cpu.mean_ms == pytest.approx(sleep.mean_ms, rel=1e-12)
    assert cpu.workload("a.v1").utilization == pytest.approx(0.5, rel=1e-6)
