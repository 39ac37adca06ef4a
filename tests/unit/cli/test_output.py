"""``--output json``: every command that prints a table can print one JSON document instead, alone
on stdout, with the content the command writes to its output directory."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from meshsim.cli.main import app

REPO = Path(__file__).resolve().parents[3]
TOPO = REPO / "topologies"
runner = CliRunner()


def _json(args: list[str], code: int = 0) -> dict:
    res = runner.invoke(app, [*args, "--output", "json"])
    assert res.exit_code == code, res.output
    return json.loads(res.stdout)  # the whole of stdout is one JSON document


def test_run_json_is_the_summary(tmp_path: Path) -> None:
    d = _json(["run", str(TOPO / "bookinfo"), "--duration", "2s", "--warmup", "1s", "--out", str(tmp_path / "r")])
    assert d == json.loads((tmp_path / "r" / "summary.json").read_text())
    assert d["entry"]["service"] == "productpage"


def test_run_table_says_its_time_is_wall_clock_for_the_simulation(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["run", str(TOPO / "bookinfo"), "--duration", "2s", "--warmup", "1s", "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "Simulated 3 s of mesh time x 1 replication(s) in" in text
    assert "s of wall-clock time (loading, compiling and writing outputs not counted)" in text
    assert "s wall)" not in text


def test_unknown_output_format_is_a_usage_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["run", str(TOPO / "mm1"), "--output", "xml", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "--output" in res.output
    assert not (tmp_path / "r").exists()


def test_plan_prints_tables_or_json_not_a_dict_repr(tmp_path: Path) -> None:
    args = ["plan", str(TOPO / "mmc"), "--slo", str(TOPO / "slo" / "mmc.yaml"), "--analytic-only"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "t")])
    assert res.exit_code == 0, res.output
    assert "{'" not in res.stdout and "analytic bound: server.v1=" in res.stdout
    d = _json([*args, "--out", str(tmp_path / "j")])
    assert d["replicas"] == json.loads((tmp_path / "j" / "plan.json").read_text())["replicas"]
    assert d["feasible"] is True and d["out"] == str(tmp_path / "j")


def test_sweep_json_has_one_record_per_point(tmp_path: Path) -> None:
    d = _json(
        [
            "sweep",
            str(TOPO / "mm1"),
            "--factor",
            "LoadProfile.spec.rate=20,40",
            "--duration",
            "2s",
            "-r",
            "1",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert [p["LoadProfile.spec.rate"] for p in d["points"]] == [20, 40]
    assert all(p["status"] == "ok" for p in d["points"])


def test_check_json_is_check_json(tmp_path: Path) -> None:
    mmc = str(TOPO / "mmc")
    d = _json(
        [
            "check",
            "-b",
            mmc,
            "-c",
            mmc,
            "--slo",
            str(TOPO / "slo" / "mmc.yaml"),
            "--duration",
            "2s",
            "-r",
            "2",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    on_disk = json.loads((tmp_path / "c" / "check.json").read_text())
    assert d["passed"] == on_disk["passed"] and d["comparisons"] == on_disk["comparisons"]


def test_compare_json_is_compare_json(tmp_path: Path) -> None:
    for name in ("a", "b"):
        res = runner.invoke(app, ["run", str(TOPO / "mm1"), "--duration", "2s", "-q", "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c"), "--output", "json"]
    )
    assert res.exit_code in (0, 1), res.output
    assert json.loads(res.stdout) == json.loads((tmp_path / "c" / "compare.json").read_text())


def test_storm_json_is_phase_json(tmp_path: Path) -> None:
    d = _json(
        [
            "storm",
            str(TOPO / "storm" / "mesh"),
            "-m",
            "2",
            "-d",
            "1s",
            "-r",
            "1",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "p"),
        ]
    )
    on_disk = json.loads((tmp_path / "p" / "phase.json").read_text())
    assert d["points"] == on_disk["points"] and len(d["points"]) == 1


def _narrow(monkeypatch, width: int = 80) -> None:
    from meshsim.cli.common import console

    monkeypatch.setattr(console, "width", width)


def _fits(text: str, width: int = 80) -> None:
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width


def test_plan_sweep_check_and_storm_tables_fit_80_columns(tmp_path: Path, monkeypatch) -> None:
    _narrow(monkeypatch)
    res = runner.invoke(
        app,
        [
            "plan",
            str(TOPO / "mmc"),
            "--slo",
            str(TOPO / "slo" / "mmc.yaml"),
            "--duration",
            "2s",
            "-r",
            "2",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "p"),
        ],
    )
    assert res.exit_code in (0, 1), res.output
    _fits(res.stdout)
    assert "search trace" in res.stdout
    factor = "MockServiceGraph.services[name=server].errorRate"
    res = runner.invoke(
        app,
        [
            "sweep",
            str(TOPO / "mm1"),
            "--factor",
            "LoadProfile.spec.rate=20,40",
            "--factor",
            f"{factor}=0,0.1",
            "--duration",
            "2s",
            "-r",
            "2",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert res.exit_code == 0, res.output
    _fits(res.stdout)
    assert f"errorRate = {factor}" in " ".join(res.stdout.split())  # the full path, wrapped but whole
    res = runner.invoke(
        app,
        [
            "storm",
            str(TOPO / "storm" / "mesh"),
            "-m",
            "2",
            "-d",
            "1s",
            "-r",
            "1",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "st"),
        ],
    )
    assert res.exit_code == 0, res.output
    _fits(res.stdout)
    assert "P(not recovered)" in res.stdout
