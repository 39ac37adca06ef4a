"""Capacity search: the fewest replicas per workload such that every SLO holds (the highest load a
config sustains within its SLOs is :mod:`meshsim.planning.max_load`).

Method (after pyworkforce's ``ErlangC.required_positions``):

1. **Analytic lower bound** (:func:`meshsim.model.analytic.analyze`, milliseconds per point): start every
   planned workload at 1 replica, raise each to its stability bound (utilisation < 1), then add one
   replica at a time where it most reduces the SLO excess until the analytic model meets every SLO.
2. **Simulation** with common random numbers: simulate that plan; while an SLO fails, add a replica to
   the workload with the highest simulated utilisation; then try one replica fewer on each planned
   workload (the same seed and replications, so each comparison is paired) and accept any that still
   meets every SLO, until no single removal does. So the returned plan is locally minimal *in
   simulation*: the trace shows, for every planned workload, the run with one replica fewer and the
   objective it broke (with the paired difference and its CI).

Planned workloads are those with a bounded ``concurrency`` that receive traffic; others keep their
configured replicas (unbounded workers never queue, so replicas do not change their latency). Replica
changes are ``--set`` overrides (``MockServiceGraph.services[name=S].versions.V.replicas=N``), so every
point is re-validated by the loader exactly as a user's own ``--set`` would be.

A config with HorizontalPodAutoscalers has no fixed replicas to plan for its scaled workloads: ``meshsim plan``
then searches the HPAs' ``minReplicas`` / target / ``maxReplicas`` under the config's load shape instead
(:mod:`meshsim.planning.hpa`: a target ladder, then a higher floor, costed by time-averaged pods).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from meshsim.analysis.slo import (
    Check,
    Criterion,
    SLOSet,
    all_ok,
    evaluate_analytic,
    validate_against,
    violation,
)
from meshsim.metrics.results import Estimate
from meshsim.model.analytic import NetworkEstimate, analyze
from meshsim.model.build import load_and_compile
from meshsim.model.ir import MeshModel
from meshsim.planning.points import (
    SIDECAR_VCPU_PER_KRPS,
    Cost,
    Paired,
    Progress,
    SimPoint,
    TracedResult,
    TraceStep,
    _cost,
    _frame,
    _sim_cost,
    _worst,
    paired_difference,
    replica_override,
    requests_cost,
    simulate_point,
)

__all__ = [
    "SIDECAR_VCPU_PER_KRPS",
    "Progress",
    "SimPoint",
    "Paired",
    "TraceStep",
    "Cost",
    "Plan",
    "replica_override",
    "simulate_point",
    "paired_difference",
    "analytic_plan",
    "plan",
]


@dataclass
class Plan(TracedResult):
    """The answer of :func:`plan`.

    ``replicas`` per planned workload (``service.version``), ``configured`` the replicas the input
    had, ``analytic`` the analytic lower bound the simulation started from; ``checks`` the achieved
    SLO metrics at the plan with 95% CIs; ``utilization`` simulated per workload (Estimates);
    ``cost`` in vCPU; ``overrides`` the ``--set`` assignments that realise the plan; ``trace`` every
    point evaluated; ``feasible`` False when no plan within ``max_steps`` met the SLOs.
    """

    replicas: dict[str, int]
    configured: dict[str, int]
    analytic: dict[str, int]
    feasible: bool
    checks: list[Check]
    utilization: dict[str, Estimate | None]
    cost: Cost | None
    overrides: list[str]
    trace: list[TraceStep]
    rate: float | None
    seed: int
    replications: int
    criterion: str
    digest: str = ""
    analytic_estimate: NetworkEstimate | None = None
    notes: list[str] = field(default_factory=list)
    simulated: bool = True

    @property
    def bottleneck(self) -> str | None:
        """The planned workload with the highest simulated (else analytic) utilisation."""
        u = {
            k: (e.value if e is not None and e.value is not None else -1.0)
            for k, e in self.utilization.items()
            if k in self.replicas
        }
        if not u and self.analytic_estimate is not None:
            u = {w.key: w.utilization or 0.0 for w in self.analytic_estimate.workloads if w.key in self.replicas}
        return max(u, key=lambda k: u[k]) if u else None

    def to_frame(self) -> Any:
        """One row per planned workload: configured, analytic bound, plan, utilisation (with CI)."""
        rows = []
        for k in sorted(self.replicas):
            u = self.utilization.get(k)
            rows.append(
                {
                    "workload": k,
                    "configured": self.configured.get(k),
                    "analytic_bound": self.analytic.get(k),
                    "plan": self.replicas[k],
                    "utilization": u.value if u is not None else None,
                    "utilization_ci_low": u.ci_low if u is not None else None,
                    "utilization_ci_high": u.ci_high if u is not None else None,
                }
            )
        return _frame(rows).set_index("workload") if rows else _frame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (``plan.json``)."""
        return {
            "feasible": self.feasible,
            "rate_rps": self.rate,
            "replicas": self.replicas,
            "configured": self.configured,
            "analytic_bound": self.analytic,
            "bottleneck": self.bottleneck,
            "overrides": self.overrides,
            "checks": [c.as_row() for c in self.checks],
            "utilization": {k: (e.model_dump() if e is not None else None) for k, e in self.utilization.items()},
            "cost": None if self.cost is None else {**self.cost.__dict__, "total_vcpu": self.cost.total_vcpu},
            "seed": self.seed,
            "replications": self.replications,
            "criterion": self.criterion,
            "simulated": self.simulated,
            "config_digest": self.digest,
            "trace": [t.as_row() for t in self.trace],
            "notes": self.notes,
        }

    def _repr_html_(self) -> str:
        cost = f", cost {self.cost.total_vcpu:.2f} vCPU" if self.cost is not None else ""
        head = f"<p><b>plan</b> at {self.rate:g} req/s: {'feasible' if self.feasible else 'NOT feasible'}{cost}</p>"
        return (
            head
            + str(self.to_frame().to_html())
            + str(self.checks_frame().to_html())
            + str(self.trace_frame().to_html())
        )


