"""Metastability verdicts: after a trigger ends, does the mesh return to its pre-trigger state?

Vocabulary from Bronson et al., *Metastable Failures in Distributed Systems* (HotOS'21) and Huang et
al., *Metastable Failures in the Wild* (OSDI'22): a **trigger** (capacity drop or
load spike for a while) pushes a vulnerable system over capacity; a **sustaining effect** (here retry
amplification of work that timed-out callers already abandoned) may keep it there after the trigger
is gone.

Judged on one replication's time series (entry requests by completion time, per
``timeSeriesInterval`` bucket), over the measured window ``[warmup, warmup + duration)``:

- **baseline**: entry goodput ``G0`` (successful entry responses per second) and p99 ``P0`` (ms,
  merged sketch) over the measured time before the trigger starts;
- a sliding window of ``window_s`` seconds is **healthy** when its goodput is at least
  ``(1 - goodput_tolerance) * G0 - 3 * sqrt(G0 / window_s)`` (the tolerance, less three Poisson
  standard deviations of a window's count, so a healthy system at a low rate is not called degraded
  by chance) and its p99 at most ``p99_factor * P0``;
- **stable**: every window healthy; **recovered**: some window degraded, and every window from
  ``recovered_at_s`` to the end of the measured window healthy (``recovery_s`` counts from the end of
  the trigger, 0 when it recovered before the trigger ended); **metastable**: the last window, which
  starts after the trigger ended, is still degraded. ``undetermined`` when the baseline or the time
  after the trigger is shorter than one window.

With a HorizontalPodAutoscaler the verdict also says whether autoscaling rescued the mesh
(:func:`autoscaling_effect`): it **recovered** and a scale-up's new pods were in every sidecar's EDS before
its first healthy window to the end had ended; else which HPA scaled how far (at ``maxReplicas``: not enough
pods; short of it: the scale-up came too slowly or the metric did not ask for more).

"Metastable" is operational, as in Huang et al.'s reproductions: still degraded when the observation
ends (``duration`` after the trigger). A slowly draining queue looks metastable on a short horizon,
so the observation should be several drain times long; the evidence (queue lengths, amplification)
shows which it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meshsim.metrics.intervals import wilson_estimate
from meshsim.metrics.recorder import new_sketch
from meshsim.metrics.results import Estimate, StormAutoscaling, StormHPA, StormResult, StormVerdict, StormWindow

__all__ = ["VerdictParams", "Trigger", "trigger_of", "classify", "storm_result", "autoscaling_effect", "VERDICTS"]

VERDICTS = ("stable", "recovered", "metastable", "undetermined")


@dataclass(frozen=True)
class VerdictParams:
    """Tolerances of the verdict.

    ``window_s``: sliding-window length (s, rounded to whole series intervals); ``goodput_tolerance``:
    fraction of baseline goodput a healthy window may lose (beyond Poisson noise);
    ``p99_factor``: a healthy window's p99 is at most this multiple of the baseline p99 (3 by
    default: in 30 calm runs of ``topologies/storm`` the worst 5 s window reached 2.6x the baseline,
    while a storm's p99 is the callers' timeouts, 10-30x).
    """

    window_s: float = 5.0
    goodput_tolerance: float = 0.10
    p99_factor: float = 3.0


@dataclass(frozen=True)
class Trigger:
    """The trigger window ``[start, end)`` in seconds from the start of the run, and a description."""

    start: float
    end: float
    description: str


_BOUNDED = ("slow", "errors", "load")


def trigger_of(timeline: Any) -> Trigger | None:
    """The trigger of a compiled :class:`~meshsim.model.timeline.Timeline`, or None.

    From the first ``slow``/``errors``/``load``/``scale``/``kill`` event to the end of the last one
    (``at + duration`` for a slowdown, an error burst or a load spike; ``at`` for a scale event, so a
    scale-down and the scale-up that restores it bound the trigger). None when there is no such event,
    when one of them is permanent (a slowdown, error burst or load step without ``duration``, a ramp, a
    kill) and no scale pair bounds it, or with a canary rollout.
    """
    if timeline is None or getattr(timeline, "canary", None) is not None:
        return None
    evs = [e for e in timeline.events if e.action in ("slow", "errors", "load", "scale", "kill")]
    if not evs:
        return None
    scales = [e for e in evs if e.action == "scale"]
    for e in evs:
        if e.action == "kill" or (e.action in _BOUNDED and (e.duration is None or e.ramp)):
            return None
    if not any(e.action in _BOUNDED for e in evs) and len(scales) < 2:
        return None
    start = min(e.at for e in evs)
    end = max(e.at + (e.duration or 0.0) for e in evs)
    return Trigger(start, end, "; ".join(e.description + (f" for {e.duration:g}s" if e.duration else "") for e in evs))


def _merge(rows: Sequence[Any]) -> tuple[int, int, Any]:
    n = ok = 0
    sk = new_sketch()
    for r in rows:
        if r is None:
            continue
        n += r[0]
        ok += r[1]
        sk.merge(r[2])
    return n, ok, sk


def _q99(n: int, sk: Any) -> float | None:
    return None if n == 0 else float(sk.get_quantile_value(0.99) or 0.0)


def _amp(series: Any, b0: int, b1: int) -> dict[str, float]:
    acc: dict[tuple[str, str], list[int]] = {}
    for b in range(b0, b1):
        for k, (req, att) in series.edges.get(b, {}).items():
            a = acc.setdefault(k, [0, 0])
            a[0] += req
            a[1] += att
    return {f"{k[0]}->{k[1]}": round(v[1] / v[0], 4) for k, v in sorted(acc.items()) if v[0]}


def classify(
    series: Any,
    t_start: float,
    t_end: float,
    trigger: Trigger,
    params: VerdictParams = VerdictParams(),
    replication: int = 0,
) -> tuple[StormVerdict, list[StormWindow]]:
    """Classify one replication from its raw :class:`~meshsim.metrics.series.Series`.

    Parameters
    ----------
    series:
        ``RepResult.scenario["series"]``: per-bucket entry ``[requests, successes, latency sketch]``,
        queue lengths and ``edges`` ``[requests, attempts]``.
    t_start, t_end:
        The measured window (s): warm-up end and last arrival.
    trigger:
        From :func:`trigger_of`.

    Returns the verdict and the sliding windows (start time, goodput, p99, healthy).
    """
    w = series.width
    k = max(1, int(round(params.window_s / w)))
    win = k * w
    b_lo = int(math.ceil(t_start / w - 1e-9))
    b_hi = int(math.floor(t_end / w + 1e-9))  # buckets [b_lo, b_hi) lie in the measured window
    b_trig = int(math.floor(trigger.start / w + 1e-9))
    b_trig_end = int(math.ceil(trigger.end / w - 1e-9))
    n0, ok0, sk0 = _merge([series.entry.get(b) for b in range(b_lo, b_trig)])
    base_len = (b_trig - b_lo) * w
    g0 = ok0 / base_len if base_len > 0 else 0.0
    p0 = _q99(n0, sk0)
    common = _common(series, replication, g0, p0, b_lo, b_trig, b_hi, k)
    if base_len < win - 1e-9 or b_hi - b_trig_end < k or n0 == 0:
        n, ok, sk = _merge([series.entry.get(b) for b in range(max(b_lo, b_hi - k), b_hi)])
        v = StormVerdict(verdict="undetermined", end_goodput_rps=round(ok / win, 4), end_p99_ms=_q99(n, sk), **common)
        return v, []
    floor = (1 - params.goodput_tolerance) * g0 - 3 * math.sqrt(g0 / win)
    p_max = params.p99_factor * p0 if p0 is not None else math.inf
    windows = _windows(series, b_lo, b_hi, k, floor, p_max)
    last = windows[-1]
    verdict, rec_at, rec = _outcome(windows, trigger)
    v = StormVerdict(
        verdict=verdict,
        recovered_at_s=rec_at,
        recovery_s=rec,
        end_goodput_rps=last.goodput_rps,
        end_p99_ms=last.p99_ms,
        **common,
    )
    return v, windows


def _common(
    series: Any, replication: int, g0: float, p0: float | None, b_lo: int, b_trig: int, b_hi: int, k: int
) -> dict[str, Any]:
    """The verdict's fields every outcome has: the baseline (buckets ``[b_lo, b_trig)``), the peak and final
    queues and failures from the trigger on, and the retry amplification before and at the end."""
    fail = sum((series.entry[b][0] - series.entry[b][1]) for b in range(b_trig, b_hi) if b in series.entry)
    queues: dict[str, float] = {}
    for b in range(b_trig, b_hi):
        for wl, q in series.queue.get(b, {}).items():
            queues[wl] = max(queues.get(wl, 0.0), q)
    return {
        "replication": replication,
        "baseline_goodput_rps": round(g0, 4),
        "baseline_p99_ms": None if p0 is None else round(p0, 3),
        "peak_queue": queues,
        "end_queue": dict(series.queue.get(b_hi - 1, {})),
        "baseline_amplification": _amp(series, b_lo, b_trig),
        "end_amplification": _amp(series, b_hi - k, b_hi),
        "failed_requests": int(fail),
    }


def _windows(series: Any, b_lo: int, b_hi: int, k: int, floor: float, p_max: float) -> list[StormWindow]:
    """Sliding windows of ``k`` buckets over ``[b_lo, b_hi)``: healthy when goodput >= ``floor`` (req/s) and
    p99 <= ``p_max`` (ms)."""
    w = series.width
    win = k * w
    out = []
    for s in range(b_lo, b_hi - k + 1):
        n, ok, sk = _merge([series.entry.get(b) for b in range(s, s + k)])
        good = ok / win
        p99 = _q99(n, sk)
        healthy = good >= floor and p99 is not None and p99 <= p_max
        out.append(
            StormWindow(
                t_s=round(s * w, 6),
                goodput_rps=round(good, 4),
                p99_ms=None if p99 is None else round(p99, 3),
                healthy=healthy,
            )
        )
    return out


def _outcome(windows: list[StormWindow], trigger: Trigger) -> tuple[str, float | None, float | None]:
    """``(verdict, recovered_at_s, recovery_s)``: stable (every window healthy), metastable (the last one is not),
    else recovered at the start of the final healthy run of windows."""
    if all(x.healthy for x in windows):
        return "stable", None, None
    if not windows[-1].healthy:
        return "metastable", None, None
    i = len(windows) - 1
    while i > 0 and windows[i - 1].healthy:
        i -= 1
    rec_at = windows[i].t_s
    return "recovered", rec_at, round(max(0.0, rec_at - trigger.end), 6)


def storm_result(model: Any, reps: Sequence[Any], params: VerdictParams = VerdictParams()) -> StormResult | None:
    """The :class:`StormResult` of replications ``reps`` (``RepResult`` s) of ``model``, or None when
    the model's scenario has no bounded trigger (:func:`trigger_of`)."""
    trig = trigger_of(model.timeline)
    if trig is None or not reps or reps[0].scenario is None:
        return None
    verdicts: list[StormVerdict] = []
    windows0: list[StormWindow] = []
    for r in reps:
        if r.scenario is None:
            continue
        v, wins = classify(r.scenario["series"], r.t_start, r.t_end, trig, params, r.replication)
        if r.scenario.get("autoscalers"):
            w = r.scenario["series"].width
            win = max(1, int(round(params.window_s / w))) * w
            v = v.model_copy(update={"autoscaling": autoscaling_effect(r.scenario["autoscalers"], v, trig, win)})
        verdicts.append(v)
        if not windows0:
            windows0 = wins
    outcomes = {k: sum(v.verdict == k for v in verdicts) for k in VERDICTS}
    n = len(verdicts) - outcomes["undetermined"]
    rec = [v.recovery_s for v in verdicts if v.recovery_s is not None]
    w = reps[0].scenario["series"].width
    return StormResult(
        trigger=trig.description,
        trigger_start_s=round(trig.start, 6),
        trigger_end_s=round(trig.end, 6),
        window_s=max(1, int(round(params.window_s / w))) * w,
        goodput_tolerance=params.goodput_tolerance,
        p99_factor=params.p99_factor,
        verdict=verdicts[0],
        windows=windows0,
        replications=verdicts,
        outcomes=outcomes,
        p_stable=wilson_estimate(outcomes["stable"], n) if n else Estimate(value=None),
        p_recovered=wilson_estimate(outcomes["recovered"], n) if n else Estimate(value=None),
        p_metastable=wilson_estimate(outcomes["metastable"], n) if n else Estimate(value=None),
        mean_recovery_s=round(sum(rec) / len(rec), 4) if rec else None,
    )


