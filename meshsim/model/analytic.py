"""Closed forms of queueing theory, used as test oracles and as the capacity planner's fast pre-screen.

Sources: Kleinrock, *Queueing Systems Vol. 1* (1975), §3.5 (M/M/c, Erlang's C formula); Lee & Longton
(1959) and Allen (1990) §6.4 for the M/G/c (Allen–Cunneen) approximation; Jackson, "Jobshop-like
queueing systems", *Management Science* 10 (1963) for the network decomposition :func:`analyze` uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from meshsim.model.ir import (
    CallStep,
    ConcurrentStep,
    Dist,
    MeshModel,
    Route,
    RouteMatch,
    SleepStep,
    StringMatcher,
    VirtualHost,
    Workload,
)
from meshsim.model.rules.app_retry import app_retriable, app_retriable_mask
from meshsim.model.rules.backoff import backoff_ceilings
from meshsim.model.rules.dist import draws
from meshsim.model.rules.retry import retriable_status

__all__ = [
    "erlang_c",
    "mmc_mean_wait",
    "mmc_mean_response",
    "mgc_mean_wait",
    "Moments",
    "dist_moments",
    "WorkloadEstimate",
    "EdgeEstimate",
    "NetworkEstimate",
    "analyze",
]


def erlang_c(lam: float, mu: float, c: int) -> float:
    """Probability that an arriving request waits in an M/M/c queue (Erlang's C formula).

    Parameters
    ----------
    lam:
        Arrival rate, requests/s.
    mu:
        Service rate of one server, requests/s (1 / mean service time).
    c:
        Number of servers (workers).

    Raises
    ------
    ValueError
        If the queue is unstable (lam >= c * mu) or an argument is not positive.
    """
    if lam <= 0 or mu <= 0 or c < 1:
        raise ValueError("lam, mu must be > 0 and c >= 1")
    a = lam / mu
    rho = a / c
    if rho >= 1:
        raise ValueError(f"unstable: utilisation {rho:.3f} >= 1")
    # numerically stable: sum_{k<c} a^k/k! and a^c/c!
    term = 1.0
    s = 1.0
    for k in range(1, c):
        term *= a / k
        s += term
    top = term * a / c / (1 - rho)
    return top / (s + top)


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean time in queue (seconds) of M/M/c: ``C(c, a) / (c mu - lam)``."""
    return erlang_c(lam, mu, c) / (c * mu - lam)


def mmc_mean_response(lam: float, mu: float, c: int) -> float:
    """Mean response time (wait + service, seconds) of M/M/c."""
    return mmc_mean_wait(lam, mu, c) + 1.0 / mu




# ----------------------------------------------------------------------------------------------------
# M/G/c approximations and the mesh-wide (Jackson-style) network model
# ----------------------------------------------------------------------------------------------------


def mgc_mean_wait(lam: float, mean_service: float, scv_service: float, c: int, scv_arrival: float = 1.0) -> float:
    """Mean time in queue (seconds) of a G/G/c queue by the Allen–Cunneen approximation.

    ``Wq ≈ Wq(M/M/c) · (ca² + cs²) / 2`` with ``Wq(M/M/c) = C(c, a) / (c μ − λ)`` (Erlang C). Exact for
    M/M/c (``ca² = cs² = 1``); for M/G/c (``ca² = 1``) it is Lee & Longton's approximation
    ``Wq ≈ (1 + cs²)/2 · Wq(M/M/c)``, which is exact for M/G/1 (Pollaczek–Khinchine).

    Sources: A. M. Lee and P. A. Longton, "Queueing processes associated with airline passenger
    check-in", *Operational Research Quarterly* 10 (1959); A. O. Allen, *Probability, Statistics, and
    Queueing Theory with Computer Science Applications*, 2nd ed. (1990), §6.4 (Allen–Cunneen).

    Parameters
    ----------
    lam:
        Arrival rate, requests/s.
    mean_service:
        Mean service (worker holding) time, seconds.
    scv_service:
        Squared coefficient of variation of the service time (1 = exponential, 0 = constant).
    c:
        Servers (workers).
    scv_arrival:
        SCV of inter-arrival times (1 = Poisson).

    Raises
    ------
    ValueError
        If the queue is unstable (``lam * mean_service >= c``) or an argument is out of range.
    """
    if mean_service <= 0:
        raise ValueError("mean_service must be > 0")
    if scv_service < 0 or scv_arrival < 0:
        raise ValueError("squared coefficients of variation must be >= 0")
    return mmc_mean_wait(lam, 1.0 / mean_service, c) * (scv_arrival + scv_service) / 2.0


@dataclass(frozen=True)
class Moments:
    """First and second moments of a non-negative random time (seconds, seconds²)."""

    m1: float
    m2: float

    @property
    def var(self) -> float:
        return max(0.0, self.m2 - self.m1 * self.m1)

    @property
    def scv(self) -> float:
        return self.var / (self.m1 * self.m1) if self.m1 > 0 else 0.0

    def __add__(self, other: Moments) -> Moments:
        """Sum of two independent times."""
        return Moments(self.m1 + other.m1, self.m2 + 2 * self.m1 * other.m1 + other.m2)

    def times(self, k: int) -> Moments:
        """Sum of ``k`` independent copies."""
        return Moments(k * self.m1, k * self.m2 + k * (k - 1) * self.m1 * self.m1)

    @staticmethod
    def mix(parts: Sequence[tuple[float, Moments]]) -> Moments:
        """Mixture: with probability ``p_i`` the time is distributed as ``M_i`` (probabilities sum to 1;
        any remainder is a zero time)."""
        return Moments(sum(p * m.m1 for p, m in parts), sum(p * m.m2 for p, m in parts))


ZERO = Moments(0.0, 0.0)


def dist_moments(d: Dist) -> Moments:
    """Moments of an IR :class:`~meshsim.model.ir.Dist` from its ``mean`` and ``scv``."""
    return Moments(d.mean, d.mean * d.mean * (1.0 + d.scv))


def _uniform_moments(ceiling: float) -> Moments:
    return Moments(ceiling / 2.0, ceiling * ceiling / 3.0)


def _geometric_tries(q: float, n_max: int) -> list[float]:
    """P(K = k) for k = 1..n_max when each try fails retriably with probability ``q``."""
    probs = [q ** (k - 1) * (1 - q) for k in range(1, n_max)]
    probs.append(q ** (n_max - 1))
    return probs


def _match(m: RouteMatch, path: str, method: str, headers: dict[str, str], port: int, labels: dict[str, str]) -> bool:
    def sm(x: StringMatcher, s: str) -> bool:
        v, t = (x.value.lower(), s.lower()) if x.ignore_case else (x.value, s)
        if x.kind == "exact":
            return t == v
        if x.kind == "prefix":
            return t.startswith(v)
        return re.fullmatch(x.value, s, re.IGNORECASE if x.ignore_case else 0) is not None

    if m.uri is not None and not sm(m.uri, path):
        return False
    if m.method is not None and not sm(m.method, method):
        return False
    for h in m.headers:
        val = headers.get(h.name)
        hit = val is not None and sm(h.matcher, val)
        if hit == h.invert:
            return False
    if m.port is not None and m.port != port:
        return False
    return all(labels.get(k) == v for k, v in m.source_labels)


def _select_route(vh: VirtualHost, call: CallStep, headers: dict[str, str], labels: dict[str, str]) -> Route | None:
    for r in vh.routes:
        if not r.matches or any(_match(m, call.path, call.method, headers, call.port, labels) for m in r.matches):
            return r
    return None


@dataclass
class _Target:
    """One weighted cluster of a route: its share of tries and the workloads behind it."""

    cluster: str
    weight: float
    workloads: list[tuple[str, float]]  # (workload key, share of attempts)


@dataclass
class _CallPlan:
    step: CallStep
    route: Route | None
    targets: list[_Target]
    # filled by the outcome pass
    tries: float = 1.0  # expected app tries per call made
    fail: float = 0.0  # P(call made fails), app's view (status >= 400)
    attempts: dict[str, float] = field(default_factory=dict)  # cluster -> expected upstream attempts per router request
    try_status: dict[int, float] = field(default_factory=dict)  # per app try: status -> probability (failures)


@dataclass
class _State:
    """A workload serving requests of one header class (routing depends on the entry headers)."""

    wkey: str
    h: int
    steps: list[list[_CallPlan | SleepStep]]  # sequential groups (a group of >1 runs concurrently)
    concurrent: list[bool]
    fail: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadEstimate:
    """Analytic estimate for one workload (service version), all replicas.

    ``arrival_rate_rps`` includes retries; ``service_time_ms`` is the mean time a worker is held (its
    sleeps plus its downstream calls' latency; 0 for requests failed by its own error draw);
    ``utilization`` = λ·S / (replicas·concurrency) (None with unbounded concurrency); ``p_wait`` and
    ``mean_wait_ms`` come from Erlang C / Allen–Cunneen; ``mean_response_ms`` = wait + service.
    """

    service: str
    version: str
    replicas: int
    concurrency: int | None
    arrival_rate_rps: float
    service_time_ms: float
    service_scv: float
    utilization: float | None
    p_wait: float
    mean_wait_ms: float
    mean_response_ms: float
    balance: str

    @property
    def key(self) -> str:
        return f"{self.service}.{self.version}"


@dataclass(frozen=True)
class EdgeEstimate:
    """Client-sidecar traffic from workload ``source`` to service ``destination`` (one cluster):
    router requests/s, upstream attempts/s, ``amplification`` = attempts/requests, success rate of the
    router's final responses (status < 500) and latency in ms (mean; p50/p90/p99 by Monte Carlo)."""

    source: str
    destination: str
    cluster: str
    subset: str
    requests_rps: float
    attempts_rps: float
    amplification: float | None
    success_rate: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float


@dataclass(frozen=True)
class NetworkEstimate:
    """The analytic model's answer for a whole mesh at one load and one replica assignment.

    Entry latency in ms: ``mean_ms`` from the moment recursion (exact sums of means), ``p50_ms`` …
    ``p99_ms`` by Monte Carlo over the same per-hop approximations (``samples`` draws). ``stable``
    is False when any workload's utilisation is >= 1 (latencies are then ``inf``).
    ``sidecar_attempts_rps`` counts upstream attempts (each crosses two proxies) and
    ``entry_rate_rps`` the entry requests (one proxy), for sidecar CPU estimates.
    """

    entry: str
    entry_rate_rps: float
    stable: bool
    success_rate: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    workloads: tuple[WorkloadEstimate, ...]
    edges: tuple[EdgeEstimate, ...]
    sidecar_attempts_rps: float
    bottleneck: str | None
    method: str = "Erlang C / Allen-Cunneen M/G/c per workload, moments bottom-up, Monte Carlo percentiles"

    def workload(self, key: str) -> WorkloadEstimate:
        for w in self.workloads:
            if w.key == key:
                return w
        raise KeyError(key)

    def to_frame(self) -> Any:
        """One row per workload (pandas DataFrame), with the entry metrics as ``attrs``."""
        import pandas as pd

        df = pd.DataFrame([{**asdict(w), "workload": w.key} for w in self.workloads]).set_index("workload")
        df.attrs.update({k: getattr(self, k) for k in ("entry", "entry_rate_rps", "stable", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "success_rate")})
        return df

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>analytic</b> entry {self.entry} at {self.entry_rate_rps:g} req/s: mean {self.mean_ms:.2f} ms, "
            f"p50 {self.p50_ms:.2f}, p90 {self.p90_ms:.2f}, p99 {self.p99_ms:.2f} ms, success {self.success_rate:.4f}"
            f"{'' if self.stable else ' — UNSTABLE'}</p>"
        )
        return head + str(self.to_frame().to_html(float_format=lambda x: f"{x:.4g}"))


