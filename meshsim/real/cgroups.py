"""Per-container CPU cgroups of a real run: each pod's app and ``istio-proxy`` in its own cgroup with the
CFS quota and weight the kubelet would give it, each node a ``cpuset`` of the machine's cores, and the
kernel's CPU accounting of every container over the measured window.

Layout under one root per run, ``meshsim-<runner pid>`` (so concurrent runs never share one):

- cgroup v1 (``cpu``, ``cpuacct``, ``cpuset`` hierarchies, each mounted at ``<root>/<controller>``):
  ``cpu/<run>/<pod>/<container>`` carries ``cpu.cfs_quota_us``/``cpu.cfs_period_us``/``cpu.shares``,
  ``cpuacct/<run>/<pod>/<container>`` the accounting (``cpuacct.usage``, ns), ``cpuset/<run>/<node>`` the
  node's cores. When ``cpu`` and ``cpuacct`` are one hierarchy (``cpu,cpuacct``) it is used once.
- cgroup v2 (one hierarchy, ``<root>/cgroup.controllers`` lists ``cpu``):
  ``<run>/<node>/<pod>/<container>`` with ``cpu.max``/``cpu.weight`` on pods and containers and
  ``cpuset.cpus`` on the node; accounting from ``cpu.stat`` (``usage_usec``).
- the load generator runs in ``<run>/_loadgen`` (v1: in the ``cpuset`` hierarchy), a cpuset of the cores no
  node uses, so that its CPU stays off the nodes' cores as a production client's does (the model does not
  charge it); when the nodes take every core it shares them (an ``info`` finding says so).

Arithmetic, as the kubelet does it (``pkg/kubelet/cm/helpers_linux.go``, ``MilliCPUToShares``,
``MilliCPUToQuota``; container values from ``calculateLinuxResources`` in
``pkg/kubelet/kuberuntime/kuberuntime_container_linux.go``; pod values from ``ResourceConfigForPod``):

- CPU quantities in millicores, rounded up (``Quantity.MilliValue``);
- ``cpu.shares`` = request x 1024 / 1000 (integer division), clamped to [2, 262144]; a container without
  a request takes its limit's, one with neither gets 2; the pod's are the sum of its containers';
- quota = limit x period / 1000 with the period fixed at 100 000 us, at least 1000 us; no limit, no
  quota; the pod carries the sum of its containers' quotas only when every container has a limit;
- v2 ``cpu.weight`` from shares by the container runtimes' conversion (``ConvertCPUSharesToCgroupV2Value``
  in https://github.com/opencontainers/cgroups, the runc >= 1.3.2 formula from
  https://github.com/kubernetes/kubernetes/issues/131216): ``ceil(10^((l^2 + 125 l) / 612 - 7/34))``
  with ``l = log2(shares)`` (1024 -> 100, 2 -> 1, 262144 -> 10000);
- the run's root carries the shares of the nodes' capacity (cores x 1024), as the kubelet's
  ``kubepods`` cgroup carries node allocatable (``pkg/kubelet/cm/node_container_manager_linux.go``).

The kernel's semantics of these files: https://docs.kernel.org/scheduler/sched-bwc.html and
https://docs.kernel.org/admin-guide/cgroup-v2.html#cpu.

Every directory is recorded in ``<state dir>/cgroups.json`` *before* it is created; :meth:`Cgroups.remove`
(every exit path of a run) and :func:`cleanup_stale_cgroups` (the next run, after a SIGKILL) remove them,
deepest first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import time
from pathlib import Path
from typing import Literal

from meshsim.errors import MeshsimError
from meshsim.model.ir import ContainerCPUSpec, MeshModel
from meshsim.model.rules.cpu import (
    APP_CONTAINER,
    MAX_SHARES,
    MIN_SHARES,
    PROXY_CONTAINER,
    milli_cpu,
)
from meshsim.model.rules.cpu import cfs_quota_us as rules_cfs_quota_us
from meshsim.model.rules.cpu import cpu_shares as rules_cpu_shares
from meshsim.real.procs import state_dir

__all__ = [
    "APP_CONTAINER",
    "PROXY_CONTAINER",
    "PERIOD_US",
    "CgroupsUnavailable",
    "CgroupFS",
    "CpuSample",
    "ContainerCgroup",
    "Cgroups",
    "milli_cpu",
    "cpu_shares",
    "cfs_quota_us",
    "weight_from_shares",
    "CGROUP_ROOT",
    "detect",
    "sched_wait",
    "cleanup_stale_cgroups",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where the kernel mounts the cgroup hierarchies (v1 controllers below it, or the v2 unified tree)."""
