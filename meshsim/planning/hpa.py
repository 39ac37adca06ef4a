"""Capacity search over HorizontalPodAutoscaler settings: the cheapest ``minReplicas`` / target / ``maxReplicas``
of the config's HPAs meeting every SLO under the config's own load shape (its LoadProfile and Scenario: steady,
ramp or spike), for :func:`meshsim.planning.search.plan`'s question when replicas are not fixed.

Search (deterministic, at most ``max_points`` simulated points, every point the same seed and replications so
comparisons are paired):

1. **Target ladder at the configured floor.** Every HPA keeps its ``minReplicas``; its first metric's target
   (requests/s per pod, a Service's requests/s, or % CPU utilisation) is scaled by each factor of
   :data:`TARGET_FACTORS`, highest first (a higher target runs fewer pods): the first factor meeting every SLO is
   kept, and no lower one is tried (a lower target only adds pods).
2. **Raise the floor.** When no target meets the SLOs (a spike faster than the scale-up), ``minReplicas`` rises by
   one at a time (up to ``maxReplicas``) at the lowest target, then the ladder is walked again at the first
   floor that meets them.
3. **Cap.** ``maxReplicas`` of the answer is the most pods each HPA ran in any replication of the chosen point:
   the same run with no headroom to spare (the HPA never asked for more).

Cost of a point: the time-averaged pods of each HPA's target over the measured window (replications pooled), plus
the fixed pods of every other workload, each pod weighed by its CPU requests (app + ``istio-proxy``, cores) when
the CPU model is on and by ``vcpu_per_replica`` otherwise, plus the sidecars' vCPU per 1000 requests/s
(:data:`~meshsim.planning.search.SIDECAR_VCPU_PER_KRPS`), as :class:`~meshsim.planning.search.Cost` does.
Among the points meeting every SLO the cheapest wins (ties: the earlier point).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from meshsim.analysis.slo import Check, Criterion, SLOSet, validate_against
from meshsim.metrics.results import Summary
from meshsim.model.build import load_and_compile
from meshsim.model.ir import HPAIR, MeshModel
from meshsim.planning.points import TracedResult, pod_vcpu
from meshsim.planning.search import SIDECAR_VCPU_PER_KRPS, Progress, SimPoint, _worst, simulate_point

__all__ = ["TARGET_FACTORS", "HPASetting", "HPAPoint", "HPAPlan", "plan_hpa", "hpa_overrides"]

TARGET_FACTORS = (1.5, 1.25, 1.0, 0.75, 0.5)
"""Multipliers of each HPA's configured target the search tries, cheapest (highest target) first."""


@dataclass(frozen=True)
class HPASetting:
    """One HPA's settings at a point: ``target`` in the HPA's own unit (requests/s, or % utilisation)."""

    hpa: str
    min_replicas: int
    max_replicas: int
    target: float | None


@dataclass
class HPAPoint:
    """One simulated point: its settings, the SLO checks, the time-averaged and peak pods of each HPA target and
    the cost (vCPU)."""

    step: int
    action: str
    settings: list[HPASetting]
    ok: bool
    checks: list[Check]
    mean_pods: dict[str, float]
    peak_pods: dict[str, int]
    cost_vcpu: float
    digest: str

    def as_row(self) -> dict[str, Any]:
        worst, value = _worst(self.checks)
        row: dict[str, Any] = {"step": self.step, "phase": "simulation", "action": self.action, "ok": self.ok}
        for s in self.settings:
            row[f"{s.hpa}.minReplicas"] = s.min_replicas
            row[f"{s.hpa}.target"] = s.target
            row[f"{s.hpa}.mean_pods"] = self.mean_pods.get(s.hpa)
            row[f"{s.hpa}.peak_pods"] = self.peak_pods.get(s.hpa)
        row.update({"cost_vcpu": round(self.cost_vcpu, 4), "worst": worst, "worst_value": value})
        return row