def _statuses_mix(parts: Sequence[tuple[float, dict[int, float]]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p, d in parts:
        for s, v in d.items():
            out[s] = out.get(s, 0.0) + p * v
    return out


class _Network:
    """Builds states, outcome probabilities, rates, moments and samplers for one model."""

    def __init__(self, model: MeshModel, rate: float, replicas: dict[str, int], balance: str) -> None:
        self.model = model
        self.rate = rate
        self.replicas = replicas
        self.wl: dict[str, Workload] = {w.key: w for w in model.workloads}
        eps = {e.id: e for e in model.endpoints}
        self.cluster_wls: dict[str, list[str]] = {}
        self.cluster_subset: dict[str, str] = {}
        self.cluster_lb: dict[str, str] = {}
        for c in model.clusters:
            keys = sorted({f"{eps[e].service}.{eps[e].version}" for e in c.endpoints if e in eps})
            self.cluster_wls[c.name] = keys
            self.cluster_subset[c.name] = c.subset
            self.cluster_lb[c.name] = c.lb_policy
        self.mix = model.load.header_mix
        self.states: dict[tuple[str, int], _State] = {}
        self.reached_by_non_lr: set[str] = set()
        self.balance = balance
        sc = model.settings.sidecar_latency
        self.proxy = dist_moments(sc)
        net2 = 2 * model.settings.network_latency
        self.hop = self.proxy + self.proxy + Moments(net2, net2 * net2)

    # -------------------------------------------------------------- structure and outcomes
    def _targets(self, route: Route) -> list[_Target]:
        total = sum(wc.weight for wc in route.clusters)
        out = []
        for wc in route.clusters:
            if wc.weight <= 0:
                continue
            keys = [k for k in self.cluster_wls.get(wc.cluster, []) if self.replicas.get(k, 0) > 0]
            tot_r = sum(self.replicas[k] for k in keys)
            out.append(_Target(wc.cluster, wc.weight / total, [(k, self.replicas[k] / tot_r) for k in keys]))
        return out

    def state(self, wkey: str, h: int, stack: tuple[str, ...] = ()) -> _State:
        key = (wkey, h)
        st = self.states.get(key)
        if st is not None:
            return st
        if wkey in stack:
            raise ValueError(f"the call graph has a cycle through {wkey}; the analytic model needs a DAG")
        wl = self.wl[wkey]
        headers = dict(self.mix[h][1])
        if wl.forward_headers is not None:
            headers = {k: v for k, v in headers.items() if k in wl.forward_headers}
        labels = dict(wl.labels)
        groups: list[list[_CallPlan | SleepStep]] = []
        conc: list[bool] = []
        for step in wl.script:
            members = list(step.steps) if isinstance(step, ConcurrentStep) else [step]
            group: list[_CallPlan | SleepStep] = []
            for s in members:
                if isinstance(s, SleepStep):
                    group.append(s)
                    continue
                hdrs = {**headers, **dict(s.headers)} if s.headers else headers
                try:
                    vh = self.model.virtual_host(s.host)
                    route = _select_route(vh, s, hdrs, labels)
                except KeyError:
                    route = None
                group.append(_CallPlan(s, route, self._targets(route) if route is not None else []))
            groups.append(group)
            conc.append(isinstance(step, ConcurrentStep))
        st = _State(wkey, h, groups, conc)
        for group in groups:
            for cp in group:
                if isinstance(cp, _CallPlan):
                    for t in cp.targets:
                        if self.cluster_lb.get(t.cluster) != "LEAST_REQUEST":
                            self.reached_by_non_lr.update(k for k, _ in t.workloads)
                        for k, _ in t.workloads:
                            self.state(k, h, (*stack, wkey))
                    self._call_outcome(cp, h)
        ok = 1.0
        for group in groups:
            for cp in group:
                if isinstance(cp, _CallPlan) and cp.step.on_error == "fail":
                    ok *= 1.0 - cp.step.probability * cp.fail
        e = wl.error_rate
        fail: dict[int, float] = {}
        if e > 0:
            fail[wl.error_status] = e
        if ok < 1.0:
            fail[500] = fail.get(500, 0.0) + (1 - e) * (1 - ok)
        st.fail = fail
        self.states[key] = st
        return st

    def _call_outcome(self, cp: _CallPlan, h: int) -> None:
        """Per-try status distribution, expected app tries and final failure probability of a call."""
        if cp.route is None:
            per_try = {404: 1.0}
        else:
            route = cp.route
            a = route.fault.abort_fraction if route.fault is not None else 0.0
            parts: list[tuple[float, dict[int, float]]] = []
            if a > 0:
                parts.append((a, {route.fault.abort_status: 1.0}))  # type: ignore[union-attr]
            rp = route.retry_policy
            n = rp.num_retries if rp is not None else 0
            for t in cp.targets:
                if not t.workloads:
                    parts.append(((1 - a) * t.weight, {503: 1.0}))  # no endpoints: 503 UH, no attempt
                    cp.attempts[t.cluster] = 0.0
                    continue
                q = _statuses_mix([(share, self.states[(k, h)].fail) for k, share in t.workloads])
                qr = sum(v for s, v in q.items() if rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s))
                tries = sum(qr**k for k in range(n + 1))
                cp.attempts[t.cluster] = tries
                final: dict[int, float] = {}
                for s, v in q.items():
                    retr = rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s)
                    final[s] = v * (qr**n if retr else tries)
                parts.append(((1 - a) * t.weight, final))
            per_try = _statuses_mix(parts)
        cp.try_status = per_try
        ar = cp.step.retries
        n_tries = 1 + (ar.attempts if ar is not None else 0)
        r = sum(v for s, v in per_try.items() if s >= 400 and ar is not None and app_retriable(ar.retry_on, s))
        nr = sum(v for s, v in per_try.items() if s >= 400) - r
        cp.tries = sum(r**k for k in range(n_tries))
        cp.fail = nr * cp.tries + r**n_tries

    # -------------------------------------------------------------- rates
    def rates(self) -> tuple[dict[tuple[str, int], float], dict[tuple[str, str, str], list[float]]]:
        """Arrival rate per state and ``[requests, attempts, failures]`` per second per edge."""
        lam: dict[tuple[str, int], float] = {}
        edges: dict[tuple[str, str, str], list[float]] = {}
        entry_wls = [w.key for w in self.model.service(self.model.load.entry).workloads if self.replicas.get(w.key, 0) > 0]
        tot = sum(self.replicas[k] for k in entry_wls)
        order = self.topo_order()
        for h, (weight, _) in enumerate(self.mix):
            for k in entry_wls:
                self.state(k, h)
                lam[(k, h)] = lam.get((k, h), 0.0) + self.rate * weight * self.replicas[k] / tot
        for wkey in order:  # callers before callees
            for h in range(len(self.mix)):
                st = self.states.get((wkey, h))
                x = lam.get((wkey, h), 0.0)
                if st is None or x <= 0:
                    continue
                x *= 1 - self.wl[wkey].error_rate
                for group in st.steps:
                    group_ok = 1.0
                    for cp in group:
                        if not isinstance(cp, _CallPlan):
                            continue
                        tries = x * cp.step.probability * cp.tries
                        if cp.route is None:
                            e = edges.setdefault((wkey, cp.step.service, ""), [0.0, 0.0, 0.0])
                            e[0] += tries
                            e[2] += tries
                        a = cp.route.fault.abort_fraction if cp.route is not None and cp.route.fault is not None else 0.0
                        for t in cp.targets:
                            e = edges.setdefault((wkey, cp.step.service, t.cluster), [0.0, 0.0, 0.0])
                            req = tries * t.weight
                            att = req * (1 - a) * cp.attempts.get(t.cluster, 0.0)
                            e[0] += req
                            e[1] += att
                            fault = cp.route.fault if cp.route is not None else None
                            fails = a if fault is not None and fault.abort_status >= 500 else 0.0
                            if t.workloads:
                                rp = cp.route.retry_policy  # type: ignore[union-attr]
                                n = rp.num_retries if rp is not None else 0
                                q = _statuses_mix([(sh, self.states[(k, h)].fail) for k, sh in t.workloads])
                                qr = sum(v for s, v in q.items() if rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s))
                                f5 = sum(v * (qr**n if (rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s)) else cp.attempts[t.cluster])
                                         for s, v in q.items() if s >= 500)
                                fails += (1 - a) * f5
                            else:
                                fails += 1 - a
                            e[2] += req * fails
                            for k, share in t.workloads:
                                lam[(k, h)] = lam.get((k, h), 0.0) + att * share
                        if cp.step.on_error == "fail":
                            group_ok *= 1 - cp.step.probability * cp.fail
                    x *= group_ok
        return lam, edges

    def topo_order(self) -> list[str]:
        import networkx as nx

        from meshsim.model.graph import workload_graph

        g = workload_graph(self.model)
        try:
            return list(nx.topological_sort(g))
        except nx.NetworkXUnfeasible:
            raise ValueError("the call graph has a cycle; the analytic model needs a DAG") from None

    # -------------------------------------------------------------- moments
    def solve(self, lam: dict[tuple[str, int], float]) -> None:
        """Waits per workload and response-time moments per state, callees first."""
        self.lam = lam
        self.wait: dict[str, tuple[float, float]] = {}  # wkey -> (P(wait), mean wait s)
        self.resp: dict[tuple[str, int], Moments] = {}
        self.hold: dict[str, Moments] = {}
        self.util: dict[str, float | None] = {}
        self.bal: dict[str, str] = {}
        self.stable = True
        entry_svc = self.model.load.entry
        for wkey in reversed(self.topo_order()):
            wl = self.wl[wkey]
            hs = [h for h in range(len(self.mix)) if (wkey, h) in self.states]
            xs: dict[int, Moments] = {}
            for h in hs:
                st = self.states[(wkey, h)]
                script = ZERO
                for group, conc in zip(st.steps, st.concurrent, strict=True):
                    ms = [self._step_moments(wkey, h, s) for s in group]
                    script = script + (_max_moments(ms) if conc else ms[0])
                xs[h] = Moments.mix([(1 - wl.error_rate, script)])
            total = sum(lam.get((wkey, h), 0.0) for h in hs)
            hold = Moments.mix([(lam.get((wkey, h), 0.0) / total, xs[h]) for h in hs]) if total > 0 else (
                xs[hs[0]] if hs else ZERO
            )
            self.hold[wkey] = hold
            r = self.replicas.get(wkey, 0)
            c = wl.concurrency
            bal = self.balance
            if bal == "auto":
                bal = "split" if (wl.service == entry_svc or wkey in self.reached_by_non_lr) else "pooled"
            self.bal[wkey] = bal
            pw, wq = 0.0, 0.0
            if c is None or r == 0 or total <= 0 or hold.m1 <= 0:
                self.util[wkey] = None if c is None or r == 0 else 0.0
            else:
                servers, arr = (c, total / r) if bal == "split" else (c * r, total)
                rho = arr * hold.m1 / servers
                self.util[wkey] = rho
                if rho >= 1:
                    self.stable = False
                    pw, wq = 1.0, math.inf
                else:
                    ca2 = 0.0 if (self.model.load.arrival == "constant" and wl.service == entry_svc and r == 1 and len(hs) == 1) else 1.0
                    pw = erlang_c(arr, 1 / hold.m1, servers)
                    wq = mgc_mean_wait(arr, hold.m1, hold.scv, servers, ca2)
            self.wait[wkey] = (pw, wq)
            wm = Moments(wq, 2 * wq * wq / pw if pw > 0 else 0.0) if math.isfinite(wq) else Moments(math.inf, math.inf)
            for h in hs:
                self.resp[(wkey, h)] = wm + xs[h]

    def _step_moments(self, wkey: str, h: int, s: _CallPlan | SleepStep) -> Moments:
        if isinstance(s, SleepStep):
            return dist_moments(s.dist)
        return Moments.mix([(s.step.probability, self._call_moments(h, s))])

    def _call_moments(self, h: int, cp: _CallPlan) -> Moments:
        t_try = self._try_moments(h, cp)
        ar = cp.step.retries
        n_tries = 1 + (ar.attempts if ar is not None else 0)
        r = sum(v for s, v in cp.try_status.items() if s >= 400 and ar is not None and app_retriable(ar.retry_on, s))
        b = ar.backoff if ar is not None else 0.0
        bm = Moments(b, b * b)
        parts = [(p, t_try.times(k) + bm.times(k - 1)) for k, p in enumerate(_geometric_tries(r, n_tries), start=1)]
        return Moments.mix(parts)

    def _try_moments(self, h: int, cp: _CallPlan) -> Moments:
        if cp.route is None:
            return ZERO
        f = cp.route.fault
        delay = Moments.mix([(f.delay_fraction, Moments(f.delay, f.delay * f.delay))]) if f is not None else ZERO
        a = f.abort_fraction if f is not None else 0.0
        rp = cp.route.retry_policy
        n = rp.num_retries if rp is not None else 0
        parts: list[tuple[float, Moments]] = []
        for t in cp.targets:
            if not t.workloads:
                continue
            att = Moments.mix([(sh, self.hop + self.resp[(k, h)]) for k, sh in t.workloads])
            q = _statuses_mix([(sh, self.states[(k, h)].fail) for k, sh in t.workloads])
            qr = sum(v for s, v in q.items() if rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s))
            ceilings = backoff_ceilings(rp.backoff_base, rp.backoff_max, n) if rp is not None else []
            ks = []
            for k, p in enumerate(_geometric_tries(qr, n + 1), start=1):
                m = att.times(k)
                for j in range(k - 1):
                    m = m + _uniform_moments(ceilings[j])
                ks.append((p, m))
            parts.append(((1 - a) * t.weight, Moments.mix(ks)))
        return delay + Moments.mix(parts)

    # -------------------------------------------------------------- Monte Carlo percentiles
    def sampler(self, rng: np.random.Generator) -> _Sampler:
        return _Sampler(self, rng)


