"""The metrics a predicted and a measured :class:`~meshsim.metrics.results.Summary` are compared on:
entry latency and success, per-edge amplification and split, Envoy counters, per-interval series
(scenario runs) and the storm verdict, each as ``(kind, value, (ci_low, ci_high), weight)``."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Literal

from meshsim.analysis.verdict import VERDICTS
from meshsim.metrics.results import Summary

__all__ = [
    "COUNTERS",
    "Kind",
    "Metric",
    "metrics_of",
    "cpu_metrics_of",
    "pod_shares",
    "phase_bounds",
    "series_metrics_of",
    "short_cluster",
    "storm_metrics_of",
    "switch_time",
]

COUNTERS = (
    "upstream_rq_pending_overflow",
    "upstream_rq_retry_overflow",
    "outlier_detection.ejections_enforced_total",
)
"""Envoy cluster counters compared per run (summed over the proxies holding each cluster)."""

Kind = Literal[
    "latency",
    "success",
    "amplification",
    "split",
    "count",
    "series_split",
    "series_success",
    "phase_split",
    "phase_success",
    "verdict",
    "storm_amplification",
    "recovery",
    "container_cpu",
    "throttled",
]


def short_cluster(name: str) -> str:
    """``outbound|8080|v1|middle.default.svc.cluster.local`` -> ``middle/v1`` (``middle`` without subset)."""
    parts = name.split("|")
    if len(parts) != 4:
        return name
    host = parts[3].split(".")[0] or parts[3]
    return f"{host}/{parts[2]}" if parts[2] else host


Metric = tuple[Kind, float | None, tuple[float | None, float | None], float]  # kind, value, ci, weight (requests)


def metrics_of(s: Summary) -> dict[str, Metric]:
    """Every comparable metric of one Summary, keyed by a stable name.

    Counts are per run: a simulated Summary sums counters over its replications, so they are divided
    by ``run.replications``. The last tuple element is the number of requests behind the value (used
    for ``min_requests``).
    """
    out: dict[str, Metric] = {}
    lat = s.entry.latency_ms
    n_entry = float(s.entry.requests + s.entry.incomplete)
    for q in ("p50", "p90", "p99"):
        e = getattr(lat, q)
        out[f"entry {q} (ms)"] = ("latency", e.value, (e.ci_low, e.ci_high), n_entry)
    sr = s.entry.success_rate
    out["entry success rate"] = ("success", sr.value, (sr.ci_low, sr.ci_high), n_entry)
    out["mesh amplification"] = ("amplification", s.mesh.amplification, (None, None), float(s.mesh.requests))
    by_edge: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for e in s.edges:
        acc = by_edge[(e.source, e.cluster)]
        acc[0] += e.requests
        acc[1] += e.attempts
    for (src, cluster), (req, att) in sorted(by_edge.items()):
        out[f"amplification {src} -> {short_cluster(cluster)}"] = (
            "amplification",
            att / req if req else None,
            (None, None),
            req,
        )
    dest_req: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in s.edges:
        dest_req[e.destination][e.subset or "-"] += e.requests
    for dest, subsets in sorted(dest_req.items()):
        total = sum(subsets.values())
        if len(subsets) < 2:
            continue
        for sub, n in sorted(subsets.items()):
            out[f"split {dest} subset {sub}"] = ("split", n / total if total else None, (None, None), total)
    for key, (share, n_pod_requests) in pod_shares(s).items():
        out[key] = ("split", share, (None, None), n_pod_requests)
    reps = max(1, s.run.replications)
    per_cluster: dict[tuple[str, str], float] = defaultdict(float)
    for c in s.clusters:
        if not c.cluster.startswith("outbound|"):
            continue
        for k in COUNTERS:
            per_cluster[(k, c.cluster)] += c.counters.get(k, 0.0)
    totals: dict[str, float] = defaultdict(float)
    for (k, cluster), v in per_cluster.items():
        totals[k] += v
        if v:
            out[f"{k} {short_cluster(cluster)}"] = ("count", v / reps, (None, None), math.inf)
    for k in COUNTERS:
        out[f"{k} (mesh)"] = ("count", totals.get(k, 0.0) / reps, (None, None), math.inf)
    out.update(cpu_metrics_of(s))
    return out


def cpu_metrics_of(s: Summary) -> dict[str, Metric]:
    """Per container of ``s.containers`` (empty while the CPU model is off): ``cpu <pod>/<container> (cores)``,
    its mean CPU, and for a container with a CPU limit ``throttled periods <pod>/<container>``, the
    ``nr_throttled`` periods of one run (a simulated Summary sums them over replications, so they are divided by
    ``run.replications``). Both sides name pods by endpoint id and containers as the kernel's rows do."""
    out: dict[str, Metric] = {}
    reps = max(1, s.run.replications)
    for c in s.containers:
        name = f"{c.pod}/{c.container}"
        out[f"cpu {name} (cores)"] = ("container_cpu", c.cpu_cores, (None, None), math.inf)
        if c.limit_cores is not None:
            out[f"throttled periods {name}"] = ("throttled", c.nr_throttled / reps, (None, None), math.inf)
    return out


