"""Per-container cgroups of the real mesh: the kubelet's CPU arithmetic, the layout written to a cgroup file
system (emulated on a plain directory), accounting deltas, and removal on every path."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from meshsim.model.ir import ContainerCPUSpec, MeshModel, NodeIR
from meshsim.pipeline import load_and_compile
from meshsim.real import cgroups as cgm
from meshsim.real.cgroups import CgroupFS, Cgroups, CgroupsUnavailable, CpuSample
from tests.conftest import ROOT

ONE_SLOW = str(ROOT / "tests" / "fixtures" / "valid" / "one-slow-replica.yaml")

V1_DEFAULTS = {
    "cpu": {
        "cpu.shares": "1024",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_period_us": "100000",
        "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    },
    "cpuacct": {"cpuacct.usage": "0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
}


class FakeKernelFS(CgroupFS):
    """A cgroup file system on a plain directory: ``mkdir`` creates the controller's files with the kernel's
    defaults, ``rmdir`` refuses (EBUSY) while ``cgroup.procs`` lists a process, else removes the files."""

    def mkdir(self, path: Path) -> None:
        path.mkdir()
        controller = next((c for c in V1_DEFAULTS if c in path.parts), None)
        files = dict(V1_DEFAULTS.get(controller or "", {}))
        if controller is None:  # v2
            files = {"cpu.max": "max 100000", "cpu.weight": "100", "cpu.stat": "usage_usec 0\n", "cpuset.cpus": ""}
            files["cgroup.subtree_control"] = ""
        files["cgroup.procs"] = ""
        for name, text in files.items():
            (path / name).write_text(text)

    def rmdir(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(path)
        if (path / "cgroup.procs").read_text().split():
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        for f in path.iterdir():
            if f.is_dir():
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        for f in path.iterdir():
            f.unlink()
        path.rmdir()


def _v1_root(tmp_path: Path, cpus: str = "0-1") -> Path:
    root = tmp_path / "cgroup"
    for c in ("cpu", "cpuacct", "cpuset"):
        (root / c).mkdir(parents=True)
        (root / c / "cgroup.procs").write_text("")
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    (root / "cpuset" / "cpuset.effective_cpus").write_text(cpus)
    (root / "cpuset" / "cpuset.effective_mems").write_text("0")
    return root


def _v2_root(tmp_path: Path) -> Path:
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids")
    (root / "cgroup.procs").write_text("")
    (root / "cpuset.cpus.effective").write_text("0-3")
    (root / "cpuset.mems.effective").write_text("0")
    return root


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHSIM_REAL_STATE", str(tmp_path / "state"))


def _model(
    nodes: tuple[NodeIR, ...] = (NodeIR("n1", 1), NodeIR("n2", 1)),
    app: ContainerCPUSpec = ContainerCPUSpec(0.25, 0.5),
    proxy: ContainerCPUSpec = ContainerCPUSpec(0.1, 0.12),
    placement: tuple[str, ...] = ("n1", "n2", "n1"),
) -> MeshModel:
    """one-slow-replica (frontend-v1-0; backend fast x2, slow x1) with CPU resources; backend pods placed by
    ``placement`` in endpoint order, frontend on the first node."""
    model, _ = load_and_compile([ONE_SLOW])
    services = []
    k = 0
    for s in model.services:
        wls = []
        for w in s.workloads:
            if s.name == "backend":
                where = placement[k : k + w.replicas]
                k += w.replicas
            else:
                where = (nodes[0].name,) * w.replicas
            wls.append(dataclasses.replace(w, app_cpu=app, proxy_cpu=proxy, nodes=where))
        services.append(dataclasses.replace(s, workloads=tuple(wls)))
    return dataclasses.replace(model, services=tuple(services), nodes=nodes)


def _pod_of(model: MeshModel, version: str) -> str:
    return next(e.id for e in model.endpoints if e.version == version)


# -- arithmetic ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cores", "milli"), [(0.1, 100), (0.1001, 101), (1.5, 1500), (0.0004, 1), (2, 2000), (0.12, 120)]
)
def test_millicores_round_up_like_quantity_milli_value(cores: float, milli: int) -> None:
    assert cgm.milli_cpu(cores) == milli


@pytest.mark.parametrize(
    ("spec", "shares"),
    [
        (ContainerCPUSpec(0.1, None), 102),  # 100 * 1024 // 1000
        (ContainerCPUSpec(0.25, 1), 256),
        (ContainerCPUSpec(1, 2), 1024),
        (ContainerCPUSpec(None, 0.5), 512),  # no request: the limit's
        (ContainerCPUSpec(None, None), 2),  # neither: the minimum
        (ContainerCPUSpec(0.001, None), 2),  # 1 * 1024 // 1000 = 1 -> clamped to 2
        (ContainerCPUSpec(300, None), 262144),
    ],
)
def test_shares_follow_the_kubelet(spec: ContainerCPUSpec, shares: int) -> None:
    assert cgm.cpu_shares(spec) == shares


@pytest.mark.parametrize(
    ("limit", "quota"), [(0.12, 12000), (2, 200000), (0.5, 50000), (0.001, 1000), (0.005, 1000), (None, None)]
)
def test_quota_is_limit_times_period_with_a_1ms_floor(limit: float | None, quota: int | None) -> None:
    assert cgm.cfs_quota_us(limit) == quota


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (102, 17), (256, 35), (512, 59), (1024, 100), (2048, 174)])
def test_v2_weight_uses_the_runtimes_conversion(shares: int, weight: int) -> None:
    assert cgm.weight_from_shares(shares) == weight
    assert cgm.weight_from_shares(262144) == 10000


def test_cpulist_parsing() -> None:
    assert cgm.parse_cpulist("0-2,5\n") == [0, 1, 2, 5]
    assert cgm.parse_cpulist("3") == [3]


# -- detection -----------------------------------------------------------------------------------------


def test_detects_v1_and_v2(tmp_path: Path) -> None:
    assert cgm.detect(_v1_root(tmp_path)) == "v1"
    assert cgm.detect(_v2_root(tmp_path)) == "v2"


def test_v1_without_cpuset_is_refused_naming_it(tmp_path: Path) -> None:
    root = _v1_root(tmp_path)
    (root / "cpuset" / "cgroup.procs").unlink()
    with pytest.raises(CgroupsUnavailable, match="cpuset"):
        cgm.detect(root)


def test_no_cgroups_at_all_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CgroupsUnavailable, match="no cgroup"):
        cgm.detect(tmp_path)


# -- layout --------------------------------------------------------------------------------------------


def test_v1_layout_limits_shares_and_node_cpusets(tmp_path: Path) -> None:
    root = _v1_root(tmp_path)
    model = _model()
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    findings = cg.create(model)
    assert len(findings) == 1 and findings[0].startswith("info: the nodes take every core")
    assert cg.harness_procs() == ()
    run = root / "cpu" / "meshsim-t"
    slow = _pod_of(model, "slow")  # third backend replica -> n1
    proxy = run / slow / "istio-proxy"
    app = run / slow / "app"
    assert (proxy / "cpu.cfs_quota_us").read_text() == "12000"
    assert (proxy / "cpu.cfs_period_us").read_text() == "100000"
    assert (proxy / "cpu.shares").read_text() == "102"
    assert (app / "cpu.cfs_quota_us").read_text() == "50000"
    assert (app / "cpu.shares").read_text() == "256"
    # the pod: every container has a limit -> the sum of quotas; shares the sum of requests'
    assert (run / slow / "cpu.cfs_quota_us").read_text() == "62000"
    assert (run / slow / "cpu.shares").read_text() == "358"
    # the run's root: the nodes' capacity, like kubepods' allocatable
    assert (run / "cpu.shares").read_text() == "2048"
    # one core per node
    assert (root / "cpuset" / "meshsim-t" / "n1" / "cpuset.cpus").read_text() == "0"
    assert (root / "cpuset" / "meshsim-t" / "n2" / "cpuset.cpus").read_text() == "1"
    assert (root / "cpuset" / "meshsim-t" / "n2" / "cpuset.mems").read_text() == "0"
    assert cg.procs_for(slow, "istio-proxy") == (
        proxy / "cgroup.procs",
        root / "cpuacct" / "meshsim-t" / slow / "istio-proxy" / "cgroup.procs",
        root / "cpuset" / "meshsim-t" / "n1" / "cgroup.procs",
    )
    assert {c.node for c in cg.containers.values()} == {"n1", "n2"}
    assert len(cg.containers) == 2 * len(model.proxies)


def test_pod_without_every_limit_has_no_pod_quota(tmp_path: Path) -> None:
    """A sidecar with a limit and an app without one: no pod-level quota, the sidecar is still limited."""
    root = _v1_root(tmp_path)
    model = _model(app=ContainerCPUSpec(0.2, None))
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    cg.create(model)
    pod = root / "cpu" / "meshsim-t" / _pod_of(model, "slow")
    assert (pod / "cpu.cfs_quota_us").read_text() == "-1"
    assert (pod / "app" / "cpu.cfs_quota_us").read_text() == "-1"
    assert (pod / "istio-proxy" / "cpu.cfs_quota_us").read_text() == "12000"


def test_v2_layout_uses_cpu_max_and_weight(tmp_path: Path) -> None:
    root = _v2_root(tmp_path)
    model = _model(nodes=(NodeIR("n1", 2), NodeIR("n2", 1)))
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    cg.create(model)
    slow = _pod_of(model, "slow")
    proxy = root / "meshsim-t" / "n1" / slow / "istio-proxy"
    assert (proxy / "cpu.max").read_text() == "12000 100000"
    assert (proxy / "cpu.weight").read_text() == "17"
    assert (root / "meshsim-t" / "n1" / slow / "cpu.max").read_text() == "62000 100000"
    assert (root / "meshsim-t" / "n1" / "cpuset.cpus").read_text() == "0,1"
    assert (root / "meshsim-t" / "n2" / "cpuset.cpus").read_text() == "2"
    assert cg.procs_for(slow, "istio-proxy") == (proxy / "cgroup.procs",)


def test_more_node_cores_than_the_machine_overlap_with_a_warning(tmp_path: Path) -> None:
    root = _v1_root(tmp_path, cpus="0-1")
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    findings = cg.create(_model(nodes=(NodeIR("n1", 2), NodeIR("n2", 1.5))))
    assert cg.node_cpus == {"n1": [0, 1], "n2": [0, 1]}
    assert any("1.5 cores" in f for f in findings)
    assert any("overlap" in f for f in findings)


def test_the_load_generator_gets_the_cores_no_node_uses(tmp_path: Path) -> None:
    # one 1-core node on a 2-core machine: the node is core 0, the load generator's cpuset core 1
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    for root in (_v1_root(tmp_path / "v1", cpus="0-1"), _v2_root(tmp_path / "v2")):
        cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
        assert cg.create(_model(nodes=(NodeIR("n1", 1),), placement=("n1", "n1", "n1"))) == []
        assert cg.node_cpus == {"n1": [0]}
        assert cg.harness_cpus == [1, 2, 3][: len(cg._machine_cpus()) - 1]
        top = root / "cpuset" / "meshsim-t" if cg.version == "v1" else root / "meshsim-t"
        assert cg.harness_procs() == (top / "_loadgen" / "cgroup.procs",)
        assert (top / "_loadgen" / "cpuset.cpus").read_text() == ",".join(map(str, cg.harness_cpus))
        if cg.version == "v1":  # the run's cpuset holds both
            assert (top / "cpuset.cpus").read_text() == ",".join(map(str, [0, *cg.harness_cpus]))
        cg.remove()
        assert not (top / "_loadgen").exists()


def test_pod_on_a_missing_node_is_refused_naming_both(tmp_path: Path) -> None:
    cg = Cgroups(_v1_root(tmp_path), FakeKernelFS(), name="meshsim-t")
    with pytest.raises(CgroupsUnavailable, match=r"node 'n9'"):
        cg.create(_model(placement=("n1", "n9", "n1")))


# -- accounting ----------------------------------------------------------------------------------------


def test_samples_convert_units_and_subtract(tmp_path: Path) -> None:
    root = _v1_root(tmp_path)
    model = _model()
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    cg.create(model)
    slow = _pod_of(model, "slow")
    before = cg.sample()[(slow, "istio-proxy")]
    d = root / "cpu" / "meshsim-t" / slow / "istio-proxy"
    (d / "cpu.stat").write_text("nr_periods 238\nnr_throttled 155\nthrottled_time 4100000000\n")
    (root / "cpuacct" / "meshsim-t" / slow / "istio-proxy" / "cpuacct.usage").write_text("2760000000\n")
    delta = cg.sample()[(slow, "istio-proxy")] - before
    assert delta == CpuSample(2.76, 238, 155, 4.1)


def test_v2_samples_read_microseconds(tmp_path: Path) -> None:
    root = _v2_root(tmp_path)
    model = _model()
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    cg.create(model)
    slow = _pod_of(model, "slow")
    d = root / "meshsim-t" / "n1" / slow / "istio-proxy"
    (d / "cpu.stat").write_text("usage_usec 1500000\nnr_periods 10\nnr_throttled 3\nthrottled_usec 250000\n")
    assert cg.sample()[(slow, "istio-proxy")] == CpuSample(1.5, 10, 3, 0.25)


# -- removal -------------------------------------------------------------------------------------------


def _dirs_under(p: Path) -> list[Path]:
    return [d for d in p.rglob("*") if d.is_dir()]


def test_remove_leaves_nothing_and_clears_the_record(tmp_path: Path) -> None:
    root = _v1_root(tmp_path)
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    cg.create(_model())
    record = tmp_path / "state" / "cgroups.json"
    assert record.exists()
    assert cg.remove() == []
    assert not record.exists()
    assert sorted(_dirs_under(root)) == sorted(root / c for c in ("cpu", "cpuacct", "cpuset"))


def test_a_process_left_in_a_cgroup_is_moved_out_so_it_can_be_removed(tmp_path: Path) -> None:
    root = _v1_root(tmp_path)
    model = _model()
    cg = Cgroups(root, FakeKernelFS(), name="meshsim-t")
    cg.create(model)
    slow = _pod_of(model, "slow")
    procs = root / "cpu" / "meshsim-t" / slow / "app" / "cgroup.procs"
    procs.write_text("4242\n")

    class Moving(FakeKernelFS):
        def write(self, path: Path, value: str) -> None:  # the kernel moves the pid out of its old cgroup
            procs.write_text("")
            super().write(path, value)

    cg.fs = Moving()
    assert cg.remove(timeout=1.0) == []
    assert (root / "cpu" / "cgroup.procs").read_text() == "4242"
    assert not (root / "cpu" / "meshsim-t").exists()


def test_next_run_removes_a_killed_runs_cgroups(tmp_path: Path) -> None:
    """A SIGKILLed run never calls remove(): its record stays, and the next run's cleanup removes them all."""
    root = _v1_root(tmp_path)
    Cgroups(root, FakeKernelFS(), name="meshsim-dead").create(_model())
    record = tmp_path / "state" / "cgroups.json"
    made = len(_dirs_under(root)) - 3
    assert len(set(json.loads(record.read_text()))) == made
    assert cgm.cleanup_stale_cgroups(FakeKernelFS()) == made
    assert not (root / "cpu" / "meshsim-dead").exists()
    assert not (root / "cpuset" / "meshsim-dead").exists()
    assert not record.exists()
    assert cgm.cleanup_stale_cgroups(FakeKernelFS()) == 0


