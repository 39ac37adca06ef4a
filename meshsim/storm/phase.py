"""Phase diagram of a trigger: P(not recovered) over magnitude x duration (x load), with its boundary.

Huang et al. (OSDI'22) show a knife edge: 10 s at -80% CPU is metastable where 9 s,
or -78%, recovers. Each grid point here runs ``replications`` replications of the mesh with the
trigger set to that magnitude and duration (``--set`` overrides, re-validated) and counts how many
end ``metastable`` (:mod:`meshsim.analysis.verdict`); the probability carries a Wilson 95% interval.
The **boundary** along each row (fixed load and magnitude) is the first duration at which
P(not recovered) reaches 0.5, and along each column the first such magnitude.

Grid points run one after another; each point's replications run in parallel processes
(:func:`meshsim.experiments.replicate.run_replications`, replication r uses streams (seed, r)), so
results do not depend on the number of workers. Grid order follows :func:`meshsim.experiments.sweep.grid`
(load, then magnitude, then duration, the last fastest).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshsim.analysis.verdict import VerdictParams, storm_result
from meshsim.experiments.replicate import run_replications
from meshsim.experiments.sweep import Factor, grid
from meshsim.model.build import load_and_compile
from meshsim.storm.trigger import TriggerSpec, trigger_overrides

__all__ = ["StormPoint", "run_storm_point", "PhaseResult", "phase_diagram"]


@dataclass
class StormPoint:
    """Outcome of one configuration under one trigger over its replications.

    ``p_not_recovered`` = metastable / determined replications (Wilson 95% ``ci_low``/``ci_high``);
    ``failed_fraction``: entry requests that failed over the measured window, pooled;
    ``mean_recovery_s``: over recovered replications; ``wall_s``: wall-clock time of the point.
    """

    overrides: list[str]
    outcomes: dict[str, int]
    p_not_recovered: float | None
    ci_low: float | None
    ci_high: float | None
    mean_recovery_s: float | None
    failed_fraction: float | None
    requests: int
    wall_s: float
    verdicts: list[str] = field(default_factory=list)
    storm: Any = None

    def row(self) -> dict[str, Any]:
        """The point's columns; with a HorizontalPodAutoscaler also ``rescued_by_hpa`` (replications that
        recovered by autoscaling) and ``replicas_reached`` (the most pods any HPA target ran, any replication)."""
        return {
            "stable": self.outcomes.get("stable", 0),
            "recovered": self.outcomes.get("recovered", 0),
            "metastable": self.outcomes.get("metastable", 0),
            "undetermined": self.outcomes.get("undetermined", 0),
            "p_not_recovered": self.p_not_recovered,
            "p_ci_low": self.ci_low,
            "p_ci_high": self.ci_high,
            "mean_recovery_s": self.mean_recovery_s,
            "failed_fraction": self.failed_fraction,
            "requests": self.requests,
            "wall_s": round(self.wall_s, 3),
            **self._autoscaling(),
        }

    def _autoscaling(self) -> dict[str, Any]:
        effects = [v.autoscaling for v in self.storm.replications] if self.storm is not None else []
        effects = [e for e in effects if e is not None]
        if not effects:
            return {}
        return {
            "rescued_by_hpa": sum(e.rescued for e in effects),
            "replicas_reached": max(h.replicas_reached for e in effects for h in e.hpas),
        }


def run_storm_point(
    paths: Sequence[str],
    overrides: Sequence[str],
    seed: int,
    replications: int,
    params: VerdictParams = VerdictParams(),
    workers: int | None = None,
) -> StormPoint:
    """Load ``paths`` with ``overrides``, run ``replications`` replications and classify each."""

    t0 = time.perf_counter()
    model, _ = load_and_compile(list(paths), list(overrides))
    reps = run_replications(model, seed, replications, workers=workers)
    st = storm_result(model, reps, params)
    req = sum(r.entry_requests for r in reps)
    ok = sum(r.entry_success for r in reps)
    if st is None:
        outcomes: dict[str, int] = {}
        p = lo = hi = rec = None
        verdicts: list[str] = []
    else:
        outcomes = dict(st.outcomes)
        p, lo, hi = st.p_metastable.value, st.p_metastable.ci_low, st.p_metastable.ci_high
        rec = st.mean_recovery_s
        verdicts = [v.verdict for v in st.replications]
    return StormPoint(
        overrides=list(overrides),
        outcomes=outcomes,
        p_not_recovered=p,
        ci_low=lo,
        ci_high=hi,
        mean_recovery_s=rec,
        failed_fraction=round((req - ok) / req, 6) if req else None,
        requests=req,
        wall_s=time.perf_counter() - t0,
        verdicts=verdicts,
        storm=st,
    )


@dataclass
class PhaseResult:
    """The grid: ``rows`` (one per point, in grid order) with ``load``, ``magnitude``, ``duration_s``
    and the :meth:`StormPoint.row` columns; ``boundary`` rows per (load, magnitude): the last
    duration that mostly recovered and the first that mostly did not (None when the row does not
    cross 0.5), and per (load, duration) the same in magnitude."""

    trigger: TriggerSpec
    rows: list[dict[str, Any]]
    boundary: list[dict[str, Any]]
    seed: int
    replications: int
    params: VerdictParams
    wall_s: float

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": {
                "kind": self.trigger.kind,
                "event_index": self.trigger.index,
                "at_s": self.trigger.at,
                "magnitude_unit": {"slow": "slowdown factor", "spike": "rate multiplier", "scale": "replicas removed"}[
                    self.trigger.kind
                ],
            },
            "seed": self.seed,
            "replications": self.replications,
            "verdict": {
                "window_s": self.params.window_s,
                "goodput_tolerance": self.params.goodput_tolerance,
                "p99_factor": self.params.p99_factor,
            },
            "points": self.rows,
            "boundary": self.boundary,
            "wall_s": round(self.wall_s, 3),
        }


def _crossings(values: list[float], probs: list[float | None]) -> tuple[float | None, float | None]:
    """Last value with p < 0.5 before the first value with p >= 0.5 (None, None if it never crosses)."""
    for i, p in enumerate(probs):
        if p is not None and p >= 0.5:
            if i == 0:
                return None, values[0]
            return values[i - 1], values[i]
    return None, None


def boundary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Where P(not recovered) first reaches 0.5 along duration (per load, magnitude) and along
    magnitude (per load, duration); ``jump`` is the change in probability across that step."""
    out: list[dict[str, Any]] = []
    loads = sorted({r["load"] for r in rows}, key=lambda x: (x is None, x))
    for ld in loads:
        sub = [r for r in rows if r["load"] == ld]
        for axis, other in (("duration_s", "magnitude"), ("magnitude", "duration_s")):
            for o in sorted({r[other] for r in sub}):
                line = sorted((r for r in sub if r[other] == o), key=lambda r: r[axis])
                vals = [r[axis] for r in line]
                probs = [r["p_not_recovered"] for r in line]
                lo, hi = _crossings(vals, probs)
                jump = None
                if hi is not None and lo is not None:
                    pl = probs[vals.index(lo)]
                    ph = probs[vals.index(hi)]
                    jump = None if pl is None or ph is None else round(ph - pl, 6)
                out.append(
                    {"load": ld, "along": axis, other: o, "last_recovering": lo, "first_metastable": hi, "jump": jump}
                )
    return out