PERIOD_US = 100_000
"""CFS period (us): the kubelet's ``QuotaPeriod`` (``pkg/kubelet/cm/helpers_linux.go``)."""

Version = Literal["v1", "v2"]


HARNESS = "_loadgen"
"""The run's cpuset for the load generator, on the cores no node uses (a name no Kubernetes node can have)."""


class CgroupsUnavailable(MeshsimError):
    """The machine's cgroup file system cannot carry the run's CPU model."""


def cpu_shares(spec: ContainerCPUSpec) -> int:
    """``cpu.shares`` of a container: its request (else its limit) by :func:`meshsim.model.rules.cpu.cpu_shares`."""
    return rules_cpu_shares(spec.request_cores if spec.request_cores is not None else spec.limit_cores)


def cfs_quota_us(limit_cores: float | None, period_us: int = PERIOD_US) -> int | None:
    """CFS quota (us per ``period_us``) for a CPU limit in cores (:func:`meshsim.model.rules.cpu.cfs_quota_us`)."""
    return rules_cfs_quota_us(limit_cores, period_us)


def weight_from_shares(shares: int) -> int:
    """cgroup v2 ``cpu.weight`` for v1 ``shares`` (runc >= 1.3.2 conversion; see the module docstring)."""
    if shares <= 0:
        return 0
    shares = max(MIN_SHARES, min(MAX_SHARES, shares))
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return max(1, min(10000, math.ceil(round(10**exponent, 9))))


