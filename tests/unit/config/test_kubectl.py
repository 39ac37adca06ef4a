"""kubectl exports load as they are: ``kind: List``, server-set fields, ``.json`` files in directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.config import load
from meshsim.config.kubectl import LAST_APPLIED, normalise
from meshsim.model import compile_model
from meshsim.pipeline import simulate
from tests.conftest import BOOKINFO

SERVER_FIELDS = {
    "uid": "7d0b6c1e-0000-4000-8000-000000000001",
    "resourceVersion": "123456",
    "generation": 3,
    "creationTimestamp": "2026-01-01T00:00:00Z",
    "managedFields": [
        {
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {}},
        }
    ],
}


def _as_exported(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as ``kubectl get -o yaml`` prints it after a client-side ``kubectl apply``."""
    out = json.loads(json.dumps(doc))
    meta = out.setdefault("metadata", {})
    meta.setdefault("namespace", "default")
    meta.update(SERVER_FIELDS)
    meta.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(doc)
    out["status"] = (
        {"observedGeneration": 3, "conditions": [{"type": "Available", "status": "True"}]}
        if doc["kind"] == "Deployment"
        else {}
    )
    if doc["kind"] == "Service":
        out["status"] = {"loadBalancer": {}}
    if doc["apiVersion"].startswith("networking.istio.io"):
        out["status"] = {"observedGeneration": 3, "validationMessages": []}
    return out


def _kube_list(paths: list[Path]) -> dict[str, Any]:
    items = [_as_exported(d) for p in paths for d in yaml.safe_load_all(p.read_text()) if d]
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def test_normalise_unwraps_lists_and_drops_server_fields_without_touching_the_input() -> None:
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "r", "annotations": {"keep": "me"}},
        "spec": {"hosts": ["r"]},
    }
    exported = _as_exported(vs)
    exported["metadata"]["annotations"]["keep"] = "me"
    before = json.dumps(exported, sort_keys=True)
    lst = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [exported, {"apiVersion": "v1", "kind": "List", "items": [exported]}],
    }
    out = normalise(lst)
    assert len(out) == 2
    assert out[0] == {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "r", "namespace": "default", "annotations": {"keep": "me"}},
        "spec": {"hosts": ["r"]},
    }
    assert json.dumps(exported, sort_keys=True) == before  # nothing the user wrote is modified
    # an isotope topology (no apiVersion/kind) passes through unchanged, "status" and all
    iso = {"services": [{"name": "a"}], "status": "x"}
    assert normalise(iso) == [iso]


def test_bookinfo_exported_as_lists_simulates_byte_identically_to_the_plain_files(tmp_path: Path) -> None:
    istio = [BOOKINFO / "destination-rule-all.yaml", BOOKINFO / "virtual-service-reviews-90-10.yaml"]
    platform = [BOOKINFO / "platform" / "bookinfo.yaml"]
    plain = [str(BOOKINFO / "topology.yaml"), str(BOOKINFO / "load.yaml"), *map(str, platform), *map(str, istio)]
    export = tmp_path / "export"
    export.mkdir()
    (export / "workloads.yaml").write_text(yaml.safe_dump(_kube_list(platform)))  # kubectl get deploy,svc,sa -o yaml
    (export / "routing.json").write_text(json.dumps(_kube_list(istio), indent=4))  # kubectl get vs,dr -o json
    exported = [str(BOOKINFO / "topology.yaml"), str(BOOKINFO / "load.yaml"), str(export)]
    overrides = ["LoadProfile.spec.duration=3s", "LoadProfile.spec.warmup=1s"]
    a = compile_model(load(plain, overrides))
    b = compile_model(load(exported, overrides))
    sa = simulate(a, seed=3).model_dump(mode="json")
    sb = simulate(b, seed=3).model_dump(mode="json")
    for s in (sa, sb):  # the only fields that name the input files
        s["run"].pop("config_digest")
        s["run"].pop("inputs")
    assert json.dumps(sa, sort_keys=True) == json.dumps(sb, sort_keys=True)
    # the routing really came through: reviews is split 90/10 between v1 and v2, not across v3
    reviews = [e for e in sb["edges"] if e["destination"] == "reviews"]
    assert reviews and all(e.get("subset") in ("v1", "v2") for e in reviews)


def test_validate_accepts_a_directory_of_kubectl_json_files(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for i, d in enumerate(_kube_list([BOOKINFO / "destination-rule-all.yaml"])["items"]):
        (export / f"dr-{i}.json").write_text(json.dumps(d, indent=4))
    res = CliRunner().invoke(
        app, ["validate", str(BOOKINFO / "topology.yaml"), str(BOOKINFO / "platform"), str(export)]
    )
    assert res.exit_code == 0, res.output
