"""`meshsim real run | validate | calibrate` take `meshsim run`'s options: one type and one spelling each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from meshsim.cli.main import app

ROOT = Path(__file__).resolve().parents[3]
BOOKINFO = str(ROOT / "topologies" / "bookinfo")
runner = CliRunner()


def _params(*path: str) -> dict[str, Any]:
    cmd: Any = typer.main.get_command(app)
    for name in path:
        cmd = cmd.get_command(None, name)  # a group (typer's own click)
    return {p.name or "": p for p in cmd.params}


def test_run_and_real_share_option_types_names_and_help() -> None:
    run = _params("run")
    for sub in (("real", "run"), ("real", "validate")):
        real = _params(*sub)
        for name in ("duration", "warmup", "rps", "seed"):
            a, b = run[name], real[name]
            assert a.opts == b.opts and a.type_descriptor.annotation == b.type_descriptor.annotation, (sub, name)
            assert getattr(a, "help", None) == getattr(b, "help", None), (sub, name)
    real = _params("real", "run")
    assert real["sets"].opts == run["sets"].opts == ["--set"]
    assert not real["out"].required and set(real["out"].opts) == set(run["out"].opts)  # a default, like run
    assert _params("real", "calibrate")["duration"].type_descriptor.annotation is str


def test_real_run_blames_a_bad_flag_value_on_the_flag_before_starting_anything(tmp_path: Path) -> None:
    r = runner.invoke(app, ["real", "run", BOOKINFO, "--duration", "10 sec", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "(from --duration)" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["real", "run", BOOKINFO, "--set", "LoadProfile.spec.rate=fast"])
    assert r.exit_code == 2 and "(from --set LoadProfile.spec.rate=fast)" in r.output
    r = runner.invoke(app, ["real", "validate", BOOKINFO, "--out", str(tmp_path / "v"), "--warmup", "soon"])
    assert r.exit_code == 2 and re.search(r"--warmup: .* \(from --warmup\)", r.output)
    assert not (tmp_path / "o").exists() and not (tmp_path / "v").exists()


def test_real_calibrate_prints_the_cpu_it_writes(tmp_path: Path, monkeypatch: Any) -> None:
    """What `real calibrate` says at the end names the rate of the CPU figure and the idle CPU it wrote."""
    import meshsim.real.calibrate as cal
    from tests.unit.real.test_calibrate import _result

    fit = cal.CpuFit(
        per_request_ms={"back-v1-0/istio-proxy": 0.3},
        fixed_cores={"back-v1-0/istio-proxy": 0.02},
        rates_rps=(100.0, 201.6),
        envoy_per_traversal_ms=0.295,
        envoy_idle_cores=0.003,
        app_idle_cores=0.0014,
        idle_rate_rps=1.0,
    )
    monkeypatch.setattr(cal, "calibrate", lambda *a, **k: _result(cpu=fit))
    r = runner.invoke(app, ["real", "calibrate", "--out", str(tmp_path / "c.yaml")])
    assert r.exit_code == 0, r.output
    assert "Envoy CPU per traversal: 0.295 ms at 202 req/s" in r.output
    assert "idle CPU: Envoy 3.0 m, app 1.4 m (at 1 req/s)" in r.output
