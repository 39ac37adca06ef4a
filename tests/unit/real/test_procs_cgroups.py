"""A child joins its cgroups before it runs: the spawn shell writes its own pid into each ``cgroup.procs`` and then
``exec``s the program, so the pid written is the program's and its command line is the program's own."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from meshsim.real.procs import Children


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHSIM_REAL_STATE", str(tmp_path / "state"))


def test_the_program_itself_is_written_to_every_cgroup(tmp_path: Path) -> None:
    files = (tmp_path / "cpu.procs", tmp_path / "cpuset.procs")
    for f in files:
        f.write_text("")
    children = Children(tmp_path)
    argv = [sys.executable, "-c", "import time; time.sleep(30)"]
    proc = children.spawn("child", argv, cgroup_procs=files)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(f.read_text().strip() for f in files):
            time.sleep(0.02)
        assert [f.read_text().strip() for f in files] == [str(proc.pid)] * 2
        deadline = time.monotonic() + 10
        cmdline: list[str] = []
        while time.monotonic() < deadline:
            cmdline = [a.decode() for a in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0") if a]
            if cmdline == argv:
                break
            time.sleep(0.02)
        assert cmdline == argv  # what the stale-process cleanup matches
    finally:
        children.stop_all()


def test_a_refused_join_never_runs_the_program(tmp_path: Path) -> None:
    children = Children(tmp_path)
    marker = tmp_path / "ran"
    proc = children.spawn(
        "child",
        [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"],
        cgroup_procs=(tmp_path / "missing-dir" / "cgroup.procs",),
    )
    assert proc.wait(10) == 97
    assert not marker.exists()
    assert "missing-dir" in (tmp_path / "child.log").read_text()
    children.stop_all()
