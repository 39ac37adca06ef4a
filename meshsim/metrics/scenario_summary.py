"""Turn the raw scenario data of replications into a :class:`~meshsim.metrics.results.ScenarioResult`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meshsim.metrics.intervals import wilson_estimate
from meshsim.metrics.results import (
    AmplificationPoint,
    CanaryCheck,
    CanaryResult,
    HPADecision,
    HPAMetricValue,
    HPAReplicas,
    HPAResult,
    HPAScale,
    PushResult,
    ScenarioEventResult,
    ScenarioResult,
    SeriesPoint,
    WorkloadPoint,
)
from meshsim.metrics.tally import RepResult
from meshsim.model.ir import MeshModel
from meshsim.units import format_duration

__all__ = ["hpa_result", "series_points", "scenario_result"]


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def series_points(model: MeshModel, raw: dict[str, Any]) -> list[SeriesPoint]:
    """Per-interval :class:`SeriesPoint` s from a run's raw series data (``{"series": Series}``); the real
    mesh builds its measured series with this same function."""
    series = raw["series"]
    width = series.width
    canary = model.timeline.canary if model.timeline is not None else None
    buckets = sorted(set(series.wl) | set(series.entry) | set(series.weight) | set(series.ejected) | set(series.edges))
    out: list[SeriesPoint] = []
    for b in buckets:
        e = series.entry.get(b)
        wls = {}
        for key, (n, ok, sk) in sorted(series.wl.get(b, {}).items()):
            wls[key] = WorkloadPoint(
                rps=round(n / width, 4),
                success_rate=_r(ok / n, 6) if n else None,
                p99_ms=_r(sk.get_quantile_value(0.99)) if n else None,
            )
        observed = None
        if canary is not None:
            rows = series.wl.get(b, {})
            c = sum(rows[k][0] for k in canary.canary_workloads if k in rows)
            p = sum(rows[k][0] for k in canary.primary_workloads if k in rows)
            observed = _r(100.0 * c / (c + p), 3) if c + p else None
        out.append(
            SeriesPoint(
                t_s=round(b * width, 6),
                entry_rps=round(e[0] / width, 4) if e else 0.0,
                entry_success_rate=_r(e[1] / e[0], 6) if e and e[0] else None,
                entry_p99_ms=_r(e[2].get_quantile_value(0.99)) if e and e[0] else None,
                workloads=wls,
                canary_weight_configured=series.weight.get(b),
                canary_weight_observed=observed,
                ejected_hosts=series.ejected.get(b, 0.0),
                queue=series.queue.get(b, {}),
                edges={
                    f"{k[0]}->{k[1]}": AmplificationPoint(
                        rps=round(v[0] / width, 4), amplification=round(v[1] / v[0], 6)
                    )
                    for k, v in sorted(series.edges.get(b, {}).items())
                    if v[0]
                },
                calls={
                    f"{k[0]}->{k[1]}": AmplificationPoint(
                        rps=round(v[0] / width, 4), amplification=round(v[1] / v[0], 6)
                    )
                    for k, v in sorted(series.calls.get(b, {}).items())
                    if v[0]
                },
            )
        )
    return out


def scenario_result(model: MeshModel, reps: Sequence[RepResult]) -> ScenarioResult | None:
    """None when the run had no Scenario or CanaryPolicy. The metastability verdict (``storm``) is
    judged above metrics/ (:func:`meshsim.analysis.verdict.storm_result`, attached by
    :func:`meshsim.experiments.simulate.summarize_run`)."""
    tl = model.timeline
    if tl is None or not reps or reps[0].scenario is None:
        return None
    raw = reps[0].scenario
    canary = _canary(tl.canary, raw, reps) if tl.canary is not None and raw["canary"] is not None else None
    return ScenarioResult(
        interval_s=tl.series_interval,
        series=series_points(model, raw),
        events=[
            ScenarioEventResult(t_s=round(e["t"], 6), action=e["action"], description=e["description"])
            for e in raw["events"]
        ],
        pushes=[
            PushResult(
                t_s=round(p["t"], 6),
                version=p["version"],
                changes=p["changes"],
                first_applied_s=round(p["first_applied"], 6),
                last_applied_s=round(p["last_applied"], 6),
                proxies=p["proxies"],
            )
            for p in raw["pushes"]
        ],
        canary=canary,
        autoscaling=[
            HPADecision(
                t_s=round(d["t"], 6),
                hpa=d["hpa"],
                workload=d["workload"],
                current=d["current"],
                recommendation=d["recommendation"],
                desired=d["desired"],
                ready=d["ready"],
                metrics=[HPAMetricValue(**m) for m in d["metrics"]],
            )
            for d in raw.get("autoscaling", [])
        ],
        autoscalers=[hpa_result(a) for a in raw.get("autoscalers", [])],
    )


def _canary(c: Any, raw: dict[str, Any], reps: Sequence[RepResult]) -> CanaryResult:
    """The CanaryPolicy's outcome (replication 0's rollout, every replication's outcome counted): what users saw
    during the rollout (requests, errors, requests over the latency threshold, from the sketches) and the verdict."""
    cr = raw["canary"]
    outcomes = {"promoted": 0, "rolled_back": 0, "in_progress": 0}
    for r in reps:
        if r.scenario and r.scenario["canary"]:
            outcomes[r.scenario["canary"]["outcome"]] += 1
    n = sum(outcomes.values())
    series = raw["series"]
    end = cr["at"] if cr["at"] is not None else max([b * series.width for b in series.entry] or [c.start])
    slow_ms = next((hi for name, _lo, hi, _w in c.metrics if name == "request-duration" and hi is not None), None)
    req = err = slow = 0
    for b, (nb, okb, sk) in series.entry.items():
        t = b * series.width
        if c.start <= t < end:
            req += nb
            err += nb - okb
            if slow_ms is not None and nb:
                # requests above the threshold, from the sketch's rank of the threshold
                slow += int(round(nb * (1 - _cdf(sk, slow_ms))))
    if cr["outcome"] == "promoted":
        verdict = f"promoted at {format_duration(cr['at'])}"
    elif cr["outcome"] == "rolled_back":
        verdict = f"rolled back at {format_duration(cr['at'])}"
    else:
        verdict = "still in progress when the run ended"
    if req:
        verdict += f", {100 * err / req:.2g}% of users saw errors during the rollout"
    return CanaryResult(
        name=c.name,
        service=c.service,
        primary=c.primary,
        canary=c.canary,
        outcome=cr["outcome"],
        at_s=cr["at"],
        verdict=verdict,
        failed_checks=cr["failed"],
        weights=[(round(t, 6), float(w)) for t, w in cr["weights"]],
        checks=[
            CanaryCheck(t_s=round(x["t"], 6), passed=x["passed"], reason=x["reason"], weight=float(x["weight"]))
            for x in cr["checks"]
        ],
        rollout_requests=req,
        rollout_errors=err,
        rollout_slow=slow,
        outcomes=outcomes,
        p_promoted=wilson_estimate(outcomes["promoted"], n),
        p_rolled_back=wilson_estimate(outcomes["rolled_back"], n),
    )


def hpa_result(a: dict[str, Any]) -> HPAResult:
    """One HPA's :class:`HPAResult` from its raw report (:meth:`meshsim.sim.autoscaler.Autoscaler.report`)."""
    scales = []
    for sc in a["scalings"]:
        up = sc["to"] > sc["from"]
        routable = sc.get("routable")
        scales.append(
            HPAScale(
                decided_s=round(sc["decided"], 6),
                from_replicas=sc["from"],
                to_replicas=sc["to"],
                ready_s=_r(sc.get("ready"), 6),
                routable_s=_r(routable, 6),
                time_to_scale_s=_r(routable - sc["decided"], 6) if up and routable is not None else None,
                recommended_s=_r(sc.get("recommended"), 6),
            )
        )
    steps = [
        HPAReplicas(t_s=round(t, 6), desiredReplicas=d, currentReplicas=c, readyReplicas=r) for t, d, c, r in a["steps"]
    ]
    peak = max([s.currentReplicas for s in steps] or [a["min"]])
    reached = next((s.t_s for s in steps if s.currentReplicas >= a["max"]), None)
    return HPAResult(
        hpa=a["hpa"],
        workload=a["workload"],
        minReplicas=a["min"],
        maxReplicas=a["max"],
        replicas=steps,
        scales=scales,
        peak_replicas=peak,
        max_reached_s=reached,
    )


def _cdf(sk: Any, x: float) -> float:
    """Fraction of a sketch's values <= x, by bisection on its quantiles (1% relative accuracy)."""
    if sk.count == 0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if (sk.get_quantile_value(mid) or 0.0) <= x:
            lo = mid
        else:
            hi = mid
    return lo
