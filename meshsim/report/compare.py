"""Predicted vs measured: compare a simulated :class:`Summary` with one or more real-mesh Summaries.

:func:`compare` is pure (two Summaries and the tolerances in, a :class:`Comparison` out);
:func:`compare_runs` takes several real runs and compares the **median** of each measured metric.
Rendering (rich table, markdown, PNG) lives here too; the CLI is ``meshsim compare``.

Errors are prediction errors, the usual way round: **predicted minus measured**, relative to the measured
value for relative rows (``(predicted - measured) / measured``; negative = meshsim predicted too low) and in
percentage points for shares and rates (``predicted - measured``). Tolerances are :class:`Tolerances`' defaults:

========================  =========================================================  ==============
metric                    error                                                      tolerance
========================  =========================================================  ==============
entry p50 / p90 / p99     relative, (predicted - measured) / measured               10 / 15 / 20 %
entry success rate        absolute, percentage points                                0.5 pp
amplification             relative; per edge (source workload -> cluster) and mesh   3 %, widened
                                                                                     to 3 SE
subset split              absolute pp; per destination service with >1 cluster,      1 pp, widened
                          share of the destination's sidecar requests per subset     to 3 SE
requests per pod          absolute pp; per service with >1 pod, each pod's share     1 pp, widened
                          (``upstream_rq_total`` of its sidecar's inbound cluster)   to 3 SE
overflow / ejections      per run; predicted = simulated total / replications;       max(25 %, 3)
                          ``upstream_rq_pending_overflow``,
                          ``upstream_rq_retry_overflow``,
                          ``outlier_detection.ejections_enforced_total``
container CPU             relative; per pod container (``containers[]``, CPU         max(10 %, 2 m)
                          model on): mean cores (real: ``cpuacct.usage``)
throttled periods         relative; per container with a CPU limit,                  max(20 %, 3)
                          ``nr_throttled`` of ``cpu.stat`` per run
                          (predicted = simulated total / replications)
========================  =========================================================  ==============

Scenario runs (both Summaries carry ``scenario``) add rows lined up per time-series interval
and per phase (the measured time between scenario events):

========================  =========================================================  ==============
metric                    error                                                      tolerance
========================  =========================================================  ==============
``t=..s split``           per interval, share of a service's requests served by       2 pp, widened
                          each of its workloads (at the pods), absolute pp            to 4 SE
``t=..s entry success``   per interval, entry success rate, absolute pp              2 pp, widened
                                                                                      to 4 SE
``phase [a,b) split``     the same pooled over a phase                               2 pp; gates
                                                                                      only if fair
``storm verdict``         stable / recovered / metastable (``meshsim.storm``)        equal
``storm peak amplif.``    largest sidecar attempts/request over a verdict window     20 %
                          (5 s; all edges pooled, and per edge) from the trigger
                          to the end of the measured window
``storm mean amplif.``    attempts/request pooled from the trigger to the end         20 %
``storm recovery (s)``    seconds from the trigger's end to recovery                 shown
========================  =========================================================  ==============

Per-interval counts are small (a few hundred requests), so the binomial noise of a per-interval
difference, ``SE = sqrt(p (1 - p) (1/n_pred + 1/n_meas))`` with ``p`` the predicted share, is often
above 2 pp / 4: such rows gate at ``4 SE`` instead (the note says so; 4 rather than 3 because there
are tens of intervals per run, and because a scheduler stall of one pod's Envoy on a loaded machine
moves its completions into the next interval, which spreads per-interval shares beyond binomial noise),
which still catches a switch that did not happen or happened an interval late (40 pp ~ 14 SE), but not
a 2 pp bias. Phase rows pool enough requests
to test 2 pp; one gates only when it is statistically fair (``2 SE <= 2 pp``, a false failure below
~5 %), else it is shown with its SE.

A subset split over a few thousand requests has a binomial standard error near 1 pp, so a split row's
tolerance is ``max(split_pp, split_noise_z x SE)`` with ``SE = sqrt(p (1 - p) (1/n_pred + m/n_meas))``: ``p`` the
predicted share, ``n_pred`` the prediction's requests to the destination, ``n_meas`` one run's, and ``m`` the
variance factor of a median over ``k`` runs (``pi / (2 k)``, the large-sample factor, which is conservative for
small ``k``; 1 for one run). 3 SE keeps a false failure near 0.3 % per row.

Amplification (sidecar attempts per request) is a sample mean too: on an edge with a few hundred requests its
sampling noise is of the order of the 3 % tolerance (600 requests at 20 % failures and two retries: 1.7 %
per side). Its tolerance is ``max(amplification_rel, amplification_noise_z x SE)`` with, relative to the
predicted value ``a``, ``SE = sqrt(v (1/n_pred + m/n_meas)) / a`` and ``v = (a - 1) a`` the variance of the
attempts per request if the retries were geometric (each attempt failing independently): the variance of a
geometric count with mean ``a - 1``, above that of a retry count capped by ``numRetries`` with the same mean
(0.30 vs 0.26 in that example), so the band errs wide by a few percent of itself.

p90's 15 % sits between the p50 and p99 tolerances; counters have no agreed tolerance,
so meshsim's choice (relative 25 % with an absolute slack of 3 events, since ejections are a handful
per run) is documented here. Rows whose measured side saw fewer than ``min_requests`` requests (an edge
that carried almost no traffic) are shown but do not gate (``passed`` null), as are rows where either
side has no value.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from meshsim.metrics.results import Summary
from meshsim.report.compare_metrics import (
    COUNTERS,
    Kind,
    Metric,
    metrics_of,
    phase_bounds,
    pod_shares,
    series_metrics_of,
    short_cluster,
    storm_metrics_of,
    switch_time,
)
from meshsim.report.compare_render import SERIES_KINDS, plot, plot_series, rich_table, to_markdown, write_outputs

_phase_bounds = phase_bounds  # the name existing tests import

__all__ = [
    "Tolerances",
    "Row",
    "Comparison",
    "COUNTERS",
    "compare",
    "compare_runs",
    "metrics_of",
    "pod_shares",
    "series_metrics_of",
    "storm_metrics_of",
    "switch_time",
    "short_cluster",
    "to_markdown",
    "rich_table",
    "plot",
    "plot_series",
    "write_outputs",
]


class Tolerances(BaseModel):
    """Pass/fail limits; latency and amplification relative (fractions), rates and shares in pp."""

    model_config = ConfigDict(extra="forbid")

    p50_rel: float = 0.10
    p90_rel: float = 0.15
    p99_rel: float = 0.20
    success_pp: float = 0.5
    amplification_rel: float = 0.03
    amplification_noise_z: float = 3.0
    """an amplification row's tolerance is max(amplification_rel, amplification_noise_z x SE of the difference)"""
    split_pp: float = 1.0
    split_noise_z: float = 3.0
    """a split row's tolerance is max(split_pp, split_noise_z x binomial SE of the difference)"""
    count_rel: float = 0.25
    count_abs: float = 3.0
    min_requests: int = 200
    series_split_pp: float = 2.0
    series_success_pp: float = 2.0
    series_noise_z: float = 4.0
    """a per-interval row's tolerance is max(series_*_pp, series_noise_z x binomial SE of the difference):
    4 SE keeps the chance of a false failure among ~20-40 intervals near 0.1 % for binomial noise, with
    room for the extra spread CPU stalls add on a loaded machine (real/README.md)"""
    phase_fair_z: float = 2.0
    """a phase row gates only when phase_fair_z x SE <= its tolerance"""
    storm_amplification_rel: float = 0.20
    container_cpu_rel: float = 0.10
    container_cpu_abs: float = 0.002
    """a container CPU row passes within max(container_cpu_rel x measured, container_cpu_abs cores): 2 m (a
    fifth of a 10 m request) keeps an idle container's few ms of housekeeping from failing on relative noise"""
    throttled_rel: float = 0.20
    throttled_abs: float = 3.0
    """a throttled-periods row passes within max(throttled_rel x measured, throttled_abs periods): a container
    near its limit is throttled in a handful of periods per run, where one period is already 20 %"""