def _analytic_checks(
    slos: SLOSet, model: MeshModel, x: dict[str, int], samples: int
) -> tuple[NetworkEstimate, list[Check]]:
    est = analyze(model, replicas=x, samples=samples, seed=7)
    return est, evaluate_analytic(slos, est)


def analytic_plan(
    model: MeshModel, slos: SLOSet, planned: Sequence[str], max_steps: int = 200, samples: int = 8000
) -> tuple[dict[str, int], list[TraceStep], bool, NetworkEstimate]:
    """Analytic phase: stability bound, then greedy +1 where the SLO excess falls most.

    Returns ``(replicas, trace, feasible, estimate)``; ``feasible`` is False when adding replicas stops
    reducing the excess (e.g. a success-rate objective that replicas cannot fix).

    Raises
    ------
    ValueError
        From :func:`~meshsim.model.analytic.analyze` (closed-loop load, a cyclic call graph).
    """
    x = dict.fromkeys(planned, 1)
    trace: list[TraceStep] = []
    for _ in range(1000):
        est = analyze(model, replicas=x, samples=0)
        grew = False
        for w in est.workloads:
            if w.key in x and w.utilization is not None and w.utilization >= 1.0:
                x[w.key] = max(x[w.key] + 1, math.ceil(x[w.key] * w.utilization / 0.98))
                grew = True
        if not grew:
            break
    est, checks = _analytic_checks(slos, model, x, samples)
    worst, wv = _worst(checks)
    trace.append(
        TraceStep(0, "analytic", dict(x), "stability bound (every utilisation < 1)", all_ok(checks), worst, wv)
    )
    score = violation(checks)
    for step in range(1, max_steps + 1):
        if all_ok(checks):
            return x, trace, True, est
        best: tuple[float, float, str] | None = None
        for v in planned:
            y = {**x, v: x[v] + 1}
            _, cy = _analytic_checks(slos, model, y, samples)
            util = next((w.utilization or 0.0 for w in est.workloads if w.key == v), 0.0)
            cand = (violation(cy), -util, v)
            if best is None or cand < best:
                best = cand
        if best is None or best[0] >= score - 1e-12:
            trace.append(
                TraceStep(step, "analytic", dict(x), "no single extra replica reduces the excess", False, worst, wv)
            )
            return x, trace, False, est
        v = best[2]
        x[v] += 1
        est, checks = _analytic_checks(slos, model, x, samples)
        score = violation(checks)
        worst, wv = _worst(checks)
        trace.append(
            TraceStep(step, "analytic", dict(x), f"+1 {v} (largest drop in SLO excess)", all_ok(checks), worst, wv)
        )
    return x, trace, all_ok(checks), est


