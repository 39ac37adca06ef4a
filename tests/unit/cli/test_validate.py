"""`meshsim validate` in istioctl analyze's conventions: codes, line format, json/yaml, thresholds, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.config.checks import CHECKS, check_of, codes_table
from meshsim.errors import Finding

ROOT = Path(__file__).resolve().parents[3]
BOOKINFO = ROOT / "topologies" / "bookinfo"
INVALID = ROOT / "tests" / "fixtures" / "invalid"
runner = CliRunner()

LINE = re.compile(r"^(Error|Warning|Info) \[(MSH\d{4})\](?: \(([^)]*)\))? (.*)$")


def _validate(*args: str) -> tuple[int, list[tuple[str, str, str, str]]]:
    res = runner.invoke(app, ["validate", *args], env={"COLUMNS": "400"})
    assert "Traceback" not in res.output, res.output
    lines = res.output.splitlines()
    assert re.fullmatch(r"\d+ error\(s\), \d+ warning\(s\)", lines[-1]), res.output
    msgs = []
    for ln in lines[:-1]:
        m = LINE.match(ln)
        assert m is not None, ln  # every line is a message in istioctl's form
        msgs.append((m[1], m[2], m[3] or "", m[4]))
    return res.exit_code, msgs


def _codes(msgs: list[tuple[str, str, str, str]]) -> list[str]:
    return [m[1] for m in msgs]


def test_codes_are_unique_stable_names_and_the_docs_table_is_the_registry() -> None:
    codes = [c.code for c in CHECKS]
    assert len(codes) == len(set(codes)) and all(re.fullmatch(r"MSH0[123]\d\d", c) for c in codes)
    levels = {"1": "error", "2": "warning", "3": "info"}
    assert all(levels[c.code[4]] == c.level for c in CHECKS)  # the hundreds say the level
    assert len({c.name for c in CHECKS}) == len(CHECKS)
    doc = (ROOT / "docs" / "validate-codes.md").read_text()
    assert doc.endswith(codes_table())  # docs/validate-codes.md holds the registry's table verbatim
    out = runner.invoke(app, ["validate", "--list-codes"]).output
    assert out == codes_table()


def test_istioctl_codes_cited_are_istioctls_with_their_levels() -> None:
    """istio/istio pkg/config/analysis/msg/messages.yaml: IST0101 ReferencedResourceNotFound (Error),
    IST0106 SchemaValidationError (Error), IST0174 UnknownDestinationRuleHost (Warning), IST0173
    DestinationRuleSubsetNotSelectPods (Error)."""
    by_code = {c.code: c for c in CHECKS}
    assert by_code["MSH0101"].istio.startswith("IST0101 (Error)")
    assert by_code["MSH0106"].istio.startswith("IST0106 (Error)")
    assert by_code["MSH0201"].istio.startswith("IST0174 (Warning)") and by_code["MSH0201"].level == "warning"
    assert by_code["MSH0204"].istio.startswith("IST0173 (Error)")


@pytest.mark.parametrize(
    ("fixture", "code", "field"),
    [
        ("unknown-host.yaml", "MSH0101", "destination.host"),
        ("unknown-subset.yaml", "MSH0103", "destination.subset"),
        ("undefined-call.yaml", "MSH0104", "services[0].script[0].call.service"),
        ("zero-weights.yaml", "MSH0107", ".route"),
        ("bad-yaml.yaml", "MSH0106", "line 6"),
        ("negative-duration.yaml", "MSH0106", "duration"),
    ],
)
def test_each_error_has_its_code_origin_and_field(fixture: str, code: str, field: str) -> None:
    rc, msgs = _validate(str(INVALID / fixture))
    assert rc == 2
    errors = [m for m in msgs if m[0] == "Error"]
    assert errors and errors[0][1] == code, msgs
    assert str(INVALID / fixture) in errors[0][2]  # the reference names the file
    assert field in errors[0][3].split(": ", 1)[0]


def test_origin_is_kind_name_namespace_with_file_and_line() -> None:
    _, msgs = _validate(str(INVALID / "unknown-subset.yaml"))
    (err,) = [m for m in msgs if m[0] == "Error"]
    assert re.fullmatch(rf"VirtualService b\.default {re.escape(str(INVALID))}/unknown-subset\.yaml:\d+", err[2])


def test_json_and_yaml_carry_istioctls_keys() -> None:
    res = runner.invoke(app, ["validate", str(INVALID / "unknown-subset.yaml"), "-o", "json"])
    assert res.exit_code == 2
    data = json.loads(res.stdout)  # nothing but the document on stdout
    keys = {"code", "level", "origin", "reference", "field", "message", "documentationUrl"}
    assert all(set(d) == keys for d in data)
    err = next(d for d in data if d["level"] == "Error")
    assert err["code"] == "MSH0103" and err["origin"] == "VirtualService b.default"
    assert err["documentationUrl"] == "docs/validate-codes.md#msh0103"
    assert f'id="{err["code"].lower()}"' in (ROOT / "docs" / "validate-codes.md").read_text()  # the link resolves
    y = runner.invoke(app, ["validate", str(INVALID / "unknown-subset.yaml"), "--output", "yaml"])
    assert yaml.safe_load(y.stdout) == data and y.exit_code == 2


def test_thresholds_choose_what_is_printed_and_what_fails() -> None:
    rc, msgs = _validate(str(BOOKINFO))
    assert rc == 0 and {m[0] for m in msgs} == {"Info"}  # Bookinfo: notes only
    rc, msgs = _validate(str(BOOKINFO), "--output-threshold", "Warning")
    assert rc == 0 and msgs == []
    rc, msgs = _validate(str(BOOKINFO), "--failure-threshold", "Info")
    assert rc == 2 and msgs
    rc, _ = _validate(str(BOOKINFO), "--failure-threshold", "Warning")
    assert rc == 0
    bad = runner.invoke(app, ["validate", str(BOOKINFO), "--failure-threshold", "Fatal"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_bookinfo_says_nothing_about_its_service_accounts() -> None:
    _, msgs = _validate(str(BOOKINFO))
    assert not [m for m in msgs if "ServiceAccount" in m[2] + m[3]]


def _doc(tmp_path: Path, name: str, text: str) -> str:
    f = tmp_path / name
    f.write_text(text)
    return str(f)


def test_a_virtual_service_host_without_a_service_is_an_error_in_validate_and_run(tmp_path: Path) -> None:
    vs = _doc(
        tmp_path,
        "vs.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: nosuch}\n"
        "spec:\n  hosts: [nosuch]\n  http:\n  - route:\n    - destination: {host: reviews}\n",
    )
    rc, msgs = _validate(str(BOOKINFO), vs)
    err = [m for m in msgs if m[0] == "Error"]
    assert rc == 2 and [m[1] for m in err] == ["MSH0102"] and "spec.hosts[0]" in err[0][3]
    assert "ignored" not in err[0][3]  # nothing is ignored: the input is refused
    r = runner.invoke(app, ["run", str(BOOKINFO), vs, "-q", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "spec.hosts[0]: host 'nosuch' is not a service" in r.output
    assert not (tmp_path / "o").exists()


def test_a_destination_rule_host_without_a_service_is_istioctls_warning(tmp_path: Path) -> None:
    dr = _doc(
        tmp_path,
        "dr.yaml",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: nosuch}\nspec:\n  host: nosuch\n",
    )
    rc, msgs = _validate(str(BOOKINFO), dr)
    assert rc == 0 and [m[1] for m in msgs if m[0] != "Info"] == ["MSH0201"]
    rc, _ = _validate(str(BOOKINFO), dr, "--failure-threshold", "Warning")
    assert rc == 2


def test_a_split_of_the_entry_service_is_a_warning_naming_the_fixes(tmp_path: Path) -> None:
    """Istio's helloworld 90/10: load from outside the mesh passes no client sidecar."""
    hw = _doc(
        tmp_path,
        "hw.yaml",
        "services:\n- name: helloworld\n  isEntrypoint: true\n  versions:\n    v1: {replicas: 1}\n    v2: {replicas: 1}\n"
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: helloworld}\n"
        "spec:\n  host: helloworld\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n"
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: helloworld}\n"
        "spec:\n  hosts: [helloworld]\n  http:\n  - route:\n"
        "    - {destination: {host: helloworld, subset: v1}, weight: 90}\n"
        "    - {destination: {host: helloworld, subset: v2}, weight: 10}\n",
    )
    rc, msgs = _validate(hw)
    (w,) = [m for m in msgs if m[0] == "Warning"]
    assert rc == 0 and w[1] == "MSH0210" and w[2].startswith("VirtualService helloworld.default")
    assert "LoadProfile spec.gateway" in w[3] and "client service" in w[3]
    # run prints it too
    r = runner.invoke(app, ["run", hw, "-q", "--duration", "1s", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0 and "Warning [MSH0210]" in r.output


def test_a_route_of_the_entry_to_its_only_version_is_not_flagged() -> None:
    _, msgs = _validate(str(BOOKINFO), str(ROOT / "topologies" / "bookinfo-samples" / "virtual-service-all-v1.yaml"))
    assert "MSH0210" not in _codes(msgs)  # productpage has one version: the rule changes nothing


def test_a_set_value_a_deployment_shadows_says_which_wins() -> None:
    """The README's example: on Bookinfo, reviews' replicas come from its three Deployments."""
    _, msgs = _validate(str(BOOKINFO), "--set", "MockServiceGraph.services[name=reviews].numReplicas=3")
    (w,) = [m for m in msgs if m[1] == "MSH0211"]
    assert w[0] == "Warning" and "services[2].numReplicas" in w[3]
    assert "--set MockServiceGraph.services[name=reviews].numReplicas=3 is shadowed by" in w[3]
    assert all(f"Deployment reviews-{v} spec.replicas (1" in w[3] for v in ("v1", "v2", "v3"))
    _, msgs = _validate(str(BOOKINFO), "--set", "MockServiceGraph.services[name=details].numReplicas=3")
    assert "MSH0211" in _codes(msgs)
    _, msgs = _validate(str(ROOT / "topologies" / "mm1"), "--set", "MockServiceGraph.services[0].numReplicas=3")
    assert "MSH0211" not in _codes(msgs)  # no Deployment: the value is used


def test_a_service_called_only_into_a_subset_without_pods_says_what_it_lacks(tmp_path: Path) -> None:
    vs = _doc(
        tmp_path,
        "ratings-v2.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ratings}\n"
        "spec:\n  hosts: [ratings]\n  http:\n  - route:\n    - destination: {host: ratings, subset: v2}\n",
    )
    _, msgs = _validate(str(BOOKINFO), vs)
    text = [m[3] for m in msgs if m[1] == "MSH0205"]
    assert len(text) == 1 and "ratings is called by reviews.v2" in text[0] and "subset(s) v2 with no pods" in text[0]
    assert not [m for m in msgs if "is not reachable from the entry" in m[3]]
    r = runner.invoke(app, ["run", str(BOOKINFO), vs, "-q", "--duration", "1s", "--out", str(tmp_path / "o")])
    assert "is not reachable" not in r.output and "ratings is called by reviews.v2" in r.output


def test_check_of_never_lowers_an_error_and_falls_back_by_level() -> None:
    assert check_of(Finding("error", "f", "x", "something new")).code == "MSH0106"
    assert check_of(Finding("warning", "f", "x", "something new")).level == "warning"
    assert check_of(Finding("info", "f", "", "something new")).level == "info"
    # the compiler's warning for a VirtualService host is reported as an error; a DestinationRule's stays one
    msg = "host 'x' is not a service of the topology; ignored"
    assert check_of(Finding("warning", "f", "spec.hosts[0]", msg)).code == "MSH0102"
    assert check_of(Finding("warning", "f", "spec.host", msg)).code == "MSH0201"


def test_run_says_when_a_flag_shadows_a_set(tmp_path: Path) -> None:
    args = ["run", str(BOOKINFO), "-q", "--duration", "1s", "--out", str(tmp_path / "o")]
    r = runner.invoke(app, [*args, "--set", "LoadProfile.spec.rate=500", "--rps", "50"])
    assert r.exit_code == 0
    assert (
        "Warning [MSH0211] (--set) LoadProfile.spec.rate: --set LoadProfile.spec.rate=500 is shadowed by --rps 50"
        in r.output
    )
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["run"]["rate_rps"] == 50  # the flag won
    r = runner.invoke(app, [*args, "--set", "LoadProfile.spec.rate=50"])
    assert "MSH0211" not in r.output
