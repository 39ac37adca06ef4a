"""Static checks: call cycles, self-calls, RE2 regexes, entry without pods; run stops on them cleanly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.config.checks import check_regex

runner = CliRunner()


def _run_and_validate(tmp_path: Path, text: str) -> tuple[list[str], list[str]]:
    f = tmp_path / "t.yaml"
    f.write_text(
        text
        + "---\napiVersion: meshsim.io/v1alpha1\nkind: LoadProfile\nspec: {rate: 5, duration: 1s, warmup: 0s, drain: 1s}\n"
    )
    v = runner.invoke(app, ["validate", str(f)])
    r = runner.invoke(app, ["run", str(f), "--out", str(tmp_path / "o"), "-q"])
    for res in (v, r):
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()
    # validate: "Error [CODE] (Kind name.ns FILE:LINE) field: message"; run: "error: FILE:LINE (Kind name): field: message"
    errors = [ln for ln in v.output.splitlines() if ln.startswith("Error [")]
    return [_as_run_line(ln) for ln in errors], [ln for ln in r.output.splitlines() if ln.startswith("error:")]


_MSG = re.compile(r"^Error \[MSH\d{4}\] \((?:(?P<kind>\w+)(?: (?P<name>[^ ]+)\.\w+)? )?(?P<ref>[^ ]+)\) (?P<rest>.*)$")


def _as_run_line(line: str) -> str:
    """A validate message in run's one-line error form, to compare the two."""
    m = _MSG.match(line)
    assert m is not None, line
    what = f"{m['kind']} {m['name']}" if m["name"] else f"{m['kind']}, document 1"
    return f"error: {m['ref']} ({what}): {m['rest']}"


def test_self_call_is_an_error_naming_it(tmp_path: Path) -> None:
    v, r = _run_and_validate(tmp_path, "services:\n- name: a\n  script:\n  - call: a\n")
    assert v == r
    assert len(v) == 1 and "a calls itself (a -> a)" in v[0] and ":3 " in v[0] and "services[0].script" in v[0]


def test_call_cycle_is_an_error_naming_the_cycle(tmp_path: Path) -> None:
    v, _ = _run_and_validate(
        tmp_path,
        "services:\n- name: x\n  isEntrypoint: true\n  script: [{call: a}]\n- name: a\n  script: [{call: b}]\n"
        "- name: b\n  script: [{call: {service: a, probability: 10}}]\n",
    )
    assert len(v) == 1 and "(a -> b -> a)" in v[0]


def test_cycle_through_a_virtual_service_route(tmp_path: Path) -> None:
    v, _ = _run_and_validate(
        tmp_path,
        "services:\n- name: a\n  isEntrypoint: true\n  script: [{call: b}]\n- name: b\n- name: c\n  script: [{call: a}]\n"
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\n"
        "spec:\n  hosts: [b]\n  http:\n  - route:\n    - destination: {host: c}\n",
    )
    assert len(v) == 1 and "a -> c -> a" in v[0]


def test_entry_without_pods_is_an_error(tmp_path: Path) -> None:
    v, r = _run_and_validate(
        tmp_path, "services:\n- name: a\n  isEntrypoint: true\n  numReplicas: 0\n  script: [{call: b}]\n- name: b\n"
    )
    assert [e for e in v if "has no pods" in e] and r and "has no pods" in r[0]
    assert ":4 " in r[0]


def test_invalid_regex_is_an_error_with_its_line(tmp_path: Path) -> None:
    v, _ = _run_and_validate(
        tmp_path,
        "services:\n- name: a\n  isEntrypoint: true\n  script: [{call: b}]\n- name: b\n"
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\n"
        'spec:\n  hosts: [b]\n  http:\n  - match:\n    - uri: {regex: "("}\n    - headers: {x: {regex: "(?=a)b"}}\n'
        "    route:\n    - destination: {host: b}\n",
    )
    assert len(v) == 2
    assert ":14 (VirtualService b): spec.http[0].match[0].uri.regex: invalid RE2 regex" in v[0]
    assert "spec.http[0].match[1].headers.x.regex: invalid RE2 regex" in v[1]


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("/api/v[0-9]+/.*", None),
        ("(", "invalid RE2 regex"),
        (r"(a)\1", "invalid RE2 regex"),  # backreferences: Python re has them, RE2 (and so Envoy) does not
        ("(?=x)", "invalid RE2 regex"),  # lookahead: the same
        (r"\pL+", "valid RE2, but meshsim's matcher"),  # Unicode classes: RE2 has them, Python re does not
    ],
)
def test_regexes_are_judged_by_re2(pattern: str, why: str | None) -> None:
    got = check_regex(pattern)
    assert got == why if why is None else (got is not None and got.startswith(why)), got


def test_validate_compiles_every_scenario_stage(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(
        "services:\n- name: a\n  isEntrypoint: true\n  script: [{sleep: 1ms}]\n---\n"
        "apiVersion: meshsim.io/v1alpha1\nkind: Scenario\nmetadata: {name: s}\nspec:\n  events:\n  - at: 1s\n"
        "    apply:\n      apiVersion: networking.istio.io/v1\n      kind: VirtualService\n      metadata: {name: a}\n"
        "      spec:\n        hosts: [a]\n        http:\n        - route:\n          - destination: {host: nowhere}\n"
    )
    r = runner.invoke(app, ["validate", str(f)])
    assert r.exit_code == 2 and "unknown host 'nowhere'" in r.output and "Traceback" not in r.output


def test_compiler_errors_get_their_yaml_line(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(
        "services:\n- name: a\n  isEntrypoint: true\n  script: [{call: b}]\n- name: b\n---\n"
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec:\n  hosts: [b]\n"
        "  http:\n  - route:\n    - destination: {host: b, subset: v9}\n"
    )
    for cmd in (["validate", str(f)], ["run", str(f), "-q", "--out", str(tmp_path / "o")]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2
        errors = [ln for ln in r.output.splitlines() if ln.startswith(("error:", "Error ["))]
        errors = [_as_run_line(e) if e.startswith("Error [") else e for e in errors]
        assert len(errors) == 1 and f"{f}:14 (VirtualService b): spec.http[0].route[0].destination.subset" in errors[0]
