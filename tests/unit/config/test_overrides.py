"""``--set`` paths (:mod:`meshsim.config.overrides`): quoted keys for annotation names with dots and slashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.errors import ConfigError
from meshsim.pipeline import load_and_compile

CHAIN = Path(__file__).parents[3] / "topologies" / "cpu-throttling"
LIMIT = 'Deployment/frontend-v1.spec.template.metadata.annotations["sidecar.istio.io/proxyCPULimit"]'


def _proxy_limit(model, service: str) -> float | None:  # type: ignore[no-untyped-def]
    return next(w.proxy_cpu.limit_cores for s in model.services if s.name == service for w in s.workloads)


def test_a_quoted_key_sets_one_annotation_and_keeps_the_others() -> None:
    model, _ = load_and_compile([str(CHAIN)], [f"{LIMIT}=300m"])
    assert _proxy_limit(model, "frontend") == pytest.approx(0.3)
    assert _proxy_limit(model, "backend") == pytest.approx(0.12)  # another Deployment: untouched
    fe = next(w for s in model.services if s.name == "frontend" for w in s.workloads)
    assert fe.proxy_cpu.request_cores == pytest.approx(0.1)  # sidecar.istio.io/proxyCPU kept


def test_a_bad_value_under_a_quoted_key_names_the_annotation() -> None:
    with pytest.raises(ConfigError) as exc:
        load_and_compile([str(CHAIN)], [f"{LIMIT}=100x"])
    msg = str(exc.value)
    assert "sidecar.istio.io/proxyCPULimit" in msg and "\n" not in msg