class Row(BaseModel):
    """One compared metric. ``error`` is predicted minus measured: relative to the measured value (fraction)
    for latency/amplification/counts, percentage points for success rate and split; ``passed`` is null when the
    row does not gate."""

    model_config = ConfigDict(extra="forbid")

    key: str
    kind: Kind
    predicted: float | None
    predicted_ci: tuple[float | None, float | None] = (None, None)
    measured: float | None
    measured_runs: list[float | None] = Field(default_factory=list)
    error: float | None
    error_unit: Literal["rel", "pp", "abs"]
    tolerance: str
    passed: bool | None
    note: str = ""


class Comparison(BaseModel):
    """The result of :func:`compare`: every row, overall pass, and pass of the rate-independent rows
    (success, amplification, split, counters), which do not depend on the load generator keeping time."""

    model_config = ConfigDict(extra="forbid")

    rows: list[Row]
    passed: bool
    passed_without_latency: bool
    runs: int
    tolerances: Tolerances
    notes: list[str] = Field(default_factory=list)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.passed is False]


# --------------------------------------------------------------------------------------------- extract
def _series_row(
    key: str, kind: Kind, pred: Metric | None, measured: list[float | None], weight: float, tol: Tolerances
) -> Row:
    """A per-interval or per-phase row: absolute pp error; tolerance from :class:`Tolerances` and the
    binomial noise of the difference (see the module docstring)."""
    pv = pred[1] if pred else None
    n_pred = pred[3] if pred else 0.0
    vals = [v for v in measured if v is not None]
    mv = float(statistics.median(vals)) if vals else None
    limit = tol.series_success_pp if kind in ("series_success", "phase_success") else tol.series_split_pp
    err = passed = None
    note = ""
    tol_s = f"±{limit:g} pp"
    if pv is not None and mv is not None and n_pred > 0 and weight > 0:
        err = (pv - mv) * 100
        p = min(max(pv, 0.0), 1.0)
        se = 100 * math.sqrt(p * (1 - p) * (1 / n_pred + 1 / weight))
        if kind.startswith("series"):
            eff = max(limit, tol.series_noise_z * se)
            if eff > limit + 1e-9:
                tol_s = f"±{eff:.2f} pp"
                note = f"{limit:g} pp widened to {tol.series_noise_z:g} SE (binomial SE {se:.2f} pp)"
            passed = abs(err) <= eff + 1e-9
        else:
            if tol.phase_fair_z * se <= limit:
                passed = abs(err) <= limit + 1e-9
                note = f"binomial SE {se:.2f} pp"
            else:
                note = f"binomial SE {se:.2f} pp: {limit:g} pp not statistically fair, shown"
    else:
        note = "not predicted" if pv is None else "not measured"
    return Row(
        key=key,
        kind=kind,
        predicted=pv,
        measured=mv,
        measured_runs=list(measured),
        error=err,
        error_unit="pp",
        tolerance=tol_s,
        passed=passed,
        note=note,
    )