def plan(
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
    max_steps: int = 30,
    simulate: bool = True,
    progress: Progress | None = None,
) -> Plan:
    """The fewest replicas per workload such that every objective in ``slos`` holds (module docstring).

    Parameters
    ----------
    paths, overrides:
        The mesh, as for ``meshsim run`` (``--set`` assignments applied first).
    rate:
        Entry rate in requests/s (default: the LoadProfile's).
    seed, replications, workers:
        Simulation settings; every point uses the same seed and replications (paired comparisons).
    criterion:
        ``ci`` (the 95% CI must lie within each objective) or ``point``.
    vcpu_per_replica, sidecar_vcpu_per_krps:
        Cost model (vCPU per pod; sidecar vCPU per 1000 requests/s over a call's two proxies).
    max_steps:
        Simulated points allowed for the upward search.
    simulate:
        False returns the analytic plan only (the pre-screen, well under a second).

    Raises
    ------
    meshsim.errors.ConfigError
        On bad input, SLO objectives that do not fit the mesh, or an override the loader rejects.
    """
    say = progress or (lambda _m: None)
    base = list(overrides) + ([f"LoadProfile.spec.rate={rate}"] if rate is not None else [])
    model, _ = load_and_compile(list(paths), base)
    validate_against(slos, model)
    configured = {w.key: w.replicas for w in model.workloads}
    notes: list[str] = []
    planned, x_a, trace, est, est0 = _analytic_start(model, slos, configured, notes, say)
    if not simulate:
        return _analytic_only(
            model, slos, planned, x_a, configured, trace, est0, notes, vcpu_per_replica, sidecar_vcpu_per_krps,
            seed, replications, criterion,
        )  # fmt: skip
    search = _Search(paths, base, model, slos, seed, replications, workers, criterion, trace, say)
    x, p = search.climb(dict(x_a), planned, max_steps)
    feasible = p.ok
    if feasible:
        x, p = search.descend(x, p, planned)
    else:
        notes.append(f"no plan met every SLO within {max_steps} simulated steps")
    pods = sum({**configured, **x}.values())
    util_est = {f"{s.name}.{s.version}": s.utilization for s in p.summary.services if f"{s.name}.{s.version}" in x}
    return Plan(
        replicas=dict(x),
        configured={k: configured[k] for k in planned},
        analytic=dict(x_a),
        feasible=feasible,
        checks=p.checks,
        utilization=util_est,
        cost=requests_cost(model, x, vcpu_per_replica, sidecar_vcpu_per_krps)
        or _sim_cost(p, pods, vcpu_per_replica, sidecar_vcpu_per_krps),
        overrides=[replica_override(model, k, v) for k, v in sorted(x.items())],
        trace=trace,
        rate=model.load.rate,
        seed=seed,
        replications=replications,
        criterion=criterion,
        digest=p.digest,
        analytic_estimate=est,
        notes=notes,
    )


def _analytic_start(
    model: MeshModel, slos: SLOSet, configured: dict[str, int], notes: list[str], say: Progress
) -> tuple[list[str], dict[str, int], list[TraceStep], NetworkEstimate | None, NetworkEstimate | None]:
    """``(planned, analytic replicas, trace, estimate, pre-screen estimate)``: the workloads whose replicas
    matter (bounded concurrency, receiving traffic) and the analytic model's smallest counts for them
    (the configured ones when the analytic model cannot be solved); reasons go to ``notes``."""
    est0: NetworkEstimate | None
    try:
        est0 = analyze(model, samples=0)
        planned = [w.key for w in est0.workloads if w.concurrency is not None and w.arrival_rate_rps > 0]
    except ValueError as exc:
        est0 = None
        planned = [w.key for w in model.workloads if w.concurrency is not None]
        notes.append(f"analytic pre-screen skipped: {exc}")
    if not planned:
        notes.append("no workload with bounded concurrency receives traffic: replicas do not affect latency")
    if est0 is None or not planned:
        return planned, {k: configured[k] for k in planned}, [], est0, est0
    x_a, trace, a_ok, est = analytic_plan(model, slos, planned)
    if not a_ok:
        notes.append("the analytic model finds no replica count that meets every SLO")
    say("analytic bound: " + (", ".join(f"{k}={v}" for k, v in sorted(x_a.items())) or "-"))
    return planned, x_a, trace, est, est0


