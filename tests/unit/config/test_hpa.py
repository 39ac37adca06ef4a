"""``HorizontalPodAutoscaler`` as the API server validates and defaults it (pkg/apis/autoscaling)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from meshsim.config.hpa import HorizontalPodAutoscaler, parse_milli


def _hpa(spec: dict, api: str = "autoscaling/v2") -> HorizontalPodAutoscaler:
    base = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
    return HorizontalPodAutoscaler.model_validate(
        {"apiVersion": api, "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"}, "spec": {**base, **spec}}
    )


def test_quantities_are_milli_values_rounded_up() -> None:
    assert parse_milli("500m") == 500 and parse_milli("10") == 10_000 and parse_milli(2.5) == 2500
    assert parse_milli("1.5k") == 1_500_000 and parse_milli("1Ki") == 1_024_000 and parse_milli("0.0001") == 1
    for bad in ("10x", "", "-1", "1.2.3", float("nan"), True):
        with pytest.raises(ValueError):
            parse_milli(bad)


def test_defaults_min_one_and_cpu_at_80_percent() -> None:
    h = _hpa({})
    assert h.spec.minReplicas == 1
    (m,) = h.metric_list()
    assert m.type == "Resource" and m.resource is not None and m.resource.target.amount() == 80
    (v1,) = _hpa({"targetCPUUtilizationPercentage": 60}, api="autoscaling/v1").metric_list()
    assert v1.resource is not None and v1.resource.target.amount() == 60


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"minReplicas": 0}, "minReplicas"),  # scale to zero is behind an alpha gate
        ({"minReplicas": 6}, "must be greater than or equal to `minReplicas`"),
        ({"metrics": [{"type": "Pods"}]}, "must populate information for the given metric source"),
        (
            {
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": "rps"},
                            "target": {"type": "Utilization", "averageUtilization": 50},
                        },
                    }
                ]
            },
            "AverageValue target",
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                        "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": 1}},
                    }
                ]
            },
            "must populate the given metric source only",
        ),
        ({"behavior": {"scaleUp": {"policies": []}}}, "at least one Policy"),
        ({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}}}, "1800"),
        (
            {"behavior": {"scaleDown": {"policies": [{"type": "Percent", "value": 0, "periodSeconds": 15}]}}},
            "greater than 0",
        ),
        ({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 3601}}}, "3600"),
        ({"behavior": {"scaleDown": {"selectPolicy": "Fastest"}}}, "selectPolicy"),
    ],
)
def test_api_server_validation(spec: dict, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        _hpa(spec)


def test_versions_do_not_mix() -> None:
    with pytest.raises(ValidationError, match="autoscaling/v1"):
        _hpa({"targetCPUUtilizationPercentage": 50})
