"""Loading: isotope files as isotope parses them, units, overrides, merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.config import load
from meshsim.errors import ConfigError
from meshsim.model import compile_model
from meshsim.model.ir import CallStep, ConcurrentStep
from meshsim.units import parse_bytes, parse_duration, parse_percentage

STOCK_ISOTOPE = """\
apiVersion: v1alpha1
kind: MockServiceGraph
default:
  type: http
  requestSize: 1 KB
  responseSize: 16 KB
  numRbacPolicies: 3
services:
- name: a
  isEntrypoint: true
  errorRate: 0.01%
  script:
  - - call: b
    - call:
        service: c
        payloadSize: 2 KB
        probability: 50
  - sleep: 10ms
- name: b
  numReplicas: 2
- name: c
  script:
  - call: {service: b, size: 512}
"""


def test_stock_isotope_file_loads_unchanged(tmp_path: Path) -> None:
    f = tmp_path / "canonical.yaml"
    f.write_text(STOCK_ISOTOPE)
    cfg = load([str(f)])
    notes = [str(n) for n in cfg.notes]
    assert any("numRbacPolicies" in n and "unknown key" in n for n in notes)
    m = compile_model(cfg)
    a = m.service("a").workloads[0]
    assert a.error_rate == pytest.approx(1e-4)
    group = a.script[0]
    assert isinstance(group, ConcurrentStep)
    to_b, to_c = group.steps
    assert isinstance(to_b, CallStep) and to_b.request_size == 1024 and to_b.probability == 1.0
    assert isinstance(to_c, CallStep) and to_c.request_size == 2048 and to_c.probability == 0.5
    c_call = m.service("c").workloads[0].script[0]
    assert isinstance(c_call, CallStep) and c_call.request_size == 512
    assert m.service("b").workloads[0].replicas == 2
    assert m.load.entry == "a"


def test_nested_concurrent_groups_are_rejected(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text("services:\n- name: a\n  script:\n  - - - sleep: 1ms\n")
    with pytest.raises(ConfigError) as e:
        load([str(f)])
    assert "services[0].script[0][0]" in str(e.value)


def test_units() -> None:
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration("100us") == pytest.approx(1e-4)
    assert parse_duration(2) == 2.0
    with pytest.raises(ValueError):
        parse_duration("fast")
    assert parse_bytes("16 KB") == 16384 and parse_bytes("1KiB") == 1024 and parse_bytes(10) == 10
    assert parse_percentage("5%") == 0.05 and parse_percentage(0.2) == 0.2
    with pytest.raises(ValueError):
        parse_percentage(1.5)


def test_same_name_replaces_and_files_are_never_written(tmp_path: Path) -> None:
    from tests.conftest import SAMPLES, BOOKINFO

    files = [
        BOOKINFO / "topology.yaml",
        BOOKINFO / "platform" / "bookinfo.yaml",
        SAMPLES / "destination-rule-all.yaml",
        SAMPLES / "fault-injection-details-v1.yaml",
    ]
    before = [p.read_bytes() for p in files]
    cfg = load([str(p) for p in files], ["DestinationRule/details.spec.host=details"])
    assert sum(d.obj.metadata.name == "details" for d in cfg.destination_rules) == 1
    assert any("replaces the DestinationRule details" in str(n) for n in cfg.notes)
    assert [p.read_bytes() for p in files] == before


def test_versions_and_deployments_merge() -> None:
    from tests.conftest import BOOKINFO

    m = compile_model(load([str(BOOKINFO)]))
    reviews = m.service("reviews")
    assert [w.version for w in reviews.workloads] == ["v1", "v2", "v3"]
    assert [w.replicas for w in reviews.workloads] == [1, 1, 1]
    assert dict(reviews.workloads[1].labels)["version"] == "v2"
    assert reviews.port == 9080
    assert [c.name for c in m.clusters if c.service == "reviews"][
        0
    ] == "outbound|9080||reviews.default.svc.cluster.local"


def test_meshsettings_documents_merge_later_wins(tmp_path: Path) -> None:
    """A calibration file on top of a scenario's own MeshSettings: fields merge, later files win."""
    from tests.conftest import TOPOLOGIES

    a = tmp_path / "a.yaml"
    a.write_text(
        "apiVersion: meshsim.io/v1alpha1\nkind: MeshSettings\nmetadata: {name: a}\n"
        "spec: {maxRetriesDefault: envoy, networkLatency: 1ms}\n"
    )
    b = tmp_path / "b.yaml"
    b.write_text(
        "apiVersion: meshsim.io/v1alpha1\nkind: MeshSettings\nmetadata: {name: b}\n"
        "spec: {networkLatency: 2ms, sidecar: {latency: {dist: constant, value: 1ms}}}\n"
    )
    cfg = load([str(TOPOLOGIES / "mm1"), str(a), str(b)])
    spec = cfg.mesh_settings.spec
    assert spec.maxRetriesDefault == "envoy"
    assert spec.networkLatency == pytest.approx(0.002)
    assert spec.sidecar.latency.mean == pytest.approx(0.001)
