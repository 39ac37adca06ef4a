"""Changes during a run: istiod's push pipeline, scenario events, a Flagger-style canary controller,
and the per-interval time series they are judged by.

Control plane (reference §8.1): a change reaches istiod (config at once; endpoint changes after the
Kubernetes EndpointSlice delay), is debounced (``debounceAfter`` quiet, at most ``debounceMax``), then
pushed: after ``pushInit``, proxies are pushed in a fixed order with at most ``pushThrottle`` at once,
each applying its update ``propagation`` seconds after its push starts. Only one push is in flight; a
change arriving meanwhile waits for the next. Until a proxy applies an update it routes by its old
view, so sidecars disagree for a while and keep picking a dead pod until their EDS drops it.
"""

from __future__ import annotations

import heapq
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from meshsim.metrics.recorder import new_sketch
from meshsim.model.timeline import CanaryIR, Timeline, TimelineEvent
from meshsim.sim.sampling import sampler

if TYPE_CHECKING:
    from ddsketch import DDSketch

    from meshsim.model.ir import MeshModel
    from meshsim.sim.engine import Simulation

__all__ = ["Series", "ControlPlane", "ScenarioDriver", "CanaryController"]

Gen = Generator[Any, Any, Any]


class Series:
    """Per-interval counters: per workload requests, successes and a latency sketch (ms, measured at
    the pods as Istio's ``reporter=destination`` metrics are), entry requests/failures, the canary
    weight configured and the ejected hosts, in buckets of ``width`` seconds."""

    def __init__(self, width: float) -> None:
        self.width = width
        self.wl: dict[int, dict[str, list[Any]]] = {}
        self.entry: dict[int, list[Any]] = {}
        self.weight: dict[int, float] = {}
        self.ejected: dict[int, float] = {}
        self.queue: dict[int, dict[str, float]] = {}
        self.edges: dict[int, dict[tuple[str, str], list[int]]] = {}
        self.calls: dict[int, dict[tuple[str, str], list[int]]] = {}

    def add_edge(self, now: float, src: str, dst: str, attempts: int, retries: int) -> None:
        """A client-sidecar request from workload ``src`` to service ``dst`` finished with ``attempts``
        upstream tries (``retries`` of them sidecar retries)."""
        b = int(now / self.width)
        row = self.edges.setdefault(b, {}).get((src, dst))
        if row is None:
            row = self.edges[b][(src, dst)] = [0, 0]
        row[0] += 1
        row[1] += attempts

    def add_call(self, now: float, src: str, dst: str, tries: int) -> None:
        """An app-level call from ``src`` to ``dst`` finished after ``tries`` app-level tries."""
        b = int(now / self.width)
        row = self.calls.setdefault(b, {}).get((src, dst))
        if row is None:
            row = self.calls[b][(src, dst)] = [0, 0]
        row[0] += 1
        row[1] += tries

    def add(self, now: float, key: str, ok: bool, ms: float) -> None:
        b = int(now / self.width)
        row = self.wl.setdefault(b, {}).get(key)
        if row is None:
            row = self.wl[b][key] = [0, 0, new_sketch()]
        row[0] += 1
        if ok:
            row[1] += 1
        row[2].add(ms)

    def add_entry(self, now: float, ok: bool, ms: float) -> None:
        b = int(now / self.width)
        row = self.entry.get(b)
        if row is None:
            row = self.entry[b] = [0, 0, new_sketch()]
        row[0] += 1
        if ok:
            row[1] += 1
        row[2].add(ms)

    def window(self, keys: tuple[str, ...], t0: float, t1: float) -> tuple[int, int, DDSketch]:
        """Requests, successes and a merged latency sketch of ``keys`` in buckets within [t0, t1)."""
        n = ok = 0
        sk = new_sketch()
        for b in range(int(t0 / self.width + 1e-9), int(t1 / self.width + 1e-9)):
            rows = self.wl.get(b)
            if not rows:
                continue
            for k in keys:
                r = rows.get(k)
                if r is not None:
                    n += r[0]
                    ok += r[1]
                    sk.merge(r[2])
        return n, ok, sk


class ControlPlane:
    """istiod: debounce, then push to every proxy with per-proxy propagation delays."""

    def __init__(self, sim: Simulation, timeline: Timeline) -> None:
        self.sim = sim
        self.env = sim.env
        self.cp = timeline.control_plane
        self.delay = sampler(self.cp.propagation, sim.streams.generator("controlplane/propagation"))
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
            self.sim.set_entry_pods(known)  # kube-proxy follows the EndpointSlice directly
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
        sim = self.sim
        cfg, eds = self.pending_config, self.pending_eds
        labels = self.pending_labels
        self.pending_config, self.pending_eds, self.pending_labels = None, None, []
        self.version += 1
        version = self.version
        # new pods start with what istiod knows now
        if cfg is not None:
            sim.config_model = cfg
            sim.config_version = version
        if eds is not None:
            sim.eds_members, sim.eds_known = eds
        now = self.env.now
        start = now + self.cp.push_init
        slots = [start] * min(self.cp.push_throttle, max(1, len(sim.replicas)))
        heapq.heapify(slots)
        finish_times = []
        for rid in sorted(sim.replicas):
            sidecar = sim.replicas[rid].sidecar
            s = heapq.heappop(slots)
            done = s + self.delay()
            heapq.heappush(slots, done)
            finish_times.append(done)
            self.env.timeout(done - now).callbacks.append(
                lambda _e, sc=sidecar, c=cfg, e=eds, v=version: _apply(sc, c, e, v)  # type: ignore[misc]
            )
        self.busy_until = max(finish_times, default=start)
        self.pushes.append(
            {"t": now, "version": version, "changes": labels, "first_applied": min(finish_times, default=start),
             "last_applied": self.busy_until, "proxies": len(finish_times)}
        )


