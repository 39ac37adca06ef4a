"""The pods of a run: one :class:`~meshsim.sim.replica.Replica` per endpoint, started at the beginning or by
a scale event (a HorizontalPodAutoscaler's or a Scenario's), killed by a kill event, and terminated when a
scale event removes them (:mod:`meshsim.model.rules.lifecycle`: the pod leaves the endpoints at once, keeps
answering what reaches it for ``min(terminationDrainDuration, terminationGracePeriodSeconds)``, then its
requests in flight are reset and it is gone)."""

from __future__ import annotations

from typing import Any

from meshsim.metrics.recorder import Level
from meshsim.metrics.tally import WorkloadStats
from meshsim.model.ir import MeshModel
from meshsim.model.rules.lifecycle import serving_for
from meshsim.sim.context import SimContext
from meshsim.sim.replica import Replica

__all__ = ["Pods"]


class Pods:
    """Every pod by endpoint id (``replicas``, the same dict as ``ctx.pods``), the per-workload statistics they
    add to (``wstats``) and the set of pods that are up, Ready and in the endpoints (``live``).

    ``starting`` holds the time each pod a HorizontalPodAutoscaler created becomes Ready (until then it is not
    live); ``terminating`` the deletion time of each pod a scale event removed (a later scale-up under the same
    name starts a new pod, as a ReplicaSet would create one)."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.replicas: dict[str, Replica] = ctx.pods
        self.wstats: dict[str, WorkloadStats] = {}
        self.starting: dict[str, float] = {}
        self.terminating: dict[str, float] = {}
        self.terminated: list[dict[str, Any]] = []
        """One entry per pod a scale event removed: ``pod``, ``deleted`` and ``gone`` (seconds), ``reset``
        (requests in flight when its sidecar stopped)."""
        model = ctx.model
        tl = model.timeline
        scaled = tl is not None and any(ev.action == "scale" for ev in tl.events)
        self._removable = {h.workload for h in model.autoscalers} | (
            {wl.key for s in model.services for wl in s.workloads} if scaled else set()
        )
        for svc in model.services:
            for wl in svc.workloads:
                ws = WorkloadStats(wl.replicas, 0.0)
                self.wstats[wl.key] = ws
                for r in range(wl.replicas):
                    eid = f"{wl.service}-{wl.version}-{r}"
                    self.replicas[eid] = self._new(wl, r, eid, ws)
        self.want: frozenset[str] = frozenset(self.replicas)
        self.live: frozenset[str] = self.want

    def _new(self, wl: Any, r: int, eid: str, ws: WorkloadStats) -> Replica:
        rep = Replica(self.ctx, wl, r, eid, ws)
        if wl.key in self._removable:  # a pod that may be deleted must be able to reset its requests in flight
            rep.serve = rep._serve_until_killed  # type: ignore[method-assign]
        return rep

    def scale_to(self, model: MeshModel) -> frozenset[str]:
        """Start the pods ``model`` has and this run does not (they serve at once, and are live once Ready);
        terminate the pods ``model`` no longer has. Returns the live pod set."""
        now = self.ctx.env.now
        want = frozenset(e.id for e in model.endpoints)
        for svc in model.services:
            for wl in svc.workloads:
                ws = self.wstats[wl.key]
                for r in range(wl.replicas):
                    eid = f"{wl.service}-{wl.version}-{r}"
                    if eid not in self.replicas or eid in self.terminating:
                        while len(ws.busy) <= r:
                            ws.busy.append(Level(now))
                            ws.queue.append(Level(now))
                        self.terminating.pop(eid, None)
                        self.replicas[eid] = self._new(wl, r, eid, ws)
        for eid, rep in self.replicas.items():
            if eid not in want and rep.alive and eid not in self.terminating:
                self._terminate(eid, rep, now)
        self.want = want
        return self.refresh()

    def refresh(self) -> frozenset[str]:
        """Recompute (and return) the live set: the wanted pods that are up and Ready now."""
        now = self.ctx.env.now
        reps, starting = self.replicas, self.starting
        self.live = frozenset(e for e in self.want if reps[e].alive and starting.get(e, now) <= now)
        return self.live

    def _terminate(self, eid: str, rep: Replica, now: float) -> None:
        self.terminating[eid] = now
        entry: dict[str, Any] = {"pod": eid, "deleted": now, "gone": None, "reset": 0}
        self.terminated.append(entry)

        def gone(_ev: Any) -> None:
            rep.alive = False
            entry["gone"] = self.ctx.env.now
            entry["reset"] = rep.reset_inflight()

        self.ctx.env.timeout(serving_for(rep.wl.lifecycle)).callbacks.append(gone)

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
