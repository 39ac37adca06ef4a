"""The limits policy: finite numbers everywhere, ranges, and the pre-run estimate with --force."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.config.budget import check_run_budget, estimate_run
from meshsim.config.limits import MAX_REPLICAS, MAX_SIMULATED_CALLS
from meshsim.config.loader import load
from meshsim.errors import ConfigError
from meshsim.units import parse_bytes, parse_duration

runner = CliRunner()

TOPO = """\
services:
- name: a
  isEntrypoint: true
  script:
  - call: b
  - call: {service: c, probability: 50}
- name: b
  script:
  - call: c
- name: c
  script:
  - sleep: 1ms
"""


def _load_doc(spec: str) -> str:
    return f"---\napiVersion: meshsim.io/v1alpha1\nkind: LoadProfile\nmetadata: {{name: l}}\nspec: {spec}\n"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (TOPO + _load_doc("{rate: .inf}"), "spec.rate"),
        (TOPO + _load_doc("{rate: .nan}"), "spec.rate"),
        (TOPO + _load_doc("{rate: 1e300}"), "spec.rate"),
        (TOPO + _load_doc("{warmup: .inf}"), "spec.warmup"),
        (TOPO + _load_doc("{duration: .nan}"), "spec.duration"),
        (TOPO + _load_doc("{duration: 1e12}"), "spec.duration"),
        (TOPO + _load_doc("{headers: [{weight: .inf}]}"), "spec.headers[0].weight"),
        (
            TOPO + _load_doc("{arrival: closed, users: 10, thinkTime: {dist: exponential, mean: .nan}}"),
            "spec.thinkTime.mean",
        ),
        (TOPO.replace("sleep: 1ms", "sleep: {dist: exponential, mean: .nan}"), "services[2].script[0].sleep.mean"),
        (TOPO.replace("sleep: 1ms", "sleep: {dist: uniform, min: .nan, max: 1ms}"), "services[2].script[0].sleep.min"),
        (
            TOPO.replace("sleep: 1ms", "sleep: {dist: lognormal, median: 1ms, p99: .inf}"),
            "services[2].script[0].sleep.p99",
        ),
        (TOPO.replace("sleep: 1ms", "sleep: .inf"), "services[2].script[0].sleep.value"),
        (TOPO.replace("- name: c\n", "- name: c\n  responseSize: .inf\n"), "services[2].responseSize"),
        (TOPO.replace("- name: c\n", "- name: c\n  responseSize: 1e30\n"), "services[2].responseSize"),
        (TOPO.replace("- name: c\n", "- name: c\n  numReplicas: 100000000\n"), "services[2].numReplicas"),
        (TOPO.replace("- name: c\n", "- name: c\n  errorRate: .nan\n"), "services[2].errorRate"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_errors(tmp_path: Path, text: str, field: str) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(text)
    r = runner.invoke(app, ["validate", str(f)])
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error [MSH0106]")]  # SchemaValidationError
    assert len(errors) == 1 and f") {field}: " in errors[0] and str(f) in errors[0], r.output
    assert "Traceback" not in r.output


def test_unit_parsers_refuse_non_finite_values() -> None:
    for bad in (float("inf"), float("nan"), "inf", "nan", "1e400", 10**400):
        with pytest.raises(ValueError, match="finite"):
            parse_duration(bad)
    for bad in (float("inf"), float("nan"), "1e400 KB"):
        with pytest.raises(ValueError):
            parse_bytes(bad)


def test_estimate_is_rate_times_window_times_calls(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(TOPO + _load_doc("{rate: 200, warmup: 5s, duration: 60s, drain: 15s}"))
    est = estimate_run(load([str(f)]))
    assert est is not None
    # a calls b (1) which calls c (1), and c with probability 1/2: 1 + 1 + 0.5 calls per request
    assert est.calls_per_request == pytest.approx(2.5)
    assert est.requests == pytest.approx(200 * 80)
    assert est.calls == pytest.approx(200 * 80 * 3.5)


def test_over_budget_run_is_refused_unless_forced(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(TOPO + _load_doc("{rate: 100000, duration: 1h}"))
    cfg = load([str(f)])
    est = estimate_run(cfg)
    assert est is not None and est.calls > MAX_SIMULATED_CALLS
    with pytest.raises(ConfigError, match="pass --force"):
        check_run_budget(cfg)
    assert check_run_budget(cfg, force=True) == est
    r = runner.invoke(app, ["run", str(f), "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 2 and "over the budget" in r.output and "--force" in r.output
    assert not (tmp_path / "o").exists()
    v = runner.invoke(app, ["validate", str(f)])
    assert v.exit_code == 0 and "refuses it without --force" in v.output


def test_replicas_bound_is_the_documented_one(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(TOPO.replace("- name: c\n", f"- name: c\n  numReplicas: {MAX_REPLICAS}\n"))
    assert load([str(f)]).topologies[0].obj.services[2].numReplicas == MAX_REPLICAS
