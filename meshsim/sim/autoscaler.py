"""HorizontalPodAutoscalers in the simulator: every sync period, read each pod's metric, reconcile with
kube-controller-manager's arithmetic (:mod:`meshsim.model.rules.hpa`), and scale the target Deployment.

A pod's metric is its inbound request rate (requests/s through its sidecar's inbound cluster,
``upstream_rq_total``) over the last ``metric_window_s``: a pod Ready for less than that has no sample
(the controller's *missing* pods) and a pod not yet Ready is *unready*. A CPU metric is the CPU model's
usage of the pod's containers (app and ``istio-proxy``, summed as metrics-server does) over the same window,
against their summed requests, with ``groupPods``' CPU rules (a pod Ready for less than a window within the
CPU initialisation period is unready). A scale-up creates the new pods at
once; their containers start ``startup_s`` later and each turns Ready at its readiness probe's first counted
success after that (:func:`~meshsim.model.rules.lifecycle.ready_after`), and only then is published to the
control plane, which adds the EndpointSlice delay, the debounce and the push before sidecars route to it. A
scale-down deletes the highest-numbered pods: they leave the endpoints at once and terminate
(:class:`~meshsim.sim.pods.Pods`; the controller ignores pods being deleted, as ``groupPods`` does).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from meshsim.model.ir import HPAIR, HPAMetricIR
from meshsim.model.rules.cpu import milli_cpu
from meshsim.model.rules.hpa import (
    HPAHistory,
    NoMetrics,
    PodSample,
    Proposal,
    group_pod,
    object_average_value_replicas,
    object_value_replicas,
    plain_metric_replicas,
    reconcile,
    resource_utilization_replicas,
)
from meshsim.model.rules.lifecycle import ready_after
from meshsim.sim.context import SimContext
from meshsim.sim.control_plane import ControlPlane
from meshsim.sim.kernel import Gen
from meshsim.sim.pods import Pods
from meshsim.sim.scenario import ScenarioDriver

__all__ = ["Autoscaler"]


class Autoscaler:
    """One HPA. ``decisions`` lists every sync: time, current and desired replicas, Ready pods, and each
    metric's value (requests/s; per pod for ``Pods``/``AverageValue``) and target."""

    def __init__(self, ctx: SimContext, hpa: HPAIR, driver: ScenarioDriver, cp: ControlPlane, pods: Pods) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.hpa = hpa
        self.driver = driver
        self.cp = cp
        self.pods = pods
        self.history = HPAHistory()
        self.current = next(w.replicas for s in ctx.model.services for w in s.workloads if w.key == hpa.workload)
        # pods running before the run started are long Ready (their CPU samples are not in the initialisation period)
        self.ready_at: dict[str, float] = {self._pod(i): -1e9 for i in range(self.current)}
        self.created_at: dict[str, float] = {self._pod(i): -1e9 for i in range(self.current)}
        self.snapshots: deque[tuple[float, dict[str, int], dict[str, float]]] = deque()
        self.decisions: list[dict[str, Any]] = []
        self.steps: list[tuple[float, int, int, int]] = []
        """(t, desiredReplicas, currentReplicas, readyReplicas) at every change (syncs and Ready transitions)."""
        self.scalings: list[dict[str, Any]] = []
        """Every scale: ``decided``, ``from``, ``to``; a scale-up also ``ready`` (its pods' Ready time) and
        ``label`` (the control-plane change that publishes them)."""
        self.desired = self.current
        wl = next(w for s in ctx.model.services for w in s.workloads if w.key == hpa.workload)
        reqs = (wl.app_cpu.request_cores, wl.proxy_cpu.request_cores)
        self.request_milli = sum(milli_cpu(r) for r in reqs if r is not None)
        """The pod's CPU request, milli-cores, all containers (the HPA's utilisation denominator)."""
        self.ready_delay = ready_after(hpa.startup_s, wl.lifecycle)
        """Seconds from a scale-up until its new pods are Ready."""

    def _pod(self, i: int) -> str:
        return f"{self.hpa.service}-{self.hpa.version}-{i}"

    def run(self) -> Gen:
        """The sync loop: a reconcile at t = 0 and every ``sync_s`` after (the controller re-queues each HPA one
        sync period after its last reconcile)."""
        while True:
            self._sync()
            yield self.env.timeout(self.hpa.sync_s)

    # ------------------------------------------------------------------ metrics
    def _counts(self) -> dict[str, int]:
        return {pid: rep.sidecar.inbound.c.upstream_rq_total for pid, rep in self.pods.replicas.items()}

    def _cpu(self) -> dict[str, float]:
        """CPU seconds each of the target's pods has used (``cpuacct.usage`` of its app and ``istio-proxy``
        containers: metrics-server sums a pod's containers); empty when the CPU model is off."""
        if not self.ctx.cpu_on:
            return {}
        prefix = f"{self.hpa.service}-{self.hpa.version}-"
        out: dict[str, float] = {}
        for (pod, _name), c in self.ctx.containers.items():
            if pod.startswith(prefix):
                out[pod] = out.get(pod, 0.0) + c.stat()[0]
        return out

    def _base(self, now: float) -> tuple[float, dict[str, int], dict[str, float]] | None:
        """The newest snapshot at least one metric window old (None before the first full window)."""
        cutoff = now - self.hpa.metric_window_s + 1e-9
        while len(self.snapshots) > 1 and self.snapshots[1][0] <= cutoff:
            self.snapshots.popleft()
        if self.snapshots and self.snapshots[0][0] <= cutoff:
            return self.snapshots[0]
        return None

    def _cpu_samples(self, now: float, cpu: dict[str, float], base: Any) -> list[PodSample]:
        """Each pod's CPU over the window (milli-cores) and request, grouped as ``groupPods`` does for CPU:
        a pod not Ready, or Ready for less than one metric window within the CPU initialisation period, is
        unready; one without a sample is missing."""
        out = []
        w = self.hpa.metric_window_s
        for i in range(self.current):
            pid = self._pod(i)
            ready = self.ready_at.get(pid, now)
            has = base is not None and pid in base[2] and pid in cpu
            state = group_pod(
                now=now,
                has_metric=has,
                ready=ready <= now,
                start_time=self.created_at.get(pid, now),
                ready_transition=ready,
                metric_window=w,
            )
            value = None
            if state == "ready":
                assert base is not None
                value = int((cpu[pid] - base[2][pid]) / (now - base[0]) * 1000)
            out.append(PodSample(pid, state, value, self.request_milli))
        return out

    def _samples(self, now: float, counts: dict[str, int], base: Any) -> list[PodSample]:
        out = []
        for i in range(self.current):
            pid = self._pod(i)
            ready = self.ready_at.get(pid, now)
            if ready > now:
                out.append(PodSample(pid, "unready"))
            elif base is None or ready > base[0] or pid not in base[1]:
                out.append(PodSample(pid, "missing"))
            else:
                rate = (counts[pid] - base[1][pid]) / (now - base[0])
                out.append(PodSample(pid, "ready", int(rate * 1000)))
        return out

    def _service_rate(self, service: str, counts: dict[str, int], base: Any) -> int:
        if base is None:
            raise NoMetrics(f"no {service} request rate yet (less than one metric window)")
        now = self.env.now
        total = sum(
            counts[pid] - base[1].get(pid, 0) for pid, rep in self.pods.replicas.items() if rep.wl.service == service
        )
        return int(total / (now - base[0]) * 1000)

    def _proposal(
        self,
        m: HPAMetricIR,
        samples: list[PodSample],
        counts: dict[str, int],
        base: Any,
        up: float,
        down: float,
        cpu: list[PodSample],
    ) -> Proposal:
        if m.source == "Resource":
            if not self.ctx.cpu_on:
                raise NoMetrics("container CPU is not observed by this simulation (the CPU model is off)")
            if m.target_type == "Utilization":
                return resource_utilization_replicas(self.current, cpu, m.target, up, down)
            return plain_metric_replicas(self.current, cpu, m.target, up, down)
        if m.source == "Pods":
            return plain_metric_replicas(self.current, samples, m.target, up, down)
        if m.source == "Object":
            usage = self._service_rate(m.name, counts, base)
            if m.target_type == "Value":
                ready = sum(1 for s in samples if s.state != "unready")
                return object_value_replicas(self.current, usage, m.target, ready, up, down)
            return object_average_value_replicas(self.current, usage, m.target, up, down)
        raise NoMetrics(f"unknown metric source {m.source}")

    # ------------------------------------------------------------------ reconcile
    def _sync(self) -> None:
        now = self.env.now
        hpa = self.hpa
        counts = self._counts()
        cpu_now = self._cpu()
        self.snapshots.append((now, counts, cpu_now))
        base = self._base(now)
        samples = self._samples(now, counts, base)
        cpu = self._cpu_samples(now, cpu_now, base) if self.ctx.cpu_on else []
        b = hpa.behavior
        up, down = (b.scale_up.tolerance, b.scale_down.tolerance) if b is not None else (hpa.tolerance, hpa.tolerance)
        proposals: list[int | None] = []
        shown: list[dict[str, Any]] = []
        for m in hpa.metrics:
            try:
                p = self._proposal(m, samples, counts, base, up, down, cpu)
                proposals.append(p.replicas)
                if m.target_type == "Utilization":  # the HPA shows utilisation in percent of requests
                    shown.append({"metric": m.name, "value": float(p.utilization or 0), "target": float(m.target)})
                else:
                    shown.append({"metric": m.name, "value": p.average / 1000, "target": m.target / 1000})
            except NoMetrics as exc:
                proposals.append(None)
                target = float(m.target) if m.target_type == "Utilization" else m.target / 1000
                shown.append({"metric": m.name, "value": None, "target": target, "error": str(exc)})
        desired = reconcile(
            self.history,
            now=now,
            current=self.current,
            min_replicas=hpa.min_replicas,
            max_replicas=hpa.max_replicas,
            proposals=proposals,
            behavior=b,
            downscale_window_s=hpa.downscale_window_s,
        )
        self.decisions.append(
            {
                "t": now,
                "hpa": f"{hpa.namespace}/{hpa.name}",
                "workload": hpa.workload,
                "current": self.current,
                "recommendation": max((p for p in proposals if p is not None), default=None),
                "desired": desired,
                "ready": sum(1 for s in samples if s.state != "unready"),
                "metrics": shown,
            }
        )
        self.desired = desired
        if desired != self.current:
            self._scale(desired)
        self._record()

    def _record(self) -> None:
        now = self.env.now
        ready = sum(1 for i in range(self.current) if self.ready_at.get(self._pod(i), now) <= now)
        step = (now, self.desired, self.current, ready)
        if not self.steps or self.steps[-1][1:] != step[1:]:
            self.steps.append(step)

    def _scale(self, desired: int) -> None:
        hpa = self.hpa
        now = self.env.now
        label = f"HPA {hpa.name}: {hpa.workload} {self.current} -> {desired}"
        before = self.current
        self.current = desired
        self.driver.replicas[(hpa.service, hpa.version)] = desired
        if desired > before:
            for i in range(before, desired):
                pid = self._pod(i)
                self.created_at[pid] = now
                self.ready_at[pid] = self.pods.starting[pid] = now + self.ready_delay
            self.pods.scale_to(self.driver.current_model())
            self.env.process(self._publish_later(self.ready_delay, label))
            ready = now + self.ready_delay
            self.scalings.append({"decided": now, "from": before, "to": desired, "ready": ready, "label": label})
        else:
            for i in range(desired, before):
                self.ready_at.pop(self._pod(i), None)
                self.created_at.pop(self._pod(i), None)
                self.pods.starting.pop(self._pod(i), None)
            self.pods.scale_to(self.driver.current_model())
            self._publish(label)
            self.scalings.append({"decided": now, "from": before, "to": desired})

    def _publish_later(self, delay: float, label: str) -> Gen:
        yield self.env.timeout(delay)
        self._publish(label + " (Ready)")
        self._record()

    def report(self) -> dict[str, Any]:
        """What the run's summary shows of this HPA: its replica steps, and each scale with, for a scale-up, the
        time the last sidecar applied the push carrying its Ready pods (``routable``; None if not in the run)
        and for a scale-down the sync from which every recommendation was at or below its target
        (``recommended``: the stabilisation window's wait ends at ``decided``)."""
        out = []
        for sc in self.scalings:
            sc = dict(sc)
            if sc["to"] > sc["from"]:
                label = sc.pop("label") + " (Ready)"
                eds_at = sc["ready"] + self.cp.cp.endpoint_delay  # the push with the endpoints, not the config
                pushes = (p for p in self.cp.pushes if label in p["changes"] and p["t"] >= eds_at - 1e-9)
                sc["routable"] = next((p["last_applied"] for p in pushes), None)
            else:
                since = sc["decided"]
                for d in reversed([d for d in self.decisions if d["t"] <= sc["decided"]]):
                    if d["recommendation"] is None or d["recommendation"] > sc["to"]:
                        break
                    since = d["t"]
                sc["recommended"] = since
            out.append(sc)
        hpa = self.hpa
        return {
            "hpa": f"{hpa.namespace}/{hpa.name}",
            "workload": hpa.workload,
            "min": hpa.min_replicas,
            "max": hpa.max_replicas,
            "steps": self.steps,
            "scalings": out,
        }

    def _publish(self, label: str) -> None:
        """Tell the control plane the current model and the pods that are Ready (starting ones held back)."""
        model = self.driver.current_model()
        self.cp.config_changed(model, label)
        self.cp.endpoints_changed(model, self.pods.refresh(), label)
