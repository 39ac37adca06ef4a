"""The load run of a real run: the load generator in its own process, counter snapshots at the end
of warm-up and after the drain, and (with a Scenario) its events played at the load's offsets."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from meshsim.model.ir import LoadSpec, MeshModel
from meshsim.real.bringup import Mesh, Resources, ctl_all
from meshsim.real.cgroups import CpuSample
from meshsim.real.measure import fetch_all
from meshsim.real.options import RunFailed, RunOptions
from meshsim.real.scenario import ScenarioPlayer
from meshsim.xds import build_all
from meshsim.xds.gateway import gateway_listen_port

__all__ = ["LoadRun", "run_load"]


@dataclasses.dataclass(frozen=True)
class LoadRun:
    """What the load run measured: the load generator's result (``load.json``), every Envoy's
    counters ``before`` (end of warm-up) and ``after`` (after the drain), the apps' records, the
    children's CPU seconds at both points, the measured wall time (s) and its epoch bounds (s), and
    the scenario player (None without a Scenario); with the run's cgroups, every container's cgroup
    counters (``cg_before``/``cg_after``), every node's run-queue wait (``rq_before``/``rq_after``:
    seconds, timeslices) at the same two points and the monotonic seconds between them (``cg_wall_s``)."""

    load_res: dict[str, Any]
    before: dict[str, dict[str, float]]
    after: dict[str, dict[str, float]]
    apps: dict[str, Any]
    cpu_before: dict[str, float]
    cpu_after: dict[str, float]
    wall_s: float
    t_epoch0: float
    t_epoch1: float
    player: ScenarioPlayer | None
    cg_before: dict[tuple[str, str], CpuSample] = dataclasses.field(default_factory=dict)
    cg_after: dict[tuple[str, str], CpuSample] = dataclasses.field(default_factory=dict)
    rq_before: dict[str, tuple[float, int]] = dataclasses.field(default_factory=dict)
    rq_after: dict[str, tuple[float, int]] = dataclasses.field(default_factory=dict)
    cg_wall_s: float = 0.0


def _load_spec(model: MeshModel, load: LoadSpec, opts: RunOptions, mesh: Mesh) -> dict[str, Any]:
    """The load generator's input: targets (entry pods' sidecars, their apps with ``direct_to_app``,
    or the ingress gateway pods), Host, arrival process and the Scenario's load events.

    Raises
    ------
    RunFailed
        For Scenario load events on closed-loop load, or an entry service without pods.
    """
    plan = mesh.plan
    timeline = model.timeline
    gw = model.gateway
    entry = model.service(load.entry)
    targets = [[plan.ip(e.id), plan.app_port if opts.direct_to_app else entry.port] for e in entry.endpoints]
    host = entry.host
    if gw is not None and not opts.direct_to_app:
        # the load enters through the ingress gateway pods (the gateway Envoy hop), as in the simulator
        targets = [[plan.ip(g), gateway_listen_port(gw)] for g in gw.proxies]
        doms = [d for d in gw.virtual_host.domains if "*" not in d]
        host = doms[0] if doms else entry.host
    lspec = {
        "targets": targets,
        "host": host,
        "path": load.path,
        "method": load.method,
        "arrival": load.arrival,
        "rate": load.rate,
        "users": load.users,
        "think_time": load.think_time.mean if load.think_time else None,
        "warmup": load.warmup,
        "duration": load.duration,
        "drain": load.drain,
        "header_mix": [[w, [list(h) for h in hs]] for w, hs in load.header_mix],
        "seed": opts.seed,
        "rate_events": [
            [e.at, e.rate, e.ramp, e.duration] for e in (timeline.events if timeline else ()) if e.action == "load"
        ],
    }
    if lspec["rate_events"] and load.arrival == "closed":
        raise RunFailed("Scenario load events change an open-loop rate; this LoadProfile is closed-loop")
    if not lspec["targets"]:
        raise RunFailed(f"entry service {load.entry} has no pods")
    return lspec


def _player(model: MeshModel, load: LoadSpec, mesh: Mesh, res: Resources) -> ScenarioPlayer | None:
    """The Scenario's player (None without one): stage snapshots, per-kill snapshots without the dead
    pods, and app events posted to the app host's control endpoint."""
    timeline = model.timeline
    if timeline is None:
        return None

    def without(stage: int, dead: frozenset[str]) -> dict[str, Any]:
        m = timeline.factory.model(stage)
        m = dataclasses.replace(
            m,
            clusters=tuple(
                dataclasses.replace(c, endpoints=tuple(e for e in c.endpoints if e not in dead)) for c in m.clusters
            ),
        )
        return build_all(m, mesh.plan)

    key = {
        e.id: next(w.key for w in model.service(e.service).workloads if w.version == e.version) for e in model.endpoints
    }

    async def post_event(ev: dict[str, Any]) -> None:
        # each pod's app is its own process: send the event to the processes of the pods it names
        pods = {p for p in mesh.ctls if p == ev.get("pod") or key.get(p) in (ev.get("workloads") or [])}
        if not pods:
            raise RunFailed(f"scenario event {ev} matches no pod")
        await ctl_all({p: u for p, u in mesh.ctls.items() if p in pods}, "POST", "/event", ev)

    return ScenarioPlayer(
        timeline, res.cp, mesh.stage_snaps, without, post_event, mesh.admin, load.warmup + load.duration + load.drain
    )


