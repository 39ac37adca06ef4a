"""The queueing network of one model at one entry rate: routing per header class, arrival rates with
retry inflation, and per-workload M/G/c service and wait moments, callees first (Jackson 1963)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx

from meshsim.model.analytic.moments import ZERO, Moments, dist_moments, geometric_tries, max_moments, uniform_moments
from meshsim.model.analytic.queueing import erlang_c, mgc_mean_wait
from meshsim.model.graph import workload_graph
from meshsim.model.ir import (
    CallStep,
    ConcurrentStep,
    CpuStep,
    MeshModel,
    Route,
    SleepStep,
    VirtualHost,
    Workload,
)
from meshsim.model.rules.app_retry import app_call_ok, app_retriable
from meshsim.model.rules.backoff import backoff_ceilings
from meshsim.model.rules.match import request_matches
from meshsim.model.rules.retry import retriable_status


def select_route(vh: VirtualHost, call: CallStep, headers: dict[str, str], labels: dict[str, str]) -> Route | None:
    for r in vh.routes:
        if not r.matches or any(
            request_matches(m, call.path, call.method, headers, call.port, labels) for m in r.matches
        ):
            return r
    return None


@dataclass
class Target:
    """One weighted cluster of a route: its share of tries and the workloads behind it."""

    cluster: str
    weight: float
    workloads: list[tuple[str, float]]  # (workload key, share of attempts)


@dataclass
class CallPlan:
    step: CallStep
    route: Route | None
    targets: list[Target]
    # filled by the outcome pass
    tries: float = 1.0  # expected app tries per call made
    fail: float = 0.0  # P(call made fails), app's view (not a 2xx, app_call_ok)
    attempts: dict[str, float] = field(default_factory=dict)  # cluster -> expected upstream attempts per router request
    try_status: dict[int, float] = field(default_factory=dict)  # per app try: status -> probability (failures)


@dataclass
class State:
    """A workload serving requests of one header class (routing depends on the entry headers)."""

    wkey: str
    h: int
    steps: list[list[CallPlan | SleepStep | CpuStep]]  # sequential groups (a group of >1 runs concurrently)
    concurrent: list[bool]
    fail: dict[int, float] = field(default_factory=dict)


def statuses_mix(parts: Sequence[tuple[float, dict[int, float]]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p, d in parts:
        for s, v in d.items():
            out[s] = out.get(s, 0.0) + p * v
    return out


class Network:
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
        self.states: dict[tuple[str, int], State] = {}
        self.reached_by_non_lr: set[str] = set()
        self.balance = balance
        sc = model.settings.sidecar_latency
        self.proxy = dist_moments(sc)
        net2 = 2 * model.settings.network_latency
        self.hop = self.proxy + self.proxy + Moments(net2, net2 * net2)
        per_byte2 = 2 * model.settings.sidecar_per_kib / 1024
        self.resp_size = {w.key: w.response_size for svc in model.services for w in svc.workloads}
        self.per_byte2 = per_byte2

    def size_cost(self, cp: CallPlan, wkey: str) -> float:
        """Seconds both traversals of one try add for its bodies (``sidecar.perKiB``), as the simulator's wire."""
        return (cp.step.request_size + self.resp_size[wkey]) * self.per_byte2

    # -------------------------------------------------------------- structure and outcomes
    def _targets(self, route: Route) -> list[Target]:
        total = sum(wc.weight for wc in route.clusters)
        out = []
        for wc in route.clusters:
            if wc.weight <= 0:
                continue
            keys = [k for k in self.cluster_wls.get(wc.cluster, []) if self.replicas.get(k, 0) > 0]
            tot_r = sum(self.replicas[k] for k in keys)
            out.append(Target(wc.cluster, wc.weight / total, [(k, self.replicas[k] / tot_r) for k in keys]))
        return out

    def state(self, wkey: str, h: int, stack: tuple[str, ...] = ()) -> State:
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
        groups: list[list[CallPlan | SleepStep | CpuStep]] = []
        conc: list[bool] = []
        for step in wl.script:
            members = list(step.steps) if isinstance(step, ConcurrentStep) else [step]
            group: list[CallPlan | SleepStep | CpuStep] = []
            for s in members:
                if isinstance(s, SleepStep | CpuStep):
                    group.append(s)  # a CPU step holds the worker for its CPU time, as a sleep does (at full speed)
                    continue
                hdrs = {**headers, **dict(s.headers)} if s.headers else headers
                try:
                    vh = self.model.virtual_host(s.host)
                    route = select_route(vh, s, hdrs, labels)
                except KeyError:
                    route = None
                group.append(CallPlan(s, route, self._targets(route) if route is not None else []))
            groups.append(group)
            conc.append(isinstance(step, ConcurrentStep))
        st = State(wkey, h, groups, conc)
        for group in groups:
            for cp in group:
                if isinstance(cp, CallPlan):
                    for t in cp.targets:
                        if self.cluster_lb.get(t.cluster) != "LEAST_REQUEST":
                            self.reached_by_non_lr.update(k for k, _ in t.workloads)
                        for k, _ in t.workloads:
                            self.state(k, h, (*stack, wkey))
                    self._call_outcome(cp, h)
        ok = 1.0
        for group in groups:
            for cp in group:
                if isinstance(cp, CallPlan) and cp.step.on_error == "fail":
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

    def _call_outcome(self, cp: CallPlan, h: int) -> None:
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
                q = statuses_mix([(share, self.states[(k, h)].fail) for k, share in t.workloads])
                qr = sum(
                    v
                    for s, v in q.items()
                    if rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s)
                )
                tries = sum(qr**k for k in range(n + 1))
                cp.attempts[t.cluster] = tries
                final: dict[int, float] = {}
                for s, v in q.items():
                    retr = rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s)
                    final[s] = v * (qr**n if retr else tries)
                parts.append(((1 - a) * t.weight, final))
            per_try = statuses_mix(parts)
        cp.try_status = per_try
        ar = cp.step.retries
        n_tries = 1 + (ar.attempts if ar is not None else 0)
        r = sum(
            v for s, v in per_try.items() if not app_call_ok(s) and ar is not None and app_retriable(ar.retry_on, s)
        )
        nr = sum(v for s, v in per_try.items() if not app_call_ok(s)) - r
        cp.tries = sum(r**k for k in range(n_tries))
        cp.fail = nr * cp.tries + r**n_tries

    # -------------------------------------------------------------- rates
    def rates(self) -> tuple[dict[tuple[str, int], float], dict[tuple[str, str, str], list[float]]]:
        """Arrival rate per state and ``[requests, attempts, failures]`` per second per edge."""
        lam: dict[tuple[str, int], float] = {}
        edges: dict[tuple[str, str, str], list[float]] = {}
        entry_wls = [
            w.key for w in self.model.service(self.model.load.entry).workloads if self.replicas.get(w.key, 0) > 0
        ]
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
                        if not isinstance(cp, CallPlan):
                            continue
                        tries = x * cp.step.probability * cp.tries
                        if cp.route is None:
                            e = edges.setdefault((wkey, cp.step.service, ""), [0.0, 0.0, 0.0])
                            e[0] += tries
                            e[2] += tries
                        a = (
                            cp.route.fault.abort_fraction
                            if cp.route is not None and cp.route.fault is not None
                            else 0.0
                        )
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
                                q = statuses_mix([(sh, self.states[(k, h)].fail) for k, sh in t.workloads])
                                qr = sum(
                                    v
                                    for s, v in q.items()
                                    if rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s)
                                )
                                f5 = sum(
                                    v
                                    * (
                                        qr**n
                                        if (
                                            rp is not None
                                            and retriable_status(rp.retry_on, rp.retriable_status_codes, s)
                                        )
                                        else cp.attempts[t.cluster]
                                    )
                                    for s, v in q.items()
                                    if s >= 500
                                )
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
                    script = script + (max_moments(ms) if conc else ms[0])
                xs[h] = Moments.mix([(1 - wl.error_rate, script)])
            total = sum(lam.get((wkey, h), 0.0) for h in hs)
            hold = (
                Moments.mix([(lam.get((wkey, h), 0.0) / total, xs[h]) for h in hs])
                if total > 0
                else (xs[hs[0]] if hs else ZERO)
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
                    ca2 = (
                        0.0
                        if (
                            self.model.load.arrival == "constant"
                            and wl.service == entry_svc
                            and r == 1
                            and len(hs) == 1
                        )
                        else 1.0
                    )
                    pw = erlang_c(arr, 1 / hold.m1, servers)
                    wq = mgc_mean_wait(arr, hold.m1, hold.scv, servers, ca2)
            self.wait[wkey] = (pw, wq)
            wm = Moments(wq, 2 * wq * wq / pw if pw > 0 else 0.0) if math.isfinite(wq) else Moments(math.inf, math.inf)
            for h in hs:
                self.resp[(wkey, h)] = wm + xs[h]

    def _step_moments(self, wkey: str, h: int, s: CallPlan | SleepStep | CpuStep) -> Moments:
        if isinstance(s, SleepStep | CpuStep):
            return dist_moments(s.dist)
        return Moments.mix([(s.step.probability, self._call_moments(h, s))])

    def _call_moments(self, h: int, cp: CallPlan) -> Moments:
        t_try = self._try_moments(h, cp)
        ar = cp.step.retries
        n_tries = 1 + (ar.attempts if ar is not None else 0)
        r = sum(
            v
            for s, v in cp.try_status.items()
            if not app_call_ok(s) and ar is not None and app_retriable(ar.retry_on, s)
        )
        b = ar.backoff if ar is not None else 0.0
        bm = Moments(b, b * b)
        parts = [(p, t_try.times(k) + bm.times(k - 1)) for k, p in enumerate(geometric_tries(r, n_tries), start=1)]
        return Moments.mix(parts)

    def _try_moments(self, h: int, cp: CallPlan) -> Moments:
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
            att = Moments.mix(
                [
                    (sh, self.hop + self.resp[(k, h)] + Moments(c := self.size_cost(cp, k), c * c))
                    for k, sh in t.workloads
                ]
            )
            q = statuses_mix([(sh, self.states[(k, h)].fail) for k, sh in t.workloads])
            qr = sum(
                v
                for s, v in q.items()
                if rp is not None and retriable_status(rp.retry_on, rp.retriable_status_codes, s)
            )
            ceilings = backoff_ceilings(rp.backoff_base, rp.backoff_max, n) if rp is not None else []
            ks = []
            for k, p in enumerate(geometric_tries(qr, n + 1), start=1):
                m = att.times(k)
                for j in range(k - 1):
                    m = m + uniform_moments(ceilings[j])
                ks.append((p, m))
            parts.append(((1 - a) * t.weight, Moments.mix(ks)))
        return delay + Moments.mix(parts)

    # -------------------------------------------------------------- Monte Carlo percentiles
