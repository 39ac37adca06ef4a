"""One real run: control plane, Envoys, apps, load, measurement, teardown — in one process.

Sequence (loopback mode, nothing outside ``127.0.0.0/8``; root only for the CPU model's cgroups):

1. take the run lock and kill what a crashed earlier run left behind (:mod:`meshsim.real.procs`);
2. translate the model into per-sidecar snapshots (:mod:`meshsim.xds`) and start the ADS server;
3. start one app process and one Envoy per pod (with nodes in the model, each in its own cgroup with
   the container's CPU limit and weight, each node a cpuset: :mod:`meshsim.real.cgroups`), wait until
   every Envoy is ``/ready`` and has ACKed all four xDS types, and every app answers;
4. run the load generator (its own process); at the end of warm-up snapshot every Envoy's counters and
   reset the apps' records, after the drain snapshot again;
   with a Scenario (``model.timeline``), play its events at the same offsets from the load generator's
   start and sample per-interval series (:mod:`meshsim.real.scenario`);
5. write ``summary.json`` (the simulator's schema), the raw ``load.json``/``apps.json``/``envoy_stats``,
   ``control_plane.json`` (push->ACK latencies), ``cpu.json``, ``scenario.json`` and the xDS snapshots;
   with :attr:`RunOptions.prometheus`, Istio's metrics from the Envoys' access logs;
6. stop every process and remove the run's cgroups in ``finally`` — on success, on error, on Ctrl-C
   and on SIGTERM (a SIGKILLed run's are removed by the next run).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal

from meshsim.errors import MeshsimError
from meshsim.metrics.results import Summary
from meshsim.model.ir import MeshModel
from meshsim.real.bringup import Resources, bring_up
from meshsim.real.cgroups import CgroupsUnavailable, cleanup_stale_cgroups
from meshsim.real.collect import collect
from meshsim.real.loadrun import run_load
from meshsim.real.options import RunFailed, RunOptions
from meshsim.real.procs import RunLock, cleanup_stale, state_dir
from meshsim.real.protos import require_real_deps
from meshsim.xds import plan_ports
from meshsim.xds.envoy_bin import envoy_path

__all__ = ["RunOptions", "RunFailed", "run_real", "run_real_sync"]


def _with_overrides(model: MeshModel, opts: RunOptions) -> MeshModel:
    """``model`` with the run's ``rps``/``duration``/``warmup`` overrides applied to its load.

    Raises
    ------
    RunFailed
        For ``rps`` on closed-loop load.
    """
    load = model.load
    if load.arrival == "closed" and opts.rps is not None:
        raise RunFailed("--rps applies to open-loop load; this LoadProfile is closed-loop")
    load = dataclasses.replace(
        load,
        rate=opts.rps if opts.rps is not None else load.rate,
        duration=opts.duration if opts.duration is not None else load.duration,
        warmup=opts.warmup if opts.warmup is not None else load.warmup,
    )
    return dataclasses.replace(model, load=load)


async def run_real(model: MeshModel, opts: RunOptions, inputs: list[str] | None = None) -> Summary:
    """Run ``model`` on a real loopback Envoy mesh and return its :class:`Summary` (also written to
    ``opts.out/summary.json``): bring-up (:mod:`meshsim.real.bringup`), the load run
    (:mod:`meshsim.real.loadrun`) and collection (:mod:`meshsim.real.collect`), with every process
    stopped in ``finally``.

    Raises
    ------
    RunFailed, AnotherRunActive, ConfigNotLive, EnvoyNotFound, MissingRealDeps
        All :class:`MeshsimError`: one line for the user.
    """
    require_real_deps()
    envoy = envoy_path()
    model = _with_overrides(model, opts)
    passthrough = sorted(c.name for c in model.clusters if c.discovery == "ORIGINAL_DST")
    if passthrough:
        raise MeshsimError(
            f"loadBalancer.simple: PASSTHROUGH on {', '.join(passthrough)}: Envoy would connect to the caller's "
            "original destination, which the loopback mesh does not have; use another loadBalancer for real runs"
        )
    plan = plan_ports(model, prefix=opts.address_prefix)
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    lock = RunLock()
    lock.acquire()
    res = Resources()
    findings: list[str] = []
    try:
        stale = cleanup_stale()
        if stale:
            findings.append(f"info: stopped {len(stale)} processes left by an earlier crashed run")
        try:
            stale_cg = cleanup_stale_cgroups()
        except CgroupsUnavailable as exc:
            raise RunFailed(str(exc)) from None
        if stale_cg:
            findings.append(f"info: removed {stale_cg} cgroups left by an earlier crashed run")
        run_dir = state_dir() / "run"
        run_dir.mkdir(exist_ok=True)
        mesh = await bring_up(model, opts, plan, envoy, run_dir, out, res, findings)
        run = await run_load(model, opts, mesh, res, out)
        return await collect(model, opts, mesh, res, run, out, inputs, findings)
    finally:
        if res.children is not None:
            res.children.stop_all()
        if res.cgroups is not None:
            res.cgroups.remove()  # after its processes have exited: a cgroup with tasks cannot be removed
        if res.player is not None:
            await res.player.stop()
        if res.cp is not None:
            await res.cp.stop()
        lock.release()


def run_real_sync(model: MeshModel, opts: RunOptions, inputs: list[str] | None = None) -> Summary:
    """:func:`run_real` on a fresh event loop; SIGTERM and Ctrl-C cancel the run (teardown still runs)
    and raise :class:`RunFailed`."""

    async def main() -> Summary:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await run_real(model, opts, inputs)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    try:
        return asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise RunFailed("interrupted; every process of the run was stopped") from None