def pod_shares(s: Summary) -> dict[str, tuple[float, float]]:
    """``requests <service> pod <pod>``: each pod's share of its service's requests, from the ``upstream_rq_total``
    of the pod sidecar's inbound cluster (what the pod's Envoy passed to its app, retries included), for services
    with more than one pod. The value is ``(share, service requests)``. Pods are matched to services by their
    endpoint ids (``<service>-<version>-<index>``), which both backends take from the compiled model. Every
    replica of ``services`` has a row: a pod with no inbound counters (a backend leaves idle clusters out)
    received 0 requests."""
    prefixes = sorted({f"{sv.name}-{sv.version}-": sv.name for sv in s.services}.items(), key=lambda kv: -len(kv[0]))
    per_service: dict[str, dict[str, float]] = defaultdict(dict)
    for sv in s.services:
        for i in range(sv.replicas):
            per_service[sv.name].setdefault(f"{sv.name}-{sv.version}-{i}", 0.0)
    for c in s.clusters:
        if not c.cluster.startswith("inbound|"):
            continue
        for prefix, service in prefixes:
            if c.proxy.startswith(prefix) and c.proxy[len(prefix) :].isdigit():
                per_service[service][c.proxy] = per_service[service].get(c.proxy, 0.0) + c.counters.get(
                    "upstream_rq_total", 0.0
                )
                break
    out: dict[str, tuple[float, float]] = {}
    for service, pods in sorted(per_service.items()):
        total = sum(pods.values())
        if len(pods) < 2 or total <= 0:
            continue
        for pod, n in sorted(pods.items()):
            out[f"requests {service} pod {pod}"] = (n / total, total)
    return out