def test_cgroups_that_cannot_be_removed_stay_recorded_and_are_named(tmp_path: Path) -> None:
    root = _v1_root(tmp_path)
    model = _model()
    Cgroups(root, FakeKernelFS(), name="meshsim-dead").create(model)
    (root / "cpu" / "meshsim-dead" / _pod_of(model, "slow") / "app" / "cgroup.procs").write_text("7\n")

    class Stuck(FakeKernelFS):
        def write(self, path: Path, value: str) -> None:
            raise OSError(errno.ESRCH, "No such process")

    with pytest.raises(CgroupsUnavailable, match="app"):
        cgm.cleanup_stale_cgroups(Stuck())
    assert (tmp_path / "state" / "cgroups.json").exists()


def test_a_refused_write_is_one_error(tmp_path: Path) -> None:
    class Refusing(FakeKernelFS):
        def write(self, path: Path, value: str) -> None:
            if path.name == "cpuset.mems":
                raise OSError(errno.EINVAL, "Invalid argument")
            super().write(path, value)

    cg = Cgroups(_v1_root(tmp_path), Refusing(), name="meshsim-t")
    with pytest.raises(CgroupsUnavailable, match="Invalid argument"):
        cg.create(_model())
    cg.fs = FakeKernelFS()
    assert cg.remove() == []