def _analytic_only(
    model: MeshModel,
    slos: SLOSet,
    planned: list[str],
    x_a: dict[str, int],
    configured: dict[str, int],
    trace: list[TraceStep],
    est0: NetworkEstimate | None,
    notes: list[str],
    vcpu_per_replica: float,
    sidecar_vcpu_per_krps: float,
    seed: int,
    replications: int,
    criterion: Criterion,
) -> Plan:
    """The analytic plan alone (``simulate=False``): the pre-screen's counts, checked by the analytic model."""
    est_f = analyze(model, replicas=x_a) if est0 is not None else None
    checks = evaluate_analytic(slos, est_f) if est_f is not None else []
    cost = None
    if est_f is not None:
        cost = _cost(
            sum({**configured, **x_a}.values()),
            est_f.sidecar_attempts_rps,
            est_f.entry_rate_rps,
            vcpu_per_replica,
            sidecar_vcpu_per_krps,
        )
    return Plan(
        dict(x_a),
        {k: configured[k] for k in planned},
        dict(x_a),
        all_ok(checks),
        checks,
        {},
        cost,
        [replica_override(model, k, v) for k, v in sorted(x_a.items())],
        trace,
        model.load.rate,
        seed,
        replications,
        criterion,
        model.digest,
        est_f,
        notes,
        simulated=False,
    )


class _Search:
    """The simulated part of :func:`plan`: points simulated once each (memo) with the same seed and
    replications, every step logged to one ``trace``."""

    def __init__(
        self,
        paths: Sequence[str],
        base: list[str],
        model: MeshModel,
        slos: SLOSet,
        seed: int,
        replications: int,
        workers: int | None,
        criterion: Criterion,
        trace: list[TraceStep],
        say: Progress,
    ) -> None:
        self.paths, self.base, self.model, self.slos = paths, base, model, slos
        self.seed, self.replications, self.workers, self.criterion = seed, replications, workers, criterion
        self.trace, self.say = trace, say
        self.memo: dict[tuple[tuple[str, int], ...], SimPoint] = {}

    def sim(self, x: dict[str, int]) -> SimPoint:
        key = tuple(sorted(x.items()))
        if key not in self.memo:
            self.memo[key] = simulate_point(
                self.paths,
                self.base + [replica_override(self.model, k, v) for k, v in key],
                self.slos,
                self.seed,
                self.replications,
                self.workers,
                self.criterion,
            )
        return self.memo[key]

    def log(self, x: dict[str, int], action: str, p: SimPoint, paired: Paired | None = None) -> None:
        worst, wv = _worst(p.checks)
        self.trace.append(TraceStep(len(self.trace), "simulation", dict(x), action, p.ok, worst, wv, paired, p.digest))
        self.say(f"{action}: {'ok' if p.ok else 'violates ' + worst} ({p.wall_s:.1f}s)")

    def climb(self, x: dict[str, int], planned: list[str], max_steps: int) -> tuple[dict[str, int], SimPoint]:
        """From the analytic plan, add a pod to the most utilised workload until every SLO holds (or
        ``max_steps``)."""
        p = self.sim(x)
        self.log(x, "simulate the analytic plan", p)
        steps = 0
        while not p.ok and steps < max_steps and planned:
            util = p.utilization()
            v = max(planned, key=lambda k: (util.get(k, 0.0), k))
            x = {**x, v: x[v] + 1}
            prev = p
            p = self.sim(x)
            self.log(x, f"+1 {v} (highest utilisation {util.get(v, 0.0):.2f})", p, _paired_on_worst(p, prev))
            steps += 1
        return x, p

    def descend(self, x: dict[str, int], p: SimPoint, planned: list[str]) -> tuple[dict[str, int], SimPoint]:
        """From a feasible point, remove a pod from the least utilised workload while every SLO still holds."""
        improved = True
        while improved:
            improved = False
            util = p.utilization()
            for v in sorted(planned, key=lambda k: (util.get(k, 0.0), k)):
                if x[v] <= 1:
                    continue
                y = {**x, v: x[v] - 1}
                q = self.sim(y)
                self.log(y, f"try -1 {v}", q, _paired_on_worst(q, p, use_first=True))
                if q.ok:
                    x, p = y, q
                    improved = True
                    break
        return x, p


def _paired_on_worst(cand: SimPoint, ref: SimPoint, use_first: bool = False) -> Paired | None:
    """Paired difference on the objective that decides: the worst violated one in either run, else
    the maximum-type objective closest to its limit."""
    if not cand.checks:
        return None
    bad = [c for c in (*cand.checks, *ref.checks) if not c.ok]
    if bad:
        key = max(bad, key=lambda c: c.excess()).key
    else:
        maxes = [c for c in cand.checks if c.bound == "max" and c.value is not None and c.limit > 0]
        key = max(maxes, key=lambda c: (c.value or 0.0) / c.limit).key if maxes else cand.checks[0].key
    c, r = cand.check(key), ref.check(key)
    return paired_difference(c, r) if c is not None and r is not None else None
