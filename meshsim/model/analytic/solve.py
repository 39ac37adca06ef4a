"""``analyze``: the analytic estimate of a model (Jackson-style decomposition, bottom-up).

Method (Jackson-style, bottom-up over the call graph):

1. Routing: for each header class of the LoadProfile mix, each call is routed as the sidecar would
   (first matching route, weighted clusters, endpoints per workload ∝ replicas); fault aborts, Envoy
   retries (attempts = Σ q^k for a retriable failure probability q) and app retries follow from the
   workloads' error rates, bottom-up.
2. Rates: arrival rate per workload from the entry rate, header mix, route weights, call
   probabilities and retry inflation (failed requests stop their script, as in the simulator).
3. Service time = the whole time a worker is held (sleeps plus downstream call latency), so moments
   are computed callees first; each workload is an M/G/c queue: ``split`` (each replica its own
   M/G/c with λ/replicas: exact for random or kube-proxy balancing) or ``pooled`` (one M/G/(c·replicas):
   optimistic, a lower bound for least-request balancing). ``auto`` uses ``split`` for the entry
   service and for workloads behind ROUND_ROBIN/RANDOM clusters, ``pooled`` behind LEAST_REQUEST.
   Mean wait: Erlang C (Kleinrock 1975 §3.5) times the Allen–Cunneen / Lee–Longton factor
   (1 + cs²)/2 (see :func:`mgc_mean_wait`); wait distribution: atom 1 − C at 0 plus an exponential tail.
4. Entry latency mean from the moments; percentiles by vectorised Monte Carlo (``samples`` draws,
   ``seed``) over the same per-hop approximations.

Not modelled: timeouts, circuit breakers and outlier detection, connection pools, closed-loop load.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from meshsim.model.analytic.estimates import EdgeEstimate, NetworkEstimate, WorkloadEstimate
from meshsim.model.analytic.moments import ZERO, Moments
from meshsim.model.analytic.network import CallPlan, Network, Target
from meshsim.model.analytic.sampler import Sampler
from meshsim.model.ir import (
    MeshModel,
)
from meshsim.model.rules.dist import draws

__all__ = ["analyze"]


def analyze(
    model: MeshModel,
    rate: float | None = None,
    replicas: Mapping[str, int] | None = None,
    balance: Literal["auto", "split", "pooled"] = "auto",
    samples: int = 20000,
    seed: int = 0,
) -> NetworkEstimate:
    """Analytic (queueing-network) estimate of ``model`` at entry ``rate`` with ``replicas`` overrides, by
    the method of the module docstring.

    Parameters
    ----------
    model:
        A compiled model (open-loop load).
    rate:
        Entry rate in requests/s (default: the LoadProfile's).
    replicas:
        Replicas per workload key (``service.version``) overriding the model's.
    balance:
        ``auto``, ``split`` or ``pooled`` (see above).
    samples, seed:
        Monte Carlo draws for percentiles (0 skips them: percentiles are NaN) and their seed.

    Returns
    -------
    NetworkEstimate

    Raises
    ------
    ValueError
        For closed-loop load, a call graph with a cycle, or an unknown workload in ``replicas``.
    """
    if model.load.arrival == "closed":
        raise ValueError("the analytic model needs open-loop load (arrival: poisson or constant)")
    reps = _replicas(model, replicas)
    lam_in = float(rate if rate is not None else (model.load.rate or 0.0))
    net = Network(model, lam_in, reps, balance)
    lam, edge_rates = net.rates()
    net.solve(lam)
    entry_wls = [w.key for w in model.service(model.load.entry).workloads if reps.get(w.key, 0) > 0]
    tot_r = sum(reps[k] for k in entry_wls)
    entry_proxy = net.proxy + Moments(model.settings.network_latency, model.settings.network_latency**2)
    parts = [(weight * reps[k] / tot_r, net.resp[(k, h)]) for h, (weight, _) in enumerate(net.mix) for k in entry_wls]
    mean_s = (entry_proxy + Moments.mix(parts)).m1 if net.stable else math.inf
    succ = _entry_success(net, entry_wls, reps)
    q, edge_q = _percentiles(model, net, entry_wls, reps, samples, seed)
    wests = _workload_estimates(model, net, lam, reps)
    edges = _edge_estimates(net, edge_rates, edge_q)
    utils = [(w.utilization, w.key) for w in wests if w.utilization is not None and w.arrival_rate_rps > 0]
    return NetworkEstimate(
        entry=model.load.entry,
        entry_rate_rps=lam_in,
        stable=net.stable,
        success_rate=succ,
        mean_ms=mean_s * 1e3,
        p50_ms=q["p50"],
        p90_ms=q["p90"],
        p99_ms=q["p99"],
        workloads=tuple(wests),
        edges=tuple(edges),
        sidecar_attempts_rps=sum(e.attempts_rps for e in edges),
        bottleneck=max(utils)[1] if utils else None,
    )


def _replicas(model: MeshModel, replicas: Mapping[str, int] | None) -> dict[str, int]:
    """Replicas per workload key: the model's, with ``replicas`` overriding.

    Raises
    ------
    ValueError
        For a key in ``replicas`` that names no workload.
    """
    reps = {w.key: w.replicas for w in model.workloads}
    for k, v in (replicas or {}).items():
        if k not in reps:
            raise ValueError(f"unknown workload {k!r} (known: {', '.join(sorted(reps))})")
        reps[k] = int(v)
    return reps


def _entry_success(net: Network, entry_wls: list[str], reps: Mapping[str, int]) -> float:
    """The share of entry requests not answered 5xx: each header class's and entry workload's failure
    probabilities, weighted by the class's share and the workload's replicas."""
    tot_r = sum(reps[k] for k in entry_wls)
    return 1.0 - sum(
        weight * reps[k] / tot_r * sum(v for s, v in net.states[(k, h)].fail.items() if s >= 500)
        for h, (weight, _) in enumerate(net.mix)
        for k in entry_wls
    )


def _edge_mean_ms(net: Network, src: str, dst: str, cname: str) -> float:
    """Mean router latency (ms) of requests from ``src`` to cluster ``cname``, over header classes."""
    num = den = 0.0
    for h in range(len(net.mix)):
        st = net.states.get((src, h))
        x = net.lam.get((src, h), 0.0)
        if st is None or x <= 0:
            continue
        for group in st.steps:
            for cp in group:
                if not isinstance(cp, CallPlan) or cp.step.service != dst:
                    continue
                for t in cp.targets:
                    if t.cluster != cname or not t.workloads:
                        continue
                    one = CallPlan(cp.step, cp.route, [Target(t.cluster, 1.0, t.workloads)], try_status=cp.try_status)
                    m = net._try_moments(h, one).m1
                    num += x * t.weight * m
                    den += x * t.weight
    return num / den * 1e3 if den > 0 else math.nan


Quantiles = tuple[float, float, float]


def _percentiles(
    model: MeshModel, net: Network, entry_wls: list[str], reps: dict[str, int], samples: int, seed: int
) -> tuple[dict[str, float], dict[tuple[str, str, str], Quantiles]]:
    """Entry p50/p90/p99 (ms) and per-edge (p50, p90, p99) by Monte Carlo over the network's per-hop
    approximations (``samples`` draws from ``seed``); NaN without samples, inf when unstable."""
    q = {"p50": math.nan, "p90": math.nan, "p99": math.nan}
    edge_q: dict[tuple[str, str, str], Quantiles] = {}
    if not net.stable:
        return dict.fromkeys(q, math.inf), edge_q
    if samples <= 0:
        return q, edge_q
    tot_r = sum(reps[k] for k in entry_wls)
    rng = np.random.default_rng(seed)
    smp = Sampler(net, rng)
    hcls = rng.choice(len(net.mix), size=samples, p=np.array([w for w, _ in net.mix]))
    wsel = rng.choice(len(entry_wls), size=samples, p=np.array([reps[k] / tot_r for k in entry_wls]))
    t = draws(model.settings.sidecar_latency, rng, samples) + model.settings.network_latency
    for h in range(len(net.mix)):
        for wi, k in enumerate(entry_wls):
            sel = np.nonzero((hcls == h) & (wsel == wi))[0]
            if sel.size:
                t[sel] += smp.response(k, h, sel.size)[0]
    ms = t * 1e3
    q = {"p50": float(np.quantile(ms, 0.5)), "p90": float(np.quantile(ms, 0.9)), "p99": float(np.quantile(ms, 0.99))}
    for key, arrs in smp.edge_samples.items():
        allv = np.concatenate(arrs) * 1e3 if arrs else np.zeros(0)
        if allv.size:
            edge_q[key] = tuple(float(x) for x in np.quantile(allv, [0.5, 0.9, 0.99]))  # type: ignore[assignment]
    return q, edge_q


def _workload_estimates(
    model: MeshModel, net: Network, lam: dict[tuple[str, int], float], reps: dict[str, int]
) -> list[WorkloadEstimate]:
    """One estimate per workload: arrival rate (with retries), hold time, utilisation and M/G/c wait."""
    wests = []
    for w in model.workloads:
        k = w.key
        pw, wq = net.wait.get(k, (0.0, 0.0))
        hold = net.hold.get(k, ZERO)
        lam_w = sum(v for (kk, _), v in lam.items() if kk == k)
        wests.append(
            WorkloadEstimate(
                service=w.service,
                version=w.version,
                replicas=reps[k],
                concurrency=w.concurrency,
                arrival_rate_rps=lam_w,
                service_time_ms=hold.m1 * 1e3,
                service_scv=hold.scv,
                utilization=net.util.get(k),
                p_wait=pw,
                mean_wait_ms=wq * 1e3,
                mean_response_ms=(wq + hold.m1) * 1e3,
                balance=net.bal.get(k, "split"),
            )
        )
    return wests


def _edge_estimates(
    net: Network, edge_rates: dict[tuple[str, str, str], list[float]], edge_q: dict[tuple[str, str, str], Quantiles]
) -> list[EdgeEstimate]:
    """One estimate per (source workload, destination service, cluster) edge: request and attempt
    rates, success rate, mean router latency and the Monte Carlo percentiles."""
    edges = []
    for (src, dst, cname), (req, att, fails) in sorted(edge_rates.items()):
        mean_ms = _edge_mean_ms(net, src, dst, cname)
        p50, p90, p99 = edge_q.get((src, dst, cname), (math.nan, math.nan, math.nan))
        edges.append(
            EdgeEstimate(
                source=src,
                destination=dst,
                cluster=cname,
                subset=net.cluster_subset.get(cname, ""),
                requests_rps=req,
                attempts_rps=att,
                amplification=att / req if req > 0 else None,
                success_rate=1 - fails / req if req > 0 else 1.0,
                mean_ms=mean_ms,
                p50_ms=p50,
                p90_ms=p90,
                p99_ms=p99,
            )
        )
    return edges