def phase_diagram(
    paths: Sequence[str],
    trigger: TriggerSpec,
    magnitudes: Sequence[float],
    durations: Sequence[float],
    loads: Sequence[float] = (),
    overrides: Sequence[str] = (),
    seed: int = 1,
    replications: int = 10,
    params: VerdictParams = VerdictParams(),
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> PhaseResult:
    """Run the magnitude x duration (x load) grid of ``trigger`` over ``paths`` (module docstring).

    ``loads`` are LoadProfile rates (req/s; empty keeps the file's); for a spike trigger the
    magnitude multiplies the rate in force at that point.
    """
    t0 = time.perf_counter()
    factors = [
        Factor("LoadProfile.spec.rate", tuple(f"{x:g}" for x in loads) or ("",)),
        Factor("magnitude", tuple(f"{x:g}" for x in magnitudes)),
        Factor("duration", tuple(f"{x:g}" for x in durations)),
    ]
    points = grid(factors)
    rows: list[dict[str, Any]] = []
    for i, (ld, m, d) in enumerate(points):
        rate = float(ld) if ld else None
        ov = [*overrides]
        if rate is not None:
            ov.append(f"LoadProfile.spec.rate={rate:g}")
        ov += trigger_overrides(trigger, float(m), float(d), base_rate=rate)
        pt = run_storm_point(paths, ov, seed, replications, params, workers)
        rows.append({"point": i, "load": rate, "magnitude": float(m), "duration_s": float(d), **pt.row()})
        if progress is not None:
            progress((i + 1) / len(points))
    return PhaseResult(trigger, rows, boundary(rows), seed, replications, params, time.perf_counter() - t0)
