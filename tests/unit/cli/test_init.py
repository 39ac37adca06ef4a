"""``meshsim init``: a starter topology and load profile from Deployments and Services that
validates and runs as written, says what is a placeholder, and never touches the user's files."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.config.loader import load

REPO = Path(__file__).resolve().parents[3]
BOOKINFO_K8S = REPO / "topologies" / "bookinfo" / "platform" / "bookinfo.yaml"  # Istio's, unmodified
GATEWAY = REPO / "topologies" / "bookinfo-samples" / "bookinfo-gateway.yaml"  # Istio's, unmodified
HTTPBIN = REPO / "tests" / "fixtures" / "init" / "httpbin.yaml"  # Istio's samples/httpbin/httpbin.yaml
runner = CliRunner()


def _init(*args: str, code: int = 0) -> str:
    res = runner.invoke(app, ["init", *args])
    assert res.exit_code == code, res.output
    return res.output


def _topology(out: Path) -> dict:
    return yaml.safe_load((out / "topology.yaml").read_text())


def test_bookinfo_gives_one_service_per_service_with_versions_and_replicas(tmp_path: Path) -> None:
    out = tmp_path / "mesh"
    _init(str(BOOKINFO_K8S), "--out", str(out))
    topo = _topology(out)
    assert topo["kind"] == "MockServiceGraph"
    svcs = {s["name"]: s for s in topo["services"]}
    assert list(svcs) == ["details", "ratings", "reviews", "productpage"]  # bookinfo.yaml's Service order
    assert {v: d["replicas"] for v, d in svcs["reviews"]["versions"].items()} == {"v1": 1, "v2": 1, "v3": 1}
    assert svcs["reviews"]["versions"]["v2"]["labels"] == {"app": "reviews", "version": "v2"}
    assert all(s["port"] == 9080 for s in svcs.values())
    assert sum(bool(s.get("isEntrypoint")) for s in svcs.values()) == 1


def test_placeholders_are_marked_for_every_service(tmp_path: Path) -> None:
    out = tmp_path / "mesh"
    _init(str(BOOKINFO_K8S), "--out", str(out))
    text = (out / "topology.yaml").read_text()
    n = len(_topology(out)["services"])
    assert len(re.findall(r"sleep: .*# PLACEHOLDER: service time", text)) == n
    assert len(re.findall(r"# - call: \{service: OTHER\}  # PLACEHOLDER", text)) == n
    assert "guess" in text and "replace" in text
    assert "PLACEHOLDER" in (out / "load.yaml").read_text()


def test_gateway_route_picks_the_entry_and_the_path(tmp_path: Path) -> None:
    out = tmp_path / "mesh"
    _init(str(BOOKINFO_K8S), str(GATEWAY), "--out", str(out))
    entry = [s["name"] for s in _topology(out)["services"] if s.get("isEntrypoint")]
    assert entry == ["productpage"]
    spec = yaml.safe_load((out / "load.yaml").read_text())["spec"]
    assert spec["entry"] == "productpage" and spec["path"] == "/productpage"  # bookinfo-gateway's exact match
    _init(str(BOOKINFO_K8S), "--entry", "reviews", "--out", str(tmp_path / "e"))
    assert [s["name"] for s in _topology(tmp_path / "e")["services"] if s.get("isEntrypoint")] == ["reviews"]


def test_starter_validates_and_runs(tmp_path: Path) -> None:
    for name, files in (("bookinfo", [str(BOOKINFO_K8S), str(GATEWAY)]), ("httpbin", [str(HTTPBIN)])):
        out = tmp_path / name
        _init(*files, "--out", str(out))
        cfg = load([str(out)])
        assert len(cfg.topologies) == 1 and cfg.load is not None
        res = runner.invoke(
            app, ["run", str(out), "--duration", "2s", "--warmup", "1s", "-q", "--out", str(tmp_path / f"{name}-run")]
        )
        assert res.exit_code == 0, res.output
        # with the manifests too, the Deployments match the starter's versions (no pods left over)
        res = runner.invoke(app, ["validate", str(out), *files])
        assert res.exit_code == 0, res.output
        assert "no topology service selects these pods" not in res.output


def test_httpbin_port_and_version(tmp_path: Path) -> None:
    out = tmp_path / "mesh"
    _init(str(HTTPBIN), "--out", str(out))
    (svc,) = _topology(out)["services"]
    assert svc["name"] == "httpbin" and svc["port"] == 8000 and svc["isEntrypoint"] is True
    assert svc["versions"] == {"v1": {"replicas": 1, "labels": {"app": "httpbin", "version": "v1"}}}


def test_replicas_come_from_the_deployment(tmp_path: Path) -> None:
    k8s = tmp_path / "httpbin.yaml"
    k8s.write_text(HTTPBIN.read_text().replace("replicas: 1", "replicas: 3"))
    _init(str(k8s), "--out", str(tmp_path / "mesh"))
    assert _topology(tmp_path / "mesh")["services"][0]["versions"]["v1"]["replicas"] == 3


def test_inputs_and_existing_outputs_are_never_modified(tmp_path: Path) -> None:
    before = hashlib.sha256(BOOKINFO_K8S.read_bytes()).hexdigest()
    out = tmp_path / "mesh"
    out.mkdir()
    (out / "topology.yaml").write_text("# mine\n")
    msg = _init(str(BOOKINFO_K8S), "--out", str(out), code=2)
    assert "exists" in msg and "--force" in msg and len(msg.strip().splitlines()) == 1
    assert (out / "topology.yaml").read_text() == "# mine\n"
    assert not (out / "load.yaml").exists()
    _init(str(BOOKINFO_K8S), "--out", str(out), "--force")
    assert "MockServiceGraph" in (out / "topology.yaml").read_text()
    assert hashlib.sha256(BOOKINFO_K8S.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in out.iterdir()) == ["load.yaml", "topology.yaml"]  # no temporary files left


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    msg = _init(str(REPO / "topologies" / "bookinfo" / "load.yaml"), "--out", str(tmp_path / "a"), code=2)
    assert "no Kubernetes Service" in msg and len(msg.strip().splitlines()) == 1
    msg = _init(str(HTTPBIN), "--entry", "nope", "--out", str(tmp_path / "b"), code=2)
    assert "--entry" in msg and "httpbin" in msg
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: -1}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selector: {app: x}}\n"
    )
    msg = _init(str(bad), "--out", str(tmp_path / "c"), code=2)
    assert "bad.yaml" in msg and "spec.replicas" in msg and "Traceback" not in msg
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_missing_topology_error_points_to_init_and_the_readme() -> None:
    res = runner.invoke(app, ["run", str(BOOKINFO_K8S), "-q"])
    assert res.exit_code == 2
    assert "no MockServiceGraph topology found" in res.output and "meshsim init FILE..." in res.output
    section = re.search(r'README: "([^"]+)"', res.output)
    assert section is not None
    assert f"## {section.group(1)}" in (REPO / "README.md").read_text()


def test_deployment_without_a_service_is_named_and_left_out(tmp_path: Path) -> None:
    k8s = tmp_path / "k8s.yaml"
    k8s.write_text(
        HTTPBIN.read_text()
        + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: sleep, namespace: default}\n"
        "spec:\n  replicas: 2\n  template: {metadata: {labels: {app: sleep}}}\n"
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: httpbin-v2, namespace: default}\n"
        "spec:\n  replicas: 2\n  template: {metadata: {labels: {app: httpbin, version: v2}}}\n"
    )
    res = runner.invoke(app, ["init", str(k8s), "--out", str(tmp_path / "mesh")])
    assert res.exit_code == 0, res.output
    assert "Deployment sleep: no Service selects its pods" in res.stderr
    (svc,) = _topology(tmp_path / "mesh")["services"]
    # an explicit "default" namespace is the Service's unset one
    assert {v: d["replicas"] for v, d in svc["versions"].items()} == {"v1": 1, "v2": 2}