def _storm_row(key: str, kind: Kind, pred: Metric | None, measured: list[float | None], tol: Tolerances) -> Row:
    pv = pred[1] if pred else None
    vals = [v for v in measured if v is not None]
    err: float | None = None
    passed: bool | None = None
    note = ""
    unit: Literal["rel", "pp", "abs"] = "abs"
    if kind == "verdict":
        # every run must get the predicted verdict, not just the median
        mv = pv if vals and pv is not None and all(v == pv for v in vals) else (vals[0] if vals else None)
        tol_s = "equal in every run"
        if pv is not None and vals:
            passed = all(v == pv for v in vals)
    elif kind == "storm_amplification":
        mv = float(statistics.median(vals)) if vals else None
        unit = "rel"
        tol_s = f"±{tol.storm_amplification_rel * 100:g} %"
        if pv is not None and mv:
            err = (pv - mv) / mv
            passed = abs(err) <= tol.storm_amplification_rel + 1e-12
    else:
        mv = float(statistics.median(vals)) if vals else None
        tol_s = "shown"
        if pv is not None and mv is not None:
            err = pv - mv
        note = "no agreed tolerance"
    if pv is None:
        note = "not predicted"
    elif mv is None and kind != "recovery":
        note = "not measured"
    return Row(
        key=key,
        kind=kind,
        predicted=pv,
        measured=mv,
        measured_runs=list(measured),
        error=err,
        error_unit=unit,
        tolerance=tol_s,
        passed=passed,
        note=note,
    )


