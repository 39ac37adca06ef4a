"""``meshsim compare`` rows for container CPU and throttled periods (no Envoy needed): one row per container,
a throttling row only for containers with a CPU limit, their tolerances, and none while the CPU model is off."""

from __future__ import annotations

from typing import Any

import pytest

from meshsim.metrics.results import ContainerCPU, Summary
from meshsim.report.compare import compare, to_markdown
from tests.real.test_compare import _summary


def _with_containers(s: Summary, proxy_cores: float, throttled: int, reps: int = 1, **app: Any) -> Summary:
    rows = [
        ContainerCPU(
            pod="frontend-v1-0",
            container="istio-proxy",
            node="node-a",
            request_cores=0.1,
            limit_cores=0.12,
            cpu_cores=proxy_cores,
            utilization_of_request=proxy_cores / 0.1,
            utilization_of_limit=proxy_cores / 0.12,
            nr_periods=238 * reps,
            nr_throttled=throttled * reps,
            throttled_time_s=1.0,
        ),
        ContainerCPU(
            pod="frontend-v1-0",
            container="app",
            node="node-a",
            request_cores=None,
            limit_cores=None,
            cpu_cores=app.get("app_cores", 0.05),
            utilization_of_request=None,
            utilization_of_limit=None,
            nr_periods=0,
            nr_throttled=0,
            throttled_time_s=0.0,
        ),
    ]
    run = s.run.model_copy(update={"replications": reps})
    return s.model_copy(update={"containers": rows, "run": run})


def _rows(pred: Summary, real: Summary) -> dict[str, Any]:
    return {r.key: r for r in compare(pred, real).rows if r.kind in ("container_cpu", "throttled")}


def test_cpu_rows_per_container_and_throttling_only_where_limited() -> None:
    pred = _with_containers(_summary(), 0.116, 155)
    real = _with_containers(_summary(backend="real"), 0.116, 155)
    rows = _rows(pred, real)
    assert set(rows) == {
        "cpu frontend-v1-0/istio-proxy (cores)",
        "cpu frontend-v1-0/app (cores)",
        "throttled periods frontend-v1-0/istio-proxy",
    }
    assert all(r.passed for r in rows.values())
    md = to_markdown(compare(pred, real))
    assert "throttled periods frontend-v1-0/istio-proxy" in md and "0.1160" in md


@pytest.mark.parametrize(
    ("pred_cores", "passed"), [(0.116 * 1.09, True), (0.116 * 0.91, True), (0.116 * 1.11, False), (0.116 * 0.89, False)]
)
def test_container_cpu_gates_at_10_percent(pred_cores: float, passed: bool) -> None:
    pred = _with_containers(_summary(), pred_cores, 155)
    real = _with_containers(_summary(backend="real"), 0.116, 155)
    row = _rows(pred, real)["cpu frontend-v1-0/istio-proxy (cores)"]
    assert row.passed is passed
    assert row.error == pytest.approx(pred_cores / 0.116 - 1)


def test_an_idle_container_gates_on_the_absolute_slack() -> None:
    pred = _with_containers(_summary(), 0.116, 155, app_cores=0.0005)
    real = _with_containers(_summary(backend="real"), 0.116, 155, app_cores=0.002)  # 4x, but 1.5 m apart
    assert _rows(pred, real)["cpu frontend-v1-0/app (cores)"].passed is True
    pred = _with_containers(_summary(), 0.116, 155, app_cores=0.0)
    real = _with_containers(_summary(backend="real"), 0.116, 155, app_cores=0.003)
    assert _rows(pred, real)["cpu frontend-v1-0/app (cores)"].passed is False


@pytest.mark.parametrize(("pred_thr", "passed"), [(186, True), (124, True), (187, False), (123, False)])
def test_throttled_periods_gate_at_20_percent(pred_thr: int, passed: bool) -> None:
    pred = _with_containers(_summary(), 0.116, pred_thr)
    real = _with_containers(_summary(backend="real"), 0.116, 155)
    assert _rows(pred, real)["throttled periods frontend-v1-0/istio-proxy"].passed is passed


def test_simulated_throttling_is_per_run() -> None:
    """A simulation sums ``nr_throttled`` over its replications: 5 x 155 is 155 per run."""
    pred = _with_containers(_summary(reps=5), 0.116, 155, reps=5)
    real = _with_containers(_summary(backend="real"), 0.116, 155)
    row = _rows(pred, real)["throttled periods frontend-v1-0/istio-proxy"]
    assert row.predicted == 155 and row.passed


def test_no_cpu_rows_while_the_cpu_model_is_off() -> None:
    assert _rows(_summary(), _summary(backend="real")) == {}