def _hpa_during(a: dict[str, Any], trig: Trigger) -> StormHPA:
    """One HPA's raw report (``Autoscaler.report``) seen from the trigger's start."""
    steps = a["steps"]
    before = next((c for t, _d, c, _r in reversed(steps) if t <= trig.start + 1e-9), steps[0][2] if steps else 0)
    reached = max([before] + [c for t, _d, c, _r in steps if t > trig.start])
    ups = [x for x in a["scalings"] if x["to"] > x["from"] and x["decided"] >= trig.start - 1e-9]
    first = ups[0] if ups else None
    return StormHPA(
        hpa=a["hpa"],
        workload=a["workload"],
        replicas_before=before,
        replicas_reached=reached,
        maxReplicas=a["max"],
        first_scale_up_s=None if first is None else round(first["decided"], 6),
        routable_s=None if first is None or first.get("routable") is None else round(first["routable"], 6),
    )


def autoscaling_effect(
    autoscalers: Sequence[dict[str, Any]], v: StormVerdict, trig: Trigger, window_s: float
) -> StormAutoscaling:
    """Whether the replication's HPAs rescued it (module docstring), with a one-line summary naming them."""
    hpas = [_hpa_during(a, trig) for a in autoscalers]
    routable = [h.routable_s for h in hpas if h.routable_s is not None]
    rescued = (
        v.verdict == "recovered"
        and v.recovered_at_s is not None
        and any(t <= v.recovered_at_s + window_s + 1e-9 for t in routable)
    )
    parts = []
    for h in hpas:
        if h.replicas_reached <= h.replicas_before:
            parts.append(f"HPA {h.hpa} kept {h.workload} at {h.replicas_before} pod(s)")
            continue
        cap = " (its maxReplicas)" if h.replicas_reached >= h.maxReplicas else f" of at most {h.maxReplicas}"
        when = f", new pods routable from {h.routable_s:.1f}s" if h.routable_s is not None else ""
        parts.append(f"HPA {h.hpa} scaled {h.workload} {h.replicas_before} -> {h.replicas_reached}{cap}{when}")
    did = "; ".join(parts)
    if not any(h.replicas_reached > h.replicas_before for h in hpas):
        text = f"{v.verdict}, no scale-up: {did}"
    elif rescued:
        text = f"recovered after autoscaling: {did}; healthy from {v.recovered_at_s:g}s"
    elif v.verdict == "metastable":
        at_max = [h for h in hpas if h.replicas_reached >= h.maxReplicas > h.replicas_before]
        why = "not enough pods at maxReplicas" if at_max else "autoscaling did not catch up"
        text = f"metastable despite autoscaling ({why}): {did}"
    elif v.verdict == "stable":
        text = f"stable (never degraded) while {did}"
    else:
        text = f"{v.verdict} without autoscaling's help: {did}"
    return StormAutoscaling(rescued=rescued, summary=text, hpas=hpas)
