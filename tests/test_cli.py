"""The command line: one-line errors, outputs, determinism, validate, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from tests.conftest import BOOKINFO, ROOT, TOPOLOGIES

runner = CliRunner()
INVALID = sorted((ROOT / "tests" / "fixtures" / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("fixture", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_input_gives_one_line_with_file_and_field(fixture: Path, tmp_path: Path) -> None:
    expect = fixture.read_text().splitlines()[0].removeprefix("# expect:").strip()
    result = runner.invoke(app, ["run", str(fixture), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert fixture.name in lines[0] and expect in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_validate_exits_2_on_errors_and_0_on_warnings() -> None:
    bad = runner.invoke(app, ["validate", str(ROOT / "tests" / "fixtures" / "invalid" / "unknown-subset.yaml")])
    assert bad.exit_code == 2
    assert "unknown subset 'v9'" in bad.output
    ok = runner.invoke(app, ["validate", str(BOOKINFO)])
    assert ok.exit_code == 0, ok.output
    assert "selects no pods" in ok.output  # findings are shown but do not fail


def test_validate_flags_unreachable_service(tmp_path: Path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(
        "kind: MockServiceGraph\nservices:\n- name: a\n  isEntrypoint: true\n  script: [{call: b}]\n"
        "- name: b\n- name: orphan\n"
    )
    res = runner.invoke(app, ["validate", str(f)])
    assert res.exit_code == 0
    assert "orphan is not reachable" in res.output


def test_run_writes_outputs_and_is_byte_identical_for_same_seed(tmp_path: Path) -> None:
    args = ["run", str(BOOKINFO), "--duration", "10s", "--seed", "42", "-q"]
    a = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    b = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    for name in ("summary.json", "latency_cdf.png", "service_graph.png", "run.json"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert (tmp_path / "a" / "summary.json").read_bytes() == (tmp_path / "b" / "summary.json").read_bytes()
    c = runner.invoke(app, [*args[:-3], "--seed", "43", "-q", "--out", str(tmp_path / "c")])
    assert c.exit_code == 0
    assert (tmp_path / "c" / "summary.json").read_bytes() != (tmp_path / "a" / "summary.json").read_bytes()


def test_replications_do_not_depend_on_process_count(tmp_path: Path) -> None:
    args = ["run", str(TOPOLOGIES / "mmc"), "--duration", "5s", "--warmup", "1s", "-r", "3", "-q"]
    a = runner.invoke(app, [*args, "--workers", "1", "--out", str(tmp_path / "a")])
    b = runner.invoke(app, [*args, "--workers", "2", "--out", str(tmp_path / "b")])
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    sa = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert sa == json.loads((tmp_path / "b" / "summary.json").read_text())
    assert sa["run"]["ci_method"] == "sectioning_replications"
    p99 = sa["entry"]["latency_ms"]["p99"]
    assert p99["ci_low"] <= p99["value"] <= p99["ci_high"]


def test_summary_matches_its_schema(tmp_path: Path) -> None:
    from meshsim.metrics.results import Summary

    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert {"run", "entry", "edges", "services", "clusters"} <= set(schema["properties"])
    r = runner.invoke(app, ["run", str(TOPOLOGIES / "mm1"), "--duration", "5s", "-q", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0
    s = Summary.model_validate_json((tmp_path / "o" / "summary.json").read_text())
    assert s.entry.requests > 0
    assert (
        {"upstream_rq_total", "upstream_rq_completed", "upstream_rq_2xx", "upstream_rq_5xx"}
        <= set(s.clusters[0].counters)
        if s.clusters
        else True
    )


def test_set_override_and_flag_precedence(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "run",
            str(TOPOLOGIES / "mm1"),
            "--set",
            "LoadProfile.spec.rate=10",
            "--rps",
            "20",
            "--duration",
            "20s",
            "-q",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["run"]["rate_rps"] == 20.0  # the flag wins over --set
    bad = runner.invoke(
        app, ["run", str(TOPOLOGIES / "mm1"), "--set", "Nope.spec.x=1", "-q", "--out", str(tmp_path / "p")]
    )
    assert bad.exit_code == 2 and "--set" in bad.output


def test_help_everywhere() -> None:
    for cmd in ([], ["run"], ["validate"], ["schema"]):
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output
