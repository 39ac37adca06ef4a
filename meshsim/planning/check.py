"""CI gating of config changes: simulate a baseline and a candidate with common random numbers and
compare them (``meshsim check``).

Both configs run with the same seed and replications, so replication r of each draws from the same
named streams (seed, r): an entity present in both sees the same arrivals and service times, and the
difference between the two runs is mostly the change itself. Differences are paired over
replications: the value is candidate - baseline (pooled), the 95% CI comes from the spread of the
per-replication differences (:func:`meshsim.metrics.intervals.paired`; for quantiles never narrower
than what two DDSketches can resolve).

The candidate **fails** when it violates an SLO (``criterion``, default the point estimate) or when a
metric regresses *significantly* (the paired CI excludes 0) *and* beyond its tolerance:

- latency (entry mean/p50/p90/p99 and SLO edge latencies): relative increase > ``latency_tol``;
- success rate (entry and SLO edges): absolute drop > ``success_tol``;
- amplification (every edge's upstream attempts per request): absolute increase > ``amplification_tol``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from meshsim.analysis.slo import Check, Criterion, SLOSet, validate_against
from meshsim.metrics.intervals import paired
from meshsim.metrics.recorder import RELATIVE_ACCURACY
from meshsim.metrics.results import Summary
from meshsim.model.build import load_and_compile
from meshsim.planning.search import SimPoint, simulate_point

__all__ = ["Comparison", "CheckReport", "compare", "check"]


@dataclass(frozen=True)
class Comparison:
    """One metric in both runs: values, paired difference (candidate − baseline) with its 95% CI,
    whether it is significant, the tolerance and whether it is a regression. ``higher_is_worse``
    tells the direction; ``relative`` whether the tolerance is relative to the baseline."""

    metric: str
    baseline: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    tolerance: float
    relative: bool
    higher_is_worse: bool
    significant: bool
    regression: bool

    def as_row(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "metric",
                "baseline",
                "candidate",
                "diff",
                "ci_low",
                "ci_high",
                "tolerance",
                "relative",
                "significant",
                "regression",
            )
        }


def _cmp(
    metric: str,
    b: float | None,
    c: float | None,
    per_b: Sequence[float | None],
    per_c: Sequence[float | None],
    tol: float,
    relative: bool,
    higher_is_worse: bool,
    resolution: float = 0.0,
    counts: tuple[int | None, int | None] | None = None,
) -> Comparison:
    """One comparison; the paired interval comes from :func:`meshsim.metrics.intervals.paired`
    (centred on ``c - b``, never narrower than +/- ``resolution``). For a proportion, ``counts`` =
    (baseline, candidate) requests: the interval is then never narrower than Newcombe's hybrid score
    interval (:func:`meshsim.metrics.intervals.newcombe`)."""
    pooled = c - b if b is not None and c is not None else None
    props = None
    if counts is not None and b is not None and c is not None and counts[0] and counts[1]:
        props = (b, counts[0], c, counts[1])
    est = paired(per_b, per_c, pooled, resolution, proportions=props)
    diff, lo, hi = est.value, est.ci_low, est.ci_high
    if lo is not None and hi is not None:
        significant = lo > 0 or hi < 0
    else:
        significant = diff is not None and diff != 0 and not per_b  # no replications: no CI, any change counts
    worse = diff is not None and ((diff > 0) if higher_is_worse else (diff < 0))
    size = abs(diff) / abs(b) if (relative and diff is not None and b) else (abs(diff) if diff is not None else 0.0)
    regression = bool(significant and worse and size > tol)
    return Comparison(metric, b, c, diff, lo, hi, tol, relative, higher_is_worse, significant, regression)


def _edge_amp(s: Summary) -> dict[str, float]:
    acc: dict[str, list[int]] = {}
    for e in s.edges:
        key = f"amplification {e.source}->{e.destination}{'/' + e.subset if e.subset else ''}"
        a = acc.setdefault(key, [0, 0])
        a[0] += e.requests
        a[1] += e.attempts
    return {k: att / req for k, (req, att) in acc.items() if req > 0}


def compare(
    base: SimPoint,
    cand: SimPoint,
    latency_tol: float = 0.10,
    success_tol: float = 0.001,
    amplification_tol: float = 0.02,
) -> list[Comparison]:
    """Paired comparisons of entry latency and success rate, every edge's amplification, and every
    SLO metric (module docstring for the rules)."""
    out: list[Comparison] = []
    bs, cs = base.summary, cand.summary
    for q in ("mean", "p50", "p90", "p99"):
        b, c = getattr(bs.entry.latency_ms, q).value, getattr(cs.entry.latency_ms, q).value
        pb = [getattr(s.entry.latency_ms, q).value for s in base.per_rep]
        pc = [getattr(s.entry.latency_ms, q).value for s in cand.per_rep]
        res = RELATIVE_ACCURACY * (abs(b) + abs(c)) if q != "mean" and b is not None and c is not None else 0.0
        out.append(_cmp(f"entry latency {q} (ms)", b, c, pb, pc, latency_tol, True, True, res))
    out.append(
        _cmp(
            "entry success rate",
            bs.entry.success_rate.value,
            cs.entry.success_rate.value,
            [s.entry.success_rate.value for s in base.per_rep],
            [s.entry.success_rate.value for s in cand.per_rep],
            success_tol,
            False,
            False,
            counts=(bs.entry.requests, cs.entry.requests),
        )
    )
    ab, ac = _edge_amp(bs), _edge_amp(cs)
    pab = [_edge_amp(s) for s in base.per_rep]
    pac = [_edge_amp(s) for s in cand.per_rep]
    for key in sorted(set(ab) | set(ac)):
        out.append(
            _cmp(
                key,
                ab.get(key),
                ac.get(key),
                [d.get(key) for d in pab],
                [d.get(key) for d in pac],
                amplification_tol,
                False,
                True,
            )
        )
    for bc in base.checks:
        cc = cand.check(bc.key)
        if cc is None or bc.target == "entry":
            continue  # entry metrics are compared above
        if bc.metric == "success_rate":
            out.append(
                _cmp(
                    f"SLO {bc.key}",
                    bc.value,
                    cc.value,
                    bc.per_rep,
                    cc.per_rep,
                    success_tol,
                    False,
                    False,
                    counts=(bc.requests, cc.requests),
                )
            )
        elif bc.metric == "amplification":
            out.append(
                _cmp(f"SLO {bc.key}", bc.value, cc.value, bc.per_rep, cc.per_rep, amplification_tol, False, True)
            )
        else:
            q_res = (
                RELATIVE_ACCURACY * (abs(bc.value) + abs(cc.value))
                if bc.metric != "latency.mean" and bc.value is not None and cc.value is not None
                else 0.0
            )
            out.append(
                _cmp(f"SLO {bc.key}", bc.value, cc.value, bc.per_rep, cc.per_rep, latency_tol, True, True, q_res)
            )
    return out


@dataclass
class CheckReport:
    """The result of :func:`check`: the two runs, SLO checks of each, comparisons and the verdict."""

    baseline: SimPoint
    candidate: SimPoint
    comparisons: list[Comparison]
    seed: int
    replications: int
    criterion: str
    notes: list[str] = field(default_factory=list)

    @property
    def slo_failures(self) -> list[Check]:
        return [c for c in self.candidate.checks if not c.ok]

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.regression]

    @property
    def passed(self) -> bool:
        return not self.slo_failures and not self.regressions

    def to_frame(self) -> Any:
        """Comparisons as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([c.as_row() for c in self.comparisons])

    def _repr_html_(self) -> str:
        return f"<p><b>check</b>: {'PASS' if self.passed else 'FAIL'}</p>" + str(self.to_frame().to_html())

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "seed": self.seed,
            "replications": self.replications,
            "criterion": self.criterion,
            "baseline_digest": self.baseline.digest,
            "candidate_digest": self.candidate.digest,
            "slo": {
                "baseline": [c.as_row() for c in self.baseline.checks],
                "candidate": [c.as_row() for c in self.candidate.checks],
            },
            "comparisons": [c.as_row() for c in self.comparisons],
            "notes": self.notes,
        }

    def junit_xml(self) -> str:
        """JUnit XML: one test case per candidate SLO check and per compared metric."""
        cases: list[str] = []
        fails = 0
        for c in self.candidate.checks:
            name = html.escape(f"{c.key} {'<=' if c.bound == 'max' else '>='} {c.limit:g}", quote=True)
            body = ""
            if not c.ok:
                fails += 1
                msg = html.escape(
                    f"candidate {c.metric} = {_f(c.value)} (95% CI {_f(c.ci_low)}..{_f(c.ci_high)}) violates {c.limit:g}",
                    quote=True,
                )
                body = f'<failure message="{msg}" type="SLOViolation"/>'
            cases.append(f'  <testcase classname="meshsim.check.slo" name="{name}">{body}</testcase>')
        for r in self.comparisons:
            name = html.escape(r.metric, quote=True)
            body = ""
            if r.regression:
                fails += 1
                msg = html.escape(
                    f"{r.metric}: {_f(r.baseline)} -> {_f(r.candidate)}, paired diff {_f(r.diff)} [{_f(r.ci_low)}, {_f(r.ci_high)}] beyond tolerance {_tol(r)}",
                    quote=True,
                )
                body = f'<failure message="{msg}" type="Regression"/>'
            cases.append(f'  <testcase classname="meshsim.check.regression" name="{name}">{body}</testcase>')
        head = f'<testsuite name="meshsim-check" tests="{len(cases)}" failures="{fails}" errors="0">'
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
            + head
            + "\n"
            + "\n".join(cases)
            + "\n</testsuite>\n</testsuites>\n"
        )

    def markdown(self) -> str:
        """A pull-request comment: verdict, SLO table, significant differences, provenance."""
        lines = [f"## meshsim check: {'✅ pass' if self.passed else '❌ fail'}", ""]
        if self.slo_failures:
            lines.append(f"**{len(self.slo_failures)} SLO violation(s)** in the candidate.")
        if self.regressions:
            lines.append(f"**{len(self.regressions)} significant regression(s)** beyond tolerance.")
        lines += [
            "",
            "### SLOs",
            "",
            "| objective | metric | limit | baseline | candidate (95% CI) | ok |",
            "|---|---|---|---|---|---|",
        ]
        for c in self.candidate.checks:
            b = self.baseline.check(c.key)
            lim = f"{'≤' if c.bound == 'max' else '≥'} {c.limit:g}"
            lines.append(
                f"| {c.objective} | {c.metric} | {lim} | {_f(b.value if b else None)} | {_f(c.value)} ({_f(c.ci_low)}–{_f(c.ci_high)}) | {'✅' if c.ok else '❌'} |"
            )
        lines += [
            "",
            "### Differences (candidate − baseline, paired over replications)",
            "",
            "| metric | baseline | candidate | diff [95% CI] | tolerance | |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.comparisons:
            if not (r.significant or r.regression):
                continue
            flag = "❌ regression" if r.regression else "significant"
            lines.append(
                f"| {r.metric} | {_f(r.baseline)} | {_f(r.candidate)} | {_f(r.diff)} [{_f(r.ci_low)}, {_f(r.ci_high)}] | {_tol(r)} | {flag} |"
            )
        if not any(r.significant for r in self.comparisons):
            lines.append("| (no significant difference) | | | | | |")
        lines += [
            "",
            f"<sub>seed {self.seed}, {self.replications} replications (common random numbers); "
            f"baseline {self.baseline.digest[:12]}, candidate {self.candidate.digest[:12]}</sub>",
            "",
        ]
        return "\n".join(lines)


def _f(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.4g}"


def _tol(r: Comparison) -> str:
    return f"{r.tolerance:.0%}" if r.relative else f"{r.tolerance:g}"


def check(
    baseline: Sequence[str],
    candidate: Sequence[str],
    slos: SLOSet,
    baseline_overrides: Sequence[str] = (),
    candidate_overrides: Sequence[str] = (),
    seed: int = 1,
    replications: int = 4,
    workers: int | None = None,
    criterion: Criterion = "point",
    latency_tol: float = 0.10,
    success_tol: float = 0.001,
    amplification_tol: float = 0.02,
) -> CheckReport:
    """Simulate ``baseline`` and ``candidate`` with common random numbers and compare (module docstring).

    Raises
    ------
    meshsim.errors.ConfigError
        On bad input in either config or the SLOs.
    ValueError
        If ``replications`` < 2 (paired CIs need at least two).
    """
    if replications < 2:
        raise ValueError("check needs at least 2 replications for paired confidence intervals")

    for paths, over in ((baseline, baseline_overrides), (candidate, candidate_overrides)):
        validate_against(slos, load_and_compile(list(paths), list(over))[0])  # both valid before simulating
    b = simulate_point(baseline, baseline_overrides, slos, seed, replications, workers, criterion)
    c = simulate_point(candidate, candidate_overrides, slos, seed, replications, workers, criterion)
    comps = compare(b, c, latency_tol, success_tol, amplification_tol)
    notes = []
    if not b.ok:
        notes.append("the baseline itself violates an SLO")
    return CheckReport(b, c, comps, seed, replications, criterion, notes)
