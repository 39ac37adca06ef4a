"""Load ``kind: SLO`` documents and evaluate their objectives.

An objective yields one :class:`Check` per metric it bounds: ``latency.mean|p50|p90|p99`` (maxima, ms),
``success_rate`` (a minimum, fraction of responses with status < 500) and ``amplification`` (a
maximum, upstream attempts per sidecar request). Checks are made on a simulated run (point estimate,
95% CI over replications or batch means, and per-replication values for paired comparisons) or on an
analytic :class:`~meshsim.model.analytic.NetworkEstimate` (point values only).

Decision rule (``criterion``): ``ci`` (default) — a maximum holds when the upper end of the 95% CI is
within it and a minimum when the lower end is (so a plan that passes is very likely to pass again
with another seed); ``point`` — the point estimate decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from meshsim.config.loader import Source, _validation_error, load_documents
from meshsim.config.meshsim_kinds import SLO, Objective
from meshsim.errors import ConfigError
from meshsim.metrics.intervals import interval
from meshsim.metrics.recorder import RELATIVE_ACCURACY
from meshsim.metrics.results import EdgeResult, Estimate, Summary
from meshsim.metrics.summarize import QUANTILES
from meshsim.model.analytic import NetworkEstimate
from meshsim.model.ir import MeshModel

__all__ = [
    "Check",
    "Criterion",
    "SLOItem",
    "SLOSet",
    "all_ok",
    "evaluate_analytic",
    "evaluate_summary",
    "load_slos",
    "slos_from_config",
    "validate_against",
    "violation",
]

Criterion = Literal["ci", "point"]
LATENCY_METRICS = ("mean", "p50", "p90", "p99")


@dataclass(frozen=True)
class SLOItem:
    """One objective with where it came from (for one-line errors)."""

    source: str
    index: int
    objective: Objective

    @property
    def loc(self) -> str:
        return f"spec.objectives[{self.index}]"


@dataclass(frozen=True)
class SLOSet:
    """The objectives of one or more SLO documents, and a digest of the files (provenance)."""

    items: tuple[SLOItem, ...]
    files: tuple[str, ...] = ()
    digest: str = ""


@dataclass(frozen=True)
class Check:
    """One bounded metric of one objective.

    ``metric`` is ``latency.p99`` (ms), ``success_rate`` (fraction) or ``amplification``; ``bound``
    ``max`` or ``min``; ``value`` the point estimate (None: no traffic, the check holds vacuously, except for an
    entry objective whose measured requests never completed, which fails);
    ``ci_low``/``ci_high`` its 95% CI (None when unknown); ``per_rep`` one value per replication;
    ``requests`` the sample count of ``value`` (a proportion's denominator).
    """

    objective: str
    metric: str
    bound: Literal["max", "min"]
    limit: float
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    per_rep: tuple[float | None, ...] = field(default=(), compare=False)
    ok: bool = True
    target: Literal["entry", "edge"] = "entry"
    requests: int | None = field(default=None, compare=False)
    """Requests behind ``value`` (entry requests, or the matched edges' requests); None when unknown."""

    @property
    def key(self) -> str:
        return f"{self.objective}/{self.metric}"

    def excess(self) -> float:
        """Relative violation of the point estimate (0 when it holds): ``value/limit − 1`` for a
        maximum, ``(limit − value)/(1 − limit)`` for a success-rate minimum."""
        if self.value is None:
            return 0.0
        if math.isinf(self.value) or math.isnan(self.value):
            return 1e6
        if self.bound == "max":
            return max(0.0, self.value / self.limit - 1.0) if self.limit > 0 else (1e6 if self.value > 0 else 0.0)
        return max(0.0, (self.limit - self.value) / max(1e-6, 1.0 - self.limit))

    def as_row(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "metric": self.metric,
            "bound": self.bound,
            "limit": self.limit,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ok": self.ok,
        }


def load_slos(paths: Sequence[str]) -> SLOSet:
    """Read the ``kind: SLO`` documents in ``paths`` (files or directories); other kinds are ignored.

    Raises
    ------
    ConfigError
        On unreadable YAML, an invalid SLO document (file, object, field) or when no SLO is found.
    """
    docs, files, digest = load_documents(list(paths))
    items: list[SLOItem] = []
    for src, d in docs:
        if d.get("kind") != "SLO":
            continue
        meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
        named = Source(src.file, src.index, "SLO", str(meta.get("name")) if meta and meta.get("name") else None)
        try:
            obj = SLO.model_validate(d)
        except ValidationError as exc:
            raise _validation_error(named, exc) from None
        items.extend(SLOItem(str(named), i, o) for i, o in enumerate(obj.spec.objectives))
    if not items:
        raise ConfigError(", ".join(paths), "", "no SLO document (apiVersion: meshsim.io/v1alpha1, kind: SLO) found")
    return SLOSet(tuple(items), tuple(files), digest)


def slos_from_config(cfg: Any) -> SLOSet:
    """The SLOs a loaded :class:`~meshsim.config.loader.MeshConfig` carries (``cfg.slos``)."""
    items = [SLOItem(str(d.source), i, o) for d in cfg.slos for i, o in enumerate(d.obj.spec.objectives)]
    return SLOSet(tuple(items), tuple(cfg.files), "")


def validate_against(slos: SLOSet, model: MeshModel) -> None:
    """Check that every objective names the model's entry, or services that exist.

    Raises
    ------
    ConfigError
        Naming the SLO file and objective field.
    """
    names = {s.name for s in model.services}
    keys = {w.key for w in model.workloads}
    for it in slos.items:
        o = it.objective
        if o.entry is not None and o.entry != model.load.entry:
            raise ConfigError(
                it.source,
                f"{it.loc}.entry",
                f"{o.entry!r} is not the entry service (the LoadProfile enters at {model.load.entry!r})",
            )
        if o.edge is not None:
            if o.edge.source not in names and o.edge.source not in keys:
                raise ConfigError(
                    it.source, f"{it.loc}.edge.source", f"no service or workload {o.edge.source!r} in the mesh"
                )
            if o.edge.destination not in names:
                raise ConfigError(
                    it.source, f"{it.loc}.edge.destination", f"no service {o.edge.destination!r} in the mesh"
                )


def _edge_match(o: Objective, e_source: str, e_dest: str, e_subset: str) -> bool:
    sel = o.edge
    assert sel is not None
    src_ok = e_source == sel.source or e_source.split(".")[0] == sel.source
    return src_ok and e_dest == sel.destination and (sel.subset is None or sel.subset == e_subset)


def _summary_metric(o: Objective, s: Summary, metric: str) -> tuple[float | None, Estimate | None]:
    """(point value, its Estimate if the summary has one) of ``metric`` for objective ``o``."""
    if o.entry is not None:
        if metric == "success_rate":
            return s.entry.success_rate.value, s.entry.success_rate
        est = getattr(s.entry.latency_ms, metric.split(".")[1])
        return est.value, est
    edges: list[EdgeResult] = [
        e for e in s.edges if _edge_match(o, e.source, e.destination, e.subset) and e.requests > 0
    ]
    if not edges:
        return None, None
    req = sum(e.requests for e in edges)
    if metric == "amplification":
        return sum(e.attempts for e in edges) / req, None
    if metric == "success_rate":
        if len(edges) == 1:
            return edges[0].success_rate.value, edges[0].success_rate
        return sum((e.success_rate.value or 0.0) * e.requests for e in edges) / req, None
    q = metric.split(".")[1]
    ests = [getattr(e.latency_ms, q) for e in edges]
    if len(ests) == 1:
        return ests[0].value, ests[0]
    vals = [x.value for x in ests if x.value is not None]
    return (max(vals) if vals else None), None  # several edges: the worst one (conservative)


def _metrics(o: Objective) -> list[tuple[str, Literal["max", "min"], float]]:
    out: list[tuple[str, Literal["max", "min"], float]] = []
    if o.latency is not None:
        for q in LATENCY_METRICS:
            v = getattr(o.latency, q)
            if v is not None:
                out.append((f"latency.{q}", "max", v * 1e3))
    if o.successRate is not None:
        out.append(("success_rate", "min", o.successRate))
    if o.amplification is not None:
        out.append(("amplification", "max", o.amplification))
    return out


def _decide(
    bound: str, limit: float, value: float | None, lo: float | None, hi: float | None, criterion: Criterion
) -> bool:
    if value is None:
        return True
    if bound == "max":
        x = hi if (criterion == "ci" and hi is not None) else value
        return x <= limit
    x = lo if (criterion == "ci" and lo is not None) else value
    return x >= limit


def evaluate_summary(
    slos: SLOSet, pooled: Summary, per_rep: Sequence[Summary] = (), criterion: Criterion = "ci"
) -> list[Check]:
    """Evaluate every objective on a simulated run.

    Parameters
    ----------
    pooled:
        The summary over all replications (its Estimates carry the CIs).
    per_rep:
        One summary per replication (``summarize(model, [rep])``), for per-replication values (paired
        comparisons) and for CIs of metrics the pooled summary has no interval for.
    criterion:
        ``ci`` or ``point`` (module docstring).
    """
    out: list[Check] = []
    for it in slos.items:
        o = it.objective
        for metric, bound, limit in _metrics(o):
            value, est = _summary_metric(o, pooled, metric)
            per = tuple(_summary_metric(o, s, metric)[0] for s in per_rep)
            lo = est.ci_low if est is not None else None
            hi = est.ci_high if est is not None else None
            if est is None and len(per) > 1 and value is not None:
                fallback = interval(value, list(per), kind="proportion" if metric == "success_rate" else "mean", nd=6)
                lo, hi = fallback.ci_low, fallback.ci_high
                if metric.startswith("latency.p") and lo is not None and hi is not None:  # sketch resolution floor
                    lo, hi = min(lo, value / (1 + RELATIVE_ACCURACY)), max(hi, value / (1 - RELATIVE_ACCURACY))
            if metric == "amplification" and value is not None and lo is not None:
                lo = max(1.0, lo)
            out.append(
                Check(
                    o.label,
                    metric,
                    bound,
                    limit,
                    value,
                    lo,
                    hi,
                    per,
                    _decide(bound, limit, value, lo, hi, criterion) and not _collapsed(o, pooled, metric),
                    "entry" if o.entry is not None else "edge",
                    _requests(o, pooled),
                )
            )
    return out


def _collapsed(o: Objective, s: Summary, metric: str) -> bool:
    """Whether an entry objective fails on requests that never completed: the run offered requests but none
    completed (no value is not "no traffic" then), or, for a latency quantile q, more than ``1 - q`` of the
    measured requests were still in flight when the run ended, so the quantile lies beyond the run's drain
    horizon whatever the completed ones say."""
    if o.entry is None:
        return False
    n, m = s.entry.requests, s.entry.incomplete
    if m <= 0:
        return False
    if n == 0:
        return True
    q = dict(QUANTILES).get(metric.removeprefix("latency."))
    return q is not None and m / (n + m) > 1 - q


def _requests(o: Objective, s: Summary) -> int:
    """Requests behind objective ``o``'s metrics in ``s``: the entry's, or the matched edges'."""
    if o.entry is not None:
        return s.entry.requests
    return sum(e.requests for e in s.edges if _edge_match(o, e.source, e.destination, e.subset))


def evaluate_analytic(slos: SLOSet, est: NetworkEstimate) -> list[Check]:
    """Evaluate every objective on an analytic estimate (point values; no CIs)."""
    out: list[Check] = []
    for it in slos.items:
        o = it.objective
        for metric, bound, limit in _metrics(o):
            value: float | None
            if o.entry is not None:
                value = est.success_rate if metric == "success_rate" else getattr(est, f"{metric.split('.')[1]}_ms")
            else:
                edges = [
                    e for e in est.edges if _edge_match(o, e.source, e.destination, e.subset) and e.requests_rps > 0
                ]
                if not edges:
                    value = None
                elif metric == "amplification":
                    value = sum(e.attempts_rps for e in edges) / sum(e.requests_rps for e in edges)
                elif metric == "success_rate":
                    value = sum(e.success_rate * e.requests_rps for e in edges) / sum(e.requests_rps for e in edges)
                else:
                    value = max(getattr(e, f"{metric.split('.')[1]}_ms") for e in edges)
            if value is not None and math.isnan(value):
                value = None
            out.append(
                Check(
                    o.label,
                    metric,
                    bound,
                    limit,
                    value,
                    ok=_decide(bound, limit, value, None, None, "point"),
                    target="entry" if o.entry is not None else "edge",
                )
            )
    return out


def all_ok(checks: Sequence[Check]) -> bool:
    """True when every check holds."""
    return all(c.ok for c in checks)


def violation(checks: Sequence[Check]) -> float:
    """Sum of relative excesses (0 when every point estimate is within its objective)."""
    return sum(c.excess() for c in checks)
