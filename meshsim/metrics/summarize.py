"""Merge replications into a :class:`~meshsim.metrics.results.Summary`, with confidence intervals.

Every interval comes from :func:`meshsim.metrics.intervals.interval` (sectioning): the value is the
pooled estimate over all replications, the width comes from one section per replication when there
are several, else one per time batch of the single run. Counters are summed over replications;
rates and levels are averaged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ddsketch import DDSketch

from meshsim import __version__
from meshsim.errors import Finding
from meshsim.metrics.cpu import cpu_results
from meshsim.metrics.intervals import interval, mser, quantile_interval, subsection_skewness, t_half_width
from meshsim.metrics.recorder import RELATIVE_ACCURACY, Tally
from meshsim.metrics.results import (
    CallResult,
    ClusterResult,
    EdgeResult,
    EntryResult,
    Estimate,
    Latency,
    MeshTotals,
    ProxyResult,
    RunInfo,
    ServiceResult,
    Summary,
)
from meshsim.metrics.scenario_summary import scenario_result
from meshsim.metrics.tally import RepResult
from meshsim.model.ir import MeshModel

__all__ = ["estimate", "latency", "summarize", "transient_warmup"]

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))


def _r(x: float | None, nd: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return round(float(x), nd)


def estimate(
    per: Sequence[float | None],
    pooled: float | None,
    multi: bool = True,
    nd: int = 4,
    *,
    pooled_n: int | None = None,
    skewness: float | None = None,
) -> Estimate:
    """The :class:`Estimate` of a proportion (success rate, utilisation): ``pooled`` with the
    sectioning interval of the section values ``per`` (:func:`meshsim.metrics.intervals.interval`,
    ``kind="proportion"``; Wilson floor from ``pooled_n`` samples). ``multi``: the sections are
    replications (``skewness``: their estimates' skewness from finer data,
    :func:`meshsim.metrics.intervals.subsection_skewness`); else they are time batches of one run
    (``serial``, :func:`meshsim.metrics.intervals.section_bounds`)."""
    return interval(pooled, list(per), kind="proportion", pooled_n=pooled_n, nd=nd, serial=not multi, skewness=skewness)


def latency(tallies: Sequence[Tally]) -> Latency:
    """Latency block from one :class:`Tally` per replication (batch sketches inside each).

    Sections are the replications when there are several, else the time batches of the single run;
    the value is always the pooled one (all replications' sketches merged; the mean is total / n).
    """
    multi = len(tallies) > 1
    merged_all = None
    for t in tallies:
        m = t.merged()
        if merged_all is None:
            merged_all = m
        else:
            merged_all.merge(m)
    out: dict[str, Estimate] = {}
    n_all = sum(t.n for t in tallies)
    mean_pooled = sum(t.total for t in tallies) / n_all if n_all else None
    if multi:
        sketches: list[DDSketch | None] = [t.merged() if t.n else None for t in tallies]
    else:
        sketches = list(tallies[0].sketches) if tallies else []
    counts = [int(sk.count) if sk is not None else 0 for sk in sketches]
    per_mean = [sk.sum / sk.count if sk is not None and sk.count else None for sk in sketches]
    batches = [t.sketches for t in tallies] if multi else None
    gamma = (
        subsection_skewness([[sk.sum / sk.count for sk in grp if sk is not None and sk.count] for grp in batches])
        if batches is not None
        else None
    )
    out["mean"] = interval(
        mean_pooled, per_mean, counts, kind="mean", nonnegative=True, serial=not multi, skewness=gamma
    )
    for name, q in QUANTILES:
        out[name] = quantile_interval(
            merged_all if n_all else None, sketches, q, RELATIVE_ACCURACY, serial=not multi, subsections=batches
        )
    return Latency(**out)


def transient_finding(warmup: float, suggested: float) -> Finding:
    """The one-line warning for a warm-up MSER finds too short (the run itself is unchanged)."""
    return Finding(
        "warning",
        "LoadProfile",
        "spec.warmup",
        f"entry latency still drifts after the {warmup:g}s warm-up (MSER, White 1997, on the batch means); "
        f"try --warmup {math.ceil(suggested):g}s (this run kept {warmup:g}s)",
    )


def transient_warmup(tallies: Sequence[Tally], warmup: float, duration: float) -> float | None:
    """Warm-up MSER suggests from the entry latency batch means (White 1997), or None.

    The batch means are averaged over replications (one trajectory, weights = requests per batch);
    when MSER truncates d* > 0 of the ``B`` time batches, the suggestion is ``warmup + d* x
    duration / B`` seconds, provided the truncated mean differs from the full one by more than the
    truncated series' own 95% half-width (batch means after d*): otherwise the "transient" is
    indistinguishable from noise and nothing is suggested. Without that guard MSER on 10 batch means
    truncates stationary M/M/1 runs 40% of the time (measured, 12 of 30).
    """
    if not tallies:
        return None
    nb = tallies[0].nb
    sums = [0.0] * nb
    cnt = [0] * nb
    for t in tallies:
        for i, sk in enumerate(t.sketches):
            if sk is not None:
                sums[i] += sk.sum
                cnt[i] += int(sk.count)
    if any(c == 0 for c in cnt):
        return None
    means = [s_ / c for s_, c in zip(sums, cnt, strict=True)]
    d = mser(means, cnt)
    if d == 0:
        return None
    full = sum(sums) / sum(cnt)
    trunc = sum(sums[d:]) / sum(cnt[d:])
    if nb - d < 2 or abs(full - trunc) <= t_half_width(means[d:], trunc):
        return None
    return round(warmup + d * duration / nb, 3)


CDF_QUANTILES = tuple(
    round(q, 3) for q in [0.001, 0.01, 0.05] + [i / 20 for i in range(2, 19)] + [0.95, 0.975, 0.99, 0.995, 0.999]
)


def cdf(tallies: Sequence[Tally]) -> list[tuple[float, float]]:
    """Pooled latency quantiles at :data:`CDF_QUANTILES`, as ``(q, ms)`` pairs."""
    merged = None
    for t in tallies:
        if merged is None:
            merged = t.merged()
        else:
            merged.merge(t.merged())
    if merged is None or merged.count == 0:
        return []
    return [(q, round(float(merged.get_quantile_value(q) or 0.0), 4)) for q in CDF_QUANTILES]


def _codes(dicts: Sequence[dict[int, int]]) -> dict[str, int]:
    out: dict[int, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return {str(k): v for k, v in sorted(out.items())}


def summarize(
    model: MeshModel, reps: Sequence[RepResult], inputs: Sequence[str] = (), findings: Sequence[str] = ()
) -> Summary:
    """Merge ``reps`` (one per replication, in replication order) into a :class:`Summary`.

    Raises
    ------
    ValueError
        If ``reps`` is empty.
    """
    if not reps:
        raise ValueError("no replication results to summarize")
    load = model.load
    findings = list(findings)
    suggested = transient_warmup(
        [r.entry_latency for r in reps if r.entry_latency is not None], load.warmup, load.duration
    )
    if suggested is not None:
        findings.append(str(transient_finding(load.warmup, suggested)))
    run = _run_info(model, reps, inputs, suggested)
    entry = _entry(model, reps)
    edges = _edges(model, reps)
    calls = _calls(reps)
    services = _services(model, reps)
    clusters = _clusters(reps)
    tot_req = sum(e.requests for e in edges)
    tot_att = sum(e.attempts for e in edges)
    return Summary(
        proxies=_proxies(reps, load.duration),
        **cpu_results(reps, load.duration),
        run=run,
        entry=entry,
        edges=edges,
        calls=calls,
        services=services,
        clusters=clusters,
        mesh=MeshTotals(
            requests=tot_req, attempts=tot_att, amplification=_r(tot_att / tot_req, 6) if tot_req else None
        ),
        scenario=scenario_result(model, reps),
        findings=list(findings),
    )


def _run_info(model: MeshModel, reps: Sequence[RepResult], inputs: Sequence[str], suggested: float | None) -> RunInfo:
    """What was run: version, seed, replications, the interval method and its sections, the load."""
    multi = len(reps) > 1
    load = model.load
    first = reps[0]
    return RunInfo(
        meshsim_version=__version__,
        backend="simulation",
        seed=first.seed,
        replications=len(reps),
        ci_method="sectioning_replications" if multi else "sectioning_batches",
        ci_sections=len(reps) if multi else (first.entry_latency.nb if first.entry_latency is not None else None),
        config_digest=model.digest,
        inputs=list(inputs),
        entry=load.entry,
        arrival=load.arrival,
        rate_rps=load.rate,
        users=load.users,
        warmup_s=load.warmup,
        duration_s=load.duration,
        sketch_relative_accuracy=RELATIVE_ACCURACY,
        warmup_suggested_s=suggested,
    )


def _entry(model: MeshModel, reps: Sequence[RepResult]) -> EntryResult:
    """Requests at the entry service: counts, throughput (requests/s over the measured windows), success
    rate (sections: replications, else the single run's batches) and latency in ms."""
    multi = len(reps) > 1
    load = model.load
    first = reps[0]
    req = sum(r.entry_requests for r in reps)
    ok = sum(r.entry_success for r in reps)
    if multi:
        per_sr = [r.entry_success / r.entry_requests if r.entry_requests else None for r in reps]
        sr_skew = subsection_skewness(
            [[k / n for k, n in zip(r.entry_batch_ok, r.entry_batch_req, strict=True) if n] for r in reps]
        )
    else:
        per_sr = [s / n if n else None for s, n in zip(first.entry_batch_ok, first.entry_batch_req, strict=True)]
        sr_skew = None
    return EntryResult(
        service=load.entry,
        requests=req,
        incomplete=sum(r.entry_incomplete for r in reps),
        throughput_rps=_r(req / (load.duration * len(reps))) or 0.0,
        success_rate=estimate(per_sr, ok / req if req else None, multi, nd=6, pooled_n=req, skewness=sr_skew),
        latency_ms=latency([r.entry_latency for r in reps if r.entry_latency is not None]),
        latency_cdf_ms=cdf([r.entry_latency for r in reps if r.entry_latency is not None]),
        status_codes=_codes([r.entry_codes for r in reps]),
    )


def _edges(model: MeshModel, reps: Sequence[RepResult]) -> list[EdgeResult]:
    """One result per (source, destination, cluster) seen in any replication, counters summed."""
    multi = len(reps) > 1
    clusters = {c.name: c for c in model.clusters}
    edges: list[EdgeResult] = []
    for key in sorted({k for r in reps for k in r.edges}):
        src, dst, cname = key
        es = [r.edges[key] for r in reps if key in r.edges]
        n = sum(e.requests for e in es)
        att = sum(e.attempts for e in es)
        succ = sum(e.success for e in es)
        flags: dict[str, int] = {}
        for e in es:
            for f, v in e.flags.items():
                flags[f] = flags.get(f, 0) + v
        per = [e.success / e.requests if e.requests else None for e in es] if multi else []
        denied: dict[str, int] = {}
        for r in reps:
            obs = r.observations
            for pol, v in (obs.denied.get(key, {}) if obs is not None else {}).items():
                denied[pol] = denied.get(pol, 0) + v
        edges.append(
            EdgeResult(
                source=src,
                destination=dst,
                subset=clusters[cname].subset if cname in clusters else "",
                cluster=cname,
                requests=n,
                attempts=att,
                retries=sum(e.retries for e in es),
                amplification=_r(att / n, 6) if n else None,
                success_rate=estimate(per, succ / n if n else None, multi, nd=6, pooled_n=n),
                latency_ms=latency([e.latency for e in es]),
                latency_cdf_ms=cdf([e.latency for e in es]),
                response_flags=dict(sorted(flags.items())),
                status_codes=_codes([e.codes for e in es]),
                denied_by=dict(sorted(denied.items())),
            )
        )
    return edges


def _calls(reps: Sequence[RepResult]) -> list[CallResult]:
    """App-level calls per (source, destination): tries, app retries and timeouts, success, latency."""
    calls: list[CallResult] = []
    for ckey in sorted({k for r in reps for k in r.calls}):
        cs = [r.calls[ckey] for r in reps if ckey in r.calls]
        ncalls = sum(c.calls for c in cs)
        calls.append(
            CallResult(
                source=ckey[0],
                destination=ckey[1],
                calls=ncalls,
                tries=sum(c.tries for c in cs),
                app_retries=sum(c.app_retries for c in cs),
                app_timeouts=sum(c.app_timeouts for c in cs),
                skipped=sum(c.skipped for c in cs),
                success_rate=_r(1 - sum(c.failures for c in cs) / ncalls, 6) if ncalls else None,
                latency_ms=latency([c.latency for c in cs]),
            )
        )
    return calls


def _services(model: MeshModel, reps: Sequence[RepResult]) -> list[ServiceResult]:
    """Per workload: arrival rate (requests/s), utilisation of its workers, mean busy workers, queue and
    in-system counts (means over replications), wait and residence (ms per arrival), error rate."""
    multi = len(reps) > 1
    services: list[ServiceResult] = []
    for wl in model.workloads:
        ws = [r.workloads[wl.key] for r in reps]
        arrivals = sum(w["arrivals"] for w in ws)
        busy = sum(w["busy"] for w in ws) / len(ws)
        util = None
        if wl.concurrency is not None and wl.replicas:
            cap = wl.replicas * wl.concurrency
            util = estimate([w["busy"] / cap for w in ws] if multi else [], busy / cap, multi, nd=6)
        services.append(
            ServiceResult(
                name=wl.service,
                version=wl.version,
                replicas=wl.replicas,
                concurrency=wl.concurrency,
                arrival_rate_rps=_r(sum(w["arrival_rate"] for w in ws) / len(ws)) or 0.0,
                utilization=util,
                mean_busy_workers=_r(busy) or 0.0,
                mean_queue_length=_r(sum(w["queue"] for w in ws) / len(ws)) or 0.0,
                mean_in_system=_r(sum(w["in_system"] for w in ws) / len(ws)) or 0.0,
                mean_wait_ms=_r(1e3 * sum(w["wait_sum"] for w in ws) / arrivals) if arrivals else None,
                p_wait=_r(sum(w["waited"] for w in ws) / arrivals, 6) if arrivals else None,
                mean_residence_ms=_r(1e3 * sum(w["residence_sum"] for w in ws) / arrivals) if arrivals else None,
                error_rate=_r(sum(w["errors"] for w in ws) / arrivals, 6) if arrivals else None,
            )
        )
    return services


def _clusters(reps: Sequence[RepResult]) -> list[ClusterResult]:
    """Envoy cluster counters per (proxy, cluster), summed over replications (the active-ejections gauge
    averaged), with Envoy's dotted stat names."""
    cl: list[ClusterResult] = []
    for pkey in sorted({k for r in reps for k in r.clusters}):
        acc: dict[str, float] = {}
        cnt = 0
        for r in reps:
            d = r.clusters.get(pkey)
            if d is None:
                continue
            cnt += 1
            for k, val in d.items():
                acc[k] = acc.get(k, 0.0) + val
        if "outlier_detection.ejections_active" in acc and cnt:
            acc["outlier_detection.ejections_active"] = round(acc["outlier_detection.ejections_active"] / cnt, 6)
        named = {
            k.replace("outlier_detection_", "outlier_detection."): (int(v) if float(v).is_integer() else v)
            for k, v in acc.items()
        }
        cl.append(ClusterResult(proxy=pkey[0], cluster=pkey[1], counters=named))
    return cl


def _proxies(reps: Sequence[RepResult], window: float) -> list[ProxyResult]:
    """Per-proxy CPU and worker queueing, summed over replications; ``vcpu`` is the mean
    over replications of CPU seconds / measured window."""
    acc: dict[str, list[float]] = {}
    meta: dict[str, tuple[str, int]] = {}
    n = 0
    for r in reps:
        obs = r.observations
        if obs is None:
            continue
        n += 1
        for pid, u in obs.proxies.items():
            a = acc.setdefault(pid, [0.0, 0.0, 0.0, 0.0, 0.0])
            a[0] += u.requests
            a[1] += u.handshakes
            a[2] += u.cpu_s
            a[3] += u.waited
            a[4] += u.wait_s
            meta[pid] = (u.workload, u.workers)
    out = []
    for pid in sorted(acc):
        req, hs, cpu, waited, wait_s = acc[pid]
        wl, workers = meta[pid]
        vcpu = cpu / (window * n) if window > 0 and n else 0.0
        out.append(
            ProxyResult(
                proxy=pid,
                workload=wl,
                workers=workers,
                requests=int(req),
                handshakes=int(hs),
                vcpu=_r(vcpu, 6) or 0.0,
                utilization=_r(vcpu / workers, 6) if workers else None,
                p_wait=_r(waited / req, 6) if req else None,
                mean_wait_ms=_r(1e3 * wait_s / waited) if waited else None,
            )
        )
    return out
