"""Bring-up of a real run: certificates, the ADS server, one app process and one Envoy per pod, until
every Envoy is ``/ready`` and has ACKed all four xDS types and every pod's app answers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pickle
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from meshsim.model.ir import MeshModel
from meshsim.real.certs import write_mesh_certs
from meshsim.real.cgroups import APP_CONTAINER, PROXY_CONTAINER, Cgroups, CgroupsUnavailable
from meshsim.real.control_plane import ControlPlane
from meshsim.real.options import RunFailed, RunOptions
from meshsim.real.procs import Children
from meshsim.real.scenario import check_playable
from meshsim.xds import build_all
from meshsim.xds.ports import PortPlan
from meshsim.xds.snapshot import Snapshot, dynamic_bootstrap

__all__ = ["Mesh", "Resources", "bring_up", "http_ok", "ctl_all"]


@dataclasses.dataclass
class Resources:
    """What a run must stop in its ``finally`` (filled as bring-up and the load run start them)."""

    children: Children | None = None
    cp: ControlPlane | None = None
    player: Any = None
    cgroups: Cgroups | None = None


@dataclasses.dataclass(frozen=True)
class Mesh:
    """A running mesh: the port plan, pods' Envoys (``envoys``: (pod id, service-cluster) pairs) and
    their admin URLs, each pod's app process control URL (``ctls``: pod id -> ``http://host:port``),
    the child environment, the run's state and log directories, the scenario stages' snapshots, and
    how long startup took (seconds)."""

    plan: PortPlan
    envoys: list[tuple[str, str]]
    admin: dict[str, str]
    ctls: dict[str, str]
    env: dict[str, str]
    run_dir: Path
    logs: Path
    stage_snaps: dict[int, dict[str, Snapshot]]
    startup_s: float
    all_acked_after_ready_s: float


def _free_ports(host: str, n: int) -> list[int]:
    """``n`` distinct free TCP ports on ``host`` (all bound at once, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]


async def http_ok(url: str, method: str = "GET") -> bool:
    """Whether ``url`` answers 200 within 1 s."""
    import aiohttp  # the [real] extra

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as s, s.request(method, url) as r:
            await r.read()
            return r.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


async def ctl_all(ctls: dict[str, str], method: str, path: str, body: Any = None) -> dict[str, Any]:
    """Send ``method path`` (JSON ``body``) to every pod's app control endpoint at once; return each pod's
    JSON answer (None for a non-JSON one).

    Raises
    ------
    RunFailed
        When an app process does not answer 200 (the message names the pod and its answer).
    """
    import aiohttp  # the [real] extra

    async def one(sess: Any, pod: str, url: str) -> Any:
        async with sess.request(method, url + path, json=body) as r:
            if r.status != 200:
                raise RunFailed(f"app of pod {pod} refused {method} {path}: {r.status} {await r.text()}")
            if r.content_type == "application/json":
                return await r.json()
            await r.read()
            return None

    async with aiohttp.ClientSession() as sess:
        got = await asyncio.gather(*(one(sess, pod, url) for pod, url in ctls.items()))
    return dict(zip(ctls, got, strict=True))


async def _wait_http(urls: list[str], deadline: float, children: Children) -> None:
    pending = list(urls)
    while pending:
        dead = children.dead()
        if dead:
            raise RunFailed(f"process {dead[0]} exited during startup; see its log in the run's logs/ directory")
        oks = await asyncio.gather(*(http_ok(u) for u in pending))
        pending = [u for u, ok in zip(pending, oks, strict=True) if not ok]
        if pending and time.monotonic() > deadline:
            raise RunFailed(f"not ready in time: {pending[:3]}")
        if pending:
            await asyncio.sleep(0.05)


