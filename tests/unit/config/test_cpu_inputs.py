"""The CPU model's inputs through the CLI: Node kinds, resources, Istio's annotations and placement;
bad input is one line naming the file and field, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.pipeline import load_and_compile

runner = CliRunner()

TOPO = """\
services:
- name: a
  isEntrypoint: true
  script:
  - cpu: 1ms
---
apiVersion: meshsim.io/v1alpha1
kind: LoadProfile
metadata: {name: l}
spec: {rate: 5, duration: 1s, warmup: 0s, drain: 1s}
"""


def _deployment(annotations: str = "", resources: str = "", pod: str = "", replicas: int = 1) -> str:
    ann = f"\n      annotations: {annotations}" if annotations else ""
    res = f"\n        resources: {resources}" if resources else ""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: a-v1}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: a}}}}
  template:
    metadata:
      labels: {{app: a, version: v1}}{ann}
    spec:{pod}
      containers:
      - name: a{res}
"""


NODE = "apiVersion: meshsim.io/v1alpha1\nkind: Node\nmetadata: {name: n}\nspec: {cores: 1}\n"


def _files(tmp_path: Path, *docs: str) -> list[str]:
    (tmp_path / "topo.yaml").write_text(TOPO)
    (tmp_path / "more.yaml").write_text("---\n".join(docs))
    return [str(tmp_path)]


def _one_error(tmp_path: Path, *docs: str) -> str:
    res = runner.invoke(app, ["validate", *_files(tmp_path, *docs)])
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith(("error:", "Error ["))]
    assert len(errors) == 1, res.output
    assert "Traceback" not in res.output
    return errors[0]


def test_nothing_said_about_cpu_keeps_the_model_off(tmp_path: Path) -> None:
    # placement fields alone do not turn the model on (and are not checked while it is off)
    model, _ = load_and_compile(
        _files(tmp_path, _deployment(pod="\n      nodeSelector: {kubernetes.io/os: linux}")), []
    )
    assert model.nodes == ()
    wl = model.workloads[0]
    assert wl.nodes == () and wl.app_cpu.limit_cores is None and wl.proxy_cpu.request_cores is None


def test_resources_and_annotations_reach_the_model(tmp_path: Path) -> None:
    dep = _deployment(
        annotations="{sidecar.istio.io/proxyCPU: 50m, sidecar.istio.io/proxyCPULimit: '1.5'}",
        resources="{requests: {cpu: 250m}, limits: {cpu: 1}}",
    )
    model, _ = load_and_compile(_files(tmp_path, dep), [])
    wl = model.workloads[0]
    assert (wl.app_cpu.request_cores, wl.app_cpu.limit_cores) == (0.25, 1.0)
    assert (wl.proxy_cpu.request_cores, wl.proxy_cpu.limit_cores) == (0.05, 1.5)
    assert wl.proxy_cpu.threads == 2  # ceil(1.5): pilot-agent's concurrency from ISTIO_CPU_LIMIT
    assert [n.name for n in model.nodes] == ["node-0"] and model.nodes[0].cores == 4.0
    assert wl.nodes == ("node-0",)


def test_istio_defaults_without_annotations_and_all_or_nothing_with_one(tmp_path: Path) -> None:
    model, _ = load_and_compile(_files(tmp_path, _deployment(resources="{limits: {cpu: 300m}}")), [])
    wl = model.workloads[0]
    assert (wl.proxy_cpu.request_cores, wl.proxy_cpu.limit_cores, wl.proxy_cpu.threads) == (0.1, 2.0, 2)
    assert wl.app_cpu.request_cores == 0.3  # a limit alone: the Pod's request defaults to it
    model, _ = load_and_compile(_files(tmp_path, _deployment(annotations="{sidecar.istio.io/proxyCPU: 200m}")), [])
    px = model.workloads[0].proxy_cpu
    assert (px.request_cores, px.limit_cores) == (0.2, None)  # no limit: Envoy gets the node's cores
    assert px.threads == 4


def test_kubernetes_node_capacity_node_selector_and_first_fit_decreasing(tmp_path: Path) -> None:
    nodes = """\
apiVersion: v1
kind: Node
metadata: {name: small, labels: {pool: x}}
status: {capacity: {cpu: 1500m}}
---
apiVersion: meshsim.io/v1alpha1
kind: Node
metadata: {name: big, labels: {pool: x}}
spec: {cores: 8}
"""
    dep = _deployment(resources="{requests: {cpu: 600m}}", pod="\n      nodeSelector: {pool: x}", replicas=3)
    model, _ = load_and_compile(_files(tmp_path, dep, nodes), [])
    assert [(n.name, n.cores) for n in model.nodes] == [("small", 1.5), ("big", 8.0)]
    # 0.7 cores per pod (600m + the sidecar's 100m): two fit the 1.5-core node, the third goes on
    assert model.workloads[0].nodes == ("small", "small", "big")


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        (_deployment(resources="{requests: {cpu: 100x}}"), "resources.requests.cpu", "malformed CPU quantity '100x'"),
        (_deployment(resources="{limits: {cpu: -1}}"), "resources.limits.cpu", "negative"),
        (_deployment(annotations="{sidecar.istio.io/proxyCPU: 1.2.3}"), "proxyCPU", "malformed"),
        (
            _deployment(resources="{requests: {cpu: 2}, limits: {cpu: 500m}}"),
            "containers[0].resources.limits.cpu",
            "CPU limit 0.5 is below the request 2",
        ),
        (
            _deployment(annotations="{sidecar.istio.io/proxyCPU: 200m, sidecar.istio.io/proxyCPULimit: 100m}"),
            "annotations.sidecar.istio.io/proxyCPULimit",
            "below the request",
        ),
        (
            _deployment(resources="{limits: {cpu: 1}}", pod="\n      nodeName: worker-9"),
            "spec.template.spec.nodeName",
            "'worker-9', which does not exist",
        ),
        (
            _deployment(pod="\n      nodeSelector: {disk: ssd}") + "---\n" + NODE,
            "spec.template.spec.nodeSelector",
            "no node has the labels",
        ),
    ],
)
def test_bad_cpu_input_is_one_line_naming_file_and_field(tmp_path: Path, doc: str, field: str, message: str) -> None:
    line = _one_error(tmp_path, doc)
    assert "more.yaml" in line and field in line and message in line, line


def test_a_pod_that_fits_no_declared_node_is_an_error(tmp_path: Path) -> None:
    line = _one_error(tmp_path, _deployment(resources="{requests: {cpu: 2}}"), NODE)
    assert "more.yaml" in line and "requests 2.1 cores" in line and "Pending" in line, line


def test_node_under_another_api_version_is_refused(tmp_path: Path) -> None:
    node = "apiVersion: apps/v1\nkind: Node\nmetadata: {name: n}\nspec: {cores: 1}\n"
    line = _one_error(tmp_path, node)
    assert "apiVersion" in line and "meshsim.io/v1alpha1" in line, line


def test_meshsim_node_needs_cores(tmp_path: Path) -> None:
    node = "apiVersion: meshsim.io/v1alpha1\nkind: Node\nmetadata: {name: n}\nspec: {cores: 0}\n"
    line = _one_error(tmp_path, node)
    assert "spec.cores" in line, line