def test_comounted_cpu_and_cpuacct_are_one_hierarchy(tmp_path: Path) -> None:
    """systemd mounts ``cpu,cpuacct`` once with ``cpu`` and ``cpuacct`` as symlinks: one directory per container,
    joined once, with both the limits and the usage."""
    root = _v1_root(tmp_path)
    shutil.rmtree(root / "cpu")
    shutil.rmtree(root / "cpuacct")
    both = root / "cpu,cpuacct"
    both.mkdir()
    (both / "cgroup.procs").write_text("")
    (both / "cpu.cfs_quota_us").write_text("-1")
    (root / "cpu").symlink_to(both)
    (root / "cpuacct").symlink_to(both)

    class CoMounted(FakeKernelFS):
        def mkdir(self, path: Path) -> None:
            super().mkdir(path)
            (path / "cpuacct.usage").write_text("0")

    model = _model()
    cg = Cgroups(root, CoMounted(), name="meshsim-t")
    cg.create(model)
    slow = _pod_of(model, "slow")
    c = cg.containers[(slow, "istio-proxy")]
    assert c.acct_dir == c.cpu_dir == root / "cpu" / "meshsim-t" / slow / "istio-proxy"
    assert len(c.procs) == 2  # cpu(,cpuacct) and the node's cpuset
    (c.cpu_dir / "cpuacct.usage").write_text("500000000")
    assert cg.sample()[(slow, "istio-proxy")].usage_s == 0.5
    assert cg.remove() == []
    assert not (both / "meshsim-t").exists()