async def _start_control_plane(
    model: MeshModel, opts: RunOptions, plan: PortPlan, run_dir: Path, out: Path, res: Resources
) -> tuple[PortPlan, dict[int, dict[str, Snapshot]]]:
    """A fresh CA, the ADS server with every pod's snapshot (and, with a Scenario, every stage's,
    translated before the run starts); the snapshots are also written to ``out/xds``."""
    cert_dir = run_dir / "certs"
    write_mesh_certs(model, cert_dir)  # a fresh CA per run; referenced by the translated config
    cp = res.cp = ControlPlane(plan.xds_address, 0)
    await cp.start()
    access_dir: str | None = None
    if opts.prometheus is not None:
        shutil.rmtree(run_dir / "access", ignore_errors=True)
        (run_dir / "access").mkdir()
        access_dir = str(run_dir / "access")
    plan = dataclasses.replace(plan, xds_port=cp.port, cert_dir=str(cert_dir), access_log_dir=access_dir)
    snaps = build_all(model, plan)
    timeline = model.timeline
    stage_snaps: dict[int, dict[str, Snapshot]] = {}
    if timeline is not None:
        check_playable(timeline)
        stage_snaps = {k: build_all(timeline.factory.model(k), plan) for k in range(len(timeline.factory.stages))}
    for s in snaps.values():
        cp.set_snapshot(s)
    xds_dir = out / "xds"
    xds_dir.mkdir(exist_ok=True)
    for pid, s in snaps.items():
        (xds_dir / f"{pid}.json").write_text(json.dumps(s.resources, indent=1))
    return plan, stage_snaps


def _spawn_envoy(
    children: Children,
    envoy: str,
    bfile: Path,
    pid: str,
    cluster: str,
    opts: RunOptions,
    cgroup_procs: tuple[Path, ...] = (),
) -> int:
    """Start one Envoy (child ``envoy-<pod>``); return its pid."""
    return children.spawn(
        f"envoy-{pid}",
        [
            envoy,
            "-c",
            str(bfile),
            "--concurrency",
            str(opts.envoy_concurrency),
            "--disable-hot-restart",
            "--log-level",
            opts.log_level,
            "--drain-time-s",
            "1",
            "--file-flush-interval-msec",
            "100",
            "--service-node",
            pid,
            "--service-cluster",
            cluster,
        ],
        pdeathsig=True,
        nice=opts.nice,
        cgroup_procs=cgroup_procs,
    ).pid


def _spawn_apps(
    model: MeshModel,
    opts: RunOptions,
    plan: PortPlan,
    run_dir: Path,
    children: Children,
    env: dict[str, str],
    cgroups: Cgroups | None,
) -> tuple[dict[str, str], Path]:
    """The app processes: one ``python -m meshsim.real.service`` (child ``apps``) that loads the model once
    and forks one process per pod, each joining its ``app`` cgroups first and serving its control endpoint
    on its own port of the control address. Returns pod id -> control URL and the file the pods' pids will
    be written to (:func:`_adopt_apps`)."""
    ctl_host = f"{opts.address_prefix}.0.2"
    ctls: dict[str, str] = {}
    pods = []
    for p, ctl_port in zip(model.proxies, _free_ports(ctl_host, len(model.proxies)), strict=True):
        procs = cgroups.procs_for(p.id, APP_CONTAINER) if cgroups else ()
        pods.append({"pod": p.id, "ip": plan.ip(p.id), "control_port": ctl_port, "cgroup_procs": list(map(str, procs))})
        ctls[p.id] = f"http://{ctl_host}:{ctl_port}"
    pids_file = run_dir / "app-pids.json"
    pids_file.unlink(missing_ok=True)
    spec = {
        "model": str(run_dir / "model.pkl"),
        "pods": pods,
        "app_port": plan.app_port,
        "outbound_port": plan.outbound_port,
        "seed": opts.seed,
        "control_host": ctl_host,
        "pids_file": str(pids_file),
    }
    spec_file = run_dir / "apps.json"
    spec_file.write_text(json.dumps(spec))
    children.spawn("apps", [sys.executable, "-m", "meshsim.real.service", str(spec_file)], env=env, nice=opts.nice)
    return ctls, pids_file


