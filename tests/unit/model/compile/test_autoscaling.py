"""HorizontalPodAutoscalers resolved against the mesh: target, observable metrics, behavior defaults."""

from __future__ import annotations

import pytest

from meshsim.model.compile import compile_with_findings
from meshsim.model.ir import ScalingPolicy

from .support import CHAIN, config


def _hpa(body: str, name: str = "back") -> str:
    return f"""
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: back-v1}}
  maxReplicas: 6
{body}
"""


RPS = """  metrics:
  - type: Pods
    pods: {metric: {name: istio_requests_per_second}, target: {type: AverageValue, averageValue: "12500m"}}
"""


def _compile(*texts: str):
    model, findings = compile_with_findings(config(CHAIN, *texts))
    return model, [f for f in findings if f.level == "error"]


def test_pods_request_rate_target_and_legacy_path() -> None:
    model, errors = _compile(_hpa(RPS))
    assert not errors and model is not None
    (h,) = model.autoscalers
    assert (h.service, h.version, h.min_replicas, h.max_replicas) == ("back", "v1", 1, 6)
    (m,) = h.metrics
    assert (m.source, m.target_type, m.target) == ("Pods", "AverageValue", 12_500)
    assert h.behavior is None and h.sync_s == 15.0 and h.downscale_window_s == 300.0


def test_behavior_fields_left_out_take_kubernetes_defaults() -> None:
    body = RPS + "  behavior:\n    scaleUp: {stabilizationWindowSeconds: 60}\n    scaleDown: {selectPolicy: Min}\n"
    model, errors = _compile(_hpa(body))
    assert not errors and model is not None
    b = model.autoscalers[0].behavior
    assert b is not None
    assert b.scale_up.stabilization_s == 60.0
    assert b.scale_up.policies == (ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0))
    # a nil scale-down window takes the controller's --horizontal-pod-autoscaler-downscale-stabilization
    assert (b.scale_down.stabilization_s, b.scale_down.select) == (300.0, "Min")
    assert b.scale_down.policies == (ScalingPolicy("Percent", 100, 15.0),)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("", "CPU metric needs CPU requests"),  # default metric: CPU at 80 %, and these pods request none
        (
            "  metrics:\n  - type: External\n    external: {metric: {name: q}, target: {type: Value, value: 3}}\n",
            "cannot observe an External metric",
        ),
        (
            "  metrics:\n  - type: Pods\n    pods: {metric: {name: queue_depth}, target: {type: AverageValue, averageValue: 3}}\n",
            "request rate only",
        ),
        (
            "  metrics:\n  - type: Object\n    object:\n      describedObject: {kind: Ingress, name: web}\n"
            "      metric: {name: rps}\n      target: {type: Value, value: 100}\n",
            "request rate of a Service",
        ),
    ],
)
def test_what_meshsim_cannot_observe_is_an_error(body: str, needle: str) -> None:
    _, errors = _compile(_hpa(body))
    assert len(errors) == 1 and needle in errors[0].message


def test_missing_target_and_two_hpas_on_one_deployment() -> None:
    _, errors = _compile(_hpa(RPS).replace("name: back-v1", "name: nope"))
    assert (
        len(errors) == 1 and "no Deployment 'nope'" in errors[0].message and errors[0].loc == "spec.scaleTargetRef.name"
    )
    _, errors = _compile(_hpa(RPS), _hpa(RPS, name="back-2"))
    assert len(errors) == 1 and "AmbiguousSelector" in errors[0].message
