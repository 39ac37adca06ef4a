"""End-to-end real runs (each well under 30 s): the shipped chain scenario, and recovery after a
runner is SIGKILLed halfway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cli(args: list[str], env: dict[str, str], **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meshsim.cli.real", "run", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[arg-type]
    )


def _env(state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["MESHSIM_REAL_STATE"] = str(state_dir)
    return env


def test_chain_run(tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path) -> None:
    out = tmp_path / "out"
    p = _cli(
        [
            str(scenarios_dir / "chain-split-retry"),
            "--out",
            str(out),
            "--duration",
            "4",
            "--warmup",
            "1",
            "--rps",
            "100",
        ],
        _env(state_dir),
    )
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["run"]["backend"] == "real"
    e = s["entry"]
    assert 300 <= e["requests"] <= 500  # Poisson at 100 req/s for 4 s
    # leaf fails 20 %, middle's sidecar retries 5xx twice: P(fail) = 0.2^3 = 0.008 per call
    assert 0.95 <= e["success_rate"]["value"] <= 1.0
    edges = {(x["source"], x["cluster"].split("|")[2] or "-"): x for x in s["edges"]}
    v1 = edges[("frontend.v1", "v1")]["requests"]
    v2 = edges[("frontend.v1", "v2")]["requests"]
    assert 0.8 < v1 / (v1 + v2) < 0.97  # 90/10 split
    leaf = [x for x in s["edges"] if x["destination"] == "leaf"]
    att = sum(x["attempts"] for x in leaf)
    req = sum(x["requests"] for x in leaf)
    assert 1.1 < att / req < 1.45  # expected 1 + 0.2 + 0.04 = 1.24
    counters = {(c["proxy"], c["cluster"]): c["counters"] for c in s["clusters"]}
    assert any(
        k[1].startswith("outbound|8080||leaf") and v.get("upstream_rq_retry", 0) > 0 for k, v in counters.items()
    )
    cp = json.loads((out / "control_plane.json").read_text())
    assert len(cp["acks"]) >= 4 * 5 and not cp["nacks"]
    assert not (state_dir / "children.json").exists()


def test_sigkilled_runner_is_cleaned_up_by_next_run(
    tmp_path: Path, state_dir: Path, real_deps: None, scenarios_dir: Path
) -> None:
    env = _env(state_dir)
    scen = str(scenarios_dir / "chain-split-retry")
    first = _cli([scen, "--out", str(tmp_path / "a"), "--duration", "20", "--warmup", "1", "--rps", "20"], env)
    children_file = state_dir / "children.json"
    deadline = time.monotonic() + 20
    entries: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        if children_file.exists():
            entries = json.loads(children_file.read_text())
            if any(str(x["name"]) == "loadgen" for x in entries):
                break
        time.sleep(0.2)
    assert any(str(x["name"]) == "loadgen" for x in entries), "the first run never reached the load phase"
    time.sleep(1.0)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    assert children_file.exists()  # the crashed runner could not clean up

    second = _cli([scen, "--out", str(tmp_path / "b"), "--duration", "2", "--warmup", "0.5", "--rps", "50"], env)
    _, stderr = second.communicate(timeout=60)
    assert second.returncode == 0, stderr
    assert (tmp_path / "b" / "summary.json").exists()
    time.sleep(0.5)
    survivors = [x for x in entries if _alive(int(str(x["pid"])))]
    assert not survivors, f"processes of the crashed run survived: {survivors}"
    assert not children_file.exists()


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = _cli([str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")], env)
    _, stderr = p.communicate(timeout=30)
    assert p.returncode == 2
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "RuntimeWarning" not in ln and "frozen runpy" not in ln]
    assert len(lines) == 1 and "no such file" in lines[0], stderr
