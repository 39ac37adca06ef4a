"""A Deployment's pod template -> PodLifecycle: the app container's readinessProbe, the pod's grace period,
the sidecar's drain from ``proxy.istio.io/config``; Kubernetes' and Istio's defaults otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from meshsim.errors import ConfigErrors
from meshsim.model.compile import compile_with_findings
from meshsim.model.ir import PodLifecycle, ReadinessProbe

from .support import CHAIN, config


def _deployment(spec: str, annotations: str = "{}") -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: back-v1}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: back, version: v1}}}}
  template:
    metadata:
      labels: {{app: back, version: v1}}
      annotations: {annotations}
    spec:
{spec}
"""


def _lifecycle(*texts: str) -> tuple[Any, list[Any]]:
    model, findings = compile_with_findings(config(CHAIN, *texts))
    errors = [f for f in findings if f.level == "error"]
    if model is None:
        return None, errors
    wl = next(w for s in model.services for w in s.workloads if w.key == "back.v1")
    return wl.lifecycle, errors


def test_probe_grace_and_drain_from_the_pod_template() -> None:
    spec = """      terminationGracePeriodSeconds: 60
      containers:
      - name: istio-proxy
        readinessProbe: {periodSeconds: 15}
      - name: back
        readinessProbe: {httpGet: {path: /ready, port: 8080}, initialDelaySeconds: 3, successThreshold: 2}
"""
    lc, errors = _lifecycle(_deployment(spec, "{proxy.istio.io/config: 'terminationDrainDuration: 20s'}"))
    assert not errors
    assert lc == PodLifecycle(ReadinessProbe(3.0, 10.0, 2), 60.0, 20.0)  # periodSeconds defaults to 10


def test_defaults_without_a_probe_or_a_deployment() -> None:
    lc, errors = _lifecycle(_deployment("      containers: [{name: back}]\n"))
    assert not errors and lc == PodLifecycle(None, 30.0, 5.0)
    model, _ = compile_with_findings(config(CHAIN))
    assert model is not None
    assert all(w.lifecycle == PodLifecycle() for s in model.services for w in s.workloads)


def test_a_bad_drain_annotation_is_one_error_naming_it() -> None:
    ann = "{proxy.istio.io/config: 'terminationDrainDuration: soon'}"
    _, errors = _lifecycle(_deployment("      containers: [{name: back}]\n", ann))
    assert len(errors) == 1 and "terminationDrainDuration" in errors[0].loc


def test_a_probe_period_below_one_second_is_refused() -> None:
    spec = "      containers: [{name: back, readinessProbe: {periodSeconds: 0}}]\n"
    with pytest.raises(
        ConfigErrors, match=r"readinessProbe\.periodSeconds: Input should be greater than or equal to 1"
    ):
        _lifecycle(_deployment(spec))