def _adopt_apps(pids_file: Path, children: Children, cgroups: Cgroups | None) -> None:
    """Record each pod's app process (``app-<pod>``) with the run's children (state file, CPU seconds) and
    its cgroups (run-queue wait).

    Raises
    ------
    RunFailed
        When the app processes' pid file is missing (the apps answered without writing it).
    """
    try:
        pids: dict[str, int] = json.loads(pids_file.read_text())
    except (OSError, ValueError):
        raise RunFailed(f"the app processes did not write {pids_file}; see logs/apps.log") from None
    for pod, pid in pids.items():
        children.adopt(f"app-{pod}", pid, "apps")
        if cgroups is not None and cgroups.procs_for(pod, APP_CONTAINER):
            cgroups.pids[(pod, APP_CONTAINER)] = pid


def _cgroups(model: MeshModel, res: Resources, findings: list[str]) -> Cgroups | None:
    """The run's per-container cgroups (:mod:`meshsim.real.cgroups`) when the model has nodes (the CPU
    model on); None otherwise, and every process runs where the runner does, as before.

    Raises
    ------
    RunFailed
        When the model has nodes and this machine's cgroups cannot carry them.
    """
    if not model.nodes:
        return None
    try:
        cg = Cgroups()
        res.cgroups = cg
        findings += cg.create(model)
    except CgroupsUnavailable as exc:
        raise RunFailed(f"the model's CPU resources need per-container cgroups: {exc}") from None
    return cg


async def bring_up(
    model: MeshModel,
    opts: RunOptions,
    plan: PortPlan,
    envoy: str,
    run_dir: Path,
    out: Path,
    res: Resources,
    findings: list[str] | None = None,
) -> Mesh:
    """Start the control plane, one app process per pod (as a pod's app container is its own process;
    forked from one parent that loads the model once) and one Envoy per pod (sidecars and gateway pods), and wait until all are ready
    (``opts.ready_timeout`` seconds).

    With nodes in the model (the CPU model on) every pod's app and Envoy run in their own cgroups
    (:func:`_cgroups`); its findings are appended to ``findings``.

    Raises
    ------
    RunFailed
        When a process exits during startup, something is not ready in time or the cgroups cannot be
        made.
    """
    findings = findings if findings is not None else []
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    children = res.children = Children(logs)
    plan, stage_snaps = await _start_control_plane(model, opts, plan, run_dir, out, res)
    assert res.cp is not None
    model_file = run_dir / "model.pkl"
    model_file.write_bytes(pickle.dumps(model))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    cgroups = _cgroups(model, res, findings)
    ctls, pids_file = _spawn_apps(model, opts, plan, run_dir, children, env, cgroups)

    t_start = time.monotonic()
    gw = model.gateway
    envoys = [(p.id, p.service) for p in model.proxies]
    if gw is not None:
        envoys += [(g, gw.workload) for g in gw.proxies]
    for pid, cluster in envoys:
        bfile = run_dir / f"bootstrap-{pid}.json"
        bfile.write_text(json.dumps(dynamic_bootstrap(model, pid, plan)))
        procs = cgroups.procs_for(pid, PROXY_CONTAINER) if cgroups else ()
        envoy_pid = _spawn_envoy(children, envoy, bfile, pid, cluster, opts, procs)
        if procs and cgroups is not None:
            cgroups.pids[(pid, PROXY_CONTAINER)] = envoy_pid
    deadline = time.monotonic() + opts.ready_timeout
    admin = {pid: plan.admin_url(pid) for pid, _ in envoys}
    await _wait_http([f"{u}/ready" for u in admin.values()] + [f"{u}/ready" for u in ctls.values()], deadline, children)
    _adopt_apps(pids_file, children, cgroups)
    live_s = await res.cp.wait_live([pid for pid, _ in envoys], max(0.5, deadline - time.monotonic()))
    startup = time.monotonic() - t_start
    return Mesh(plan, envoys, admin, ctls, env, run_dir, logs, stage_snaps, startup, live_s)
