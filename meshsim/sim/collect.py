"""What a replication returns: time-weighted levels over the measured window, Envoy counters as
differences from the window's start, and everything the sink recorded, as a picklable
:class:`~meshsim.metrics.tally.RepResult`."""

from __future__ import annotations

from typing import Any

from meshsim.metrics.tally import RepResult
from meshsim.sim.context import SimContext
from meshsim.sim.kernel import Gen
from meshsim.sim.observe import Recorder
from meshsim.sim.pods import Pods
from meshsim.sim.sidecar import Proxy
from meshsim.telemetry.record import Observations

__all__ = ["Collector"]


class Collector:
    """Resets levels and counter baselines when the measured window opens, averages levels when the
    last measured arrival has happened, and builds the :class:`RepResult`."""

    def __init__(self, ctx: SimContext, pods: Pods, proxies: Any) -> None:
        self.ctx = ctx
        self.pods = pods
        self.proxies: Any = proxies  # () -> every proxy, gateways first
        self.level_means: dict[str, dict[str, float]] = {}
        self.eject_means: dict[tuple[str, str], float] = {}

    def open_window(self) -> Gen:
        """A process: at the window's start, restart every level and record the counters' baseline."""
        env = self.ctx.env
        yield env.timeout(self.ctx.t_start)
        now = env.now
        for ws in self.pods.wstats.values():
            for lv in (*ws.busy, *ws.queue):
                lv.reset(now)
        for sc in self.proxies():
            states = _states(sc)
            for cs in states.values():
                cs.ejections.reset(now)
            sc.counters_at_start = {k: v.c.as_dict() for k, v in states.items()}

    def close_window(self) -> None:
        """The last measured arrival happened: average the levels up to now."""
        now = self.ctx.env.now
        for key, ws in self.pods.wstats.items():
            self.level_means[key] = {
                "busy": sum(lv.mean(now) for lv in ws.busy),
                "queue": sum(lv.mean(now) for lv in ws.queue),
                # requests at the app = holding a worker + waiting for one (in_system == busy + queue)
                "in_system": sum(lv.mean(now) for lv in ws.busy) + sum(lv.mean(now) for lv in ws.queue),
            }
        self.eject_means = {
            (sc.id, name): cs.ejections.mean(now) for sc in self.proxies() for name, cs in _states(sc).items()
        }

    def result(self, replication: int, seed: int, in_flight: int, traces: list[Any]) -> RepResult:
        """The replication's statistics (``in_flight``: measured entry requests never answered)."""
        ctx = self.ctx
        sink: Recorder = ctx.sink
        res = RepResult(
            replication=replication,
            seed=seed,
            t_start=ctx.t_start,
            t_end=ctx.t_end,
            sim_time=ctx.env.now,
            entry_requests=sink.entry_requests,
            entry_success=sink.entry_success,
            entry_incomplete=in_flight,
            entry_latency=sink.entry_latency,
            entry_codes=dict(sorted(sink.entry_codes.items())),
            entry_batch_req=list(sink.batch_req),
            entry_batch_ok=list(sink.batch_ok),
            edges=dict(sorted(sink.edges.items())),
            calls=dict(sorted(sink.calls.items())),
        )
        self._workloads(res)
        self._clusters(res)
        res.observations = Observations(
            metrics=sink.metrics,
            traces=traces,
            proxies=dict(sorted(ctx.proxy_usage.items())),
            denied=dict(sorted(sink.denied.items())),
            replication=replication,
        )
        return res

    def _workloads(self, res: RepResult) -> None:
        window = self.ctx.model.load.duration
        for wl in self.ctx.model.workloads:
            ws = self.pods.wstats[wl.key]
            lv = self.level_means.get(wl.key, {"busy": 0.0, "queue": 0.0, "in_system": 0.0})
            res.workloads[wl.key] = {
                "replicas": wl.replicas,
                "concurrency": wl.concurrency if wl.concurrency is not None else 0,
                "arrivals": ws.arrivals,
                "errors": ws.errors,
                "arrival_rate": ws.arrivals / window,
                "waited": ws.waited,
                "wait_sum": ws.wait_sum,
                "residence_sum": ws.residence_sum,
                "busy": lv["busy"],
                "queue": lv["queue"],
                "in_system": lv["in_system"],
            }

    def _clusters(self, res: RepResult) -> None:
        proxies: list[Proxy] = self.proxies()
        start = {}
        for sc in proxies:
            start.update({(sc.id, k): v for k, v in sc.counters_at_start.items()})
        for sc in sorted(proxies, key=lambda r: r.id):
            states = _states(sc)
            for name in sorted(states):
                cs = states[name]
                now = cs.c.as_dict()
                before = start.get((sc.id, name), {})
                d: dict[str, float] = {k: v - before.get(k, 0) for k, v in now.items()}
                d["outlier_detection.ejections_active"] = self.eject_means.get((sc.id, name), 0.0)
                res.clusters[(sc.id, name)] = d


def _states(proxy: Any) -> dict[str, Any]:
    """The proxy's cluster states by cluster name: its outbound clusters and, for a sidecar, its inbound cluster
    (``inbound|<port>||``), whose ``upstream_rq_total`` counts the requests the pod's Envoy passed to its app, as
    Envoy's stats of the inbound cluster do on the real mesh."""
    inbound = getattr(proxy, "inbound", None)
    if inbound is None:
        return dict(proxy.states)
    return {**proxy.states, inbound.cluster.name: inbound}
