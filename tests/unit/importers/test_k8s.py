"""Deployments + Services -> a topology skeleton: placeholders marked, or telemetry when given."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.importers.k8s import skeleton
from tests.conftest import BOOKINFO
from tests.unit.importers.formats import FIXTURE

runner = CliRunner()
PLATFORM = str(BOOKINFO / "platform" / "bookinfo.yaml")


def test_skeleton_has_one_service_per_service_and_marks_every_placeholder() -> None:
    em = skeleton([PLATFORM], [])
    names = [s["name"] for s in em.topology["services"]]
    assert names == ["details", "productpage", "ratings", "reviews"]
    assert all(s["script"] == [{"sleep": "1ms"}] for s in em.topology["services"])
    assert sum("PLACEHOLDER" in m for m in em.missing) == 4 + 2  # each service, the entry, the load
    assert any("reviews: Service selecting v1 (1 replicas), v2 (1 replicas), v3 (1 replicas)" in x for x in em.inferred)


def test_skeleton_from_a_kubectl_json_list_validates_with_the_deployments(tmp_path: Path) -> None:
    items = [d for d in yaml.safe_load_all(Path(PLATFORM).read_text()) if d]
    for d in items:
        d["status"] = {"replicas": 1}
        d.setdefault("metadata", {})["uid"] = "x"
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    out = tmp_path / "o"
    res = runner.invoke(app, ["import", "k8s", str(export), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "not imported: details: PLACEHOLDER" in res.output
    res = runner.invoke(app, ["validate", str(out), str(export)])
    assert res.exit_code == 0, res.output


def test_with_traces_the_graph_and_times_come_from_them_and_replicas_from_the_deployments(tmp_path: Path) -> None:
    em = skeleton([PLATFORM], [FIXTURE])
    svc = {s["name"]: s for s in em.topology["services"]}
    pp = svc["productpage"]["script"]
    assert pp[0]["sleep"]["dist"] in ("lognormal", "empirical")
    assert [c["call"]["service"] for c in pp[1:]] == ["details", "reviews"]
    assert "numReplicas" not in svc["productpage"]
    out = tmp_path / "o"
    res = runner.invoke(app, ["import", "k8s", PLATFORM, "--traces", str(FIXTURE), "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["run", str(out), PLATFORM, "--duration", "2s", "--warmup", "1s", "--quiet", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 0, res.output
