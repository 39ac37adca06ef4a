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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from meshsim.analysis.slo import (
    Check,
    Criterion,
    SLOSet,
    all_ok,
    evaluate_analytic,
    evaluate_summary,
    validate_against,
    violation,
)
from meshsim.experiments.replicate import run_replications
from meshsim.metrics.intervals import paired
from meshsim.metrics.recorder import RELATIVE_ACCURACY
from meshsim.metrics.results import Estimate, Summary
from meshsim.metrics.summarize import summarize
from meshsim.model.analytic import NetworkEstimate, analyze
from meshsim.model.build import load_and_compile
from meshsim.model.ir import MeshModel

__all__ = [
    "SIDECAR_VCPU_PER_KRPS",
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

SIDECAR_VCPU_PER_KRPS = 0.35
"""Sidecar CPU, vCPU per 1000 requests/s through the two proxies of a call (0.2–0.5: https://istio.io/latest/docs/ops/deployment/performance-and-scalability/)."""

Progress = Callable[[str], None]


def replica_override(model: MeshModel, key: str, replicas: int) -> str:
    """The ``--set`` assignment that gives workload ``key`` (``service.version``) ``replicas`` pods."""
    for w in model.workloads:
        if w.key == key:
            return f"MockServiceGraph.services[name={w.service}].versions.{w.version}.replicas={replicas}"
    raise KeyError(key)


@dataclass
class SimPoint:
    """One simulated configuration: its overrides, summaries and SLO checks."""

    overrides: tuple[str, ...]
    digest: str
    summary: Summary
    per_rep: list[Summary]
    checks: list[Check]
    ok: bool
    wall_s: float

    def utilization(self) -> dict[str, float]:
        """Simulated utilisation per workload key (workloads with bounded concurrency)."""
        return {
            f"{s.name}.{s.version}": s.utilization.value
            for s in self.summary.services
            if s.utilization is not None and s.utilization.value is not None
        }

    def check(self, key: str) -> Check | None:
        return next((c for c in self.checks if c.key == key), None)


def simulate_point(
    paths: Sequence[str],
    overrides: Sequence[str],
    slos: SLOSet,
    seed: int,
    replications: int,
    workers: int | None = None,
    criterion: Criterion = "ci",
) -> SimPoint:
    """Load (re-validating), compile and simulate ``paths`` with ``overrides``; evaluate ``slos``.

    Replication r uses random streams (seed, r), so two points simulated with the same seed and
    replications are paired (common random numbers).

    Raises
    ------
    meshsim.errors.ConfigError
        When an override makes the config invalid, or an objective names no entry/service.
    """
    t0 = time.perf_counter()
    model, _ = load_and_compile(list(paths), list(overrides))
    validate_against(slos, model)
    reps = run_replications(model, seed, replications, workers=workers)
    pooled = summarize(model, reps, inputs=list(paths))
    per = [summarize(model, [r]) for r in reps] if replications > 1 else []
    checks = evaluate_summary(slos, pooled, per, criterion)
    return SimPoint(tuple(overrides), model.digest, pooled, per, checks, all_ok(checks), time.perf_counter() - t0)


@dataclass(frozen=True)
class Paired:
    """Paired difference (``candidate − reference``) of one metric over replications: mean and 95% CI."""

    metric: str
    mean: float
    ci_low: float | None
    ci_high: float | None
    n: int

    def __str__(self) -> str:
        ci = (
            f" [{self.ci_low:+.3g}, {self.ci_high:+.3g}]"
            if self.ci_low is not None and self.ci_high is not None
            else ""
        )
        return f"{self.metric} {self.mean:+.3g}{ci}"


def paired_difference(cand: Check, ref: Check) -> Paired | None:
    """Paired difference of two checks' per-replication values (same seed: common random numbers):
    the value is the pooled difference, the CI :func:`meshsim.metrics.intervals.paired`'s."""
    pairs = [(a, b) for a, b in zip(cand.per_rep, ref.per_rep, strict=False) if a is not None and b is not None]
    if not pairs:
        return None
    d = [a - b for a, b in pairs]
    pooled = cand.value - ref.value if cand.value is not None and ref.value is not None else sum(d) / len(d)
    res = (
        RELATIVE_ACCURACY * (abs(cand.value or 0.0) + abs(ref.value or 0.0))
        if cand.metric.startswith("latency.p")
        else 0.0
    )
    props = None
    if cand.metric == "success_rate" and cand.value is not None and ref.value is not None:
        if cand.requests and ref.requests:  # a difference of proportions: Newcombe floor
            props = (ref.value, ref.requests, cand.value, cand.requests)
    est = paired([b for _, b in pairs], [a for a, _ in pairs], pooled, res, proportions=props)
    return Paired(cand.key, est.value if est.value is not None else pooled, est.ci_low, est.ci_high, len(d))


@dataclass
class TraceStep:
    """One point the search evaluated: ``phase`` analytic or simulation, the replicas, why it was
    evaluated (``action``), whether every SLO held, the worst objective and the evidence."""

    step: int
    phase: Literal["analytic", "simulation"]
    replicas: dict[str, int]
    action: str
    ok: bool
    worst: str
    worst_value: float | None
    paired: Paired | None = None
    digest: str = ""
    rate: float | None = None

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"step": self.step, "phase": self.phase, "action": self.action, "ok": self.ok}
        if self.rate is not None:
            row["rate_rps"] = self.rate
        row.update({f"replicas[{k}]": v for k, v in sorted(self.replicas.items())})
        row.update(
            {
                "worst": self.worst,
                "worst_value": self.worst_value,
                "paired_vs_reference": str(self.paired) if self.paired else "",
            }
        )
        return row


