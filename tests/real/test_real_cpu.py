"""CPU limits on the real mesh: each pod's Envoy and app run in their own cgroups with the container's CFS quota,
the kernel's accounting fills ``containers[]``/``nodes[]``, and no cgroup outlives the run.

The machine is shared, so these tests assert counts and CPU accounting (which the load does not change), never
latency."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from meshsim.model.ir import ContainerCPUSpec, CpuStep, Dist, MeshModel, NodeIR
from meshsim.pipeline import load_and_compile
from meshsim.real.cgroups import CGROUP_ROOT as CGROUP
from meshsim.real.cgroups import detect
from tests.conftest import ROOT

pytestmark = pytest.mark.real

ONE_SLOW = str(ROOT / "tests" / "fixtures" / "valid" / "one-slow-replica.yaml")


@pytest.fixture
def cgroups_ok() -> None:
    from meshsim.real.cgroups import CgroupsUnavailable

    try:
        detect(CGROUP)
    except CgroupsUnavailable as exc:
        pytest.skip(str(exc))


def _with_cpu(model: MeshModel, proxy: dict[str, ContainerCPUSpec], node: NodeIR) -> MeshModel:
    """Every pod on ``node``; the sidecars of the named services get the given resources."""
    services = []
    for s in model.services:
        wls = tuple(
            dataclasses.replace(w, proxy_cpu=proxy.get(s.name, ContainerCPUSpec()), nodes=(node.name,) * w.replicas)
            for w in s.workloads
        )
        services.append(dataclasses.replace(s, workloads=wls))
    return dataclasses.replace(model, services=tuple(services), nodes=(node,))


def _run_dirs() -> list[Path]:
    return [CGROUP / c / f"meshsim-{os.getpid()}" for c in ("cpu", "cpuacct", "cpuset")]


def test_a_limited_sidecar_is_throttled_and_its_cgroups_are_gone_after_the_run(
    tmp_path: Path, state_dir: Path, real_deps: None, cgroups_ok: None
) -> None:
    """The entry sidecar (two traversals per request, 0.2-0.6 ms of CPU each depending on the machine's load)
    limited to 20m (a 2 ms quota per 100 ms period) at 40 req/s needs 1.6-4.8 ms per period on average, more in
    Poisson bursts: it is throttled (in most periods when the machine is busy) and never uses more than its
    quota; unlimited containers are never throttled; the node's CPU is its containers' sum."""
    from meshsim.real.runner import RunOptions, run_real_sync

    model, _ = load_and_compile([ONE_SLOW])
    model = _with_cpu(model, {"frontend": ContainerCPUSpec(0.02, 0.02)}, NodeIR("node-a", 2))
    out = tmp_path / "out"
    summary = run_real_sync(model, RunOptions(out=out, duration=3, warmup=1, rps=40))

    rows = {(c.pod, c.container): c for c in summary.containers}
    assert len(rows) == 2 * len(model.proxies)
    entry = rows[("frontend-v1-0", "istio-proxy")]
    assert entry.limit_cores == 0.02 and entry.node == "node-a"
    assert entry.nr_periods >= 20  # >= 3 s of busy periods
    assert 0 < entry.nr_throttled <= entry.nr_periods, entry
    assert entry.throttled_time_s > 0
    # CFS caps use at the quota per period (plus at most a slice carried over at the window's edges)
    assert 0.005 < entry.cpu_cores <= 0.02 * 1.2, entry
    for key, c in rows.items():
        if key != ("frontend-v1-0", "istio-proxy"):
            assert c.nr_throttled == 0, c
    # every container's process is in its cgroup: the app of the entry pod did work
    assert rows[("frontend-v1-0", "app")].cpu_cores > 0
    (node,) = summary.nodes
    assert node.node == "node-a" and node.cores == 2
    assert node.cpu_cores == pytest.approx(sum(c.cpu_cores for c in summary.containers))
    assert node.mean_runqueue_wait_ms is not None and node.mean_runqueue_wait_ms >= 0
    written = json.loads((out / "summary.json").read_text())
    assert len(written["containers"]) == len(rows)
    # nothing left behind: no cgroup, no record
    assert not [d for d in _run_dirs() if d.exists()]
    assert not (state_dir / "cgroups.json").exists()


def test_cpu_steps_burn_their_cpu_time_in_the_apps_cgroup(
    tmp_path: Path, state_dir: Path, real_deps: None, cgroups_ok: None
) -> None:
    """Each backend request runs a ``cpu:`` step of 5 ms (constant): its app container's cgroup accounts at least
    5 ms per request it served, plus the app's own HTTP handling (well under 5 ms a request)."""
    from meshsim.real.runner import RunOptions, run_real_sync

    model, _ = load_and_compile([ONE_SLOW])
    model = _with_cpu(model, {}, NodeIR("node-a", 2))
    burn = CpuStep(Dist("constant", (0.005,), 0.005, 0.0), 0)
    model = dataclasses.replace(
        model,
        services=tuple(
            dataclasses.replace(s, workloads=tuple(dataclasses.replace(w, script=(burn,)) for w in s.workloads))
            if s.name == "backend"
            else s
            for s in model.services
        ),
    )
    out = tmp_path / "out"
    summary = run_real_sync(model, RunOptions(out=out, duration=3, warmup=1, rps=30))
    apps = json.loads((out / "apps.json").read_text())
    window = json.loads((out / "cpu.json").read_text())["window_s"]
    served = 0
    for c in summary.containers:
        if c.container != "app" or not c.pod.startswith("backend"):
            continue
        n = apps[c.pod]["requests"]
        served += n
        cpu_s = c.cpu_cores * window
        assert n * 0.005 <= cpu_s * 1.02 + 0.002, (c.pod, n, cpu_s)
        assert cpu_s <= n * (0.005 + 0.004) + 0.05, (c.pod, n, cpu_s)
    assert served > 50
    assert not [d for d in _run_dirs() if d.exists()]


_KILLED_RUN = """
import dataclasses, sys
from pathlib import Path
from meshsim.model.ir import ContainerCPUSpec, NodeIR
from meshsim.pipeline import load_and_compile
from meshsim.real.runner import RunOptions, run_real_sync
from tests.real.test_real_cpu import ONE_SLOW, _with_cpu

model, _ = load_and_compile([ONE_SLOW])
model = _with_cpu(model, {"frontend": ContainerCPUSpec(0.1, 0.5)}, NodeIR("node-a", 2))
run_real_sync(model, RunOptions(out=Path(sys.argv[1]), duration=30, warmup=1, rps=20))
"""


def test_a_sigkilled_runs_cgroups_are_removed_by_the_next_run(
    tmp_path: Path, state_dir: Path, real_deps: None, cgroups_ok: None
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from meshsim.real.runner import RunOptions, run_real_sync

    env = {**os.environ, "PYTHONPATH": str(ROOT), "MESHSIM_REAL_STATE": str(state_dir)}
    first = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(tmp_path / "a")], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    dirs = [CGROUP / c / f"meshsim-{first.pid}" for c in ("cpu", "cpuacct", "cpuset")]
    children = state_dir / "children.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and first.poll() is None:
        if children.exists() and "loadgen" in children.read_text():
            break
        time.sleep(0.2)
    assert first.poll() is None, first.communicate()[1]
    assert all(d.is_dir() for d in dirs)
    assert (dirs[0] / "frontend-v1-0" / "istio-proxy" / "cpu.cfs_quota_us").read_text().strip() == "50000"
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    assert (state_dir / "cgroups.json").exists()  # the killed runner could not clean up

    model, _ = load_and_compile([ONE_SLOW])  # the next run, CPU model off, still removes them
    summary = run_real_sync(model, RunOptions(out=tmp_path / "b", duration=1, warmup=0.5, rps=20))
    assert any("cgroups left by an earlier crashed run" in f for f in summary.findings)
    assert not [d for d in dirs if d.exists()]
    assert not (state_dir / "cgroups.json").exists()
    assert summary.containers == [] and summary.nodes == []
