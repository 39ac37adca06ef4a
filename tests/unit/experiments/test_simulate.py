"""A notebook's Summary is summary.json (meshsim.experiments.simulate behind pipeline.simulate and meshsim run)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from meshsim.cli import app
from meshsim.pipeline import load_and_compile, simulate, simulate_run

REPO = Path(__file__).resolve().parents[3]
BOOKINFO = str(REPO / "topologies" / "bookinfo")
SHORT = ["LoadProfile.spec.duration=3s", "LoadProfile.spec.warmup=1s", "LoadProfile.spec.rate=50"]


def test_notebook_summary_equals_cli_summary_json(tmp_path: Path) -> None:
    model, findings = load_and_compile([BOOKINFO], SHORT)
    warnings = [str(f) for f in findings if f.level != "info"]
    s = simulate(model, seed=3, replications=1, workers=1, inputs=[BOOKINFO], findings=warnings)
    assert s.amplification is not None and s.amplification.edges
    out = tmp_path / "run"
    args = ["run", BOOKINFO, "--out", str(out), "--seed", "3", "--workers", "1", "-q"]
    for o in SHORT:
        args += ["--set", o]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text()) == s.model_dump(mode="json")


def test_simulate_run_keeps_replications_and_threshold_none_omits_amplification() -> None:
    model, _ = load_and_compile([BOOKINFO], SHORT)
    run = simulate_run(model, seed=1, replications=2, workers=1, amplification_threshold=None)
    assert [r.replication for r in run.replications] == [0, 1]
    assert run.summary.amplification is None
    assert [o.replication for o in run.observations] == [0, 1]
    assert all(o.traces == [] for o in run.observations)  # trace_sample 0: nothing traced