@dataclass
class HPAPlan(TracedResult):
    """The answer of :func:`plan_hpa`: ``settings`` the chosen HPA settings (``maxReplicas`` = the pods the
    chosen point needed), ``configured`` the input's, ``checks`` at the chosen point, ``overrides`` the ``--set``
    assignments that realise it, ``trace`` every point, ``feasible`` False when none met every SLO."""

    settings: list[HPASetting]
    configured: list[HPASetting]
    feasible: bool
    checks: list[Check]
    cost_vcpu: float | None
    overrides: list[str]
    trace: list[HPAPoint]
    rate: float | None
    seed: int
    replications: int
    criterion: str
    digest: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (``plan.json``)."""
        return {
            "kind": "hpa",
            "feasible": self.feasible,
            "rate_rps": self.rate,
            "hpas": [s.__dict__ for s in self.settings],
            "configured": [s.__dict__ for s in self.configured],
            "overrides": self.overrides,
            "checks": [c.as_row() for c in self.checks],
            "cost_vcpu": self.cost_vcpu,
            "seed": self.seed,
            "replications": self.replications,
            "criterion": self.criterion,
            "config_digest": self.digest,
            "trace": [t.as_row() for t in self.trace],
            "notes": self.notes,
        }


def _target(h: HPAIR) -> float | None:
    """The first metric's target in the HPA's unit (None: no metric to tune)."""
    if not h.metrics:
        return None
    m = h.metrics[0]
    return float(m.target) if m.target_type == "Utilization" else m.target / 1000


def hpa_overrides(h: HPAIR, s: HPASetting) -> list[str]:
    """The ``--set`` assignments giving HPA ``h`` the settings ``s`` (the target on its first metric)."""
    pre = f"HorizontalPodAutoscaler/{h.name}.spec"
    out = [f"{pre}.minReplicas={s.min_replicas}", f"{pre}.maxReplicas={s.max_replicas}"]
    if s.target is not None and h.metrics:
        m = h.metrics[0]
        src = {"Pods": "pods", "Object": "object", "Resource": "resource"}[m.source]
        if m.target_type == "Utilization":
            out.append(f"{pre}.metrics[0].{src}.target.averageUtilization={max(1, round(s.target))}")
        else:
            field_ = "value" if m.target_type == "Value" else "averageValue"
            out.append(f"{pre}.metrics[0].{src}.target.{field_}={max(1, round(s.target * 1000))}m")
    return out


def _pods_over_time(summary: Summary, per_rep: Sequence[Summary]) -> tuple[dict[str, float], dict[str, int]]:
    """Time-averaged pods over the measured window (replications pooled) and the most pods, per HPA."""
    mean: dict[str, list[float]] = {}
    peak: dict[str, int] = {}
    for s in per_rep or [summary]:
        if s.scenario is None:
            continue
        t0, t1 = s.run.warmup_s, s.run.warmup_s + s.run.duration_s
        for a in s.scenario.autoscalers:
            pts = a.replicas
            area = 0.0
            for i, r in enumerate(pts):
                lo = max(t0, r.t_s)
                hi = min(t1, pts[i + 1].t_s if i + 1 < len(pts) else t1)
                area += max(0.0, hi - lo) * r.currentReplicas
            mean.setdefault(a.hpa, []).append(area / (t1 - t0) if t1 > t0 else 0.0)
            peak[a.hpa] = max(peak.get(a.hpa, 0), a.peak_replicas)
    return {k: round(sum(v) / len(v), 4) for k, v in mean.items()}, peak


def _cost(model: MeshModel, p: SimPoint, mean: dict[str, float], vcpu: float, k: float) -> float:
    by_hpa = {f"{h.namespace}/{h.name}": h.workload for h in model.autoscalers}
    scaled = {by_hpa[name]: pods for name, pods in mean.items() if name in by_hpa}
    pods = sum(scaled.get(w.key, w.replicas) * pod_vcpu(model, w.key, vcpu) for w in model.workloads)
    s = p.summary
    window = s.run.duration_s * s.run.replications
    krps = (sum(e.attempts for e in s.edges) / window + s.entry.throughput_rps / 2) / 1000
    return pods + k * krps


@dataclass
class _Search:
    """The search's inputs and its memo of simulated points."""

    paths: Sequence[str]
    base: list[str]
    slos: SLOSet
    model: MeshModel
    seed: int
    replications: int
    workers: int | None
    criterion: Criterion
    vcpu: float
    k: float
    say: Progress
    max_points: int
    trace: list[HPAPoint] = field(default_factory=list)
    memo: dict[tuple[Any, ...], HPAPoint] = field(default_factory=dict)

    def settings(self, factor: float, floor: int) -> list[HPASetting]:
        out = []
        for h in self.model.autoscalers:
            t = _target(h)
            lo = min(h.max_replicas, h.min_replicas + floor)
            out.append(HPASetting(f"{h.namespace}/{h.name}", lo, h.max_replicas, None if t is None else t * factor))
        return out

    def point(self, settings: list[HPASetting], action: str) -> HPAPoint | None:
        key = tuple((s.min_replicas, s.target) for s in settings)
        if key in self.memo:
            return self.memo[key]
        if len(self.trace) >= self.max_points:
            return None
        sets = [o for h, s in zip(self.model.autoscalers, settings, strict=True) for o in hpa_overrides(h, s)]
        p = simulate_point(
            self.paths, self.base + sets, self.slos, self.seed, self.replications, self.workers, self.criterion
        )
        mean, peak = _pods_over_time(p.summary, p.per_rep)
        pt = HPAPoint(
            len(self.trace),
            action,
            settings,
            p.ok,
            p.checks,
            mean,
            peak,
            _cost(self.model, p, mean, self.vcpu, self.k),
            p.digest,
        )
        self.trace.append(pt)
        self.memo[key] = pt
        self.say(
            f"{action}: {'ok' if p.ok else 'violates ' + _worst(p.checks)[0]}, {pt.cost_vcpu:.2f} vCPU ({p.wall_s:.1f}s)"
        )
        return pt

    def ladder(self, floor: int) -> HPAPoint | None:
        """The highest target factor meeting every SLO at ``floor`` extra pods of minReplicas (None: none)."""
        for f in TARGET_FACTORS:
            pt = self.point(self.settings(f, floor), f"minReplicas +{floor}, target x{f:g}")
            if pt is not None and pt.ok:
                return pt
        return None