# --------------------------------------------------------------------------------------------- compare
def _split_se(p: float, n_pred: float, n_meas: float, runs: int) -> float:
    """Binomial standard error, in pp, of a predicted share ``p`` (over ``n_pred`` requests) minus the median of
    ``runs`` measured shares (``n_meas`` requests each); 0 when a count is unknown. See the module docstring."""
    if n_pred <= 0 or n_meas <= 0 or not math.isfinite(n_pred) or runs < 1:
        return 0.0
    p = min(max(p, 0.0), 1.0)
    median_factor = 1.0 if runs == 1 else math.pi / (2 * runs)
    return 100 * math.sqrt(p * (1 - p) * (1 / n_pred + median_factor / n_meas))


def _amplification_se(a: float, n_pred: float, n_meas: float, runs: int) -> float:
    """Standard error, relative to ``a``, of a predicted attempts-per-request ``a`` (over ``n_pred`` requests)
    minus the median of ``runs`` measured ones (``n_meas`` requests each), taking the geometric variance
    ``(a - 1) a`` per request; 0 when a count is unknown or ``a <= 1``. See the module docstring."""
    if a <= 1 or n_pred <= 0 or n_meas <= 0 or not math.isfinite(n_pred) or runs < 1:
        return 0.0
    median_factor = 1.0 if runs == 1 else math.pi / (2 * runs)
    return math.sqrt((a - 1) * a * (1 / n_pred + median_factor / n_meas)) / a


class _Judged(NamedTuple):
    """How one row fares: its error (``unit``: relative, pp or absolute), pass/fail (None: not gating),
    the tolerance as shown and a note."""

    error: float | None
    passed: bool | None
    unit: Literal["rel", "pp", "abs"]
    tolerance: str
    note: str = ""


def _judge_latency(limit: float, pv: float | None, mv: float | None) -> _Judged:
    """A latency percentile: relative error within ``limit``."""
    if pv is None or not mv:
        return _Judged(None, None, "rel", f"±{limit * 100:g} %")
    err = (pv - mv) / mv
    return _Judged(err, abs(err) <= limit, "rel", f"±{limit * 100:g} %")


def _judge_success(tol: Tolerances, pv: float | None, mv: float | None) -> _Judged:
    """A success rate: difference within ``tol.success_pp`` percentage points."""
    tol_s = f"±{tol.success_pp:g} pp"
    if pv is None or mv is None:
        return _Judged(None, None, "pp", tol_s)
    err = (pv - mv) * 100
    return _Judged(err, abs(err) <= tol.success_pp + 1e-9, "pp", tol_s)


