"""Collection of a real run: the raw files (``cpu.json``, ``apps.json``, ``envoy_stats.json``,
``control_plane.json``, ``scenario.json``, ``access_logs.json``), Istio's metrics and the
:class:`~meshsim.metrics.results.Summary` in the simulator's schema."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from meshsim import atomic
from meshsim.metrics.results import ScenarioResult, Summary
from meshsim.model.ir import MeshModel
from meshsim.real.bringup import Mesh, Resources, ctl_all
from meshsim.real.loadrun import LoadRun
from meshsim.real.measure import build_summary, cpu_rows
from meshsim.real.options import RunOptions
from meshsim.real.scenario import ScenarioPlayer, build_scenario_result, build_series
from meshsim.real.telemetry import metrics_from_access_logs
from meshsim.telemetry.prometheus import write_prometheus
from meshsim.xds.envoy_bin import envoy_version
from meshsim.xds.ports import PortPlan

__all__ = ["collect"]

CPU_BUDGET_PERCENT = 120.0
"""Spawned processes (apps and Envoys, not the load generator) above this share of one core make the
run's timings suspect on a shared machine: a warning finding."""


def _cpu(out: Path, run: LoadRun, findings: list[str]) -> None:
    """``cpu.json``: percent of one core per spawned process over the measured window."""
    wall = run.wall_s
    cpu = {
        k: (run.cpu_after.get(k, 0.0) - run.cpu_before.get(k, 0.0)) / wall * 100 if wall else None
        for k in run.cpu_after
        if k != "loadgen"
    }
    total_cpu = sum(v for v in cpu.values() if v is not None)
    if total_cpu > CPU_BUDGET_PERCENT:
        findings.append(f"warning: spawned processes used {total_cpu:.0f}% of one core (budget 120%)")
    atomic.write_text(
        out / "cpu.json",
        json.dumps(
            {
                "percent_of_one_core": cpu,
                "total": total_cpu,
                "loadgen_percent_of_one_core": run.load_res.get("cpu_percent"),
                "window_s": wall,
                "loadavg_1m": os.getloadavg()[0],
            },
            indent=1,
        ),
    )


def _run_info(model: MeshModel, opts: RunOptions, inputs: list[str] | None) -> dict[str, Any]:
    load = model.load
    return {
        "meshsim_version": _version(),
        "backend": "real",
        "seed": opts.seed,
        "replications": 1,
        "ci_method": "none",
        "config_digest": model.digest,
        "inputs": inputs or [],
        "entry": load.entry,
        "arrival": load.arrival,
        "rate_rps": load.rate,
        "users": load.users,
        "warmup_s": load.warmup,
        "duration_s": load.duration,
        "sketch_relative_accuracy": 0.0,
    }


async def collect(
    model: MeshModel,
    opts: RunOptions,
    mesh: Mesh,
    res: Resources,
    run: LoadRun,
    out: Path,
    inputs: list[str] | None,
    findings: list[str],
) -> Summary:
    """Write the run's raw files and ``summary.json`` into ``out``; return the Summary."""
    if not run.load_res.get("valid", True):
        findings.append(f"warning: run invalid: {run.load_res.get('invalid_reason')}")
    _cpu(out, run, findings)
    atomic.write_text(out / "apps.json", json.dumps(run.apps, indent=1))
    atomic.write_text(out / "envoy_stats.json", json.dumps({"before": run.before, "after": run.after}))
    _write_control_plane(out, mesh, res)
    findings.append(
        f"info: {envoy_version()}; envoy --concurrency {opts.envoy_concurrency}; loopback mode"
        + (f"; processes at nice {opts.nice}" if opts.nice else "")
    )
    if res.cgroups is not None:  # throttling depends on the kernel version (CFS bandwidth fixes in 5.4)
        findings.append(
            f"info: container CPU from cgroup {res.cgroups.version} accounting; kernel {os.uname().release}"
        )
    player = run.player
    if player is not None:
        findings += [f"warning: {e}" for e in player.errors]
    edge_ms: dict[tuple[str, str], list[float]] | None = None
    if opts.prometheus is not None:
        pods = [pid for pid, _ in mesh.envoys]
        edge_ms = _write_prometheus(model, mesh.plan, pods, run.t_epoch0, run.t_epoch1, opts.prometheus, out)
    summary: Summary = build_summary(
        model, run.load_res, run.before, run.after, run.apps, _run_info(model, opts, inputs), findings, edge_ms
    )
    if res.cgroups is not None:
        containers, nodes = cpu_rows(
            model, res.cgroups.containers, run.cg_before, run.cg_after, run.rq_before, run.rq_after, run.cg_wall_s
        )
        summary = summary.model_copy(update={"containers": containers, "nodes": nodes})
    if player is not None:
        scen = await _scenario(model, mesh, run, player, out)
        summary = summary.model_copy(update={"scenario": scen})
    atomic.write_text(out / "summary.json", summary.model_dump_json(indent=1))  # last: means the run finished
    return summary


def _write_control_plane(out: Path, mesh: Mesh, res: Resources) -> None:
    """``control_plane.json``: the mesh's start-up time, when every Envoy had ACKed, every ACK and NACK."""
    cp = res.cp
    assert cp is not None
    atomic.write_text(
        out / "control_plane.json",
        json.dumps(
            {
                "startup_s": mesh.startup_s,
                "all_acked_after_ready_s": mesh.all_acked_after_ready_s,
                "acks": [dataclasses.asdict(a) for a in cp.acks],
                "nacks": [dataclasses.asdict(n) for n in cp.nacks],
            },
            indent=1,
        ),
    )


async def _scenario(model: MeshModel, mesh: Mesh, run: LoadRun, player: ScenarioPlayer, out: Path) -> ScenarioResult:
    """The scenario's per-interval series (load generator, apps' ``/series``, Envoy samples) and phases;
    writes ``scenario.json`` (events, reverts, xDS pushes, Envoy samples)."""
    load = model.load
    timeline = model.timeline
    assert timeline is not None
    app_series: dict[str, Any] = {}
    for per_pod in (await ctl_all(mesh.ctls, "GET", "/series")).values():
        app_series.update(per_pod)
    series = build_series(
        model, timeline.series_interval, run.load_res.get("requests_log", []), app_series, player.samples
    )
    pushes = player.push_records()
    scen = build_scenario_result(model, series, player.events, pushes, load.warmup, load.warmup + load.duration)
    atomic.write_text(
        out / "scenario.json",
        json.dumps(
            {
                "t0_monotonic": player.t0,
                "events": player.events,
                "reverts": player.reverts,
                "pushes": pushes,
                "envoy_samples": player.samples,
            },
            indent=1,
        ),
    )
    return scen


def _write_prometheus(
    model: MeshModel, plan: PortPlan, pods: list[str], t0: float, t1: float, path: Path, out: Path
) -> dict[tuple[str, str], list[float]]:
    """Aggregate the run's access logs into ``path`` once Envoy has flushed them (100 ms interval);
    returns the per-edge client-side durations for the summary."""
    time.sleep(0.5)
    metrics, counts, edge_ms = metrics_from_access_logs(model, plan, t0, t1, pods)
    write_prometheus([metrics], path)
    atomic.write_text(out / "access_logs.json", json.dumps({"window_epoch_s": [t0, t1], "lines": counts}, indent=1))
    return edge_ms


def _version() -> str:
    try:
        return version("meshsim")
    except PackageNotFoundError:  # not installed as a distribution
        return "0+unknown"
