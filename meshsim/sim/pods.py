"""The pods of a run: one :class:`~meshsim.sim.replica.Replica` per endpoint, started at the beginning
or by a scale event, killed by a kill event."""

from __future__ import annotations

from meshsim.metrics.recorder import Level
from meshsim.metrics.tally import WorkloadStats
from meshsim.model.ir import MeshModel
from meshsim.sim.context import SimContext
from meshsim.sim.replica import Replica

__all__ = ["Pods"]


class Pods:
    """Every pod by endpoint id (``replicas``, the same dict as ``ctx.pods``), the per-workload
    statistics they add to (``wstats``) and the set of pods that are up and in the endpoints (``live``)."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.replicas: dict[str, Replica] = ctx.pods
        self.wstats: dict[str, WorkloadStats] = {}
        for svc in ctx.model.services:
            for wl in svc.workloads:
                ws = WorkloadStats(wl.replicas, 0.0)
                self.wstats[wl.key] = ws
                for r in range(wl.replicas):
                    eid = f"{wl.service}-{wl.version}-{r}"
                    self.replicas[eid] = Replica(ctx, wl, r, eid, ws)
        self.live: frozenset[str] = frozenset(self.replicas)

    def scale_to(self, model: MeshModel) -> frozenset[str]:
        """Start the pods ``model`` has and this run does not (they serve at once); pods ``model``
        no longer has leave the endpoints but drain (they stay up). Returns the live pod set."""
        now = self.ctx.env.now
        want = {e.id for e in model.endpoints}
        for svc in model.services:
            for wl in svc.workloads:
                ws = self.wstats[wl.key]
                for r in range(wl.replicas):
                    eid = f"{wl.service}-{wl.version}-{r}"
                    if eid not in self.replicas:
                        while len(ws.busy) <= r:
                            ws.busy.append(Level(now))
                            ws.queue.append(Level(now))
                        self.replicas[eid] = Replica(self.ctx, wl, r, eid, ws)
        killed = {k for k, rep in self.replicas.items() if not rep.alive}
        self.live = frozenset(want - killed)
        return self.live

    def kill(self, pod: str) -> frozenset[str]:
        """The pod stops answering (connections to it fail), the requests it was serving are reset
        (:meth:`~meshsim.sim.replica.Replica.reset_inflight`), and it leaves the live set, which is returned."""
        rep = self.replicas.get(pod)
        if rep is not None:
            rep.alive = False
            rep.reset_inflight()
        self.live = frozenset(p for p in self.live if p != pod)
        return self.live

    def by_workload(self) -> dict[str, list[Replica]]:
        out: dict[str, list[Replica]] = {}
        for r in self.replicas.values():
            out.setdefault(r.wl.key, []).append(r)
        return out
