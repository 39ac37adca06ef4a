"""``--precision``: replications are added until the entry p99 CI is tight enough, the count is recorded,
and the same seed gives the same count and a byte-identical summary.json whatever the worker count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from meshsim.experiments.replicate import MIN_INITIAL
from meshsim.metrics.intervals import relative_half_width
from meshsim.metrics.results import Estimate
from tests.conftest import BOOKINFO

runner = CliRunner()
BASE = ["run", str(BOOKINFO), "--duration", "12s", "--seed", "3", "-q"]


@pytest.mark.slow
def test_precision_stops_when_met_and_is_reproducible(tmp_path: Path) -> None:
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        res = runner.invoke(app, [*BASE, "--precision", "3%", "--workers", workers, "--out", str(out)])
        assert res.exit_code == 0, res.output
        outs.append((out / "summary.json").read_bytes())
    assert outs[0] == outs[1]
    doc = json.loads(outs[0])
    run = doc["run"]
    assert run["precision_target"] == 0.03 and run["precision_met"] is True
    assert run["replications"] > MIN_INITIAL  # it had to add replications beyond the initial 5
    h = relative_half_width(Estimate(**doc["entry"]["latency_ms"]["p99"]))
    assert h is not None and h == pytest.approx(run["precision_achieved"], abs=1e-4) and h <= 0.03 / 1.03
    assert run["ci_sections"] == run["replications"]


@pytest.mark.slow
def test_precision_not_met_stops_at_the_maximum_and_says_so(tmp_path: Path) -> None:
    res = runner.invoke(
        app, [*BASE, "--precision", "0.5%", "--max-replications", "6", "--workers", "2", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    run = json.loads((tmp_path / "o" / "summary.json").read_text())["run"]
    assert run["replications"] == 6 and run["precision_met"] is False and run["precision_achieved"] > 0.005
    assert "not met after 6 replications" in res.output


def test_precision_on_too_short_replications_is_a_one_line_error(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "run",
            str(BOOKINFO),
            "--duration",
            "2s",
            "-q",
            "--precision",
            "5%",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "spec.duration" in lines[0] and ">= 1000" in lines[0], res.output


def test_bad_precision_is_a_one_line_error(tmp_path: Path) -> None:
    res = runner.invoke(app, [*BASE, "--precision", "five", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--precision" in res.output and "Traceback" not in res.output
