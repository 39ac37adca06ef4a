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
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meshsim import atomic
from meshsim.analysis.verdict import VERDICTS
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
]

_SERIES_KINDS = ("series_split", "series_success", "phase_split", "phase_success")


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


def _row(
    key: str, kind: Kind, pred: Metric | None, measured: list[float | None], weight: float, tol: Tolerances
) -> Row:
    pv = pred[1] if pred else None
    ci = pred[2] if pred else (None, None)
    vals = [v for v in measured if v is not None]
    mv = float(statistics.median(vals)) if vals else None
    note = ""
    err: float | None = None
    passed: bool | None = None
    unit: Literal["rel", "pp", "abs"] = "rel"
    if kind == "latency":
        limit = {"p50": tol.p50_rel, "p90": tol.p90_rel, "p99": tol.p99_rel}[key.split()[1]]
        tol_s = f"±{limit * 100:g} %"
        if pv is not None and mv:
            err = (pv - mv) / mv
            passed = abs(err) <= limit
    elif kind == "success":
        unit = "pp"
        tol_s = f"±{tol.success_pp:g} pp"
        if pv is not None and mv is not None:
            err = (pv - mv) * 100
            passed = abs(err) <= tol.success_pp + 1e-9
    elif kind == "split":
        unit = "pp"
        limit = tol.split_pp
        tol_s = f"±{limit:g} pp"
        if pv is not None and mv is not None:
            err = (pv - mv) * 100
            runs = sum(v is not None for v in measured)
            se = _split_se(pv, pred[3] if pred else 0.0, weight, runs)
            eff = max(limit, tol.split_noise_z * se)
            if eff > limit + 1e-9:
                tol_s = f"±{eff:.2f} pp"
                note = f"{limit:g} pp widened to {tol.split_noise_z:g} SE (binomial SE {se:.2f} pp)"
            passed = abs(err) <= eff + 1e-9
    elif kind == "amplification":
        limit = tol.amplification_rel
        tol_s = f"±{limit * 100:g} %"
        if pv is not None and mv:
            err = (pv - mv) / mv
            runs = sum(v is not None for v in measured)
            se = _amplification_se(pv, pred[3] if pred else 0.0, weight, runs)
            eff = max(limit, tol.amplification_noise_z * se)
            if eff > limit + 1e-12:
                tol_s = f"±{eff * 100:.1f} %"
                note = f"{limit * 100:g} % widened to {tol.amplification_noise_z:g} SE (SE {se * 100:.1f} %)"
            passed = abs(err) <= eff + 1e-12
    elif kind in ("container_cpu", "throttled"):
        rel, slack = (
            (tol.container_cpu_rel, tol.container_cpu_abs)
            if kind == "container_cpu"
            else (tol.throttled_rel, tol.throttled_abs)
        )
        tol_s = (
            f"±max({rel * 100:g} %, {slack * 1000:g} m)"
            if kind == "container_cpu"
            else f"±max({rel * 100:g} %, {slack:g})"
        )
        if pv is not None and mv is not None:
            unit = "rel" if mv else "abs"
            err = (pv - mv) / mv if mv else pv - mv
            passed = abs(pv - mv) <= max(rel * mv, slack) + 1e-12
    else:
        tol_s = f"±max({tol.count_rel * 100:g} %, {tol.count_abs:g})"
        p = pv if pv is not None else 0.0
        m = mv if mv is not None else 0.0
        if pv is None and mv is None:
            passed = None
        else:
            unit = "rel" if m else "abs"
            err = (p - m) / m if m else p - m
            passed = abs(p - m) <= max(tol.count_rel * m, tol.count_abs)
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
        error=err,
        error_unit=unit,
        tolerance=tol_s,
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
                if kind in _SERIES_KINDS:
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