def _apply(sidecar: Any, cfg: MeshModel | None, eds: Any, version: int) -> None:
    if cfg is not None and version > sidecar.config_version:
        sidecar.apply_config(cfg, version)
    if eds is not None:
        sidecar.apply_eds(eds[0], eds[1])


class ScenarioDriver:
    """Plays the scenario's events at their times."""

    def __init__(self, sim: Simulation, timeline: Timeline, cp: ControlPlane) -> None:
        self.sim = sim
        self.env = sim.env
        self.tl = timeline
        self.cp = cp
        self.stage = 0
        self.weight: int | None = None
        self.applied: list[dict[str, Any]] = []

    def current_model(self) -> MeshModel:
        return self.tl.factory.model(self.stage, self.weight)

    def run(self) -> Gen:
        for ev in self.tl.events:
            if ev.at > self.env.now:
                yield self.env.timeout(ev.at - self.env.now)
            self._do(ev)

    def _do(self, ev: TimelineEvent) -> None:
        sim = self.sim
        self.applied.append({"t": self.env.now, "action": ev.action, "description": ev.description})
        if ev.action == "apply":
            self.stage = ev.stage
            self.cp.config_changed(self.current_model(), ev.description)
        elif ev.action == "scale":
            self.stage = ev.stage
            model = self.current_model()
            live = sim.scale_to(model)
            self.cp.config_changed(model, ev.description)
            self.cp.endpoints_changed(model, live, ev.description)
        elif ev.action == "kill":
            assert ev.pod is not None
            rep = sim.replicas.get(ev.pod)
            if rep is not None:
                rep.alive = False
            live = frozenset(p for p in sim.live_pods if p != ev.pod)
            sim.live_pods = live
            self.cp.endpoints_changed(self.current_model(), live, ev.description)
        elif ev.action in ("slow", "errors"):
            reps = [r for r in sim.replicas.values() if r.wl.key in ev.workloads]
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
        sim = self.sim
        assert ev.rate is not None
        before = sim.rate
        if ev.ramp:
            steps = 50
            for i in range(1, steps + 1):
                yield self.env.timeout(ev.ramp / steps)
                sim.rate = before + (ev.rate - before) * i / steps
            return
        sim.rate = ev.rate
        if ev.duration is not None:
            yield self.env.timeout(ev.duration)
            sim.rate = before

    def set_canary_weight(self, weight: int, label: str) -> None:
        self.weight = weight
        self.cp.config_changed(self.current_model(), label)


class CanaryController:
    """Flagger's analysis loop (prior-art §5): advance, halt, promote or roll back every interval."""

    def __init__(self, sim: Simulation, canary: CanaryIR, driver: ScenarioDriver) -> None:
        self.sim = sim
        self.env = sim.env
        self.c = canary
        self.driver = driver
        self.outcome = "in_progress"
        self.at: float | None = None
        self.failed = 0
        self.weights: list[tuple[float, int]] = []
        self.checks: list[dict[str, Any]] = []
        self.configured = 0

    def _set(self, w: int, why: str) -> None:
        self.configured = w
        self.weights.append((self.env.now, w))
        self.driver.set_canary_weight(w, f"canary {self.c.name}: {why}")

    def check(self) -> tuple[bool, str]:
        """All metrics over their windows ending now; no data fails (Flagger's 'no values found')."""
        now = self.env.now
        series = self.sim.series
        assert series is not None
        for name, lo, hi, window in self.c.metrics:
            n, ok, sk = series.window(self.c.canary_workloads, now - window, now)
            if n == 0:
                return False, f"no values found for {name}"
            if name == "request-success-rate":
                val = 100.0 * ok / n
                if lo is not None and val < lo:
                    return False, f"success rate {val:.2f}% < {lo:g}%"
                if hi is not None and val > hi:
                    return False, f"success rate {val:.2f}% > {hi:g}%"
            else:
                p99 = float(sk.get_quantile_value(0.99) or 0.0)
                if hi is not None and p99 > hi:
                    return False, f"request duration p99 {p99:.0f}ms > {hi:g}ms"
                if lo is not None and p99 < lo:
                    return False, f"request duration p99 {p99:.0f}ms < {lo:g}ms"
        return True, "all checks passed"

    def run(self) -> Gen:
        c = self.c
        if c.start > self.env.now:
            yield self.env.timeout(c.start - self.env.now)
        self._set(c.weights[0], f"advance canary weight {c.weights[0]}")
        i = 0
        while True:
            yield self.env.timeout(c.interval)
            ok, why = self.check()
            self.checks.append({"t": self.env.now, "passed": ok, "reason": why, "weight": self.configured})
            if not ok:
                self.failed += 1
                if self.failed >= c.threshold:
                    self._set(0, f"rolling back: failed checks threshold reached {self.failed}")
                    self.outcome, self.at = "rolled_back", self.env.now
                    return
                continue
            if i == len(c.weights) - 1:
                self._set(100, "promotion: routing all traffic to the new version")
                self.outcome, self.at = "promoted", self.env.now
                return
            i += 1
            self._set(c.weights[i], f"advance canary weight {c.weights[i]}")
