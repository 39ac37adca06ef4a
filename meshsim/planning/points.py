"""The planner's building blocks (:mod:`meshsim.planning.search` re-exports them): one simulated point and
its SLO checks, paired differences between points, the search trace, and the cost model (pods and sidecar
vCPU)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from meshsim.analysis.slo import (
    Check,
    Criterion,
    SLOSet,
    all_ok,
    evaluate_summary,
    validate_against,
)
from meshsim.experiments.replicate import run_replications
from meshsim.metrics.intervals import paired
from meshsim.metrics.recorder import RELATIVE_ACCURACY
from meshsim.metrics.results import Summary
from meshsim.metrics.summarize import summarize
from meshsim.model.build import load_and_compile
from meshsim.model.ir import MeshModel

__all__ = [
    "SIDECAR_VCPU_PER_KRPS",
    "Cost",
    "Paired",
    "Progress",
    "SimPoint",
    "TraceStep",
    "TracedResult",
    "paired_difference",
    "pod_vcpu",
    "replica_override",
    "requests_cost",
    "simulate_point",
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
    """vCPU of a plan. ``basis`` ``vcpu-per-replica`` (the CPU model off): ``replica_vcpu`` = pods ×
    ``vcpu_per_replica`` and ``sidecar_vcpu`` = ``sidecar_vcpu_per_krps`` × (upstream attempts/s + entry
    requests/s ÷ 2) / 1000 (an attempt crosses two proxies, an entry request one; Istio's published 0.2–0.5 vCPU
    per 1000 req/s). ``basis`` ``requests`` (the CPU model on): what Kubernetes reserves, every pod's app and
    sidecar ``resources.requests.cpu`` summed into ``replica_vcpu`` (a pod without requests counts
    ``vcpu_per_replica``), and ``sidecar_vcpu`` 0 (the sidecar's request is in it)."""

    pods: int
    replica_vcpu: float
    proxy_krps: float
    sidecar_vcpu: float
    vcpu_per_replica: float
    sidecar_vcpu_per_krps: float
    basis: Literal["vcpu-per-replica", "requests"] = "vcpu-per-replica"

    @property
    def total_vcpu(self) -> float:
        return self.replica_vcpu + self.sidecar_vcpu


def _cost(pods: int, attempts_rps: float, entry_rps: float, vcpu_per_replica: float, k: float) -> Cost:
    krps = (attempts_rps + entry_rps / 2) / 1000
    return Cost(pods, pods * vcpu_per_replica, krps, k * krps, vcpu_per_replica, k)


def pod_vcpu(model: MeshModel, key: str, vcpu_per_replica: float) -> float:
    """vCPU one pod of workload ``key`` costs: its app and sidecar CPU requests when the CPU model is on (the model
    has nodes) and it has any, else ``vcpu_per_replica``."""
    wl = next(w for w in model.workloads if w.key == key)
    req = [c for c in (wl.app_cpu.request_cores, wl.proxy_cpu.request_cores) if c is not None]
    return sum(req) if model.nodes and req else vcpu_per_replica


def requests_cost(model: MeshModel, replicas: dict[str, int], vcpu_per_replica: float, k: float) -> Cost | None:
    """The ``requests``-basis :class:`Cost` of ``replicas`` (other workloads as configured); None when the CPU
    model is off."""
    if not model.nodes:
        return None
    n = {w.key: replicas.get(w.key, w.replicas) for w in model.workloads}
    vcpu = sum(n[key] * pod_vcpu(model, key, vcpu_per_replica) for key in n)
    return Cost(sum(n.values()), vcpu, 0.0, 0.0, vcpu_per_replica, k, basis="requests")


def _sim_cost(p: SimPoint, pods: int, vcpu_per_replica: float, k: float) -> Cost:
    s = p.summary
    window = s.run.duration_s * s.run.replications
    return _cost(pods, sum(e.attempts for e in s.edges) / window, s.entry.throughput_rps, vcpu_per_replica, k)


def _frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows)


class TracedResult:
    """What every planning answer with a ``trace`` (:class:`TraceStep` s) and ``checks`` (SLO checks) shows
    as tables: :meth:`trace_frame`, :meth:`checks_frame` (pandas DataFrames)."""

    trace: Sequence[Any]  # rows with ``as_row()``: TraceStep, or the HPA search's points
    checks: Sequence[Check]

    def trace_frame(self) -> Any:
        """The search trace, one row per evaluated point."""
        return _frame([t.as_row() for t in self.trace])

    def checks_frame(self) -> Any:
        """The SLO checks at the answer (value, 95% CI, ok)."""
        return _frame([c.as_row() for c in self.checks])
