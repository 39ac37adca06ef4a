"""istiod's push pipeline (istiod's debounced pushes: pilot/pkg/xds/discovery.go, ``PILOT_DEBOUNCE_AFTER``/``PILOT_DEBOUNCE_MAX``): a change reaches istiod (config at once; endpoint changes
after the Kubernetes EndpointSlice delay), is debounced (``debounceAfter`` quiet, at most
``debounceMax``), then pushed: after ``pushInit``, proxies are pushed in a fixed order with at most
``pushThrottle`` at once, each applying its update ``propagation`` seconds after its push starts. Only
one push is in flight; a change arriving meanwhile waits for the next. Until a proxy applies an update
it routes by its old view, so sidecars disagree for a while and keep picking a dead pod until their
EDS drops it.
"""

from __future__ import annotations

import heapq
from typing import Any

from meshsim.model.ir import MeshModel
from meshsim.model.timeline import Timeline
from meshsim.sim.context import SimContext
from meshsim.sim.kernel import Gen
from meshsim.sim.load import LoadSource
from meshsim.sim.pods import Pods
from meshsim.sim.sampling import sampler

__all__ = ["ControlPlane"]


class ControlPlane:
    """istiod: debounce, then push to every proxy with per-proxy propagation delays."""

    def __init__(self, ctx: SimContext, timeline: Timeline, pods: Pods, load: LoadSource) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.pods = pods
        self.load = load
        self.cp = timeline.control_plane
        self.delay = sampler(self.cp.propagation, ctx.streams.generator("controlplane/propagation"))
        self.pending_config: MeshModel | None = None
        self.pending_eds: tuple[dict[str, tuple[str, ...]], frozenset[str]] | None = None
        self.pending_labels: list[str] = []
        self.debouncing = False
        self.first = 0.0
        self.last = 0.0
        self.busy_until = 0.0
        self.version = 0
        self.pushes: list[dict[str, Any]] = []

    def config_changed(self, model: MeshModel, label: str) -> None:
        """A VirtualService/DestinationRule change (or a canary weight edit) reached istiod now."""
        self.pending_config = model
        self._event(label)

    def endpoints_changed(self, model: MeshModel, known: frozenset[str], label: str) -> None:
        """An endpoint change: reaches istiod after the EndpointSlice delay."""

        def later() -> Gen:
            yield self.env.timeout(self.cp.endpoint_delay)
            self.pending_eds = ({c.name: c.endpoints for c in model.clusters}, known)
            self.load.set_entry_pods(known)  # kube-proxy follows the EndpointSlice directly
            self._event(label)

        self.env.process(later())

    def _event(self, label: str) -> None:
        now = self.env.now
        self.pending_labels.append(label)
        self.last = now
        if not self.debouncing:
            self.debouncing = True
            self.first = now
            self.env.process(self._debounce())

    def _debounce(self) -> Gen:
        cp = self.cp
        yield self.env.timeout(cp.debounce_after)
        while True:
            now = self.env.now
            quiet = now - self.last
            # (a tolerance: a float remainder below the clock's resolution would never advance time)
            if quiet >= cp.debounce_after - 1e-9 or now - self.first >= cp.debounce_max - 1e-9:
                if now < self.busy_until:  # one push at a time
                    yield self.env.timeout(self.busy_until - now)
                break
            yield self.env.timeout(cp.debounce_after - quiet)
        self.debouncing = False
        self._push()

    def _push(self) -> None:
        mesh = self.ctx.mesh
        replicas = self.pods.replicas
        cfg, eds = self.pending_config, self.pending_eds
        labels = self.pending_labels
        self.pending_config, self.pending_eds, self.pending_labels = None, None, []
        self.version += 1
        version = self.version
        # new pods start with what istiod knows now
        if cfg is not None:
            mesh.publish_config(cfg, version)
        if eds is not None:
            mesh.publish_eds(*eds)
        now = self.env.now
        start = now + self.cp.push_init
        slots = [start] * min(self.cp.push_throttle, max(1, len(replicas)))
        heapq.heapify(slots)
        finish_times = []
        for rid in sorted(replicas):
            sidecar = replicas[rid].sidecar
            s = heapq.heappop(slots)
            done = s + self.delay()
            heapq.heappush(slots, done)
            finish_times.append(done)
            self.env.timeout(done - now).callbacks.append(
                lambda _e, sc=sidecar, c=cfg, e=eds, v=version: _apply(sc, c, e, v)  # type: ignore[misc]
            )
        self.busy_until = max(finish_times, default=start)
        self.pushes.append(
            {
                "t": now,
                "version": version,
                "changes": labels,
                "first_applied": min(finish_times, default=start),
                "last_applied": self.busy_until,
                "proxies": len(finish_times),
            }
        )


def _apply(sidecar: Any, cfg: MeshModel | None, eds: Any, version: int) -> None:
    if cfg is not None and version > sidecar.config_version:
        sidecar.apply_config(cfg, version)
    if eds is not None:
        sidecar.apply_eds(eds[0], eds[1])