# --------------------------------------------------------------------------------------------- render
def _fmt(v: float | None, kind: Kind) -> str:
    if v is None:
        return "–"
    if kind == "verdict":
        return VERDICTS[int(v)] if 0 <= int(v) < len(VERDICTS) else f"{v:g}"
    if kind in ("success", "split", *_SERIES_KINDS):
        return f"{v * 100:.2f} %"
    if kind == "storm_amplification":
        return f"{v:.3f}"
    if kind == "recovery":
        return f"{v:.1f} s"
    if kind == "amplification":
        return f"{v:.4f}"
    if kind in ("count", "throttled"):
        return f"{v:.1f}"
    if kind == "container_cpu":
        return f"{v:.4f}"
    return f"{v:.2f}"


def _fmt_err(r: Row) -> str:
    if r.error is None:
        return "–"
    if r.error_unit == "pp":
        return f"{r.error:+.2f} pp"
    if r.error_unit == "abs":
        return f"{r.error:+.1f}" + (" s" if r.kind == "recovery" else "")
    return f"{r.error * 100:+.1f} %"


def _verdict(r: Row) -> str:
    return {True: "pass", False: "FAIL", None: "–"}[r.passed]


def _ci(r: Row) -> str:
    lo, hi = r.predicted_ci
    if lo is None or hi is None:
        return ""
    return f" [{_fmt(lo, r.kind)}, {_fmt(hi, r.kind)}]"


def to_markdown(c: Comparison, title: str = "") -> str:
    """A markdown table of ``c`` (predicted with its 95 % CI, measured median, error, tolerance, verdict)."""
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| metric | predicted [95 % CI] | measured (median) | error (pred − meas) | tolerance | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in c.rows:
        res = _verdict(r) + (f" ({r.note})" if r.note else "")
        lines.append(
            f"| {r.key} | {_fmt(r.predicted, r.kind)}{_ci(r)} | {_fmt(r.measured, r.kind)} | {_fmt_err(r)} "
            f"| {r.tolerance} | {res} |"
        )
    lines.append("")
    verdict = "PASS" if c.passed else "FAIL"
    lines.append(
        f"**{verdict}** ({len(c.failures)} of {sum(r.passed is not None for r in c.rows)} gating rows outside "
        f"tolerance; median of {c.runs} run(s); without latency rows: "
        f"{'pass' if c.passed_without_latency else 'fail'})"
    )
    for n in c.notes:
        lines.append(f"- {n}")
    return "\n".join(lines) + "\n"


def rich_table(c: Comparison, title: str = "predicted vs measured") -> Any:
    """A :class:`rich.table.Table` of ``c``."""
    from rich.table import Table

    t = Table(title=title)
    for col in ("metric", "predicted [95% CI]", "measured", "error (pred − meas)", "tolerance", "result"):
        t.add_column(col, justify="left" if col in ("metric", "result") else "right")
    for r in c.rows:
        style = {True: "green", False: "bold red", None: "dim"}[r.passed]
        t.add_row(
            r.key,
            f"{_fmt(r.predicted, r.kind)}{_ci(r)}",
            _fmt(r.measured, r.kind),
            _fmt_err(r),
            r.tolerance,
            _verdict(r) + (f" ({r.note})" if r.note else ""),
            style=style,
        )
    return t