class _Sampler:
    """Vectorised Monte Carlo over the same approximations (independent hops, M/G/c waits with an
    atom at 0 of mass 1 − C and an exponential tail), for percentiles."""

    def __init__(self, net: _Network, rng: np.random.Generator) -> None:
        self.net = net
        self.rng = rng
        self.edge_samples: dict[tuple[str, str, str], list[np.ndarray]] = {}
        sc = net.model.settings.sidecar_latency
        self.sc = sc
        self.net2 = 2 * net.model.settings.network_latency

    def hop(self, n: int) -> np.ndarray:
        return draws(self.sc, self.rng, n) + draws(self.sc, self.rng, n) + self.net2

    def response(self, wkey: str, h: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` response times (s) and statuses of workload ``wkey`` for header class ``h``."""
        rng = self.rng
        wl = self.net.wl[wkey]
        pw, wq = self.net.wait[wkey]
        t = np.zeros(n)
        if pw > 0:
            waits = rng.random(n) < pw
            t[waits] = rng.exponential(wq / pw, int(waits.sum()))
        status = np.full(n, 200)
        err = rng.random(n) < wl.error_rate if wl.error_rate > 0 else np.zeros(n, dtype=bool)
        status[err] = wl.error_status
        ok = np.nonzero(~err)[0]
        if ok.size:
            st, failed = self.script(self.net.states[(wkey, h)], ok.size)
            t[ok] += st
            status[ok[failed]] = 500
        return t, status

    def script(self, st: _State, n: int) -> tuple[np.ndarray, np.ndarray]:
        times = np.zeros(n)
        alive = np.ones(n, dtype=bool)
        for group, conc in zip(st.steps, st.concurrent, strict=True):
            idx = np.nonzero(alive)[0]
            if not idx.size:
                break
            tt = np.zeros(idx.size)
            bad = np.zeros(idx.size, dtype=bool)
            for s in group:
                if isinstance(s, SleepStep):
                    x = draws(s.dist, self.rng, idx.size)
                    f = np.zeros(idx.size, dtype=bool)
                else:
                    x, f = self.call(st, s, idx.size)
                    if s.step.on_error != "fail":
                        f = np.zeros(idx.size, dtype=bool)
                tt = np.maximum(tt, x) if conc else tt + x
                bad |= f
            times[idx] += tt
            alive[idx[bad]] = False
        return times, ~alive

    def call(self, st: _State, cp: _CallPlan, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        times = np.zeros(n)
        failed = np.zeros(n, dtype=bool)
        made = np.nonzero(rng.random(n) < cp.step.probability)[0] if cp.step.probability < 1 else np.arange(n)
        ar = cp.step.retries
        n_tries = 1 + (ar.attempts if ar is not None else 0)
        active = made
        for k in range(n_tries):
            if not active.size:
                break
            if k > 0 and ar is not None and ar.backoff > 0:
                times[active] += ar.backoff
            t, status = self.try_(st, cp, active.size)
            times[active] += t
            bad = status >= 400
            failed[active] = bad
            if ar is None or k == n_tries - 1:
                break
            retri = bad & app_retriable_mask(ar.retry_on, status)
            active = active[retri]
        return times, failed

    def try_(self, st: _State, cp: _CallPlan, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        t = np.zeros(n)
        status = np.full(n, 200)
        src, dst = st.wkey, cp.step.service
        if cp.route is None:
            status[:] = 404
            self.edge_samples.setdefault((src, dst, ""), []).append(t.copy())
            return t, status
        f = cp.route.fault
        if f is not None and f.delay_fraction > 0:
            t[rng.random(n) < f.delay_fraction] += f.delay
        aborted = rng.random(n) < f.abort_fraction if f is not None and f.abort_fraction > 0 else np.zeros(n, dtype=bool)
        if f is not None:
            status[aborted] = f.abort_status
        weights = np.array([x.weight for x in cp.targets])
        pick = rng.choice(len(cp.targets), size=n, p=weights / weights.sum()) if len(cp.targets) > 1 else np.zeros(n, dtype=int)
        for ti, target in enumerate(cp.targets):
            sel = np.nonzero((pick == ti) & ~aborted)[0]
            if sel.size:
                if not target.workloads:
                    status[sel] = 503
                else:
                    tt, ss = self.router(st.h, cp, target, sel.size)
                    t[sel] += tt
                    status[sel] = ss
            self.edge_samples.setdefault((src, dst, target.cluster), []).append(t[pick == ti])
        return t, status

    def router(self, h: int, cp: _CallPlan, target: _Target, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        rp = cp.route.retry_policy  # type: ignore[union-attr]
        retries = rp.num_retries if rp is not None else 0
        ceilings = backoff_ceilings(rp.backoff_base, rp.backoff_max, retries) if rp is not None else []
        times = np.zeros(n)
        status = np.zeros(n, dtype=int)
        active = np.arange(n)
        keys = [k for k, _ in target.workloads]
        shares = np.array([s for _, s in target.workloads])
        for k in range(retries + 1):
            if not active.size:
                break
            m = active.size
            if k > 0:
                times[active] += np.floor(rng.random(m) * ceilings[k - 1] * 1e3) / 1e3
            which = rng.choice(len(keys), size=m, p=shares / shares.sum()) if len(keys) > 1 else np.zeros(m, dtype=int)
            t = self.hop(m)
            s = np.zeros(m, dtype=int)
            for wi, wkey in enumerate(keys):
                sel = np.nonzero(which == wi)[0]
                if sel.size:
                    rt, rs = self.response(wkey, h, sel.size)
                    t[sel] += rt
                    s[sel] = rs
            times[active] += t
            status[active] = s
            if rp is None or k == retries:
                break
            uniq = {int(x) for x in np.unique(s)}
            retri_codes = [c for c in uniq if retriable_status(rp.retry_on, rp.retriable_status_codes, c)]
            if not retri_codes:
                break
            active = active[np.isin(s, retri_codes)]
        return times, status


def _max_moments(ms: Sequence[Moments]) -> Moments:
    """Moments of the maximum of independent times, each approximated by a gamma distribution with
    the same mean and SCV (numerical integration of ``1 − Π F_i``)."""
    from scipy import stats as sps

    live = [m for m in ms if m.m1 > 0]
    if not live:
        return ZERO
    if len(live) == 1:
        return live[0]
    hi = max(m.m1 + 12 * math.sqrt(m.var) for m in live) * 1.05
    grid = np.linspace(0.0, hi, 4001)
    cdf = np.ones_like(grid)
    for m in live:
        if m.scv <= 1e-9:
            cdf *= (grid >= m.m1).astype(float)
        else:
            cdf *= sps.gamma.cdf(grid, 1.0 / m.scv, scale=m.m1 * m.scv)
    surv = 1.0 - cdf
    m1 = float(np.trapezoid(surv, grid))
    m2 = float(np.trapezoid(2 * grid * surv, grid))
    return Moments(m1, m2)


def analyze(
    model: MeshModel,
    rate: float | None = None,
    replicas: Mapping[str, int] | None = None,
    balance: Literal["auto", "split", "pooled"] = "auto",
    samples: int = 20000,
    seed: int = 0,
) -> NetworkEstimate:
    """Analytic (queueing-network) estimate of ``model`` at entry ``rate`` with ``replicas`` overrides.

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
    reps = {w.key: w.replicas for w in model.workloads}
    for k, v in (replicas or {}).items():
        if k not in reps:
            raise ValueError(f"unknown workload {k!r} (known: {', '.join(sorted(reps))})")
        reps[k] = int(v)
    lam_in = float(rate if rate is not None else (model.load.rate or 0.0))
    net = _Network(model, lam_in, reps, balance)
    lam, edge_rates = net.rates()
    net.solve(lam)
    entry_wls = [w.key for w in model.service(model.load.entry).workloads if reps.get(w.key, 0) > 0]
    tot_r = sum(reps[k] for k in entry_wls)
    entry_proxy = net.proxy + Moments(model.settings.network_latency, model.settings.network_latency**2)
    parts = [
        (weight * reps[k] / tot_r, net.resp[(k, h)])
        for h, (weight, _) in enumerate(net.mix)
        for k in entry_wls
    ]
    mean_s = (entry_proxy + Moments.mix(parts)).m1 if net.stable else math.inf
    succ = 1.0 - sum(
        weight * reps[k] / tot_r * sum(v for s, v in net.states[(k, h)].fail.items() if s >= 500)
        for h, (weight, _) in enumerate(net.mix)
        for k in entry_wls
    )
    q = {"p50": math.nan, "p90": math.nan, "p99": math.nan}
    edge_q: dict[tuple[str, str, str], tuple[float, float, float]] = {}
    if not net.stable:
        q = dict.fromkeys(q, math.inf)
    elif samples > 0:
        rng = np.random.default_rng(seed)
        smp = net.sampler(rng)
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
    edges = []
    for (src, dst, cname), (req, att, fails) in sorted(edge_rates.items()):
        # mean router latency per request on this edge: recompute from the call plans of src
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


def _edge_mean_ms(net: _Network, src: str, dst: str, cname: str) -> float:
    """Mean router latency (ms) of requests from ``src`` to cluster ``cname``, over header classes."""
    num = den = 0.0
    for h in range(len(net.mix)):
        st = net.states.get((src, h))
        x = net.lam.get((src, h), 0.0)
        if st is None or x <= 0:
            continue
        for group in st.steps:
            for cp in group:
                if not isinstance(cp, _CallPlan) or cp.step.service != dst:
                    continue
                for t in cp.targets:
                    if t.cluster != cname or not t.workloads:
                        continue
                    one = _CallPlan(cp.step, cp.route, [_Target(t.cluster, 1.0, t.workloads)], try_status=cp.try_status)
                    m = net._try_moments(h, one).m1
                    num += x * t.weight * m
                    den += x * t.weight
    return num / den * 1e3 if den > 0 else math.nan