def _judge_split(
    tol: Tolerances, pv: float | None, mv: float | None, n_pred: float, n_meas: float, runs: int
) -> _Judged:
    """A traffic share: difference within ``tol.split_pp``, widened to ``split_noise_z`` binomial SEs."""
    limit = tol.split_pp
    if pv is None or mv is None:
        return _Judged(None, None, "pp", f"±{limit:g} pp")
    err = (pv - mv) * 100
    se = _split_se(pv, n_pred, n_meas, runs)
    eff = max(limit, tol.split_noise_z * se)
    if eff > limit + 1e-9:
        note = f"{limit:g} pp widened to {tol.split_noise_z:g} SE (binomial SE {se:.2f} pp)"
        return _Judged(err, abs(err) <= eff + 1e-9, "pp", f"±{eff:.2f} pp", note)
    return _Judged(err, abs(err) <= eff + 1e-9, "pp", f"±{limit:g} pp")


def _judge_amplification(
    tol: Tolerances, pv: float | None, mv: float | None, n_pred: float, n_meas: float, runs: int
) -> _Judged:
    """Attempts per request: relative error within ``tol.amplification_rel``, widened to
    ``amplification_noise_z`` SEs."""
    limit = tol.amplification_rel
    if pv is None or not mv:
        return _Judged(None, None, "rel", f"±{limit * 100:g} %")
    err = (pv - mv) / mv
    se = _amplification_se(pv, n_pred, n_meas, runs)
    eff = max(limit, tol.amplification_noise_z * se)
    if eff > limit + 1e-12:
        note = f"{limit * 100:g} % widened to {tol.amplification_noise_z:g} SE (SE {se * 100:.1f} %)"
        return _Judged(err, abs(err) <= eff + 1e-12, "rel", f"±{eff * 100:.1f} %", note)
    return _Judged(err, abs(err) <= eff + 1e-12, "rel", f"±{limit * 100:g} %")


def _judge_cpu(kind: Kind, tol: Tolerances, pv: float | None, mv: float | None) -> _Judged:
    """Container CPU (cores) or throttled periods: within the larger of a relative and an absolute slack."""
    if kind == "container_cpu":
        rel, slack = tol.container_cpu_rel, tol.container_cpu_abs
        tol_s = f"±max({rel * 100:g} %, {slack * 1000:g} m)"
    else:
        rel, slack = tol.throttled_rel, tol.throttled_abs
        tol_s = f"±max({rel * 100:g} %, {slack:g})"
    if pv is None or mv is None:
        return _Judged(None, None, "rel", tol_s)
    err = (pv - mv) / mv if mv else pv - mv
    return _Judged(err, abs(pv - mv) <= max(rel * mv, slack) + 1e-12, "rel" if mv else "abs", tol_s)


def _judge_count(tol: Tolerances, pv: float | None, mv: float | None) -> _Judged:
    """A counter: within the larger of ``count_rel`` and ``count_abs``; a missing side counts as 0."""
    tol_s = f"±max({tol.count_rel * 100:g} %, {tol.count_abs:g})"
    if pv is None and mv is None:
        return _Judged(None, None, "rel", tol_s)
    p = pv if pv is not None else 0.0
    m = mv if mv is not None else 0.0
    err = (p - m) / m if m else p - m
    return _Judged(err, abs(p - m) <= max(tol.count_rel * m, tol.count_abs), "rel" if m else "abs", tol_s)