def _worst(checks: Sequence[Check]) -> tuple[str, float | None]:
    if not checks:
        return "", None
    c = max(checks, key=lambda c: (not c.ok, c.excess(), c.value if c.value is not None else 0.0))
    return f"{c.key} {'<=' if c.bound == 'max' else '>='} {c.limit:g}", c.value


@dataclass(frozen=True)
class Cost:
    """vCPU of a plan: ``replica_vcpu`` = pods × ``vcpu_per_replica``; ``sidecar_vcpu`` =
    ``sidecar_vcpu_per_krps`` × (upstream attempts/s + entry requests/s ÷ 2) / 1000 (an attempt crosses
    two proxies, an entry request one; Istio's published 0.2–0.5 vCPU per 1000 req/s)."""

    pods: int
    replica_vcpu: float
    proxy_krps: float
    sidecar_vcpu: float
    vcpu_per_replica: float
    sidecar_vcpu_per_krps: float

    @property
    def total_vcpu(self) -> float:
        return self.replica_vcpu + self.sidecar_vcpu


def _cost(pods: int, attempts_rps: float, entry_rps: float, vcpu_per_replica: float, k: float) -> Cost:
    krps = (attempts_rps + entry_rps / 2) / 1000
    return Cost(pods, pods * vcpu_per_replica, krps, k * krps, vcpu_per_replica, k)


def _sim_cost(p: SimPoint, pods: int, vcpu_per_replica: float, k: float) -> Cost:
    s = p.summary
    window = s.run.duration_s * s.run.replications
    return _cost(pods, sum(e.attempts for e in s.edges) / window, s.entry.throughput_rps, vcpu_per_replica, k)


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)


@dataclass
class Plan:
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

    def checks_frame(self) -> Any:
        """The SLO checks at the plan (value, 95% CI, ok)."""
        return _frame([c.as_row() for c in self.checks])

    def trace_frame(self) -> Any:
        """The search trace, one row per evaluated point."""
        return _frame([t.as_row() for t in self.trace])

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

    (Long: the analytic start, the add loop and the removal loop share one trace and one memo of
    simulated points.)

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
    rate_v = model.load.rate
    configured = {w.key: w.replicas for w in model.workloads}
    notes: list[str] = []
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
    trace: list[TraceStep] = []
    if est0 is not None and planned:
        x_a, trace, a_ok, est = analytic_plan(model, slos, planned)
        if not a_ok:
            notes.append("the analytic model finds no replica count that meets every SLO")
        say("analytic bound: " + (", ".join(f"{k}={v}" for k, v in sorted(x_a.items())) or "-"))
    else:
        x_a = {k: configured[k] for k in planned}
        est = est0  # type: ignore[assignment]
    if not simulate:
        est_f = analyze(model, replicas=x_a) if est0 is not None else None
        checks = evaluate_analytic(slos, est_f) if est_f is not None else []
        return Plan(
            dict(x_a),
            {k: configured[k] for k in planned},
            dict(x_a),
            all_ok(checks),
            checks,
            {},
            None
            if est_f is None
            else _cost(
                sum({**configured, **x_a}.values()),
                est_f.sidecar_attempts_rps,
                est_f.entry_rate_rps,
                vcpu_per_replica,
                sidecar_vcpu_per_krps,
            ),
            [replica_override(model, k, v) for k, v in sorted(x_a.items())],
            trace,
            rate_v,
            seed,
            replications,
            criterion,
            model.digest,
            est_f,
            notes,
            simulated=False,
        )

    memo: dict[tuple[tuple[str, int], ...], SimPoint] = {}

    def sim(x: dict[str, int]) -> SimPoint:
        key = tuple(sorted(x.items()))
        if key not in memo:
            memo[key] = simulate_point(
                paths,
                base + [replica_override(model, k, v) for k, v in key],
                slos,
                seed,
                replications,
                workers,
                criterion,
            )
        return memo[key]

    def log(x: dict[str, int], action: str, p: SimPoint, paired: Paired | None = None) -> None:
        worst, wv = _worst(p.checks)
        trace.append(TraceStep(len(trace), "simulation", dict(x), action, p.ok, worst, wv, paired, p.digest))
        say(f"{action}: {'ok' if p.ok else 'violates ' + worst} ({p.wall_s:.1f}s)")

    x = dict(x_a)
    p = sim(x)
    log(x, "simulate the analytic plan", p)
    steps = 0
    while not p.ok and steps < max_steps and planned:
        util = p.utilization()
        v = max(planned, key=lambda k: (util.get(k, 0.0), k))
        x = {**x, v: x[v] + 1}
        prev = p
        p = sim(x)
        pd_ = _paired_on_worst(p, prev)
        log(x, f"+1 {v} (highest utilisation {util.get(v, 0.0):.2f})", p, pd_)
        steps += 1
    feasible = p.ok
    if feasible:
        improved = True
        while improved:
            improved = False
            util = p.utilization()
            for v in sorted(planned, key=lambda k: (util.get(k, 0.0), k)):
                if x[v] <= 1:
                    continue
                y = {**x, v: x[v] - 1}
                q = sim(y)
                log(y, f"try -1 {v}", q, _paired_on_worst(q, p, use_first=True))
                if q.ok:
                    x, p = y, q
                    improved = True
                    break
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
        cost=_sim_cost(p, pods, vcpu_per_replica, sidecar_vcpu_per_krps),
        overrides=[replica_override(model, k, v) for k, v in sorted(x.items())],
        trace=trace,
        rate=rate_v,
        seed=seed,
        replications=replications,
        criterion=criterion,
        digest=p.digest,
        analytic_estimate=est,
        notes=notes,
    )


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
