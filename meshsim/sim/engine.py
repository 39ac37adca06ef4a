"""The SimPy model of the mesh: load source, client sidecars, server sidecars and app replicas.

Data path of one call from app A to service B (reference §9.1)::

    A app --call--> A sidecar: route match (VS, first match wins) -> fault (delay DI, abort FI)
        -> weighted cluster pick (once per request) -> router: route timeout, retries with backoff
        -> LB pick (previous_hosts re-picks) -> connection pool / circuit breakers (UO)
        -> [wire: client traversal + network + server traversal]
        -> B sidecar inbound cluster (DR connectionPool applies here too) -> B app replica:
           FIFO queue for a worker (``concurrency``), error draw, script of sleeps and calls
        <- response; outlier detection sees every attempt's status; retry decision (§1.3)

Timing assumptions: all per-hop fixed costs (one draw of the sidecar-traversal latency per proxy and
the one-way network latency each way) are charged on the request path before the server app sees
the request; the response path is instantaneous. Time is float seconds. Every call runs inline in
its caller's process. With a timer (route, per-try or app timeout) the router drives the upstream
attempt's generator by hand and waits on the attempt's own events; when a timer fires it interrupts
exactly that wait (:func:`interrupt_wait`), the caller gives up at once and the attempt carries on in a
process of its own (:func:`_detached`), so the server keeps working (a reset does not stop the
upstream app, as in reality). Timers almost never fire, so the common case costs no process.

Issue #8 additions: load may enter through an ingress gateway pod (:class:`GatewayProxy`, a router
with the gateway's own routes); each proxy has worker threads (:class:`ProxyCPU`) whose busy time adds
a wait to a traversal; connections are mTLS or plaintext (:func:`~meshsim.model.ir.tls_state`), which
decides the peer principal the server sidecar's AuthorizationPolicy check sees (403 before the inbound
cluster, reference §9.1) and the handshake cost of new connections; Istio's standard metrics are
counted at :meth:`Sidecar._record` (reporter=source) and :meth:`Replica.serve` (reporter=destination);
sampled requests carry a :class:`~meshsim.telemetry.record.Trace`.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import simpy

from meshsim.metrics.recorder import Level, Tally
from meshsim.model.compile import retriable_status
from meshsim.model.ir import (
    CallStep,
    Cluster,
    ConcurrentStep,
    GatewayIR,
    MeshModel,
    Route,
    RouteMatch,
    SleepStep,
    StringMatcher,
    Workload,
    authz_verdict,
    tls_state,
)
from meshsim.sim.cluster import OVERFLOW, ClusterState, Pending
from meshsim.sim.rng import Streams
from meshsim.sim.sampling import Uniform, sampler
from meshsim.sim.scenario import Series
from meshsim.sim.stats import CallStats, EdgeStats, RepResult, WorkloadStats
from meshsim.telemetry.record import DURATION_BUCKETS_MS, IstioMetrics, Observations, ProxyUsage, Trace, spiffe

__all__ = ["Simulation", "BATCHES", "CONNECT_FAIL", "PER_TRY_TIMEOUT", "APP_TIMEOUT", "is_success"]

BATCHES = 10
"""Time batches per replication for batch-means confidence intervals."""

# Outcomes that are not HTTP responses (negative so they never collide with status codes)
CONNECT_FAIL = -1
PER_TRY_TIMEOUT = -2
CANCELLED = -3
APP_TIMEOUT = -4
TLS_MISMATCH = -5
"""The server sidecar closed the connection: plaintext to a STRICT workload, or mTLS to a DISABLE one
(Envoy: 503 ``UC``, upstream connection termination)."""

Gen = Generator[Any, Any, Any]


class _Started:
    """The value a process's generator is first resumed with (what SimPy's ``Initialize`` carries)."""

    __slots__ = ()
    _ok = True
    _value = None


_STARTED = _Started()


def start_now(env: simpy.Environment, gen: Gen) -> simpy.Process:
    """A :class:`simpy.Process` for ``gen`` whose first step runs now, inside the caller, instead of
    after an ``Initialize`` event: one scheduled event fewer per request and per upstream attempt,
    the engine's most frequent processes. The new process runs at the same simulated time either
    way; only its order among same-time events changes (deterministically). ``env.active_process``
    is the caller's again on return.

    Relies on SimPy 4.1's ``Process._resume`` protocol (``event._ok``/``event._value``, and the
    environment's ``_active_proc``), as ``simpy/events.py`` implements it.
    """
    p = simpy.Process.__new__(simpy.Process)
    p.env = env
    p.callbacks = []
    p._generator = gen
    caller = env._active_proc
    p._resume(_STARTED)  # type: ignore[arg-type]
    env._active_proc = caller
    return p


@contextmanager
def _collector_tuned() -> Iterator[None]:
    """Run with Python's cyclic garbage collector out of the hot loop's way: the objects that exist
    before the run (model, replicas, sketches) are frozen out of its scans and its young-generation
    threshold is raised from 700 to 50,000 allocations, so most per-request objects die before a
    collection ever looks at them. Restored on exit. Memory stays bounded: cycles are still
    collected, only less often (``gc.freeze``/``gc.set_threshold``, Python's ``gc`` docs)."""
    import gc

    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


class _Interrupting:
    """A failed pseudo-event carrying :class:`simpy.Interrupt` ``(ctl, code)`` into a process, as
    SimPy's ``Interruption`` does, but delivered at once."""

    __slots__ = ("_defused", "_ok", "_value")

    def __init__(self, cause: tuple[Any, int]) -> None:
        self._ok = False
        self._value = simpy.Interrupt(cause)
        self._defused = False


def interrupt_wait(ctl: Ctl, code: int) -> None:
    """Wake the router of ``ctl`` now with ``code`` if it is waiting on an in-flight attempt.

    The router, and every router its attempt runs through, pass the attempt's innermost event up as
    their own wait (:meth:`Sidecar._router`), so the process waiting on ``ctl.cur_ev`` is the one
    whose generator chain holds this router. The interrupt is thrown into that process (SimPy's
    ``Interruption._interrupt``, synchronously: timers call this from an event callback, never from
    inside a process); routers above pass it down until ``ctl``'s router takes it.
    """
    ev = ctl.cur_ev
    if ev is None or ev.callbacks is None:
        return
    for cb in ev.callbacks:
        host = getattr(cb, "__self__", None)
        if isinstance(host, simpy.Process):
            ev.callbacks.remove(cb)
            host._resume(_Interrupting((ctl, code)))  # type: ignore[arg-type]
            return
    raise AssertionError("an attempt's wait has no process behind it")


def _detached(g: Gen, ev: simpy.Event) -> Gen:
    """Carry on an attempt the router gave up on (timeout): wait for the event it was waiting on,
    then drive it to its end, passing interrupts down to the routers inside it."""
    while True:
        try:
            val = yield ev
            exc: BaseException | None = None
        except simpy.Interrupt as intr:
            val, exc = None, intr
        try:
            ev = g.send(val) if exc is None else g.throw(exc)
        except StopIteration:
            return


def is_success(status: int) -> bool:
    """A request succeeded when its status is below 500: the rule of Istio's and Flagger's
    success-rate queries (``response_code !~ "5.*"``)."""
    return 0 < status < 500


class Ctx:
    """One entry request, carried through every call it causes (``trace``: its spans when sampled)."""

    __slots__ = ("headers", "measured", "batch", "trace")

    def __init__(self, headers: dict[str, str], measured: bool, batch: int, trace: Trace | None = None) -> None:
        self.headers = headers
        self.measured = measured
        self.batch = batch
        self.trace = trace


class ProxyCPU:
    """The worker threads of one Envoy (reference §9.2: "worker count (2) bounds per-proxy
    parallelism"; §11). Each traversal holds the earliest-free worker for its CPU time (FCFS over
    workers, exact for requests reserved in time order). The CPU time is part of the drawn traversal
    latency, so only the wait for a busy worker adds to it. Reservations are made when a request is
    sent (for the server sidecar a network hop early) and need no SimPy event. Simplification:
    Envoy binds *connections* to workers; here every request picks the earliest-free worker."""

    __slots__ = ("free", "n", "usage", "t_start", "t_end")

    def __init__(self, usage: ProxyUsage, t_start: float, t_end: float) -> None:
        self.free = [0.0] * usage.workers
        self.n = usage.workers
        self.usage = usage
        self.t_start = t_start
        self.t_end = t_end

    def take(self, now: float, cost: float, measured: bool) -> float:
        """Reserve ``cost`` CPU seconds for one request; returns its wait for a worker (seconds)."""
        u = self.usage
        if measured:
            u.requests += 1
            u.cpu_s += cost
        n = self.n
        if not n:
            return 0.0
        free = self.free
        if n == 2:
            i = 0 if free[0] <= free[1] else 1
        elif n == 1:
            i = 0
        else:
            i = free.index(min(free))
        m = free[i]
        if m <= now:
            free[i] = now + cost
            return 0.0
        free[i] = m + cost
        if measured:
            u.waited += 1
            u.wait_s += m - now
        return m - now

    def handshake(self, now: float, cost: float) -> float:
        """Reserve a TLS handshake's CPU (counted when it happens in the measured window)."""
        measured = self.t_start <= now < self.t_end
        if measured:
            self.usage.handshakes += 1
            self.usage.requests -= 1  # take() counts a request; a handshake is not one
        return self.take(now, cost, measured)


class Ctl:
    """Control block of one request through a client sidecar's router (timed mode)."""

    __slots__ = ("cancelled", "done", "wait", "att", "pending", "cs", "holding_retry", "on_cancel_status", "route_timer", "cur_ev")

    def __init__(self) -> None:
        self.cancelled = False
        self.done = False  # the router has answered: timers that fire later are disarmed
        self.wait: simpy.Event | None = None
        self.att: Attempt | None = None
        self.pending: Pending | None = None
        self.cs: ClusterState | None = None
        self.holding_retry = False
        self.on_cancel_status = 0
        self.route_timer = False
        self.cur_ev: simpy.Event | None = None  # what the in-flight attempt waits on (the router waits with it)


class Attempt:
    """One upstream try: its host and connection; ``done`` once it ended (answered, reset or timed out)."""

    __slots__ = ("host", "served", "done")

    def __init__(self, host: int, served: int) -> None:
        self.host = host
        self.served = served
        self.done = False


class Deadlines:
    """Timers that almost never fire (route, per-try and app timeouts), on one lazily pruned heap.

    Each timer is ``(when, seq, fn, owner)``; it is stale once ``owner.done`` is true (the request or
    attempt finished first) and is then dropped without ever reaching SimPy's event queue. A single
    SimPy timeout is kept armed for the earliest live deadline, so a request that completes before
    its timeouts costs two heap pushes instead of two SimPy events. Timers fire at exactly their
    deadline, in deadline order (ties: creation order), so results are unchanged and deterministic.
    """

    __slots__ = ("env", "heap", "seq", "target")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.heap: list[tuple[float, int, Callable[[], None], Any]] = []
        self.seq = 0
        self.target = float("inf")

    def add(self, delay: float, fn: Callable[[], None], owner: Any) -> None:
        when = self.env.now + delay
        heapq.heappush(self.heap, (when, self.seq, fn, owner))
        self.seq += 1
        if when < self.target:
            self._arm(when)

    def _arm(self, when: float) -> None:
        self.target = when
        self.env.timeout(when - self.env.now).callbacks.append(lambda _e, w=when: self._wake(w))  # type: ignore[misc]

    def _wake(self, when: float) -> None:
        if when != self.target:
            return  # superseded by an earlier arming
        heap = self.heap
        now = self.env.now
        while heap:
            w, _, fn, owner = heap[0]
            if owner.done:
                heapq.heappop(heap)
            elif w <= now:
                heapq.heappop(heap)
                fn()
            else:
                break
        if heap:
            self._arm(heap[0][0])
        else:
            self.target = float("inf")


def _compile_matcher(m: StringMatcher) -> Callable[[str], bool]:
    v = m.value
    if m.ignore_case:
        v = v.lower()
        if m.kind == "exact":
            return lambda s: s.lower() == v
        if m.kind == "prefix":
            return lambda s: s.lower().startswith(v)
        rx = re.compile(v, re.IGNORECASE)
        return lambda s: rx.fullmatch(s) is not None
    if m.kind == "exact":
        return lambda s: s == v
    if m.kind == "prefix":
        return lambda s: s.startswith(v)
    rx = re.compile(v)
    return lambda s: rx.fullmatch(s) is not None


def _compile_route_match(m: RouteMatch) -> Callable[[str, str, dict[str, str], int, dict[str, str]], bool]:
    uri = _compile_matcher(m.uri) if m.uri else None
    method = _compile_matcher(m.method) if m.method else None
    headers = [(h.name, _compile_matcher(h.matcher), h.invert) for h in m.headers]
    port = m.port
    src = m.source_labels

    def ok(path: str, meth: str, hdrs: dict[str, str], dport: int, labels: dict[str, str]) -> bool:
        if uri is not None and not uri(path):
            return False
        if method is not None and not method(meth):
            return False
        for name, f, invert in headers:
            val = hdrs.get(name)
            hit = val is not None and f(val)
            if hit == invert:
                return False
        if port is not None and port != dport:
            return False
        for k, v in src:
            if labels.get(k) != v:
                return False
        return True

    return ok


class _RouteRT:
    """A route prepared for the simulator: compiled matchers, cumulative weights."""

    __slots__ = ("route", "matchers", "clusters", "cum", "total", "timed")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.matchers = [_compile_route_match(m) for m in route.matches]
        self.clusters = [wc.cluster for wc in route.clusters]
        cum = []
        acc = 0
        for wc in route.clusters:
            acc += wc.weight
            cum.append(acc)
        self.cum = cum
        self.total = acc
        rp = route.retry_policy
        self.timed = route.timeout is not None or (rp is not None and rp.per_try_timeout is not None)


class Sidecar:
    """One Envoy sidecar: its outbound router (client side) and its inbound cluster (server side)."""

    def __init__(self, sim: Simulation, proxy_id: str, workload: Workload) -> None:
        self.sim = sim
        self.env = sim.env
        self.id = proxy_id
        self.src = workload.key
        self.labels = dict(workload.labels)
        self.u = Uniform(sim.streams.generator(f"proxy/{proxy_id}/router"))
        self.states: dict[str, ClusterState] = {}
        self.counters_at_start: dict[str, dict[str, int]] = {}
        self.inbound = ClusterState(
            sim.env,
            sim.model.inbound_cluster(workload.service),
            Uniform(sim.streams.generator(f"proxy/{proxy_id}/inbound")),
            hosts=1,
        )
        # this sidecar's view of the config (CDS/RDS) and of the endpoints (EDS); they change only
        # when the control plane pushes to this proxy (meshsim.sim.scenario)
        cfg = sim.config_model
        self.routes: dict[str, list[_RouteRT]] = sim.routes_of(cfg)
        self.clusters: dict[str, Cluster] = sim.clusters_of(cfg)
        self.eds_members: dict[str, tuple[str, ...]] = sim.eds_members
        self.known: frozenset[str] = sim.eds_known
        self.config_version = sim.config_version
        self.wl_name = workload.workload_name
        self.version = workload.version
        self.namespace = workload.namespace
        self.principal = workload.principal
        self.cpu = sim.new_cpu(proxy_id, self.wl_name)
        self.hists: dict[tuple[Any, ...], list[float]] | None = {} if sim.model.istio_metrics else None

    def _eds_for(self, name: str) -> list[str]:
        return [e for e in self.eds_members.get(name, ()) if e in self.known]

    def state(self, cluster: str) -> ClusterState:
        cs = self.states.get(cluster)
        if cs is None:
            c = self.clusters[cluster]
            cs = ClusterState(
                self.env,
                c,
                Uniform(self.sim.streams.generator(f"proxy/{self.id}/{cluster}")),
                connect_latency=self.sim.model.settings.connect_latency,
                merge_window=self.sim.model.settings.update_merge_window,
                connect_hook=self._handshake if self.sim.tls_costs else None,
            )
            eds = self._eds_for(cluster)
            if eds != cs.ids:
                cs.set_endpoints(eds)
            self.states[cluster] = cs
        return cs

    def _handshake(self, cs: ClusterState, endpoint: str) -> float:
        """A new connection to ``endpoint``: with mTLS, the handshake latency plus any wait for a
        worker of either proxy to do the handshake crypto (MeshSettings ``mtls``; reference §3.3)."""
        sim = self.sim
        rep = sim.replicas.get(endpoint)
        if rep is None or tls_state(cs.cluster.tls_mode, rep.wl.mtls_mode) != 1:
            return 0.0
        st = sim.model.settings
        now = self.env.now
        cost = st.mtls_handshake_cpu
        return st.mtls_handshake_latency + self.cpu.handshake(now, cost) + rep.sidecar.cpu.handshake(now, cost)

    def apply_config(self, model: MeshModel, version: int) -> None:
        """CDS/RDS push: new routes take effect for new requests; a cluster whose policy changed is
        rebuilt (breaker and outlier state restart, counters carry on) [UNVERIFIED, reference §12.3]."""
        self.routes = self.sim.routes_of(model)
        self.clusters = self.sim.clusters_of(model)
        self.config_version = version
        for name in list(self.states):
            new = self.clusters.get(name)
            old = self.states[name]
            if new is None:
                continue  # a cluster no route uses any more: in-flight requests finish on it
            if replace(new, endpoints=()) != replace(old.cluster, endpoints=()):
                del self.states[name]
                fresh = self.state(name)
                fresh.c = old.c
            else:
                old.cluster = new

    def apply_eds(self, members: dict[str, tuple[str, ...]], known: frozenset[str]) -> None:
        """EDS push: the endpoints of every cluster this sidecar uses."""
        self.eds_members = members
        self.known = known
        for name, cs in self.states.items():
            cs.set_endpoints(self._eds_for(name))

    # ------------------------------------------------------------------ outbound
    def outbound(self, call: CallStep, ctx: Ctx, headers: dict[str, str], ctl: Ctl | None, sid: int = 0) -> Gen:
        """Send one request through this sidecar; returns the HTTP status the app receives
        (or CANCELLED when ``ctl`` was cancelled by the app's own timeout). When traced, ``sid`` is
        the id of this request's router span, which the caller records (:meth:`router_span`)."""
        sim = self.sim
        env = self.env
        t0 = env.now
        tr = ctx.trace
        routes = self.routes[call.host]
        rt = None
        for r in routes:
            if not r.matchers:
                rt = r
                break
            for m in r.matchers:
                if m(call.path, call.method, headers, call.port, self.labels):
                    rt = r
                    break
            if rt is not None:
                break
        if rt is None:
            self._record(ctx, call.service, "", 404, "NR", 0, t0, 0, None, call)
            return 404
        route = rt.route
        flag = ""
        fault = route.fault
        if fault is not None:
            if fault.delay_fraction > 0 and self.u() < fault.delay_fraction:
                flag = "DI"
                if ctl is None:
                    yield env.timeout(fault.delay)
                else:
                    ev = env.event()
                    ctl.wait = ev
                    env.timeout(fault.delay).callbacks.append(lambda _e, ev=ev: ev.triggered or ev.succeed(0))  # type: ignore[misc]
                    yield ev
                    if ctl.cancelled:
                        if tr is not None:
                            tr.add(tr.new_id(), sid, "fault delay", self.id, t0, env.now)
                        return CANCELLED
                if tr is not None:
                    tr.add(tr.new_id(), sid, "fault delay", self.id, t0, env.now)
            if fault.abort_fraction > 0 and self.u() < fault.abort_fraction:
                cname = rt.clusters[0] if len(rt.clusters) == 1 else self._pick_cluster(rt)
                self._record(ctx, call.service, cname, fault.abort_status, "FI" if not flag else "DI,FI", 0, t0, 0, None, call)
                return fault.abort_status
        cname = rt.clusters[0] if len(rt.clusters) == 1 else self._pick_cluster(rt)
        cs = self.states.get(cname) or self.state(cname)
        if ctl is None and rt.timed:
            ctl = Ctl()
        if ctl is not None:
            ctl.cs = cs
            if route.timeout is not None:
                ctl.route_timer = True
                sim.deadlines.add(route.timeout, lambda c=ctl: self._route_timeout(c), ctl)  # type: ignore[misc]
        status, rflag, k, retries, dst = yield from self._router(cs, route, ctx, call, headers, ctl, sid)
        if ctl is not None:
            ctl.done = True  # Envoy disarms the route timeout when the response completes
        if status == CANCELLED:
            if ctl is not None and ctl.on_cancel_status:
                status = ctl.on_cancel_status
                rflag = "UT"
            else:
                # the app gave up (its own timeout): Envoy logs the downstream reset as code 0, flag DC
                self._record(ctx, call.service, cname, 0, "DC", k, t0, retries, dst, call)
                return CANCELLED
        if flag:
            rflag = f"{flag},{rflag}" if rflag else flag
        self._record(ctx, call.service, cname, status, rflag, k, t0, retries, dst, call)
        return status

    def router_span(self, tr: Trace, sid: int, psid: int, call: CallStep, t0: float, status: int) -> None:
        """Record the router span of a traced request sent through :meth:`outbound` with ``sid``."""
        tr.add(sid, psid, f"router {call.service}", self.id, t0, self.env.now, "sequential", status=status)

    def _pick_cluster(self, rt: _RouteRT) -> str:
        """Envoy ``pickClusterIndex``: ``r mod total`` against cumulative weights (reference §6)."""
        v = int(self.u() * rt.total)
        for i, c in enumerate(rt.cum):
            if v < c:
                return rt.clusters[i]
        return rt.clusters[-1]

    def _record(
        self, ctx: Ctx, service: str, cname: str, status: int, flag: str, attempts: int, t0: float, retries: int,
        dst: Replica | None = None, call: CallStep | None = None,
    ) -> None:
        if not ctx.measured:
            series = self.sim.series
            if series is not None:
                series.add_edge(self.env.now, self.src, service, attempts, retries)
            return
        key = (self.src, service, cname)
        es = self.sim.edges.get(key)
        if es is None:
            es = self.sim.edges[key] = EdgeStats(BATCHES)
        es.requests += 1
        es.attempts += attempts
        es.retries += retries
        if is_success(status):
            es.success += 1
        es.codes[status] = es.codes.get(status, 0) + 1
        if flag:
            es.flags[flag] = es.flags.get(flag, 0) + 1
        ms = (self.env.now - t0) * 1e3
        es.latency.add(ctx.batch, ms)
        # Istio standard metrics, reporter=source (the upstream peer of the last attempt, if any)
        hists = self.hists
        if hists is not None:
            mk = (dst, cname, status, flag)  # dst: a Replica (hashed by identity) or None
            try:
                h = hists[mk]
            except KeyError:
                h = hists[mk] = self._source_hist(service, cname, status, flag, dst.wl if dst is not None else None, call)
            h[0] += 1
            h[1] += ms
            h[2 + bisect_left(DURATION_BUCKETS_MS, ms)] += 1
        series = self.sim.series
        if series is not None:
            series.add_edge(self.env.now, self.src, service, attempts, retries)

    def _source_hist(
        self, service: str, cname: str, status: int, flag: str, dst: Workload | None, call: CallStep | None
    ) -> list[float]:
        """The Istio metric series (labels of reporter=source) of one outcome of this sidecar."""
        c = self.clusters.get(cname)
        host = c.host if c is not None else (call.host if call is not None else "")
        if dst is not None:
            tls = tls_state(c.tls_mode if c is not None else None, dst.mtls_mode)
            labels = ("source", self.wl_name, self.namespace, self.version, spiffe(self.principal), dst.name or dst.key,
                   dst.namespace, dst.version, host, service, spiffe(dst.principal) if tls == 1 else "unknown", "http",
                   str(status), flag or "-", "unknown")
        else:
            labels = ("source", self.wl_name, self.namespace, self.version, spiffe(self.principal), "unknown", "unknown",
                   "unknown", host or "unknown", service, "unknown", "http", str(status), flag or "-", "unknown")
        return self.sim.metrics.series(labels)

    def _route_timeout(self, ctl: Ctl) -> None:
        if ctl.cancelled or ctl.done or ctl.cs is None:
            return
        ctl.cs.c.upstream_rq_timeout += 1
        self._cancel(ctl, 504, report=True)

    def _cancel(self, ctl: Ctl, status: int, report: bool) -> None:
        """Give up on a request: reset its in-flight attempt, leave the pending queue, release the
        active retry; the router resumes with CANCELLED. Used by the route timeout (504 UT) and by
        the app's own timeout (downstream reset)."""
        if ctl.cancelled or ctl.done:
            return
        ctl.cancelled = True
        ctl.on_cancel_status = status
        cs = ctl.cs
        att = ctl.att
        if cs is not None:
            if att is not None and not att.done:
                att.done = True
                cs.end_stream(att.host, att.served, True)
                if report:
                    cs.report(att.host, 504)
            if ctl.pending is not None:
                cs.cancel_pending(ctl.pending)
            if ctl.holding_retry:
                ctl.holding_retry = False
                cs.active_retries -= 1
        w = ctl.wait
        if w is not None and not w.triggered:
            w.succeed(CANCELLED)
        interrupt_wait(ctl, CANCELLED)

    # ------------------------------------------------------------------ router
    def _router(
        self, cs: ClusterState, route: Route, ctx: Ctx, call: CallStep, headers: dict[str, str], ctl: Ctl | None, sid: int = 0
    ) -> Gen:
        """Envoy's router filter: attempts, retries, backoff (reference §1.3, §1.4).

        Returns ``(status, response_flag, attempts, retries, replica)`` where ``replica`` is the
        destination pod of the last attempt (None when no attempt was made). When traced, each
        phase (``pending``, ``attempt``, ``backoff``) is a child span of ``sid``; together they tile
        the router span.
        """
        env = self.env
        tr = ctx.trace
        rp = route.retry_policy
        retries_left = rp.num_retries if rp is not None else 0
        # previous_hosts predicate; the set is built only when a retry happens (most requests never retry)
        use_prev = rp is not None and rp.previous_hosts and retries_left > 0
        tried: set[int] | None = None
        last = -1
        repicks = rp.host_selection_retry_max_attempts if rp is not None else 0
        per_try = None
        if rp is not None and rp.per_try_timeout is not None:
            if route.timeout is None or rp.per_try_timeout < route.timeout:
                per_try = rp.per_try_timeout
        c = cs.c
        k = 0
        retries = 0
        dst: Replica | None = None
        holding = False  # an active retry (max_retries / budget) is held from backoff to next decision
        while True:
            host = cs.pick(tried, repicks)
            if host < 0:
                holding = _release_retry(cs, ctl, holding)
                return 503, "UH", k, retries, None
            if tried is not None:
                tried.add(host)
            else:
                last = host
            got = cs.new_stream(host)
            if type(got) is int and got == OVERFLOW:
                holding = _release_retry(cs, ctl, holding)
                return 503, "UO", k, retries, None
            if type(got) is Pending:
                tp = env.now
                if ctl is None:
                    served = yield got.event
                else:
                    ctl.pending = got
                    ctl.wait = got.event
                    served = yield got.event
                    ctl.pending = None
                    if ctl.cancelled:
                        if tr is not None:
                            tr.add(tr.new_id(), sid, "pending connection", self.id, tp, env.now)
                        if served >= 0:
                            # a connection was attached in the same instant as the cancel: reset it
                            cs.end_stream(host, served, True)
                        return CANCELLED, "", k, retries, dst
                if tr is not None:
                    tr.add(tr.new_id(), sid, "pending connection", self.id, tp, env.now)
                if served == OVERFLOW:
                    holding = _release_retry(cs, ctl, holding)
                    return 503, "UO", k, retries, None
            else:
                served = got
            k += 1
            replica = self.sim.replicas[cs.ids[host]]
            dst = replica
            if tr is not None:
                ta = env.now
                asid = tr.new_id()
            else:
                asid = 0
            if ctl is None:
                status = yield from self._wire(replica, ctx, cs, call, headers, asid)
                cs.end_stream(host, served, status < 0)
                if tr is not None:
                    tr.add(asid, sid, f"attempt {k}", self.id, ta, env.now, "sequential", upstream_host=replica.id, status=status)
            else:
                # run the attempt inline, driving its generator by hand: every event it waits on
                # passes through here (Ctl.cur_ev), so a per-try, route or app timer can interrupt
                # exactly this wait (interrupt_wait); the abandoned attempt then goes on in a process
                # of its own (its server keeps working) and the router resumes at once
                att = Attempt(host, served)
                ctl.att = att
                ctl.wait = None
                if per_try is not None:
                    self.sim.deadlines.add(per_try, lambda a=att, s=cs, c=ctl: self._per_try_timeout(s, a, c), att)  # type: ignore[misc]
                g = self._wire(replica, ctx, cs, call, headers, asid)
                val: Any = None
                exc: BaseException | None = None
                while True:
                    try:
                        ev = g.send(val) if exc is None else g.throw(exc)
                    except StopIteration as stop:
                        status = stop.value
                        att.done = True  # (a timer that fired would have detached the attempt)
                        cs.end_stream(host, served, status < 0)
                        break
                    ctl.cur_ev = ev
                    try:
                        val = yield ev
                        exc = None
                    except simpy.Interrupt as intr:
                        target, code = intr.cause  # type: ignore[misc]
                        if target is not ctl:
                            val, exc = None, intr  # for a router inside this attempt: pass it down
                            ctl.cur_ev = None
                            continue
                        ctl.cur_ev = None
                        start_now(env, _detached(g, ev))
                        status = code
                        break
                    ctl.cur_ev = None
                ctl.att = None
                if tr is not None:
                    cut = ctl.cancelled or status == PER_TRY_TIMEOUT
                    tr.add(asid, sid, f"attempt {k}", self.id, ta, env.now, "cut" if cut else "sequential",
                           upstream_host=replica.id, status=status)
                if ctl.cancelled:
                    return CANCELLED, "", k, retries, dst
            # outlier detection sees every attempt (local-origin failures as 503/504)
            if status >= 0:
                c.upstream_rq_completed += 1
                if status < 300:
                    c.upstream_rq_2xx += 1
                elif status >= 500:
                    c.upstream_rq_5xx += 1
                elif status >= 400:
                    c.upstream_rq_4xx += 1
                if cs.od is not None:
                    cs.report(host, status)
            elif status == CONNECT_FAIL:
                c.upstream_cx_connect_fail += 1
                if cs.od is not None:
                    cs.report(host, 503)
            elif status == PER_TRY_TIMEOUT:
                if cs.od is not None:
                    cs.report(host, 504)
            elif status == TLS_MISMATCH:
                c.upstream_rq_rx_reset += 1
                if cs.od is not None:
                    cs.report(host, 503)
            # retry decision
            holding = _release_retry(cs, ctl, holding)
            retriable = rp is not None and _retriable(rp.retry_on, rp.retriable_status_codes, status)
            if not retriable:
                if status >= 0:
                    if k > 1 and is_success(status):
                        c.upstream_rq_retry_success += 1
                    return status, "", k, retries, dst
                return _local_reply(status), _local_flag(status), k, retries, dst
            if retries_left <= 0:
                c.upstream_rq_retry_limit_exceeded += 1
                if status >= 0:
                    return status, "URX", k, retries, dst
                return _local_reply(status), "URX," + _local_flag(status), k, retries, dst
            retries_left -= 1
            if not cs.retry_allowed():
                c.upstream_rq_retry_overflow += 1
                return (status if status >= 0 else _local_reply(status)), "UO", k, retries, dst
            cs.active_retries += 1
            holding = True
            if ctl is not None:
                ctl.holding_retry = True
            c.upstream_rq_retry += 1
            retries += 1
            if use_prev and tried is None:
                tried = {last}
            backoff = self._backoff(rp, retries)  # type: ignore[arg-type]
            tb = env.now
            if ctl is None:
                yield env.timeout(backoff)
            else:
                ev = env.event()
                ctl.wait = ev
                env.timeout(backoff).callbacks.append(lambda _e, ev=ev: ev.triggered or ev.succeed(0))  # type: ignore[misc]
                yield ev
                if ctl.cancelled:
                    if tr is not None:
                        tr.add(tr.new_id(), sid, "retry backoff", self.id, tb, env.now)
                    return CANCELLED, "", k, retries, dst
            if tr is not None:
                tr.add(tr.new_id(), sid, "retry backoff", self.id, tb, env.now)

    def _backoff(self, rp: Any, n: int) -> float:
        """Envoy ``JitteredExponentialBackOffStrategy``: ceiling I_1 = base, doubling while
        I_n < max/2, else max; the wait is ``R mod I_n`` ms, uniform on [0, I_n) (reference §1.4)."""
        base_ms = int(round(rp.backoff_base * 1e3))
        max_ms = int(round(rp.backoff_max * 1e3))
        ceiling = base_ms
        for _ in range(n - 1):
            ceiling = 2 * ceiling if ceiling < max_ms // 2 else max_ms
        if ceiling <= 0:
            return 0.0
        return int(self.u() * ceiling) / 1e3

    def _wire(self, replica: Replica, ctx: Ctx, cs: ClusterState, call: CallStep, headers: dict[str, str], asid: int = 0) -> Gen:
        """Client traversal + network + server traversal (one draw each), plus any wait for a busy
        worker in either proxy, then the server pod. mTLS decides the peer identity the server's
        authorization sees and adds crypto CPU; a TLS mismatch is refused (503 UC)."""
        sim = self.sim
        env = self.env
        t = env.now
        mode = cs.cluster.tls_mode
        tls = replica.tls_auto if mode is None else tls_state(mode, replica.wl.mtls_mode)
        cpu = sim.cpu_per_request + (sim.mtls_request_cpu if tls == 1 else 0.0)
        measured = ctx.measured
        # both sidecars' workers (ProxyCPU.take); the usual case, a free worker in each, inlined
        ca = self.cpu
        cb = replica.sidecar.cpu
        fa = ca.free
        fb = cb.free
        if ca.n == 2 and cb.n == 2 and (fa[0] <= t or fa[1] <= t) and (fb[0] <= t or fb[1] <= t):
            # a request that finds a free worker never waits; which free one it takes does not change
            # any later wait (the other stays free), so the first free one is as good as the earliest
            fa[0 if fa[0] <= t else 1] = t + cpu
            fb[0 if fb[0] <= t else 1] = t + cpu
            if measured:
                ca.usage.add(cpu)
                cb.usage.add(cpu)
            wait = 0.0
        else:
            wait = ca.take(t, cpu, measured) + cb.take(t, cpu, measured)
        yield env.timeout(sim.proxy_cost() + sim.proxy_cost() + sim.net2 + wait)
        tr = ctx.trace
        if tr is not None:
            tr.add(tr.new_id(), asid, "proxies and network", self.id, t, env.now, proxy_wait_ms=wait * 1e3,
                   mtls=tls == 1)
        if not replica.alive:
            return CONNECT_FAIL
        if tls < 0:
            return TLS_MISMATCH
        status = yield from replica.serve(ctx, self, call, headers, cs.cluster.name, self.principal if tls else "", asid)
        return status

    def _per_try_timeout(self, cs: ClusterState, att: Attempt, ctl: Ctl) -> None:
        """The per-try timer: reset the attempt (its server keeps working) and wake the router."""
        if att.done:
            return
        att.done = True
        cs.c.upstream_rq_per_try_timeout += 1
        cs.end_stream(att.host, att.served, True)
        interrupt_wait(ctl, PER_TRY_TIMEOUT)


class GatewayProxy(Sidecar):
    """One ingress gateway pod's Envoy: a router like a sidecar's outbound side, but with the gateway's
    own route table (VirtualServices bound to the Gateway only) and no inbound cluster or app. It
    shares the mesh's clusters and DestinationRule policies (LB, pools, breakers, outlier detection,
    tls), and its CPU model. Scenario pushes (CDS/EDS) do not reach it [simplification]."""

    def __init__(self, sim: Simulation, proxy_id: str, gw: GatewayIR) -> None:
        self.sim = sim
        self.env = sim.env
        self.id = proxy_id
        self.src = gw.workload
        self.labels = dict(gw.labels)
        self.u = Uniform(sim.streams.generator(f"proxy/{proxy_id}/router"))
        self.states = {}
        self.counters_at_start = {}
        cfg = sim.config_model
        self.routes = {"*": [_RouteRT(r) for r in gw.virtual_host.routes]}
        self.clusters = sim.clusters_of(cfg)
        self.eds_members = sim.eds_members
        self.known = sim.eds_known
        self.config_version = sim.config_version
        self.wl_name = gw.workload
        self.version = "unknown"
        self.namespace = gw.namespace
        self.principal = gw.principal
        self.cpu = sim.new_cpu(proxy_id, gw.workload)
        self.hists = {} if sim.model.istio_metrics else None

    def _record(
        self, ctx: Ctx, service: str, cname: str, status: int, flag: str, attempts: int, t0: float, retries: int,
        dst: Replica | None = None, call: CallStep | None = None,
    ) -> None:
        # a gateway route may lead to any service: the edge's destination is its cluster's service
        c = self.clusters.get(cname)
        super()._record(ctx, c.service if c is not None else service, cname, status, flag, attempts, t0, retries, dst, call)


def _release_retry(cs: ClusterState, ctl: Ctl | None, holding: bool) -> bool:
    """Release the active retry this request holds (Envoy releases it at the next retry decision
    or when the request ends, reference §1.6); returns the new ``holding`` (False)."""
    if holding and (ctl is None or ctl.holding_retry):
        cs.active_retries -= 1
        if ctl is not None:
            ctl.holding_retry = False
    return False


def _retriable(on: frozenset[str], codes: frozenset[int], status: int) -> bool:
    """Envoy ``wouldRetryFromHeaders`` / ``wouldRetryFromReset`` (reference §1.2)."""
    if status >= 0:
        return retriable_status(on, codes, status)
    if "5xx" in on or "gateway-error" in on or "reset" in on:
        return True
    if status == CONNECT_FAIL:
        return "connect-failure" in on or "reset-before-request" in on
    return False


def _local_reply(status: int) -> int:
    return 504 if status == PER_TRY_TIMEOUT else 503


def _local_flag(status: int) -> str:
    if status == TLS_MISMATCH:
        return "UC"
    return "UT" if status == PER_TRY_TIMEOUT else "UF"


class Replica:
    """One pod's application: FIFO worker pool, error draw, script of sleeps and calls."""

    def __init__(self, sim: Simulation, wl: Workload, index: int, endpoint_id: str, stats: WorkloadStats) -> None:
        self.sim = sim
        self.env = sim.env
        self.wl = wl
        self.id = endpoint_id
        self.alive = True
        self.sidecar = Sidecar(sim, endpoint_id, wl)
        self.limit = wl.concurrency
        self.busy = 0
        self.queue: deque[simpy.Event] = deque()
        self.stats = stats
        self.lv_busy: Level = stats.busy[index]
        self.lv_queue: Level = stats.queue[index]
        g = sim.streams
        self.u = Uniform(g.generator(f"app/{endpoint_id}/errors"))
        self.slow = 1.0  # scenario: sleeps x factor
        self.err_rate = wl.error_rate  # scenario: error rate override
        self.err_status = wl.error_status
        self.nth_counter = 0
        self.nth = 10000 // int(wl.error_rate * 10000) if wl.error_mode == "every_nth" and wl.error_rate > 0 else 0
        self.samplers: dict[int, Callable[[], float]] = {}
        for st in _flat_steps(wl.script):
            if isinstance(st, SleepStep):
                gen = None if st.dist.kind == "constant" else g.generator(f"app/{endpoint_id}/sleep{st.index}")
                self.samplers[st.index] = sampler(st.dist, gen)
        self.has_prob = any(isinstance(s, CallStep) and s.probability < 1.0 for s in _flat_steps(wl.script))
        deny = tuple(p for p in sim.model.authz if p.action == "DENY" and wl.key in p.workloads)
        allow = tuple(p for p in sim.model.authz if p.action == "ALLOW" and wl.key in p.workloads)
        self.authz = (deny, allow) if deny or allow else None
        self.hists: dict[tuple[Any, ...], list[float]] | None = {} if sim.model.istio_metrics else None
        self.tls_auto = tls_state(None, wl.mtls_mode)  # what auto mTLS gives a client of this pod
        self.svc_host = sim.model.service(wl.service).host

    def serve(
        self, ctx: Ctx, src: Sidecar | None, call: CallStep, headers: dict[str, str], cname: str, principal: str, psid: int = 0
    ) -> Gen:
        """Handle one request arriving at this pod's sidecar (inbound: authz, stats, inbound cluster)
        and its app; returns the HTTP status. ``src`` is the calling proxy (None: the load source,
        outside the mesh), ``principal`` its mTLS identity ("" over plaintext), ``cname`` the
        client's cluster (to attribute denials to the edge)."""
        env = self.env
        tr = ctx.trace
        sid = tr.new_id() if tr is not None else 0
        if self.authz is not None:
            t_in = env.now
            denied = self._authorize(principal, call, headers)
            if denied is not None:
                # Envoy RBAC filter at the server sidecar: 403 before the request reaches the app
                if ctx.measured:
                    self._server_metrics(src, principal, 403, "-", 0.0)
                    if src is not None:
                        ek = (src.src, call.service, cname)
                        per = self.sim.denied.setdefault(ek, {})
                        per[denied] = per.get(denied, 0) + 1
                if tr is not None:
                    tr.add(sid, psid, f"inbound {self.wl.service}", self.id, t_in, t_in, status=403, denied_by=denied)
                return 403
        inb = self.sidecar.inbound
        got = inb.new_stream(0)
        if type(got) is Pending:
            t_in = env.now
            got = yield got.event
            t_arr = env.now
        else:
            t_in = t_arr = env.now
        if got == OVERFLOW:
            if ctx.measured:
                self._server_metrics(src, principal, 503, "UO", (env.now - t_in) * 1e3)
            if tr is not None:
                tr.add(sid, psid, f"inbound {self.wl.service}", self.id, t_in, env.now, status=503)
            return 503
        served: int = got  # type: ignore[assignment]
        st = self.stats
        measured = ctx.measured
        if self.limit is not None:
            if self.busy < self.limit:
                self.busy += 1
                self.lv_busy.set(t_arr, self.busy)
            else:
                ev = env.event()
                self.queue.append(ev)
                self.lv_queue.set(t_arr, len(self.queue))
                yield ev
        else:
            self.busy += 1
            self.lv_busy.set(t_arr, self.busy)
        t_start = env.now
        wl = self.wl
        status = 200
        app_sid = tr.new_id() if tr is not None else 0
        app_kind = "sequential"
        if self.err_rate > 0 and self._fails():
            status = self.err_status
            app_kind = "none"  # failed before its script: no child spans
        else:
            for step in wl.script:
                if type(step) is SleepStep:
                    if tr is None:
                        yield env.timeout(self.samplers[step.index]() * self.slow)
                    else:
                        ts = env.now
                        yield env.timeout(self.samplers[step.index]() * self.slow)
                        tr.add(tr.new_id(), app_sid, "sleep", self.id, ts, env.now)
                elif type(step) is CallStep:
                    ok = yield from self.call(step, ctx, app_sid)
                    if not ok and step.on_error == "fail":
                        status = 500
                        break
                else:
                    ok = yield from self._concurrent(step, ctx, app_sid)  # type: ignore[arg-type]
                    if not ok:
                        status = 500
                        break
        now = env.now
        if self.limit is not None and self.queue:
            self.queue.popleft().succeed()
            self.lv_queue.set(now, len(self.queue))
        else:
            self.busy -= 1
            self.lv_busy.set(now, self.busy)
        inb.end_stream(0, served, False)
        series = self.sim.series
        if series is not None:
            series.add(now, wl.key, 0 < status < 500, (now - t_arr) * 1e3)
        if measured:
            st.arrivals += 1
            st.completed += 1
            if status >= 500:
                st.errors += 1
            w = t_start - t_arr
            if w > 0:
                st.waited += 1
                st.wait_sum += w
            st.residence_sum += now - t_arr
            hists = self.hists
            if hists is not None:
                # Istio metrics, reporter=destination (inlined _server_metrics: this is the hot path)
                ms = (now - t_in) * 1e3
                mk = (src, principal, status, "-")  # src: a proxy (hashed by identity) or None
                try:
                    h = hists[mk]
                except KeyError:
                    h = hists[mk] = self._dest_hist(src, principal, status, "-")
                h[0] += 1
                h[1] += ms
                h[2 + bisect_left(DURATION_BUCKETS_MS, ms)] += 1
        if tr is not None:
            if t_arr > t_in:
                tr.add(tr.new_id(), sid, "inbound pool", self.id, t_in, t_arr)
            if t_start > t_arr:
                tr.add(tr.new_id(), sid, "queue for a worker", self.id, t_arr, t_start)
            tr.add(app_sid, sid, f"app {wl.key}", self.id, t_start, now, app_kind if wl.script else "none", status=status)
            tr.add(sid, psid, f"inbound {wl.service}", self.id, t_in, now, "sequential", status=status)
        return status

    def _authorize(self, principal: str, call: CallStep, headers: dict[str, str]) -> str | None:
        """The AuthorizationPolicy that denies this request, or None (Istio order: DENY, then ALLOW)."""
        assert self.authz is not None
        deny, allow = self.authz
        ns = principal.split("/")[2] if principal.startswith("cluster.local/ns/") else ""
        return authz_verdict(deny, allow, principal, ns, call.method, call.path, headers, call.port)

    def _server_metrics(self, src: Sidecar | None, principal: str, status: int, flag: str, ms: float) -> None:
        """Istio standard metrics, reporter=destination (recorded by this pod's sidecar)."""
        if self.hists is None:
            return
        mk = (src, principal, status, flag)
        h = self.hists.get(mk)
        if h is None:
            h = self.hists[mk] = self._dest_hist(src, principal, status, flag)
        h[0] += 1
        h[1] += ms
        h[2 + bisect_left(DURATION_BUCKETS_MS, ms)] += 1

    def _dest_hist(self, src: Sidecar | None, principal: str, status: int, flag: str) -> list[float]:
        wl = self.wl
        sc = self.sidecar
        if src is None:
            s_wl, s_ns, s_ver = "unknown", "unknown", "unknown"
        else:
            s_wl, s_ns, s_ver = src.wl_name, src.namespace, src.version
        key = ("destination", s_wl, s_ns, s_ver, spiffe(principal) if principal else "unknown", sc.wl_name,
               wl.namespace, wl.version, self.svc_host, wl.service, spiffe(wl.principal), "http", str(status), flag,
               "mutual_tls" if principal else "none")
        return self.sim.metrics.series(key)

    def _fails(self) -> bool:
        if self.nth:
            self.nth_counter += 1
            if self.nth_counter >= self.nth:
                self.nth_counter = 0
                return True
            return False
        return self.u() < self.err_rate

    def _concurrent(self, step: ConcurrentStep, ctx: Ctx, psid: int = 0) -> Gen:
        env = self.env
        t0 = env.now
        tr = ctx.trace
        sid = tr.new_id() if tr is not None else 0
        done = env.event()
        state = [len(step.steps), True]

        def finish(ev: simpy.Event) -> None:
            if ev.value is False:
                state[1] = False
            state[0] -= 1
            if state[0] == 0:
                done.succeed()

        for s in step.steps:
            env.process(self._one(s, ctx, sid)).callbacks.append(finish)
        if state[0]:
            yield done
        if tr is not None:
            tr.add(sid, psid, "concurrent", self.id, t0, env.now, "concurrent")
        return state[1]

    def _one(self, s: SleepStep | CallStep, ctx: Ctx, psid: int = 0) -> Gen:
        if type(s) is SleepStep:
            ts = self.env.now
            yield self.env.timeout(self.samplers[s.index]() * self.slow)
            if ctx.trace is not None:
                ctx.trace.add(ctx.trace.new_id(), psid, "sleep", self.id, ts, self.env.now)
            return True
        ok = yield from self.call(s, ctx, psid)  # type: ignore[arg-type]
        return ok or s.on_error == "ignore"  # type: ignore[union-attr]

    def call(self, step: CallStep, ctx: Ctx, psid: int = 0) -> Gen:
        """One app-level call (probability, app timeout, app retries) through this pod's sidecar.
        Returns True when the call succeeded (a 2xx/3xx). Traced: a ``call`` span whose children
        (one ``router`` span per try, ``app backoff``) tile it."""
        if step.probability < 1.0 and self.u() >= step.probability:
            if ctx.measured:
                self._call_stats(step).skipped += 1
            return True
        env = self.env
        t0 = env.now
        tr = ctx.trace
        sid = tr.new_id() if tr is not None else 0
        headers = ctx.headers
        fwd = self.wl.forward_headers
        if fwd is not None:
            headers = {k: v for k, v in headers.items() if k in fwd}
        if step.headers:
            headers = {**headers, **dict(step.headers)}
        tries = 1 + (step.retries.attempts if step.retries is not None else 0)
        ok = False
        n = 0
        timeouts = 0
        for i in range(tries):
            n += 1
            if tr is not None:
                rsid = tr.new_id()
                tt = env.now
            else:
                rsid = 0
            if step.timeout is None:
                status = yield from self.sidecar.outbound(step, ctx, headers, None, rsid)
            else:
                ctl = Ctl()
                sidecar = self.sidecar
                self.sim.deadlines.add(step.timeout, lambda c=ctl, sc=sidecar: sc._cancel(c, 0, False), ctl)  # type: ignore[misc]
                status = yield from sidecar.outbound(step, ctx, headers, ctl, rsid)
                if status == CANCELLED:
                    status = APP_TIMEOUT
                    timeouts += 1
            if tr is not None:
                self.sidecar.router_span(tr, rsid, sid, step, tt, status)
            if 0 < status < 400:
                ok = True
                break
            rp = step.retries
            if rp is None or i == tries - 1:
                break
            on = rp.retry_on
            if not ((status == APP_TIMEOUT and "timeout" in on) or (status >= 500 and "5xx" in on) or (400 <= status < 500 and "4xx" in on)):
                break
            if rp.backoff > 0:
                tb = env.now
                yield env.timeout(rp.backoff)
                if tr is not None:
                    tr.add(tr.new_id(), sid, "app backoff", self.id, tb, env.now)
        if tr is not None:
            tr.add(sid, psid, f"call {step.service}", self.id, t0, env.now, "sequential", tries=n, ok=ok)
        series = self.sim.series
        if series is not None:
            series.add_call(env.now, self.wl.key, step.service, n)
        if ctx.measured:
            cst = self._call_stats(step)
            cst.calls += 1
            cst.tries += n
            cst.app_retries += n - 1
            cst.app_timeouts += timeouts
            if not ok:
                cst.failures += 1
            cst.latency.add(ctx.batch, (env.now - t0) * 1e3)
        return ok

    def _call_stats(self, step: CallStep) -> CallStats:
        key = (self.wl.key, step.service)
        cs = self.sim.calls.get(key)
        if cs is None:
            cs = self.sim.calls[key] = CallStats(BATCHES)
        return cs


def _flat_steps(script: tuple[Any, ...]) -> list[SleepStep | CallStep]:
    out: list[SleepStep | CallStep] = []
    for s in script:
        if isinstance(s, ConcurrentStep):
            out.extend(s.steps)
        else:
            out.append(s)
    return out


class Simulation:
    """One replication of a :class:`MeshModel`.

    Parameters
    ----------
    model:
        The compiled mesh.
    seed, replication:
        Root seed and replication index; all draws come from :class:`Streams` (seed, replication).
    progress:
        Optional callback ``progress(fraction_done)`` called about 100 times per run.

    The measured window is ``[warmup, warmup + duration)`` of load arrivals; requests arriving in it
    are followed to completion (at most ``drain`` seconds after the window) and everything they cause
    is recorded. Warm-up requests run but are not recorded.
    """

    def __init__(self, model: MeshModel, seed: int, replication: int = 0, progress: Callable[[float], None] | None = None) -> None:
        self.model = model
        self.seed = seed
        self.replication = replication
        self.env = simpy.Environment()
        self.deadlines = Deadlines(self.env)
        self.series = Series(model.timeline.series_interval) if model.timeline is not None else None
        self.streams = Streams(seed, replication)
        self.progress = progress
        self.config_model = model  # the latest config istiod knows (pushed to proxies with a delay)
        self.config_version = 0
        self.eds_members: dict[str, tuple[str, ...]] = {c.name: c.endpoints for c in model.clusters}
        self.eds_known: frozenset[str] = frozenset(e.id for e in model.endpoints)
        self._routes_cache: dict[int, dict[str, list[_RouteRT]]] = {}
        self._keep: list[MeshModel] = []  # keeps cached models alive so their id() stays unique
        self._clusters_cache: dict[int, dict[str, Cluster]] = {}
        self.edges: dict[tuple[str, str, str], EdgeStats] = {}
        self.calls: dict[tuple[str, str], CallStats] = {}
        load = model.load
        self.t_start = load.warmup
        self.t_end = load.warmup + load.duration
        self.batch_len = load.duration / BATCHES
        proxy_gen = self.streams.generator("mesh/proxy-latency")
        self.proxy_cost = sampler(model.settings.sidecar_latency, proxy_gen)
        self.net2 = 2 * model.settings.network_latency
        st = model.settings
        self.cpu_per_request = st.proxy_cpu_per_request
        self.mtls_request_cpu = st.mtls_request_cpu
        self.tls_costs = st.mtls_handshake_latency > 0 or st.mtls_handshake_cpu > 0  # a connection hook is needed
        self.metrics = IstioMetrics()
        self.denied: dict[tuple[str, str, str], dict[str, int]] = {}
        self.proxy_usage: dict[str, ProxyUsage] = {}
        self.traces: list[Trace] = []
        self.trace_sample = model.trace_sample
        self.u_trace = Uniform(self.streams.generator("trace/sample")) if self.trace_sample > 0 else None
        self.wstats: dict[str, WorkloadStats] = {}
        self.replicas: dict[str, Replica] = {}
        for svc in model.services:
            for wl in svc.workloads:
                ws = WorkloadStats(wl.replicas, 0.0)
                self.wstats[wl.key] = ws
                for r in range(wl.replicas):
                    eid = f"{wl.service}-{wl.version}-{r}"
                    self.replicas[eid] = Replica(self, wl, r, eid, ws)
        entry = model.service(load.entry)
        self.entry_pods = [self.replicas[e.id] for e in entry.endpoints]
        # the load source's request as a call (authz and telemetry see its path, method and port)
        self.entry_call = CallStep(entry.name, entry.host, entry.port, load.path, load.method, (), 0, 1.0, None, None, "fail", -1)
        self.gateways: list[GatewayProxy] = []
        if model.gateway is not None:
            self.gateways = [GatewayProxy(self, pid, model.gateway) for pid in model.gateway.proxies]
            self.gw_call = replace(self.entry_call, host="*")
        self.rate = load.rate or 1.0  # requests/s now (a scenario may change it)
        self.live_pods: frozenset[str] = frozenset(self.replicas)
        self.timeline = model.timeline
        self.driver: Any = None
        self.canary: Any = None
        self.control_plane: Any = None
        self.u_entry = Uniform(self.streams.generator("load/pick"))
        self.u_hdr = Uniform(self.streams.generator("load/headers"))
        mix = load.header_mix
        self.mix_cum: list[tuple[float, dict[str, str]]] = []
        acc = 0.0
        for w, h in mix:
            acc += w
            self.mix_cum.append((acc, dict(h)))
        self.entry_latency = Tally(BATCHES)
        self.entry_requests = 0
        self.entry_success = 0
        self.entry_codes: dict[int, int] = {}
        self.batch_req = [0] * BATCHES
        self.batch_ok = [0] * BATCHES
        self.in_flight = 0
        self.arrivals_done = False
        self.finished = self.env.event()

    def new_cpu(self, proxy_id: str, workload: str) -> ProxyCPU:
        """The worker pool of a new proxy (MeshSettings ``proxy``); its usage is reported per proxy."""
        u = self.proxy_usage.get(proxy_id)
        if u is None:
            u = self.proxy_usage[proxy_id] = ProxyUsage(proxy_id, workload, self.model.settings.proxy_workers)
        return ProxyCPU(u, self.t_start, self.t_end)

    def routes_of(self, model: MeshModel) -> dict[str, list[_RouteRT]]:
        """The runtime route table of ``model`` (built once per model, shared by sidecars)."""
        key = id(model)
        r = self._routes_cache.get(key)
        if r is None:
            r = self._routes_cache[key] = {vh.host: [_RouteRT(x) for x in vh.routes] for vh in model.virtual_hosts}
            self._keep.append(model)
        return r

    def clusters_of(self, model: MeshModel) -> dict[str, Cluster]:
        key = id(model)
        c = self._clusters_cache.get(key)
        if c is None:
            c = self._clusters_cache[key] = {x.name: x for x in model.clusters}
            self._keep.append(model)
        return c

    # ------------------------------------------------------------------ load
    def _headers(self) -> dict[str, str]:
        if len(self.mix_cum) == 1:
            return self.mix_cum[0][1]
        u = self.u_hdr()
        for acc, h in self.mix_cum:
            if u < acc:
                return h
        return self.mix_cum[-1][1]

    def _entry(self, t_arrival: float) -> Gen:
        measured = self.t_start <= t_arrival < self.t_end
        batch = min(int((t_arrival - self.t_start) / self.batch_len), BATCHES - 1) if measured else 0
        tr = None
        if measured and self.u_trace is not None and self.u_trace() < self.trace_sample:
            tr = Trace(len(self.traces))
            self.traces.append(tr)
        ctx = Ctx(self._headers(), measured, batch, tr)
        env = self.env
        if measured:
            self.in_flight += 1
        root = tr.new_id() if tr is not None else 0
        if self.gateways:
            status = yield from self._via_gateway(ctx, root)
        else:
            pods = self.entry_pods
            pod = pods[int(self.u_entry() * len(pods))] if len(pods) > 1 else pods[0]
            t = env.now
            wait = pod.sidecar.cpu.take(t, self.cpu_per_request, measured)
            yield env.timeout(self.proxy_cost() + self.net2 / 2 + wait)
            if tr is not None:
                tr.add(tr.new_id(), root, "network and inbound proxy", pod.id, t, env.now, proxy_wait_ms=wait * 1e3)
            if not pod.alive:
                status = 503
            elif pod.tls_auto and pod.wl.mtls_mode == "STRICT":
                status = 503  # the load source is outside the mesh (plaintext): STRICT refuses it (reset)
            else:
                status = yield from pod.serve(ctx, None, self.entry_call, ctx.headers, "", "", root)
        if tr is not None:
            tr.add(root, 0, f"entry {self.model.load.entry}", "load-source", t_arrival, env.now, "sequential",
                   status=status, path=self.model.load.path)
        if self.series is not None:
            self.series.add_entry(self.env.now, is_success(status), (self.env.now - t_arrival) * 1e3)
        if measured:
            self.entry_requests += 1
            self.batch_req[batch] += 1
            if is_success(status):
                self.entry_success += 1
                self.batch_ok[batch] += 1
            self.entry_codes[status] = self.entry_codes.get(status, 0) + 1
            self.entry_latency.add(batch, (self.env.now - t_arrival) * 1e3)
            self.in_flight -= 1
            if self.arrivals_done and self.in_flight == 0 and not self.finished.triggered:
                self.finished.succeed()
        return status

    def _via_gateway(self, ctx: Ctx, root: int) -> Gen:
        """Load enters through a gateway pod (kube-proxy picks one at random): one-way network to
        it, then its router (gateway routes, retries, timeouts) to the mesh."""
        env = self.env
        gws = self.gateways
        gw = gws[int(self.u_entry() * len(gws))] if len(gws) > 1 else gws[0]
        tr = ctx.trace
        if self.net2 > 0:
            t = env.now
            yield env.timeout(self.net2 / 2)
            if tr is not None:
                tr.add(tr.new_id(), root, "network", "load-source", t, env.now)
        rsid = tr.new_id() if tr is not None else 0
        t = env.now
        status = yield from gw.outbound(self.gw_call, ctx, ctx.headers, None, rsid)
        if tr is not None:
            gw.router_span(tr, rsid, root, self.gw_call, t, status)
        return status

    def _open_loop(self) -> Gen:
        load = self.model.load
        env = self.env
        if load.arrival == "poisson":
            from meshsim.model.ir import Dist

            # unit-mean exponentials divided by the current rate, so a scenario can change the rate
            unit = sampler(Dist("exponential", (1.0,), 1.0, 1.0), self.streams.generator("load/arrivals"))

            def inter() -> float:
                return unit() / self.rate

        else:

            def inter() -> float:
                return 1.0 / self.rate

        t_end = self.t_end
        while True:
            yield env.timeout(inter())
            if env.now >= t_end:
                break
            start_now(env, self._entry(env.now))
        self._arrivals_over()

    def _closed_loop(self, user: int) -> Gen:
        load = self.model.load
        env = self.env
        think = sampler(load.think_time, self.streams.generator(f"load/think/{user}")) if load.think_time else None
        while env.now < self.t_end:
            yield from self._entry(env.now)
            if think is not None:
                yield env.timeout(think())
        self._users_left -= 1
        if self._users_left == 0:
            self._arrivals_over()

    def _arrivals_over(self) -> None:
        self.arrivals_done = True
        self._end_window()
        if self.in_flight == 0 and not self.finished.triggered:
            self.finished.succeed()

    def _reset_levels(self) -> Gen:
        yield self.env.timeout(self.t_start)
        now = self.env.now
        for ws in self.wstats.values():
            for lv in (*ws.busy, *ws.queue):
                lv.reset(now)
        for sc in self._proxies():
            for cs in sc.states.values():
                cs.ejections.reset(now)
            sc.counters_at_start = {k: v.c.as_dict() for k, v in sc.states.items()}

    def _end_window(self) -> None:
        now = self.env.now
        self._level_means: dict[str, dict[str, float]] = {}
        for key, ws in self.wstats.items():
            self._level_means[key] = {
                "busy": sum(lv.mean(now) for lv in ws.busy),
                "queue": sum(lv.mean(now) for lv in ws.queue),
                # requests at the app = holding a worker + waiting for one (in_system == busy + queue)
                "in_system": sum(lv.mean(now) for lv in ws.busy) + sum(lv.mean(now) for lv in ws.queue),
            }
        self._eject_means = {(sc.id, name): cs.ejections.mean(now) for sc in self._proxies() for name, cs in sc.states.items()}

    def _proxies(self) -> list[Sidecar]:
        """Every proxy: the gateway pods, then the sidecars."""
        return [*self.gateways, *(rep.sidecar for rep in self.replicas.values())]

    def _ticker(self, horizon: float) -> Gen:
        step = horizon / 100
        assert self.progress is not None
        while True:
            yield self.env.timeout(step)
            self.progress(min(1.0, self.env.now / horizon))

    def set_entry_pods(self, known: frozenset[str]) -> None:
        """kube-proxy's view of the entry service's endpoints (follows the EndpointSlice)."""
        pods = [self.replicas[p] for p in sorted(known) if p in self.replicas and self.replicas[p].wl.service == self.model.load.entry]
        if pods:
            self.entry_pods = pods

    def scale_to(self, model: MeshModel) -> frozenset[str]:
        """Start the pods ``model`` has and this run does not (they serve at once); pods ``model``
        no longer has leave the endpoints but drain (they stay up). Returns the live pod set."""
        now = self.env.now
        want = {e.id for e in model.endpoints}
        for svc in model.services:
            for wl in svc.workloads:
                ws = self.wstats[wl.key]
                for r in range(wl.replicas):
                    eid = f"{wl.service}-{wl.version}-{r}"
                    if eid not in self.replicas:
                        while len(ws.busy) <= r:
                            ws.busy.append(Level(now))
                            ws.queue.append(Level(now))
                        self.replicas[eid] = Replica(self, wl, r, eid, ws)
        killed = {k for k, rep in self.replicas.items() if not rep.alive}
        self.live_pods = frozenset(want - killed)
        return self.live_pods

    def _by_workload(self) -> dict[str, list[Replica]]:
        out: dict[str, list[Replica]] = {}
        for r in self.replicas.values():
            out.setdefault(r.wl.key, []).append(r)
        return out

    def _sample_series(self) -> Gen:
        """At the end of each series bucket: the configured canary weight and the ejected hosts."""
        series = self.series
        assert series is not None
        w = series.width
        while True:
            yield self.env.timeout(w)
            b = int(round(self.env.now / w)) - 1
            if self.canary is not None:
                series.weight[b] = float(self.canary.configured)
            series.queue[b] = {key: float(sum(len(r.queue) for r in reps)) for key, reps in self._by_workload().items()}
            series.ejected[b] = float(
                sum(sum(cs.ejected) for rep in self.replicas.values() for cs in rep.sidecar.states.values() if cs.od is not None)
            )

    # ------------------------------------------------------------------ run
    def run(self) -> RepResult:
        """Run the replication to the end of its window (plus drain) and return its statistics."""
        env = self.env
        load = self.model.load
        env.process(self._reset_levels())
        if self.timeline is not None:
            from meshsim.sim.scenario import CanaryController, ControlPlane, ScenarioDriver

            self.control_plane = ControlPlane(self, self.timeline)
            self.driver = ScenarioDriver(self, self.timeline, self.control_plane)
            env.process(self.driver.run())
            if self.timeline.canary is not None:
                self.canary = CanaryController(self, self.timeline.canary, self.driver)
                env.process(self.canary.run())
            env.process(self._sample_series())
        if load.arrival == "closed":
            self._users_left = load.users or 1
            for u in range(load.users or 1):
                env.process(self._closed_loop(u))
        else:
            env.process(self._open_loop())
        if self.progress is not None:
            env.process(self._ticker(self.t_end))
        deadline = env.timeout(self.t_end + load.drain)
        with _collector_tuned():
            env.run(until=self.finished | deadline)
        if self.progress is not None:
            self.progress(1.0)
        return self._result()

    def _result(self) -> RepResult:
        load = self.model.load
        res = RepResult(
            replication=self.replication,
            seed=self.seed,
            t_start=self.t_start,
            t_end=self.t_end,
            sim_time=self.env.now,
            entry_requests=self.entry_requests,
            entry_success=self.entry_success,
            entry_incomplete=self.in_flight,
            entry_latency=self.entry_latency,
            entry_codes=dict(sorted(self.entry_codes.items())),
            entry_batch_req=list(self.batch_req),
            entry_batch_ok=list(self.batch_ok),
            edges=dict(sorted(self.edges.items())),
            calls=dict(sorted(self.calls.items())),
        )
        window = load.duration
        for wl in self.model.workloads:
            ws = self.wstats[wl.key]
            lv = getattr(self, "_level_means", {}).get(wl.key, {"busy": 0.0, "queue": 0.0, "in_system": 0.0})
            res.workloads[wl.key] = {
                "replicas": wl.replicas,
                "concurrency": wl.concurrency if wl.concurrency is not None else 0,
                "arrivals": ws.arrivals,
                "errors": ws.errors,
                "arrival_rate": ws.arrivals / window,
                "waited": ws.waited,
                "wait_sum": ws.wait_sum,
                "residence_sum": ws.residence_sum,
                "busy": lv["busy"],
                "queue": lv["queue"],
                "in_system": lv["in_system"],
            }
        start = {}
        for sc in self._proxies():
            start.update({(sc.id, k): v for k, v in sc.counters_at_start.items()})
        ej = getattr(self, "_eject_means", {})
        for sc in sorted(self._proxies(), key=lambda r: r.id):
            for name in sorted(sc.states):
                cs = sc.states[name]
                now = cs.c.as_dict()
                before = start.get((sc.id, name), {})
                d: dict[str, float] = {k: v - before.get(k, 0) for k, v in now.items()}
                d["outlier_detection.ejections_active"] = ej.get((sc.id, name), 0.0)
                res.clusters[(sc.id, name)] = d
        # issue #8 telemetry: attached as an attribute (RepResult has no field for it yet)
        res.observations = Observations(
            metrics=self.metrics,
            traces=self.traces,
            proxies=dict(sorted(self.proxy_usage.items())),
            denied=dict(sorted(self.denied.items())),
            replication=self.replication,
        )
        if self.timeline is not None and self.driver is not None:
            res.scenario = {
                "series": self.series,
                "events": self.driver.applied,
                "pushes": self.control_plane.pushes,
                "canary": None
                if self.canary is None
                else {
                    "outcome": self.canary.outcome,
                    "at": self.canary.at,
                    "failed": self.canary.failed,
                    "weights": self.canary.weights,
                    "checks": self.canary.checks,
                },
            }
        return res