def plot(c: Comparison, pred: Summary, reals: Sequence[Summary], path: Path) -> None:
    """``compare.png``: entry latency percentiles (bars, predicted with CI) and the entry latency CDFs."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    lat = [r for r in c.rows if r.kind == "latency"]
    xs = list(range(len(lat)))
    pv = [r.predicted or 0.0 for r in lat]
    mv = [r.measured or 0.0 for r in lat]
    lo = [
        max(0.0, p - (r.predicted_ci[0] if r.predicted_ci[0] is not None else p)) for p, r in zip(pv, lat, strict=True)
    ]
    hi = [
        max(0.0, (r.predicted_ci[1] if r.predicted_ci[1] is not None else p) - p) for p, r in zip(pv, lat, strict=True)
    ]
    ax1.bar([x - 0.2 for x in xs], pv, 0.4, yerr=[lo, hi], capsize=3, label="predicted (95 % CI)")
    ax1.bar([x + 0.2 for x in xs], mv, 0.4, label=f"measured (median of {c.runs})")
    ax1.set_xticks(xs, [r.key.split()[1] for r in lat])
    ax1.set_ylabel("entry latency (ms)")
    ax1.legend(fontsize=8)
    ax1.set_title("entry latency percentiles")
    for label, s, lw in [("predicted", pred, 2.5)] + [(f"measured run {i + 1}", r, 1.2) for i, r in enumerate(reals)]:
        pts = s.entry.latency_cdf_ms
        if pts:
            ax2.plot([max(v, 1e-3) for _, v in pts], [q for q, _ in pts], label=label, linewidth=lw)
    ax2.set_xscale("log")
    ax2.set_xlabel("latency (ms)")
    ax2.set_ylabel("fraction of requests")
    ax2.set_ylim(0, 1)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8, loc="lower right")
    ax2.set_title("entry latency CDF")
    atomic.save_figure(fig, path, dpi=100)


def plot_series(pred: Summary, reals: Sequence[Summary], path: Path) -> None:
    """``compare_series.png``: per interval, predicted and measured subset shares, entry success rate
    and sidecar amplification (all edges pooled), with the scenario's events marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    assert pred.scenario is not None
    fig = Figure(figsize=(11, 8), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    runs = [("predicted", pred, 2.5, "-")] + [(f"measured run {i + 1}", r, 1.2, "--") for i, r in enumerate(reals)]
    for label, s, lw, ls in runs:
        if s.scenario is None:
            continue
        pts = s.scenario.series
        ts = [p.t_s for p in pts]
        svcs: dict[str, list[str]] = defaultdict(list)
        for p in pts:
            for k in p.workloads:
                if k not in svcs[k.rsplit(".", 1)[0]]:
                    svcs[k.rsplit(".", 1)[0]].append(k)
        for _svc, keys in sorted(svcs.items()):
            if len(keys) < 2:
                continue
            for k in sorted(keys)[1:]:
                ys = []
                for p in pts:
                    n = sum(p.workloads[x].rps for x in keys if x in p.workloads)
                    ys.append(100 * p.workloads[k].rps / n if n and k in p.workloads else float("nan"))
                ax1.plot(ts, ys, ls, linewidth=lw, label=f"{label}: {k}")
        ax2.plot(
            ts,
            [100 * p.entry_success_rate if p.entry_success_rate is not None else float("nan") for p in pts],
            ls,
            linewidth=lw,
            label=label,
        )
        amp = []
        for p in pts:
            req = sum(e.rps for e in p.edges.values())
            amp.append(sum(e.rps * e.amplification for e in p.edges.values()) / req if req else float("nan"))
        ax3.plot(ts, amp, ls, linewidth=lw, label=label)
    for ax in (ax1, ax2, ax3):
        for e in pred.scenario.events:
            ax.axvline(e.t_s, color="grey", linewidth=0.8, linestyle=":")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    ax1.set_ylabel("share of service requests (%)")
    ax2.set_ylabel("entry success (%)")
    ax3.set_ylabel("sidecar attempts / request")
    ax3.set_xlabel("interval start (s from the start of load)")
    ax1.set_title("per-interval time series, predicted vs measured")
    atomic.save_figure(fig, path, dpi=100)


def write_outputs(c: Comparison, pred: Summary, reals: Sequence[Summary], out: Path, title: str = "") -> list[Path]:
    """Write ``compare.json``, ``compare.md`` and ``compare.png`` (and ``compare_series.png`` for a
    scenario run) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.json", out / "compare.md", out / "compare.png"]
    atomic.write_text(paths[0], c.model_dump_json(indent=1) + "\n")
    atomic.write_text(paths[1], to_markdown(c, title))
    plot(c, pred, reals, paths[2])
    if pred.scenario is not None and any(r.scenario is not None for r in reals):
        paths.append(out / "compare_series.png")
        plot_series(pred, reals, paths[-1])
    return paths