@dataclasses.dataclass
class _Window:
    """The snapshot at the end of warm-up: Envoy counters, children's CPU seconds, cgroup counters and
    run-queue waits (with the run's cgroups), and when (monotonic seconds; epoch seconds from the load
    generator). All empty/0 until the load generator reports ``warmup-done``."""

    before: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    cpu_before: dict[str, float] = dataclasses.field(default_factory=dict)
    cg_before: dict[tuple[str, str], CpuSample] = dataclasses.field(default_factory=dict)
    rq_before: dict[str, tuple[float, int]] = dataclasses.field(default_factory=dict)
    t_window: float = 0.0
    t_epoch0: float = 0.0
    t_cg0: float = 0.0


async def run_load(model: MeshModel, opts: RunOptions, mesh: Mesh, res: Resources, out: Path) -> LoadRun:
    """Run the load generator to the end of its drain; snapshot counters, app records and CPU at the
    end of warm-up (the load generator's ``warmup-done`` line) and after the drain.

    Raises
    ------
    RunFailed
        When the load generator fails or a scenario event is refused.
    """
    load = model.load
    children = res.children
    assert children is not None
    lspec_file = mesh.run_dir / "load.json"
    lspec_file.write_text(json.dumps(_load_spec(model, load, opts, mesh)))
    load_out = out / "load.json"
    load_out.unlink(missing_ok=True)
    lg = children.spawn(
        "loadgen",
        [sys.executable, "-m", "meshsim.real.loadgen", str(lspec_file), str(load_out)],
        env=mesh.env,
        stdout=subprocess.PIPE,
        stderr=open(mesh.logs / "loadgen.log", "wb"),  # noqa: SIM115 - closed at child exit
        nice=opts.nice,
        cgroup_procs=res.cgroups.harness_procs() if res.cgroups is not None else (),
    )
    player = res.player = _player(model, load, mesh, res)
    win = await _follow(lg, model, mesh, res, player)
    rc = await asyncio.get_running_loop().run_in_executor(None, lg.wait)
    if rc != 0 or not load_out.exists():
        raise RunFailed(f"load generator failed (exit {rc}); see {mesh.logs / 'loadgen.log'}")
    if player is not None and player.t0:
        # one more counter sample at the next interval boundary, so the last interval is complete
        w = player.tl.series_interval
        nxt = math.ceil(player.now() / w + 1e-9) * w
        await asyncio.sleep(max(0.0, player.t0 + nxt + 0.05 - time.monotonic()))
        await player.stop()
    after = await fetch_all(mesh.admin)
    t_epoch1 = time.time()
    cpu_after = children.cpu_seconds()
    wall = time.monotonic() - win.t_window if win.t_window else 0.0
    cg_after: dict[tuple[str, str], CpuSample] = {}
    rq_after: dict[str, tuple[float, int]] = {}
    cg_wall = 0.0
    if res.cgroups is not None and win.cg_before:
        cg_after, rq_after, cg_wall = res.cgroups.sample(), res.cgroups.runqueue(), time.monotonic() - win.t_cg0
    apps: dict[str, Any] = {}
    for per_pod in (await ctl_all(mesh.ctls, "GET", "/stats")).values():
        apps.update(per_pod)
    load_res = json.loads(load_out.read_text())
    return LoadRun(
        load_res,
        win.before,
        after,
        apps,
        win.cpu_before,
        cpu_after,
        wall,
        win.t_epoch0,
        t_epoch1,
        player,
        win.cg_before,
        cg_after,
        win.rq_before,
        rq_after,
        cg_wall,
    )


async def _follow(
    lg: subprocess.Popen[bytes], model: MeshModel, mesh: Mesh, res: Resources, player: ScenarioPlayer | None
) -> _Window:
    """Read the load generator's stdout to its end: on ``t0 T`` start the apps' series and the scenario
    player at T; on ``warmup-done [EPOCH]`` mark the apps' measured window and take the warm-up snapshot."""
    children = res.children
    assert children is not None and lg.stdout is not None
    timeline = model.timeline
    loop = asyncio.get_running_loop()
    win = _Window()
    while True:
        line = await loop.run_in_executor(None, lg.stdout.readline)
        if not line:
            break
        msg = line.decode().strip()
        if msg.startswith("t0 ") and timeline is not None and player is not None:
            t0_lg = float(msg.split()[1])
            await ctl_all(mesh.ctls, "POST", "/origin", {"t0": t0_lg, "width": timeline.series_interval})
            player.start(t0_lg)
        elif msg.startswith("warmup-done"):
            parts = msg.split()
            win.t_epoch0 = float(parts[1]) if len(parts) > 1 else time.time()
            win.before = await fetch_all(mesh.admin)
            await ctl_all(mesh.ctls, "POST", "/mark")
            win.cpu_before = children.cpu_seconds()
            win.t_window = time.monotonic()
            if res.cgroups is not None:
                win.cg_before, win.rq_before, win.t_cg0 = (
                    res.cgroups.sample(),
                    res.cgroups.runqueue(),
                    time.monotonic(),
                )
    return win
