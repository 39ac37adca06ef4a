"""The app host forks one process per pod: each joins its cgroups (``cgroup.procs`` files) before serving, answers on
its own control port, and all stop together — on SIGTERM, or when one of them dies."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshsim.pipeline import load_and_compile
from tests.conftest import ROOT

ONE_SLOW = str(ROOT / "tests" / "fixtures" / "valid" / "one-slow-replica.yaml")
HOST = "127.79.0.2"


def _port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(cond: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, int], dict[str, int], dict[str, Path]]]:
    model, _ = load_and_compile([ONE_SLOW])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    pods = [e.id for e in model.endpoints][:2]
    ports = {p: _port() for p in pods}
    procs = {p: tmp_path / f"{p}.procs" for p in pods}
    for f in procs.values():
        f.write_text("")
    spec = {
        "model": str(tmp_path / "model.pkl"),
        "pods": [
            {"pod": p, "ip": f"127.79.1.{i + 1}", "control_port": ports[p], "cgroup_procs": [str(procs[p])]}
            for i, p in enumerate(pods)
        ],
        "app_port": 15080,
        "outbound_port": 15001,
        "seed": 1,
        "control_host": HOST,
        "pids_file": str(tmp_path / "pids.json"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "meshsim.real.service", str(tmp_path / "spec.json")], env=env)
    try:
        assert _wait(lambda: (tmp_path / "pids.json").exists())
        pids = json.loads((tmp_path / "pids.json").read_text())

        def ready() -> bool:
            try:
                return all(
                    urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=1).status == 200
                    for port in ports.values()
                )
            except OSError:
                return False

        assert _wait(ready)
        yield proc, pids, ports, procs
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_one_process_per_pod_each_in_its_cgroup(host: tuple[Any, ...]) -> None:
    proc, pids, ports, procs = host
    assert len(set(pids.values())) == 2 and proc.pid not in pids.values()
    for pod, pid in pids.items():
        assert procs[pod].read_text() == str(pid)  # joined before serving
        status = Path(f"/proc/{pid}/status").read_text()
        assert f"PPid:\t{proc.pid}\n" in status
    stats = {pod: json.load(urllib.request.urlopen(f"http://{HOST}:{ports[pod]}/stats", timeout=2)) for pod in pids}
    assert {pod: list(s) for pod, s in stats.items()} == {pod: [pod] for pod in pids}  # each serves its own pod
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert _wait(lambda: not any(_alive(p) for p in pids.values()), 5)


def test_a_dead_pod_process_stops_the_others(host: tuple[Any, ...]) -> None:
    proc, pids, _, _ = host
    first, second = pids.values()
    os.kill(first, signal.SIGKILL)
    assert proc.wait(10) == 1
    assert _wait(lambda: not _alive(second), 5)