def parse_cpulist(text: str) -> list[int]:
    """``0-2,5`` -> [0, 1, 2, 5] (the kernel's cpulist format)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def detect(root: Path) -> Version:
    """Which cgroup interface ``root`` offers for CPU: ``v1`` (``cpu``+``cpuacct``+``cpuset`` mounted under it)
    or ``v2`` (a unified hierarchy whose ``cgroup.controllers`` lists ``cpu`` and ``cpuset``).

    Raises
    ------
    CgroupsUnavailable
        Neither, or not writable (running without root).
    """
    if (root / "cpu" / "cpu.cfs_quota_us").exists():
        missing = [c for c in ("cpuacct", "cpuset") if not (root / c / "cgroup.procs").exists()]
        if missing:
            raise CgroupsUnavailable(f"cgroup v1 at {root} lacks the {', '.join(missing)} controller")
        if not os.access(root / "cpu", os.W_OK):
            raise CgroupsUnavailable(f"{root / 'cpu'} is not writable (the CPU model of a real run needs root)")
        return "v1"
    ctl = root / "cgroup.controllers"
    if ctl.exists():
        have = set(ctl.read_text().split())
        if not {"cpu", "cpuset"} <= have:
            raise CgroupsUnavailable(f"cgroup v2 at {root} does not offer the cpu and cpuset controllers")
        if not os.access(root, os.W_OK):
            raise CgroupsUnavailable(f"{root} is not writable (the CPU model of a real run needs root)")
        return "v2"
    raise CgroupsUnavailable(f"no cgroup v1 cpu controller nor cgroup v2 hierarchy at {root}")


class CgroupFS:
    """The file operations on a cgroup file system (a seam: tests pass one that emulates the kernel on a
    plain directory)."""

    def mkdir(self, path: Path) -> None:
        path.mkdir()

    def write(self, path: Path, value: str) -> None:
        path.write_text(value)

    def read(self, path: Path) -> str:
        return path.read_text()

    def rmdir(self, path: Path) -> None:
        os.rmdir(path)


@dataclasses.dataclass(frozen=True)
class CpuSample:
    """A cgroup's counters at one instant: CPU used (``usage_s``), ``nr_periods``, ``nr_throttled`` and
    ``throttled_s`` (``cpu.stat``; v1 ns and v2 us both converted to seconds)."""

    usage_s: float
    nr_periods: int
    nr_throttled: int
    throttled_s: float

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(
            self.usage_s - other.usage_s,
            self.nr_periods - other.nr_periods,
            self.nr_throttled - other.nr_throttled,
            self.throttled_s - other.throttled_s,
        )


@dataclasses.dataclass(frozen=True)
class ContainerCgroup:
    """One container's cgroup: its pod, container name, node (None = not on a node), resources,
    the kernel values written (``shares``, ``quota_us`` None = unlimited), the directory whose
    ``cpu.stat`` is read (``cpu_dir``), the one with the CPU usage (``acct_dir``), and every
    ``cgroup.procs`` a process of it joins (``procs``)."""

    pod: str
    container: str
    node: str | None
    spec: ContainerCPUSpec
    shares: int
    quota_us: int | None
    cpu_dir: Path
    acct_dir: Path
    procs: tuple[Path, ...]


def _stat(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def _record_path() -> Path:
    return state_dir() / "cgroups.json"


class Cgroups:
    """The cgroups of one run (see the module docstring); :meth:`create` makes them, :meth:`sample` reads
    them, :meth:`remove` removes them."""

    def __init__(self, root: Path = CGROUP_ROOT, fs: CgroupFS | None = None, name: str | None = None):
        self.root = root
        self.fs = fs or CgroupFS()
        self.name = name or f"meshsim-{os.getpid()}"
        self.version: Version = detect(root)
        self.containers: dict[tuple[str, str], ContainerCgroup] = {}
        self.node_cpus: dict[str, list[int]] = {}
        self.harness_cpus: list[int] = []
        """The machine's cores no node's cpuset uses: the load generator runs there (:meth:`harness_procs`)."""
        self.created: list[Path] = []
        self.pids: dict[tuple[str, str], int] = {}
        """(pod, container) -> the pid of its process (set by bring-up), for :meth:`runqueue`."""

    # -- layout ---------------------------------------------------------------------------------------
    def _hierarchies(self) -> dict[str, Path]:
        """Controller -> the run's directory in its hierarchy (v1: cpu, cpuacct, cpuset; v2: one)."""
        if self.version == "v2":
            return {"cpu": self.root / self.name}
        cpu = self.root / "cpu"
        acct = self.root / "cpuacct"
        h = {"cpu": cpu / self.name, "cpuset": self.root / "cpuset" / self.name}
        if acct.resolve() != cpu.resolve():
            h["cpuacct"] = acct / self.name
        return h

    def _mkdir(self, path: Path) -> None:
        self.created.append(path)
        _save_record(self.created)
        with contextlib.suppress(FileExistsError):
            self.fs.mkdir(path)

    def _machine_cpus(self) -> list[int]:
        f = (
            self.root / "cpuset" / "cpuset.effective_cpus"
            if self.version == "v1"
            else self.root / "cpuset.cpus.effective"
        )
        if not f.exists():
            f = f.with_name("cpuset.cpus")
        cpus = parse_cpulist(self.fs.read(f)) if f.exists() else []
        return cpus or list(range(os.cpu_count() or 1))

    def _mems(self) -> str:
        f = (
            self.root / "cpuset" / "cpuset.effective_mems"
            if self.version == "v1"
            else self.root / "cpuset.mems.effective"
        )
        if not f.exists():
            f = f.with_name("cpuset.mems")
        return (self.fs.read(f).strip() if f.exists() else "") or "0"

    def create(self, model: MeshModel) -> list[str]:
        """Make the run's cgroups for every sidecar pod of ``model`` (its app and ``istio-proxy``) and
        every node of ``model.nodes``; return findings (``warning: ...`` when the nodes need more cores
        than the machine has, so their cpusets overlap, or a node's core count is not whole).

        Raises
        ------
        CgroupsUnavailable
            When a pod names a node ``model.nodes`` lacks, or the kernel refuses a write (OSError text).
        """
        findings: list[str] = []
        try:
            findings += self._assign_nodes(model)
            self._create(model)
        except OSError as exc:
            raise CgroupsUnavailable(f"cannot set up the run's cgroups: {exc}") from None
        return findings

    def _assign_nodes(self, model: MeshModel) -> list[str]:
        cpus = self._machine_cpus()
        findings: list[str] = []
        k = 0
        for n in model.nodes:
            want = max(1, math.ceil(n.cores - 1e-9))
            if want != n.cores:
                findings.append(f"warning: node {n.name} has {n.cores:g} cores; its cpuset has {want} whole cores")
            self.node_cpus[n.name] = [cpus[(k + i) % len(cpus)] for i in range(want)]
            k += want
        if k > len(cpus):
            findings.append(
                f"warning: the nodes have {k} cores and this machine {len(cpus)}: their cpusets overlap, so nodes"
                " share cores"
            )
        used = {c for v in self.node_cpus.values() for c in v}
        self.harness_cpus = [c for c in cpus if c not in used]
        if model.nodes and not self.harness_cpus:
            findings.append(
                "info: the nodes take every core of this machine, so the load generator shares their cores"
                " (the model does not charge its CPU: its load comes from outside the mesh)"
            )
        return findings

    def harness_procs(self) -> tuple[Path, ...]:
        """The ``cgroup.procs`` file of the run's ``harness`` cpuset (the cores no node uses), which the load
        generator joins so that its CPU stays off the nodes' cores, as a production client's is; empty when
        every core belongs to a node."""
        if not self.harness_cpus:
            return ()
        h = self._hierarchies()
        return ((h["cpuset"] if self.version == "v1" else h["cpu"]) / HARNESS / "cgroup.procs",)

    def _pods(self, model: MeshModel) -> list[tuple[str, str | None, ContainerCPUSpec, ContainerCPUSpec]]:
        """(pod, node, app spec, proxy spec) of each sidecar pod."""
        eps = {e.id: e for e in model.endpoints}
        out = []
        for p in model.proxies:
            e = eps[p.id]
            w = next(w for w in model.service(e.service).workloads if w.version == e.version)
            node = w.nodes[e.replica] if e.replica < len(w.nodes) else None
            if node is not None and node not in self.node_cpus:
                raise CgroupsUnavailable(f"pod {p.id} is placed on node {node!r}, which the model does not define")
            out.append((p.id, node, w.app_cpu, w.proxy_cpu))
        return out

    def _create(self, model: MeshModel) -> None:
        h = self._hierarchies()
        fs = self.fs
        pods = self._pods(model)
        if self.version == "v2":
            enabled = self.root / "cgroup.subtree_control"
            if not {"cpu", "cpuset"} <= set(fs.read(enabled).split() if enabled.exists() else ()):
                fs.write(enabled, "+cpu +cpuset")  # the root must pass both controllers down to the run's tree
        for d in h.values():
            self._mkdir(d)
        mems = self._mems()
        root_shares = max(MIN_SHARES, min(MAX_SHARES, sum(milli_cpu(n.cores) for n in model.nodes) * 1024 // 1000))
        sets = dict(self.node_cpus)
        if self.harness_cpus:
            sets[HARNESS] = self.harness_cpus
        if self.version == "v1":
            cs = h["cpuset"]
            fs.write(cs / "cpuset.cpus", ",".join(map(str, sorted({c for v in sets.values() for c in v}))) or "0")
            fs.write(cs / "cpuset.mems", mems)
            for nd, cpus in sets.items():
                self._mkdir(cs / nd)
                fs.write(cs / nd / "cpuset.cpus", ",".join(map(str, cpus)))
                fs.write(cs / nd / "cpuset.mems", mems)
            if model.nodes:
                fs.write(h["cpu"] / "cpu.shares", str(root_shares))
        else:
            top = h["cpu"]
            fs.write(top / "cgroup.subtree_control", "+cpu +cpuset")
            if model.nodes:
                fs.write(top / "cpu.weight", str(weight_from_shares(root_shares)))
            for nd, cpus in self.node_cpus.items():
                self._mkdir(top / nd)
                fs.write(top / nd / "cpuset.cpus", ",".join(map(str, cpus)))
                fs.write(top / nd / "cgroup.subtree_control", "+cpu")
            if self.harness_cpus:
                self._mkdir(top / HARNESS)
                fs.write(top / HARNESS / "cpuset.cpus", ",".join(map(str, self.harness_cpus)))
        for pod, node, app, proxy in pods:
            specs = {APP_CONTAINER: app, PROXY_CONTAINER: proxy}
            quotas = {c: cfs_quota_us(s.limit_cores) for c, s in specs.items()}
            shares = {c: cpu_shares(s) for c, s in specs.items()}
            pod_quota = sum(q for q in quotas.values() if q) if all(quotas.values()) else None
            pod_shares = max(MIN_SHARES, min(MAX_SHARES, sum(shares.values())))
            if self.version == "v1":
                pod_dirs = {k: d / pod for k, d in h.items() if k != "cpuset"}
            else:
                pod_dirs = {"cpu": h["cpu"] / node / pod if node else h["cpu"] / pod}
            for d in pod_dirs.values():
                self._mkdir(d)
            self._limit(pod_dirs["cpu"], pod_shares, pod_quota)
            if self.version == "v2":
                fs.write(pod_dirs["cpu"] / "cgroup.subtree_control", "+cpu")
            for c, spec in specs.items():
                dirs = {k: d / c for k, d in pod_dirs.items()}
                for d in dirs.values():
                    self._mkdir(d)
                self._limit(dirs["cpu"], shares[c], quotas[c])
                procs = [d / "cgroup.procs" for d in dirs.values()]
                if self.version == "v1" and node is not None:
                    procs.append(h["cpuset"] / node / "cgroup.procs")
                self.containers[(pod, c)] = ContainerCgroup(
                    pod,
                    c,
                    node,
                    spec,
                    shares[c],
                    quotas[c],
                    dirs["cpu"],
                    dirs.get("cpuacct", dirs["cpu"]),
                    tuple(procs),
                )

    def _limit(self, d: Path, shares: int, quota_us: int | None) -> None:
        if self.version == "v1":
            self.fs.write(d / "cpu.cfs_period_us", str(PERIOD_US))
            self.fs.write(d / "cpu.cfs_quota_us", str(quota_us if quota_us is not None else -1))
            self.fs.write(d / "cpu.shares", str(shares))
        else:
            self.fs.write(d / "cpu.max", f"{quota_us if quota_us is not None else 'max'} {PERIOD_US}")
            self.fs.write(d / "cpu.weight", str(weight_from_shares(shares)))

    # -- accounting -----------------------------------------------------------------------------------
    def sample(self) -> dict[tuple[str, str], CpuSample]:
        """Every container's counters now (``cpuacct.usage`` + ``cpu.stat`` on v1, ``cpu.stat`` on v2)."""
        out: dict[tuple[str, str], CpuSample] = {}
        for key, cg in self.containers.items():
            st = _stat(self.fs.read(cg.cpu_dir / "cpu.stat"))
            if self.version == "v1":
                usage = int(self.fs.read(cg.acct_dir / "cpuacct.usage").strip()) / 1e9
                out[key] = CpuSample(
                    usage, st.get("nr_periods", 0), st.get("nr_throttled", 0), st.get("throttled_time", 0) / 1e9
                )
            else:
                out[key] = CpuSample(
                    st.get("usage_usec", 0) / 1e6,
                    st.get("nr_periods", 0),
                    st.get("nr_throttled", 0),
                    st.get("throttled_usec", 0) / 1e6,
                )
        return out

    def runqueue(self) -> dict[str, tuple[float, int]]:
        """Per node: the seconds its containers' threads spent runnable but waiting for a core, and how
        many times they were scheduled (summed over the threads of :attr:`pids`; :func:`sched_wait`)."""
        return {
            node: sched_wait([pid for key, pid in self.pids.items() if self.containers[key].node == node])
            for node in self.node_cpus
        }

    def procs_for(self, pod: str, container: str) -> tuple[Path, ...]:
        """The ``cgroup.procs`` files a process of ``container`` of ``pod`` joins (empty if it has none)."""
        cg = self.containers.get((pod, container))
        return cg.procs if cg is not None else ()

    # -- removal --------------------------------------------------------------------------------------
    def remove(self, timeout: float = 3.0) -> list[str]:
        """Remove every directory this run created (deepest first) and its record; return those that
        could not be removed (with the reason)."""
        left = _remove_all(self.created, self.fs, timeout)
        kept = [d for d in self.created if d.exists()]
        self.created = []
        if kept:  # the next run retries them
            _save_record(kept)
        else:
            _record_path().unlink(missing_ok=True)
        return left


def sched_wait(pids: list[int], proc: Path = Path("/proc")) -> tuple[float, int]:
    """Sum over every thread of ``pids`` of its run-queue wait (s) and its number of timeslices, from
    ``/proc/<pid>/task/<tid>/schedstat`` (time on the CPU ns, time runnable waiting ns, timeslices:
    https://docs.kernel.org/scheduler/sched-stats.html); processes or threads gone are skipped."""
    wait_ns = 0
    slices = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in (proc / str(pid) / "task").iterdir():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    f = (task / "schedstat").read_text().split()
                    wait_ns += int(f[1])
                    slices += int(f[2])
    return wait_ns / 1e9, slices


def _save_record(dirs: list[Path]) -> None:
    path = _record_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([str(d) for d in dirs]))
    os.replace(tmp, path)


def _evict(d: Path, fs: CgroupFS) -> None:
    """Move processes still in ``d`` to the hierarchy's root (a process that outlived its run)."""
    procs = d / "cgroup.procs"
    root = d
    while (root.parent / "cgroup.procs").exists() and root.parent != root:
        root = root.parent
    with contextlib.suppress(OSError):
        for pid in fs.read(procs).split():
            with contextlib.suppress(OSError):
                fs.write(root / "cgroup.procs", pid)


def _remove_all(dirs: list[Path], fs: CgroupFS, timeout: float) -> list[str]:
    """rmdir ``dirs`` deepest first; a busy one (processes still exiting) is retried until ``timeout``
    seconds, moving its processes out; the ancestors of one that stays are not tried. Returns what stays."""
    left: list[str] = []
    stuck: list[Path] = []
    for d in sorted(set(dirs), key=lambda p: len(p.parts), reverse=True):
        below = next((s for s in stuck if s.is_relative_to(d)), None)
        if below is not None:
            left.append(f"{d}: holds {below}")
            continue
        deadline = time.monotonic() + timeout
        while True:
            try:
                fs.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    left.append(f"{d}: {exc.strerror}")
                    stuck.append(d)
                    break
                _evict(d, fs)  # processes exit asynchronously after SIGKILL; or one outlived the run
                time.sleep(0.05)
    return left


def cleanup_stale_cgroups(fs: CgroupFS | None = None) -> int:
    """Remove the cgroups a previous run recorded and did not remove (it was SIGKILLed); return how many
    directories were removed. Call it with the run lock held and after its processes were stopped
    (:func:`meshsim.real.procs.cleanup_stale`).

    Raises
    ------
    CgroupsUnavailable
        When a recorded directory cannot be removed (names it).
    """
    path = _record_path()
    if not path.exists():
        return 0
    try:
        dirs = [Path(d) for d in json.loads(path.read_text())]
    except (OSError, ValueError):
        dirs = []
    present = [d for d in dirs if d.exists()]
    left = _remove_all(present, fs or CgroupFS(), 3.0)
    if left:
        raise CgroupsUnavailable(f"cannot remove cgroups of an earlier run: {left[0]}")
    path.unlink(missing_ok=True)
    return len(set(present))