def plan_hpa(
    paths: Sequence[str],
    slos: SLOSet,
    overrides: Sequence[str] = (),
    rate: float | None = None,
    seed: int = 1,
    replications: int = 4,
    workers: int | None = None,
    criterion: Criterion = "ci",
    vcpu_per_replica: float = 1.0,
    sidecar_vcpu_per_krps: float = SIDECAR_VCPU_PER_KRPS,
    max_points: int = 12,
    progress: Progress | None = None,
) -> HPAPlan:
    """The cheapest HPA settings meeting every objective of ``slos`` (module docstring); arguments as for
    :func:`meshsim.planning.search.plan`, ``max_points`` the simulated points allowed.

    Raises
    ------
    meshsim.errors.ConfigError
        On bad input, SLO objectives that do not fit the mesh, or an override the loader rejects.
    """
    base = list(overrides) + ([f"LoadProfile.spec.rate={rate}"] if rate is not None else [])
    model, _ = load_and_compile(list(paths), base)
    validate_against(slos, model)
    s = _Search(
        paths,
        base,
        slos,
        model,
        seed,
        replications,
        workers,
        criterion,
        vcpu_per_replica,
        sidecar_vcpu_per_krps,
        progress or (lambda _m: None),
        max_points,
    )
    best = s.ladder(0)
    floor = 0
    room = max((h.max_replicas - h.min_replicas for h in model.autoscalers), default=0)
    while best is None and floor < room and len(s.trace) < max_points:
        floor += 1
        pt = s.point(s.settings(TARGET_FACTORS[-1], floor), f"minReplicas +{floor}, target x{TARGET_FACTORS[-1]:g}")
        if pt is not None and pt.ok:
            best = s.ladder(floor)
    ok = [t for t in s.trace if t.ok]
    chosen = min(ok, key=lambda t: (t.cost_vcpu, t.step)) if ok else None
    notes = [] if chosen else [f"no HPA setting met every SLO within {len(s.trace)} simulated points"]
    settings = (
        []
        if chosen is None
        else [
            HPASetting(
                x.hpa, x.min_replicas, max(x.min_replicas, chosen.peak_pods.get(x.hpa, x.max_replicas)), x.target
            )
            for x in chosen.settings
        ]
    )
    return HPAPlan(
        settings=settings,
        configured=s.settings(1.0, 0),
        feasible=chosen is not None,
        checks=chosen.checks if chosen else (s.trace[-1].checks if s.trace else []),
        cost_vcpu=chosen.cost_vcpu if chosen else None,
        overrides=[o for h, x in zip(model.autoscalers, settings, strict=True) for o in hpa_overrides(h, x)],
        trace=s.trace,
        rate=model.load.rate,
        seed=seed,
        replications=replications,
        criterion=criterion,
        digest=chosen.digest if chosen else model.digest,
        notes=notes,
    )
