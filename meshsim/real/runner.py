"""One real run: control plane, Envoys, apps, load, measurement, teardown — in one process.

Sequence (loopback mode, no root, nothing outside ``127.0.0.0/8``):

1. take the run lock and kill what a crashed earlier run left behind (:mod:`meshsim.real.procs`);
2. translate the model into per-sidecar snapshots (:mod:`meshsim.xds`) and start the ADS server;
3. start one app-host process (all pods' apps) and one Envoy per pod, wait until every Envoy is
   ``/ready`` and has ACKed all four xDS types, and the apps answer;
4. run the load generator (its own process); at the end of warm-up snapshot every Envoy's counters and
   reset the apps' records, after the drain snapshot again;
   with a Scenario (``model.timeline``), play its events at the same offsets from the load generator's
   start and sample per-interval series (:mod:`meshsim.real.scenario`);
5. write ``summary.json`` (the simulator's schema), the raw ``load.json``/``apps.json``/``envoy_stats``,
   ``control_plane.json`` (push->ACK latencies), ``cpu.json``, ``scenario.json`` and the xDS snapshots;
   with :attr:`RunOptions.prometheus`, Istio's metrics from the Envoys' access logs;
6. stop every process in ``finally`` — on success, on error, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pickle
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from meshsim import atomic
from meshsim.errors import MeshsimError
from meshsim.model.ir import MeshModel

__all__ = ["RunOptions", "RunFailed", "run_real", "run_real_sync"]


class RunFailed(MeshsimError):
    """The real mesh could not be brought up or measured."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Knobs of a real run. ``duration``/``rps`` override the LoadProfile when set; ``warmup`` too.

    ``envoy_concurrency`` worker threads per Envoy (Istio: 2 from the 2-CPU limit; default 1 here to stay
    within the machine's CPU budget — a recorded deviation). ``ready_timeout`` seconds for startup.
    """

    out: Path
    duration: float | None = None
    rps: float | None = None
    warmup: float | None = None
    seed: int = 1
    envoy_concurrency: int = 1
    ready_timeout: float = 20.0
    log_level: str = "warning"
    address_prefix: str = "127.77"
    nice: int = 0
    """Scheduling priority of every spawned process (``setpriority``; negative needs root/CAP_SYS_NICE and
    is ignored without it). On a machine shared with CPU-bound jobs a negative value keeps the apps'
    event loop and the Envoys from being descheduled for tens of ms; it does not add CPU use."""
    prometheus: Path | None = None
    """Write Istio's standard metrics of the measured window here (Prometheus text format), from
    per-request Envoy access logs (:mod:`meshsim.real.telemetry`); off by default (logging costs CPU)."""
    direct_to_app: bool = False
    """Send the load straight to the entry pods' apps (``<pod ip>:15080``), bypassing their sidecars:
    the baseline of ``meshsim real calibrate``."""


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def _http_ok(url: str, method: str = "GET") -> bool:
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as s, s.request(method, url) as r:
            await r.read()
            return r.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


async def _wait_http(urls: list[str], deadline: float, children: Any) -> None:
    pending = list(urls)
    while pending:
        dead = children.dead()
        if dead:
            raise RunFailed(f"process {dead[0]} exited during startup; see its log in the run's logs/ directory")
        oks = await asyncio.gather(*(_http_ok(u) for u in pending))
        pending = [u for u, ok in zip(pending, oks, strict=True) if not ok]
        if pending and time.monotonic() > deadline:
            raise RunFailed(f"not ready in time: {pending[:3]}")
        if pending:
            await asyncio.sleep(0.05)


async def run_real(model: MeshModel, opts: RunOptions, inputs: list[str] | None = None) -> Any:
    """Run ``model`` on a real loopback Envoy mesh and return its :class:`Summary` (also written to
    ``opts.out/summary.json``).

    Raises
    ------
    RunFailed, AnotherRunActive, ConfigNotLive, EnvoyNotFound, MissingRealDeps
        All :class:`MeshsimError`: one line for the user.
    """
    from meshsim.real.control_plane import ControlPlane
    from meshsim.real.measure import build_summary, fetch_all
    from meshsim.real.procs import Children, RunLock, cleanup_stale, state_dir
    from meshsim.real.protos import require_real_deps
    from meshsim.xds import build_all, plan_ports
    from meshsim.xds.envoy_bin import envoy_path, envoy_version
    from meshsim.xds.snapshot import dynamic_bootstrap

    require_real_deps()
    envoy = envoy_path()
    load = model.load
    if load.arrival == "closed" and opts.rps is not None:
        raise RunFailed("--rps applies to open-loop load; this LoadProfile is closed-loop")
    load = dataclasses.replace(
        load,
        rate=opts.rps if opts.rps is not None else load.rate,
        duration=opts.duration if opts.duration is not None else load.duration,
        warmup=opts.warmup if opts.warmup is not None else load.warmup,
    )
    model = dataclasses.replace(model, load=load)
    plan = plan_ports(model, prefix=opts.address_prefix)

    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)

    lock = RunLock()
    lock.acquire()
    children: Children | None = None
    cp: ControlPlane | None = None
    player: Any = None
    findings: list[str] = []
    try:
        stale = cleanup_stale()
        if stale:
            findings.append(f"info: stopped {len(stale)} processes left by an earlier crashed run")
        run_dir = state_dir() / "run"
        run_dir.mkdir(exist_ok=True)
        children = Children(logs)

        from meshsim.real.certs import write_mesh_certs

        cert_dir = run_dir / "certs"
        write_mesh_certs(model, cert_dir)  # a fresh CA per run; referenced by the translated config
        cp = ControlPlane(plan.xds_address, 0)
        await cp.start()
        access_dir: str | None = None
        if opts.prometheus is not None:
            import shutil

            shutil.rmtree(run_dir / "access", ignore_errors=True)
            (run_dir / "access").mkdir()
            access_dir = str(run_dir / "access")
        plan = dataclasses.replace(plan, xds_port=cp.port, cert_dir=str(cert_dir), access_log_dir=access_dir)
        snaps = build_all(model, plan)
        timeline = model.timeline
        stage_snaps: dict[int, dict[str, Any]] = {}
        if timeline is not None:
            from meshsim.real.scenario import check_playable

            check_playable(timeline)
            # one translation: every stage the scenario reaches, built before the run starts
            stage_snaps = {k: build_all(timeline.factory.model(k), plan) for k in range(len(timeline.factory.stages))}
        for s in snaps.values():
            cp.set_snapshot(s)
        xds_dir = out / "xds"
        xds_dir.mkdir(exist_ok=True)
        for pid, s in snaps.items():
            (xds_dir / f"{pid}.json").write_text(json.dumps(s.resources, indent=1))

        # apps: one host process for all pods
        model_file = run_dir / "model.pkl"
        model_file.write_bytes(pickle.dumps(model))
        ctl_host = f"{opts.address_prefix}.0.2"
        ctl_port = _free_port(ctl_host)
        spec = {
            "model": str(model_file),
            "pods": [[p.id, plan.ip(p.id)] for p in model.proxies],
            "app_port": plan.app_port,
            "outbound_port": plan.outbound_port,
            "seed": opts.seed,
            "control_host": ctl_host,
            "control_port": ctl_port,
        }
        spec_file = run_dir / "apps.json"
        spec_file.write_text(json.dumps(spec))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
        children.spawn("apps", [sys.executable, "-m", "meshsim.real.service", str(spec_file)], env=env, nice=opts.nice)

        t_start = time.monotonic()
        gw = model.gateway
        envoys = [(p.id, p.service) for p in model.proxies]
        if gw is not None:
            envoys += [(g, gw.workload) for g in gw.proxies]
        for pid, cluster in envoys:
            bfile = run_dir / f"bootstrap-{pid}.json"
            bfile.write_text(json.dumps(dynamic_bootstrap(model, pid, plan)))
            children.spawn(
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
            )
        deadline = time.monotonic() + opts.ready_timeout
        admin = {pid: plan.admin_url(pid) for pid, _ in envoys}
        await _wait_http(
            [f"{u}/ready" for u in admin.values()] + [f"http://{ctl_host}:{ctl_port}/ready"], deadline, children
        )
        live_s = await cp.wait_live([pid for pid, _ in envoys], max(0.5, deadline - time.monotonic()))
        startup = time.monotonic() - t_start

        # load
        entry = model.service(load.entry)
        targets = [[plan.ip(e.id), plan.app_port if opts.direct_to_app else entry.port] for e in entry.endpoints]
        host = entry.host
        if gw is not None and not opts.direct_to_app:
            # the load enters through the ingress gateway pods (the gateway Envoy hop), as in the simulator
            from meshsim.xds.gateway import gateway_listen_port

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
        lspec_file = run_dir / "load.json"
        lspec_file.write_text(json.dumps(lspec))
        load_out = out / "load.json"
        load_out.unlink(missing_ok=True)
        import subprocess

        lg = children.spawn(
            "loadgen",
            [sys.executable, "-m", "meshsim.real.loadgen", str(lspec_file), str(load_out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=open(logs / "loadgen.log", "wb"),  # noqa: SIM115 - closed at child exit
            nice=opts.nice,
        )
        loop = asyncio.get_running_loop()
        assert lg.stdout is not None
        before: dict[str, dict[str, float]] = {}
        cpu_before: dict[str, float] = {}
        t_window = 0.0
        t_epoch0 = 0.0
        player = None
        if timeline is not None:
            from meshsim.real.scenario import ScenarioPlayer

            def without(stage: int, dead: frozenset[str]) -> dict[str, Any]:
                m = timeline.factory.model(stage)
                m = dataclasses.replace(
                    m,
                    clusters=tuple(
                        dataclasses.replace(c, endpoints=tuple(e for e in c.endpoints if e not in dead)) for c in m.clusters
                    ),
                )
                return build_all(m, plan)

            async def post_event(ev: dict[str, Any]) -> None:
                import aiohttp

                async with aiohttp.ClientSession() as sess, sess.post(f"http://{ctl_host}:{ctl_port}/event", json=ev) as r:
                    if r.status != 200:
                        raise RunFailed(f"app host refused scenario event {ev}: {await r.text()}")

            player = ScenarioPlayer(
                timeline, cp, stage_snaps, without, post_event, admin, load.warmup + load.duration + load.drain
            )
        while True:
            line = await loop.run_in_executor(None, lg.stdout.readline)
            if not line:
                break
            msg = line.decode().strip()
            if msg.startswith("t0 ") and timeline is not None and player is not None:
                t0_lg = float(msg.split()[1])
                import aiohttp

                async with aiohttp.ClientSession() as sess, sess.post(
                    f"http://{ctl_host}:{ctl_port}/origin", json={"t0": t0_lg, "width": timeline.series_interval}
                ) as r:
                    await r.read()
                player.start(t0_lg)
            elif msg.startswith("warmup-done"):
                parts = msg.split()
                t_epoch0 = float(parts[1]) if len(parts) > 1 else time.time()
                before = await fetch_all(admin)
                await _http_ok(f"http://{ctl_host}:{ctl_port}/mark", "POST")
                cpu_before = children.cpu_seconds()
                t_window = time.monotonic()
        rc = await loop.run_in_executor(None, lg.wait)
        if rc != 0 or not load_out.exists():
            raise RunFailed(f"load generator failed (exit {rc}); see {logs / 'loadgen.log'}")
        if player is not None and player.t0:
            # one more counter sample at the next interval boundary, so the last interval is complete
            import math

            w = player.tl.series_interval
            nxt = math.ceil(player.now() / w + 1e-9) * w
            await asyncio.sleep(max(0.0, player.t0 + nxt + 0.05 - time.monotonic()))
            await player.stop()
        after = await fetch_all(admin)
        t_epoch1 = time.time()
        cpu_after = children.cpu_seconds()
        wall = time.monotonic() - t_window if t_window else 0.0
        import aiohttp

        async with aiohttp.ClientSession() as sess, sess.get(f"http://{ctl_host}:{ctl_port}/stats") as r:
            apps = await r.json()
        load_res = json.loads(load_out.read_text())
        if not load_res.get("valid", True):
            findings.append(f"warning: run invalid: {load_res.get('invalid_reason')}")

        cpu = {
            k: (cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0)) / wall * 100 if wall else None
            for k in cpu_after
            if k != "loadgen"
        }
        total_cpu = sum(v for v in cpu.values() if v is not None)
        if total_cpu > 120:
            findings.append(f"warning: spawned processes used {total_cpu:.0f}% of one core (budget 120%)")
        atomic.write_text(
            out / "cpu.json",
            json.dumps(
                {
                    "percent_of_one_core": cpu,
                    "total": total_cpu,
                    "loadgen_percent_of_one_core": load_res.get("cpu_percent"),
                    "window_s": wall,
                    "loadavg_1m": os.getloadavg()[0],
                },
                indent=1,
            )
        )
        atomic.write_text(out / "apps.json", json.dumps(apps, indent=1))
        atomic.write_text(out / "envoy_stats.json", json.dumps({"before": before, "after": after}))
        acks = [dataclasses.asdict(a) for a in cp.acks]
        atomic.write_text(
            out / "control_plane.json",
            json.dumps(
                {
                    "startup_s": startup,
                    "all_acked_after_ready_s": live_s,
                    "acks": acks,
                    "nacks": [dataclasses.asdict(n) for n in cp.nacks],
                },
                indent=1,
            )
        )
        run_info = {
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
        findings.append(
            f"info: {envoy_version()}; envoy --concurrency {opts.envoy_concurrency}; loopback mode"
            + (f"; processes at nice {opts.nice}" if opts.nice else "")
        )
        if player is not None:
            findings += [f"warning: {e}" for e in player.errors]
        edge_ms: dict[tuple[str, str], list[float]] | None = None
        if opts.prometheus is not None:
            edge_ms = _write_prometheus(model, plan, [pid for pid, _ in envoys], t_epoch0, t_epoch1, opts.prometheus, out)
        summary = build_summary(model, load_res, before, after, apps, run_info, findings, edge_ms)
        if player is not None:
            from meshsim.real.scenario import build_scenario_result, build_series

            async with aiohttp.ClientSession() as sess, sess.get(f"http://{ctl_host}:{ctl_port}/series") as r:
                app_series = await r.json()
            assert timeline is not None
            series = build_series(model, timeline.series_interval, load_res.get("requests_log", []), app_series, player.samples)
            pushes = player.push_records()
            scen = build_scenario_result(model, series, player.events, pushes, load.warmup, load.warmup + load.duration)
            summary = summary.model_copy(update={"scenario": scen})
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
                )
            )
        atomic.write_text(out / "summary.json", summary.model_dump_json(indent=1))  # last: means the run finished
        return summary
    finally:
        if children is not None:
            children.stop_all()
        if player is not None:
            await player.stop()
        if cp is not None:
            await cp.stop()
        lock.release()


def _write_prometheus(
    model: MeshModel, plan: Any, pods: list[str], t0: float, t1: float, path: Path, out: Path
) -> dict[tuple[str, str], list[float]]:
    """Aggregate the run's access logs into ``path`` once Envoy has flushed them (100 ms interval);
    returns the per-edge client-side durations for the summary."""
    from meshsim.real.telemetry import metrics_from_access_logs
    from meshsim.telemetry.prometheus import write_prometheus

    time.sleep(0.5)
    metrics, counts, edge_ms = metrics_from_access_logs(model, plan, t0, t1, pods)
    write_prometheus([metrics], path)
    atomic.write_text(out / "access_logs.json", json.dumps({"window_epoch_s": [t0, t1], "lines": counts}, indent=1))
    return edge_ms


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("meshsim")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "0+unknown"


def run_real_sync(model: MeshModel, opts: RunOptions, inputs: list[str] | None = None) -> Any:
    """:func:`run_real` on a fresh event loop; SIGTERM and Ctrl-C cancel the run (teardown still runs)
    and raise :class:`RunFailed`."""

    async def main() -> Any:
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
