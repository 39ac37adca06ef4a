"""A ``meshsim run`` killed with SIGKILL at any moment leaves no ``summary.json`` or a complete one,
also when an older result is being replaced; the input files are never modified."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshsim.cli.main import app
from tests.conftest import BOOKINFO, ROOT, TOPOLOGIES

# every fsync waits, so the moment between "temporary written" and "renamed into place" is long enough
# for a kill to land in it (the failure this guards against: a 0-byte summary.json after a kill)
SLOW_FSYNC = (
    "import os, sys, time\n"
    "real = os.fsync\n"
    "os.fsync = lambda fd: (time.sleep(0.2), real(fd))[1]\n"
    "from meshsim.cli import main\n"
    "sys.argv = ['meshsim', *sys.argv[1:]]\n"
    "main()\n"
)


def _run(out: Path) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-c",
        SLOW_FSYNC,
        "run",
        str(TOPOLOGIES / "mm1"),
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "--out",
        str(out),
        "-q",
    ]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _complete(path: Path) -> bool:
    doc = json.loads(path.read_text())  # raises on a partial file
    return isinstance(doc, dict) and "entry" in doc


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    t0 = time.monotonic()
    first = _run(tmp_path / "reference")
    assert first.wait(timeout=300) == 0
    full = time.monotonic() - t0
    reference = tmp_path / "reference" / "summary.json"
    assert _complete(reference)
    rng = random.Random(19)
    outcomes = {"absent": 0, "complete": 0}
    for trial in range(8):
        out = tmp_path / f"t{trial}"
        replacing = trial % 2 == 1
        if replacing:  # an older valid result is being rewritten in place
            out.mkdir()
            shutil.copy(reference, out / "summary.json")
        p = _run(out)
        time.sleep(rng.uniform(0.3, full * 1.1))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        summary = out / "summary.json"
        if summary.exists():
            assert _complete(summary), f"trial {trial}: partial summary.json"
            outcomes["complete"] += 1
        else:
            assert not replacing, f"trial {trial}: the older summary.json vanished"
            outcomes["absent"] += 1
    assert sum(outcomes.values()) == 8


def _digests(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_no_input_file_bytes_or_mtime_change(tmp_path: Path) -> None:
    before = _digests(BOOKINFO)
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(BOOKINFO)]).exit_code == 0
    r = runner.invoke(
        app,
        [
            "run",
            str(BOOKINFO),
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "-q",
            "--out",
            str(tmp_path / "o"),
            "--set",
            "LoadProfile.spec.rate=20",
            "--set",
            "MockServiceGraph.services[name=reviews].numReplicas=2",
        ],
    )
    assert r.exit_code == 0, r.output
    bad = runner.invoke(app, ["run", str(BOOKINFO), "--duration", "10 sec", "-q", "--out", str(tmp_path / "p")])
    assert bad.exit_code == 2
    assert _digests(BOOKINFO) == before
    assert os.listdir(tmp_path / "o")
