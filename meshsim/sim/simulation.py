"""One replication of a compiled mesh: builds the components on a shared
:class:`~meshsim.sim.context.SimContext` and runs them.

Components and where they live: the kernel on SimPy (:mod:`~meshsim.sim.kernel`), a request's context
and outcome codes (:mod:`~meshsim.sim.request`), route tables (:mod:`~meshsim.sim.routing`), Envoy
proxies (:mod:`~meshsim.sim.sidecar`, their router in :mod:`~meshsim.sim.router`, their worker threads
in :mod:`~meshsim.sim.cpu`, their clusters in :mod:`~meshsim.sim.cluster`), pods
(:mod:`~meshsim.sim.replica`, :mod:`~meshsim.sim.pods`), the load source (:mod:`~meshsim.sim.load`),
observation (:mod:`~meshsim.sim.observe`), changes over time (:mod:`~meshsim.sim.control_plane`,
:mod:`~meshsim.sim.scenario`, :mod:`~meshsim.sim.canary`) and the result (:mod:`~meshsim.sim.collect`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshsim.metrics.series import Series
from meshsim.metrics.tally import RepResult
from meshsim.model.ir import MeshModel
from meshsim.sim.autoscaler import Autoscaler
from meshsim.sim.canary import CanaryController
from meshsim.sim.collect import Collector
from meshsim.sim.context import SimContext
from meshsim.sim.control_plane import ControlPlane
from meshsim.sim.kernel import Gen, collector_tuned, run_until
from meshsim.sim.load import LoadSource
from meshsim.sim.observe import IstioRecorder, Recorder
from meshsim.sim.options import RunOptions
from meshsim.sim.pods import Pods
from meshsim.sim.replica import Replica
from meshsim.sim.rng import Streams
from meshsim.sim.sampling import Uniform
from meshsim.sim.scenario import ScenarioDriver
from meshsim.sim.sidecar import GatewayProxy, Proxy

__all__ = ["Simulation"]


class Simulation:
    """One replication of a :class:`MeshModel`.

    Parameters
    ----------
    model:
        The compiled mesh.
    seed, replication:
        Root seed and replication index; all draws come from :class:`Streams` (seed, replication).
    progress:
        Optional callback ``progress(fraction_done)`` called about 100 times per run.

    The measured window is ``[warmup, warmup + duration)`` of load arrivals; requests arriving in it
    are followed to completion (at most ``drain`` seconds after the window) and everything they cause
    is recorded. Warm-up requests run but are not recorded.
    """

    def __init__(
        self,
        model: MeshModel,
        seed: int,
        replication: int = 0,
        progress: Callable[[float], None] | None = None,
        options: RunOptions = RunOptions(),
    ) -> None:
        self.model = model
        self.seed = seed
        self.replication = replication
        self.progress = progress
        series = Series(model.timeline.series_interval) if model.timeline is not None else None
        streams = Streams(seed, replication)
        sink = IstioRecorder(series) if options.istio_metrics else Recorder(series)
        self.ctx = ctx = SimContext(model, streams, sink)
        self.env = ctx.env
        self.streams = streams
        self.series = series
        u_trace = Uniform(streams.generator("trace/sample")) if options.trace_sample > 0 else None
        self.pods = Pods(ctx)
        self.gateways: list[GatewayProxy] = []
        if model.gateway is not None:
            self.gateways = [GatewayProxy(ctx, pid, model.gateway) for pid in model.gateway.proxies]
        self.collector = Collector(ctx, self.pods, self.proxies)
        self.load = LoadSource(
            ctx, self.pods, self.gateways, options.trace_sample, u_trace, self.collector.close_window
        )
        self.timeline = model.timeline
        self.driver: ScenarioDriver | None = None
        self.canary: CanaryController | None = None
        self.control_plane: ControlPlane | None = None
        self.autoscalers: list[Autoscaler] = []

    @property
    def replicas(self) -> dict[str, Replica]:
        """Every pod by endpoint id."""
        return self.pods.replicas

    @property
    def t_start(self) -> float:
        return self.ctx.t_start

    @property
    def t_end(self) -> float:
        return self.ctx.t_end

    def proxies(self) -> list[Proxy]:
        """Every proxy: the gateway pods, then the sidecars."""
        return [*self.gateways, *(rep.sidecar for rep in self.pods.replicas.values())]

    def _ticker(self, horizon: float) -> Gen:
        step = horizon / 100
        assert self.progress is not None
        while True:
            yield self.env.timeout(step)
            self.progress(min(1.0, self.env.now / horizon))

    def _sample_series(self) -> Gen:
        """At the end of each series bucket: the configured canary weight and the ejected hosts."""
        series = self.series
        assert series is not None
        w = series.width
        while True:
            yield self.env.timeout(w)
            b = int(round(self.env.now / w)) - 1
            if self.canary is not None:
                series.weight[b] = float(self.canary.configured)
            series.queue[b] = {
                key: float(sum(len(r.queue) for r in reps)) for key, reps in self.pods.by_workload().items()
            }
            series.ejected[b] = float(
                sum(
                    sum(cs.ejected)
                    for rep in self.pods.replicas.values()
                    for cs in rep.sidecar.states.values()
                    if cs.od is not None
                )
            )

    def _start_timeline(self) -> None:
        tl = self.timeline
        assert tl is not None
        env = self.env
        self.control_plane = ControlPlane(self.ctx, tl, self.pods, self.load)
        self.driver = ScenarioDriver(self.ctx, tl, self.control_plane, self.pods, self.load)
        env.process(self.driver.run())
        for hpa in self.model.autoscalers:
            a = Autoscaler(self.ctx, hpa, self.driver, self.control_plane, self.pods)
            self.autoscalers.append(a)
            env.process(a.run())
        if tl.canary is not None:
            assert self.series is not None
            self.canary = CanaryController(self.ctx, tl.canary, self.driver, self.series)
            env.process(self.canary.run())
        env.process(self._sample_series())

    # ------------------------------------------------------------------ run
    def run(self) -> RepResult:
        """Run the replication to the end of its window (plus drain) and return its statistics."""
        env = self.env
        env.process(self.collector.open_window())
        if self.ctx.cpu_on:
            env.process(self._cpu_window())
        if self.timeline is not None:
            self._start_timeline()
        self.load.start()
        if self.progress is not None:
            env.process(self._ticker(self.ctx.t_end))
        deadline = env.timeout(self.ctx.t_end + self.model.load.drain)
        with collector_tuned():
            run_until(env, self.load.finished | deadline)
        if self.progress is not None:
            self.progress(1.0)
        res = self.collector.result(self.replication, self.seed, self.load.in_flight, self.load.traces)
        if self.ctx.cpu_on:
            res.cpu = self._cpu_stats()
        if self.timeline is not None and self.driver is not None and self.control_plane is not None:
            res.scenario = self._scenario_result()
        return res

    def _cpu_snapshot(self) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "containers": {k: c.stat() for k, c in ctx.containers.items()},
            "nodes": {n.name: (n.usage(), n.wait_s, n.bursts_done) for n in ctx.nodes.values()},
        }

    def _cpu_window(self) -> Gen:
        """A process: the CPU model's counters at the measured window's start and end."""
        env = self.env
        yield env.timeout(self.ctx.t_start)
        for n in self.ctx.nodes.values():
            n.advance(env.now)
        self._cpu_at = [self._cpu_snapshot()]
        yield env.timeout(self.ctx.t_end - self.ctx.t_start)
        for n in self.ctx.nodes.values():
            n.advance(env.now)
        self._cpu_at.append(self._cpu_snapshot())

    def _cpu_stats(self) -> dict[str, Any]:
        """Per container ``(pod, container) -> node, request, limit, usage_s, nr_periods, nr_throttled,
        throttled_s`` and per node ``name -> cores, usage_s, runqueue wait_s, bursts`` over the window
        (differences of cumulative counters, as one reads ``cpu.stat`` twice)."""
        ctx = self.ctx
        snaps = getattr(self, "_cpu_at", [])
        while len(snaps) < 2:
            for n in ctx.nodes.values():
                n.advance(self.env.now)
            snaps.append(self._cpu_snapshot())
        a, b = snaps[0], snaps[1]
        zero = (0.0, 0, 0, 0.0)
        containers = {}
        for key in sorted(b["containers"]):
            c = ctx.containers[key]
            x, y = a["containers"].get(key, zero), b["containers"][key]
            containers[key] = (
                c.node.name,
                c.request_cores,
                c.limit_cores,
                y[0] - x[0],
                y[1] - x[1],
                y[2] - x[2],
                y[3] - x[3],
            )
        nodes = {}
        for name in sorted(b["nodes"]):
            x2, y2 = a["nodes"].get(name, (0.0, 0.0, 0)), b["nodes"][name]
            nodes[name] = (ctx.nodes[name].cores, y2[0] - x2[0], y2[1] - x2[1], y2[2] - x2[2])
        return {"containers": containers, "nodes": nodes}

    def _scenario_result(self) -> dict[str, Any]:
        assert self.driver is not None and self.control_plane is not None
        c = self.canary
        return {
            "series": self.series,
            "events": self.driver.applied,
            "pushes": self.control_plane.pushes,
            "autoscaling": [d for a in self.autoscalers for d in a.decisions],
            "autoscalers": [a.report() for a in self.autoscalers],
            "canary": None
            if c is None
            else {"outcome": c.outcome, "at": c.at, "failed": c.failed, "weights": c.weights, "checks": c.checks},
        }