def _row(
    key: str, kind: Kind, pred: Metric | None, measured: list[float | None], weight: float, tol: Tolerances
) -> Row:
    """One row: the prediction against the median of the measured runs, judged by the tolerance of its kind."""
    pv = pred[1] if pred else None
    ci = pred[2] if pred else (None, None)
    vals = [v for v in measured if v is not None]
    mv = float(statistics.median(vals)) if vals else None
    n_pred = pred[3] if pred else 0.0
    runs = sum(v is not None for v in measured)
    if kind == "latency":
        limit = {"p50": tol.p50_rel, "p90": tol.p90_rel, "p99": tol.p99_rel}[key.split()[1]]
        j = _judge_latency(limit, pv, mv)
    elif kind == "success":
        j = _judge_success(tol, pv, mv)
    elif kind == "split":
        j = _judge_split(tol, pv, mv, n_pred, weight, runs)
    elif kind == "amplification":
        j = _judge_amplification(tol, pv, mv, n_pred, weight, runs)
    elif kind in ("container_cpu", "throttled"):
        j = _judge_cpu(kind, tol, pv, mv)
    else:
        j = _judge_count(tol, pv, mv)
    passed, note = j.passed, j.note
    if passed is not None and kind != "count" and weight < tol.min_requests:
        note = f"only {weight:.0f} requests: shown, not gating"
        passed = None
    if pv is None or (mv is None and kind != "count"):
        note = note or ("not predicted" if pv is None else "not measured")
    return Row(
        key=key,
        kind=kind,
        predicted=pv,
        predicted_ci=ci,
        measured=mv,
        measured_runs=list(measured),
        error=j.error,
        error_unit=j.unit,
        tolerance=j.tolerance,
        passed=passed,
        note=note,
    )


def compare_runs(pred: Summary, reals: Sequence[Summary], tolerances: Tolerances | None = None) -> Comparison:
    """Compare ``pred`` with the per-metric median over ``reals`` (one or more real runs)."""
    tol = tolerances or Tolerances()
    if not reals:
        raise ValueError("no measured runs to compare")
    pm = metrics_of(pred)
    rms = [metrics_of(r) for r in reals]
    keys = list(pm)
    for rm in rms:
        keys += [k for k in rm if k not in keys]
    rows: list[Row] = []
    if pred.scenario is not None and all(r.scenario is not None for r in reals):
        phases = phase_bounds(pred)  # the prediction's events cut the phases of both sides
        for extract in (lambda x: series_metrics_of(x, phases), storm_metrics_of):
            pms = extract(pred)
            rmss = [extract(r) for r in reals]
            skeys = list(pms) + [k for rm in rmss for k in rm if k not in pms]
            for k in dict.fromkeys(skeys):
                kind = (pms.get(k) or next(rm[k] for rm in rmss if k in rm))[0]
                meas = [rm[k][1] if k in rm else None for rm in rmss]
                ws = [rm[k][3] for rm in rmss if k in rm]
                weight = statistics.median(ws) if ws else 0.0
                if kind in SERIES_KINDS:
                    rows.append(_series_row(k, kind, pms.get(k), meas, weight, tol))
                else:
                    rows.append(_storm_row(k, kind, pms.get(k), meas, tol))
    for k in keys:
        kind = (pm.get(k) or next(rm[k] for rm in rms if k in rm))[0]
        measured: list[float | None] = []
        weights: list[float] = []
        for rm in rms:
            m = rm.get(k)
            if m is None:
                measured.append(0.0 if kind == "count" else None)
                continue
            measured.append(m[1])
            weights.append(m[3])
        weight = statistics.median(weights) if weights else 0.0
        pred_m = pm.get(k)
        if pred_m is None and kind == "count":  # a counter the simulation never incremented
            pred_m = ("count", 0.0, (None, None), math.inf)
        rows.append(_row(k, kind, pred_m, measured, weight, tol))
    notes = []
    for i, r in enumerate(reals):
        for f in r.findings:
            if "run invalid" in f:
                notes.append(f"run {i + 1}: {f.removeprefix('warning: ')}")
    passed = all(r.passed is not False for r in rows)
    passed_nl = all(r.passed is not False for r in rows if r.kind != "latency")
    return Comparison(
        rows=rows, passed=passed, passed_without_latency=passed_nl, runs=len(reals), tolerances=tol, notes=notes
    )


def compare(pred: Summary, real: Summary, tolerances: Tolerances | None = None) -> Comparison:
    """Compare a predicted Summary with one measured Summary (see the module docstring)."""
    return compare_runs(pred, [real], tolerances)
