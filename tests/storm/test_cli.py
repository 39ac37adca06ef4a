"""``meshsim storm`` / ``validate`` / ``run`` on cheap settings: outputs, flags and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from meshsim.cli.main import app

REPO = Path(__file__).resolve().parents[2]
MESH = str(REPO / "topologies" / "storm" / "mesh")
FIX = Path(__file__).resolve().parent / "fixtures"
CHEAP = ["--set", "LoadProfile.spec.rate=20", "--set", "LoadProfile.spec.duration=25s"]
runner = CliRunner()


def test_validate_warns_about_multiplying_retries() -> None:
    r = runner.invoke(app, ["validate", MESH])
    assert r.exit_code == 0, r.output
    assert "retries multiply to 9 attempts at leaf" in r.output.replace("\n", " ")


def test_run_flags_amplified_edges(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["run", str(FIX / "chain-errors.yaml"), "--duration", "3s", "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    amp = s["amplification"]
    assert amp["threshold"] == 1.2
    assert amp["flagged"] == ["front.v1->mid", "mid.v1->leaf"]
    assert [d["depth"] for d in amp["depths"]] == [0, 1]
    assert "attempts per app call above 1.2" in r.output.replace("\n", " ")


def test_storm_phase_outputs(tmp_path: Path) -> None:
    """A 2 x 2 grid at 20 req/s (no storm at this load), 2 replications per point."""
    out = tmp_path / "phase"
    r = runner.invoke(
        app, ["storm", MESH, "-m", "1.5,2", "-d", "1s,2s", "-r", "2", "--workers", "1", "--out", str(out), *CHEAP]
    )
    assert r.exit_code == 0, r.output
    data = json.loads((out / "phase.json").read_text())
    assert [(p["magnitude"], p["duration_s"]) for p in data["points"]] == [
        (1.5, 1.0),
        (1.5, 2.0),
        (2.0, 1.0),
        (2.0, 2.0),
    ]
    assert all(p["stable"] + p["recovered"] + p["metastable"] + p["undetermined"] == 2 for p in data["points"])
    assert data["trigger"]["magnitude_unit"] == "slowdown factor"
    assert (
        (out / "phase.png").stat().st_size > 1000
        and (out / "phase.csv").exists()
        and (out / "provenance.json").exists()
    )


def test_storm_mitigations_outputs(tmp_path: Path) -> None:
    mit = tmp_path / "m.yaml"
    mit.write_text(
        f"mitigations:\n- name: as-is\n- name: budget\n  files: [{REPO / 'topologies/storm/mitigations/retry-budget.yaml'}]\n"
        "- name: no-retries\n  set: ['VirtualService/leaf.spec.http[0].retries={attempts: 0}', 'VirtualService/mid.spec.http[0].retries={attempts: 0}']\n"
    )
    out = tmp_path / "mit"
    r = runner.invoke(
        app, ["storm", MESH, "--mitigations", str(mit), "-r", "2", "--workers", "1", "--out", str(out), *CHEAP]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "mitigations.json").read_text())["mitigations"]
    assert [x["name"] for x in rows] == ["as-is", "budget", "no-retries"]
    # normal operation: the leaf's 1% 503s are hidden by retries, visible without them
    assert rows[0]["normal_failed_fraction"] < 0.001 and rows[2]["normal_failed_fraction"] > 0.003


def test_storm_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    cases = [
        (["storm", MESH, "-m", "abc"], "--magnitude: abc: expected a number"),
        (["storm", MESH, "-m", "0"], "a slowdown factor must be > 0"),
        (["storm", MESH, "--trigger-event", "3"], "out of range"),
        (["storm", str(FIX / "chain-errors.yaml")], "storm needs a Scenario"),
        (["storm", MESH, "--window", "0s"], "--window"),
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("mitigations:\n- name: x\n  files: [nope.yaml]\n")
    cases.append((["storm", MESH, "--mitigations", str(bad)], "mitigations[0].files[0]: no such file"))
    for args, msg in cases:
        r = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.output.replace("\n", " "), (args, r.output)
