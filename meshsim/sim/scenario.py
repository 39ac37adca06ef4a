"""Scenario events played at their times: ``apply`` a config, ``scale`` a version, ``kill`` a pod,
``slow`` a service or raise its ``errors`` (for a duration), change the ``load``. Config and endpoint
changes go through :class:`~meshsim.sim.control_plane.ControlPlane`."""

from __future__ import annotations

from typing import Any

from meshsim.model.ir import MeshModel
from meshsim.model.timeline import Timeline, TimelineEvent
from meshsim.sim.context import SimContext
from meshsim.sim.control_plane import ControlPlane
from meshsim.sim.kernel import Gen
from meshsim.sim.load import LoadSource
from meshsim.sim.pods import Pods

__all__ = ["ScenarioDriver"]


class ScenarioDriver:
    """Plays the scenario's events at their times."""

    def __init__(self, ctx: SimContext, timeline: Timeline, cp: ControlPlane, pods: Pods, load: LoadSource) -> None:
        self.env = ctx.env
        self.pods = pods
        self.load = load
        self.tl = timeline
        self.cp = cp
        self.stage = 0
        self.weight: int | None = None
        self.replicas: dict[tuple[str, str], int] = {}
        """Replica counts set by HorizontalPodAutoscalers, by (service, version), on top of every stage."""
        self.applied: list[dict[str, Any]] = []

    def current_model(self) -> MeshModel:
        return self.tl.factory.model(
            self.stage, self.weight, tuple((s, v, n) for (s, v), n in sorted(self.replicas.items()))
        )

    def run(self) -> Gen:
        for ev in self.tl.events:
            if ev.at > self.env.now:
                yield self.env.timeout(ev.at - self.env.now)
            self._do(ev)

    def _do(self, ev: TimelineEvent) -> None:
        pods = self.pods
        self.applied.append({"t": self.env.now, "action": ev.action, "description": ev.description})
        if ev.action == "apply":
            self.stage = ev.stage
            self.cp.config_changed(self.current_model(), ev.description)
        elif ev.action == "scale":
            self.stage = ev.stage
            model = self.current_model()
            live = pods.scale_to(model)
            self.cp.config_changed(model, ev.description)
            self.cp.endpoints_changed(model, live, ev.description)
        elif ev.action == "kill":
            assert ev.pod is not None
            live = pods.kill(ev.pod)
            self.cp.endpoints_changed(self.current_model(), live, ev.description)
        elif ev.action in ("slow", "errors"):
            reps = [r for r in pods.replicas.values() if r.wl.key in ev.workloads]
            for r in reps:
                if ev.action == "slow":
                    r.slow = ev.factor
                else:
                    r.err_rate = ev.rate or 0.0
                    if ev.status is not None:
                        r.err_status = ev.status
            if ev.duration is not None:
                self.env.process(self._revert(reps, ev))
        elif ev.action == "load":
            self.env.process(self._load(ev))

    def _revert(self, reps: list[Any], ev: TimelineEvent) -> Gen:
        assert ev.duration is not None
        yield self.env.timeout(ev.duration)
        for r in reps:
            if ev.action == "slow":
                r.slow = 1.0
            else:
                r.err_rate = r.wl.error_rate
                r.err_status = r.wl.error_status

    def _load(self, ev: TimelineEvent) -> Gen:
        load = self.load
        assert ev.rate is not None
        before = load.rate
        if ev.ramp:
            steps = 50
            for i in range(1, steps + 1):
                yield self.env.timeout(ev.ramp / steps)
                load.rate = before + (ev.rate - before) * i / steps
            return
        load.rate = ev.rate
        if ev.duration is not None:
            yield self.env.timeout(ev.duration)
            load.rate = before

    def set_canary_weight(self, weight: int, label: str) -> None:
        self.weight = weight
        self.cp.config_changed(self.current_model(), label)