def phase_bounds(s: Summary) -> list[tuple[float, float]]:
    """Phases of the measured window: from warm-up end to the end of the window, cut at every scenario
    event (rounded to whole intervals)."""
    assert s.scenario is not None
    w = s.scenario.interval_s
    t0, t1 = s.run.warmup_s, s.run.warmup_s + s.run.duration_s
    cuts = sorted({round(round(e.t_s / w) * w, 9) for e in s.scenario.events if t0 < e.t_s < t1})
    edges = [round(math.ceil(t0 / w - 1e-9) * w, 9), *cuts, round(math.floor(t1 / w + 1e-9) * w, 9)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def series_metrics_of(s: Summary, phases: list[tuple[float, float]] | None = None) -> dict[str, Metric]:
    """Per-interval and per-phase split and entry success of a Summary with a scenario; the weight is
    the number of requests behind the value. Intervals cover [0, warm-up + duration): the drain is left
    out (partial, and the two sides drain differently)."""
    out: dict[str, Metric] = {}
    sc = s.scenario
    if sc is None:
        return out
    w = sc.interval_s
    end = s.run.warmup_s + s.run.duration_s
    by_svc: dict[str, list[str]] = defaultdict(list)
    for p in sc.series:
        for key in p.workloads:
            svc = key.rsplit(".", 1)[0]
            if key not in by_svc[svc]:
                by_svc[svc].append(key)
    multi = {svc: sorted(keys) for svc, keys in by_svc.items() if len(keys) > 1}
    counts: dict[float, dict[str, tuple[float, float]]] = {}  # t -> name -> (n, successes or share count)
    for p in sc.series:
        if p.t_s + w > end + 1e-9:
            continue
        row: dict[str, tuple[float, float]] = {}
        n_e = p.entry_rps * w
        if n_e > 0 and p.entry_success_rate is not None:
            row["entry success"] = (n_e, p.entry_success_rate * n_e)
        for svc, keys in multi.items():
            n_s = sum(p.workloads[k].rps * w for k in keys if k in p.workloads)
            for k in keys:
                n_k = p.workloads[k].rps * w if k in p.workloads else 0.0
                if n_s > 0:
                    row[f"split {svc} {k}"] = (n_s, n_k)
        counts[round(p.t_s, 9)] = row
        for name, (n, x) in row.items():
            kind: Kind = "series_success" if name == "entry success" else "series_split"
            out[f"t={p.t_s:g}s {name}"] = (kind, x / n, (None, None), n)
    for a, b in phases if phases is not None else phase_bounds(s):
        acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for t, row in counts.items():
            if a - 1e-9 <= t and t + w <= b + 1e-9:
                for name, (n, x) in row.items():
                    acc[name][0] += n
                    acc[name][1] += x
        for name, (n, x) in acc.items():
            kind = "phase_success" if name == "entry success" else "phase_split"
            if n > 0:
                out[f"phase [{a:g}s,{b:g}s) {name}"] = (kind, x / n, (None, None), n)
    return out


def storm_metrics_of(s: Summary) -> dict[str, Metric]:
    """Storm verdict (as an index into :data:`meshsim.analysis.verdict.VERDICTS`), recovery time and peak
    sidecar amplification over the verdict's window (all edges pooled, and per edge) from the trigger's
    start to the end of the measured window. Empty without a storm verdict."""

    out: dict[str, Metric] = {}
    sc = s.scenario
    if sc is None or sc.storm is None:
        return out
    st = sc.storm
    out["storm verdict"] = ("verdict", float(VERDICTS.index(st.verdict.verdict)), (None, None), math.inf)
    out["storm recovery (s)"] = ("recovery", st.verdict.recovery_s, (None, None), math.inf)
    w = sc.interval_s
    end = s.run.warmup_s + s.run.duration_s
    k_win = max(1, int(round(st.window_s / w)))
    pts = [p for p in sc.series if p.t_s + w > st.trigger_start_s + 1e-9 and p.t_s + w <= end + 1e-9]
    peak: dict[str, tuple[float, float]] = {}
    # pooled over the verdict's window (attempts / requests of k_win intervals): a single interval of the
    # real mesh is noisy (counters sampled at interval edges count an attempt when it starts, a request
    # when it ends), and a maximum over noisy intervals is biased upwards
    for i in range(max(0, len(pts) - k_win + 1)):
        win = pts[i : i + k_win]
        acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for p in win:
            for key, e in p.edges.items():
                for name in (key, "(all edges)"):
                    acc[name][0] += e.rps * w
                    acc[name][1] += e.rps * w * e.amplification
        for name, (req, att) in acc.items():
            if req > 0 and att / req > peak.get(name, (0.0, 0.0))[0]:
                peak[name] = (att / req, req)
    req_all = sum(e.rps * w for p in pts for e in p.edges.values())
    att_all = sum(e.rps * w * e.amplification for p in pts for e in p.edges.values())
    if req_all > 0:
        out["storm mean amplification (all edges)"] = ("storm_amplification", att_all / req_all, (None, None), req_all)
    for k, (amp, n) in sorted(peak.items()):
        out[f"storm peak amplification {k}"] = ("storm_amplification", amp, (None, None), n)
    return out


def switch_time(
    s: Summary, service: str, workload: str, before: float, after: float, t_from: float = 0.0
) -> float | None:
    """Start of the first interval (at or after ``t_from``, within the measured window) from which the
    share of ``workload`` among ``service``'s requests stays on the ``after`` side of the midpoint
    between ``before`` and ``after`` to the end of the window; None when it never does."""
    if s.scenario is None:
        return None
    w = s.scenario.interval_s
    end = s.run.warmup_s + s.run.duration_s
    mid = (before + after) / 2
    pts = []
    for p in s.scenario.series:
        if p.t_s < t_from - 1e-9 or p.t_s + w > end + 1e-9:
            continue
        keys = [k for k in p.workloads if k.rsplit(".", 1)[0] == service]
        n = sum(p.workloads[k].rps for k in keys)
        share = p.workloads[workload].rps / n if n and workload in p.workloads else None
        pts.append((p.t_s, share))
    switched: float | None = None
    for t, share in pts:
        on_after = share is not None and ((share - mid) * (after - before) > 0)
        if on_after and switched is None:
            switched = t
        elif not on_after:
            switched = None
    return switched
