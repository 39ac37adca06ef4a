"""One pod: its sidecar's inbound side (AuthorizationPolicy, inbound cluster), and its application
(a FIFO pool of ``concurrency`` workers, the error draw, and the script of sleeps and calls with the
app's own timeouts and retries)."""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import simpy

from meshsim.metrics.recorder import Level
from meshsim.metrics.tally import WorkloadStats
from meshsim.model.ir import CallStep, ConcurrentStep, CpuStep, SleepStep, Workload
from meshsim.model.rules.app_retry import app_call_ok
from meshsim.model.rules.authz import authz_verdict
from meshsim.model.rules.cpu import APP_CONTAINER
from meshsim.model.rules.tls import tls_state
from meshsim.sim.cluster import OVERFLOW, Pending
from meshsim.sim.context import SimContext
from meshsim.sim.cpu import ScheduledProxyCPU, traverse
from meshsim.sim.kernel import Gen, detached, interrupt_wait, sleep, start_now
from meshsim.sim.node import Container
from meshsim.sim.request import APP_TIMEOUT, CANCELLED, UPSTREAM_RESET, Ctl, Ctx, forwarded_headers
from meshsim.sim.sampling import Uniform, sampler
from meshsim.sim.sidecar import Proxy, Sidecar

__all__ = ["Replica", "flat_steps"]


class Replica:
    """One pod's application and its sidecar: FIFO worker pool, error draw, script of sleeps and calls."""

    def __init__(self, ctx: SimContext, wl: Workload, index: int, endpoint_id: str, stats: WorkloadStats) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.sink = ctx.sink
        self.wl = wl
        self.key = wl.key
        self.id = endpoint_id
        self.alive = True
        self.sidecar = Sidecar(ctx, endpoint_id, wl)
        self.limit = wl.concurrency
        self.busy = 0
        self.queue: deque[simpy.Event] = deque()
        self.stats = stats
        self.lv_busy: Level = stats.busy[index]
        self.lv_queue: Level = stats.queue[index]
        g = ctx.streams
        self.u = Uniform(g.generator(f"app/{endpoint_id}/errors"))
        self.slow = 1.0  # scenario: sleeps x factor
        self.err_rate = wl.error_rate  # scenario: error rate override
        self.err_status = wl.error_status
        self.nth_counter = 0
        self.nth = 10000 // int(wl.error_rate * 10000) if wl.error_mode == "every_nth" and wl.error_rate > 0 else 0
        self.samplers: dict[int, Callable[[], float]] = {}
        for st in flat_steps(wl.script):
            if isinstance(st, SleepStep):
                gen = None if st.dist.kind == "constant" else g.generator(f"app/{endpoint_id}/sleep{st.index}")
                self.samplers[st.index] = sampler(st.dist, gen)
            elif isinstance(st, CpuStep):
                gen = None if st.dist.kind == "constant" else g.generator(f"app/{endpoint_id}/cpu{st.index}")
                self.samplers[st.index] = sampler(st.dist, gen)
        # the CPU model (precomputed: off, nothing below runs): the app container's cgroup, and whether
        # the load source's traversals into this pod's sidecar must be paid for when served
        self.app_cpu = ctx.container(endpoint_id, wl, APP_CONTAINER) if ctx.cpu_on else None
        st_ = ctx.model.settings
        on = self.app_cpu is not None
        self.http_cpu = st_.app_cpu_per_request if on else 0.0  # MeshSettings app.cpuPerRequest
        self.call_cpu = st_.app_cpu_per_call if on else 0.0  # MeshSettings app.cpuPerCall
        self.entry_cpu = isinstance(self.sidecar.cpu, ScheduledProxyCPU)
        if on:
            self._start_idle(st_.app_idle_cpu, st_.proxy_idle_cpu)
        model = ctx.model
        deny = tuple(p for p in model.authz if p.action == "DENY" and wl.key in p.workloads)
        allow = tuple(p for p in model.authz if p.action == "ALLOW" and wl.key in p.workloads)
        self.authz = (deny, allow) if deny or allow else None
        self.tls_auto = tls_state(None, wl.mtls_mode)  # what auto mTLS gives a client of this pod
        self.svc_host = model.service(wl.service).host
        # a pod a Scenario kills serves through _serve_until_killed, which can reset its requests in flight;
        # every other pod keeps the inline serve (no extra frame per resumed event)
        tl = model.timeline
        self.inflight: set[_Serving] = set()
        if tl is not None and any(ev.action == "kill" and ev.pod == endpoint_id for ev in tl.events):
            self.serve = self._serve_until_killed  # type: ignore[method-assign]

    def _start_idle(self, app_cores: float, proxy_cores: float) -> None:
        """Start the CPU-model background work of this pod's containers (MeshSettings ``app.idleCpu``,
        ``proxy.idleCpu``): one burst of ``cores x cfsPeriod`` CPU seconds per CFS period, as long as the
        pod lives."""
        sc = self.sidecar.cpu
        for cont, cores in (
            (self.app_cpu, app_cores),
            (sc.container if isinstance(sc, ScheduledProxyCPU) else None, proxy_cores),
        ):
            if cont is not None and cores > 0:
                self.env.process(self._idle(cont, cores))

    def _idle(self, cont: Container, cores: float) -> Gen:
        """Every CFS period, one burst of ``cores x period`` CPU seconds on ``cont`` (a thread of its own: an
        Envoy's main thread, not a worker), phased by the container's name so that pods do not all burst at
        the same instant; ends when the pod is deleted."""
        period = cont.period
        work = cores * period
        yield self.env.timeout(period * (zlib.crc32(f"{cont.pod}/{cont.name}".encode()) % 1000) / 1000)
        while self.alive:
            cont.node.submit(cont, work, None)
            yield self.env.timeout(period)

    # ------------------------------------------------------------------ inbound
    def serve(
        self,
        ctx: Ctx,
        src: Proxy | None,
        call: CallStep,
        headers: dict[str, str],
        cname: str,
        principal: str,
        psid: int = 0,
    ) -> Gen:
        """Handle one request arriving at this pod's sidecar (inbound: authz, stats, inbound cluster)
        and its app; returns the HTTP status. ``src`` is the calling proxy (None: the load source,
        outside the mesh), ``principal`` its mTLS identity ("" over plaintext), ``cname`` the
        client's cluster (to attribute denials to the edge). Then the app: a worker, the error draw,
        its script (500 when a call the script needs failed).

        Long because it is the innermost hot loop: a generator split out of it would add a frame to
        every resume of every sleep and call it waits on."""
        env = self.env
        spans = ctx.spans
        traced = ctx.traced
        sid = spans.new_id() if traced else 0
        if src is None and self.entry_cpu:
            tr = self.sidecar.cpu.claim_entry()  # type: ignore[attr-defined]
            if tr is not None:
                yield from traverse(env, (tr,), 0.0)
        if self.authz is not None:
            denied = self._authorize(principal, call, headers)
            if denied is not None:
                self._deny(ctx, src, call, cname, principal, denied, sid, psid)
                return 403
        inb = self.sidecar.inbound
        got = inb.new_stream(0)
        if type(got) is Pending:
            t_in = env._now
            got = yield got.event
            t_arr = env._now
        else:
            t_in = t_arr = env._now
        if got == OVERFLOW:
            if ctx.measured:
                self.sink.server_metric(self, src, principal, 503, "UO", (env._now - t_in) * 1e3)
            spans.inbound(sid, psid, self.wl.service, self.id, t_in, env._now, 503)
            return 503
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
        t_start = env._now
        if self.http_cpu:
            yield from self._http_cpu(self.http_cpu)
        app_sid = spans.new_id() if traced else 0
        status = 200
        app_kind = "sequential"
        if self.err_rate > 0 and self._fails():
            status = self.err_status
            app_kind = "none"  # failed before its script: no child spans
        else:
            for step in self.wl.script:
                if not self.alive:
                    status = 503  # the pod died meanwhile: its app runs no further step
                    break
                if type(step) is SleepStep:
                    ts = env._now
                    yield sleep(env, self.samplers[step.index]() * self.slow)
                    if traced:
                        spans.leaf(app_sid, "sleep", self.id, ts, env._now)
                elif type(step) is CallStep:
                    ok = yield from self.call(step, ctx, app_sid, headers)
                    if not ok and step.on_error == "fail":
                        status = 500
                        break
                elif type(step) is CpuStep:
                    ts = env._now
                    yield from self._burn(step)
                    if traced:
                        spans.leaf(app_sid, "cpu", self.id, ts, env._now)
                else:
                    ok = yield from self._concurrent(step, ctx, app_sid, headers)  # type: ignore[arg-type]
                    if not ok:
                        status = 500
                        break
        now = env._now
        if self.limit is not None and self.queue:
            self.queue.popleft().succeed()
            self.lv_queue.set(now, len(self.queue))
        else:
            self.busy -= 1
            self.lv_busy.set(now, self.busy)
        inb.end_stream(0, got, False)  # type: ignore[arg-type]
        if not self.alive:
            return status  # a dead pod's proxy reports nothing (its caller saw the reset at the kill)
        self.sink.served(self, src, principal, status, ctx.measured, t_in, t_arr, t_start, now)
        if traced:
            spans.served(
                sid,
                psid,
                app_sid,
                self.key,
                self.wl.service,
                self.id,
                t_in,
                t_arr,
                t_start,
                now,
                app_kind if self.wl.script else "none",
                status,
            )
        return status

    def _serve_until_killed(
        self,
        ctx: Ctx,
        src: Proxy | None,
        call: CallStep,
        headers: dict[str, str],
        cname: str,
        principal: str,
        psid: int = 0,
    ) -> Gen:
        """:meth:`serve` for a pod a Scenario kills: drives it by hand (as the router drives a timed
        attempt) so that :meth:`reset_inflight` can end it at once. A reset request returns
        :data:`~meshsim.sim.request.UPSTREAM_RESET` to a calling proxy (503 ``UC`` there) and 503 to the
        load source (its connection is reset); the abandoned work carries on detached, its app stops
        at its next step and its calls in flight finish upstream (a reset does not stop the callee)."""
        tok = _Serving()
        self.inflight.add(tok)
        g = Replica.serve(self, ctx, src, call, headers, cname, principal, psid)
        val: Any = None
        exc: BaseException | None = None
        while True:
            try:
                ev = g.send(val) if exc is None else g.throw(exc)
            except StopIteration as stop:
                self.inflight.discard(tok)
                return stop.value
            tok.cur_ev = ev
            try:
                val = yield ev
                exc = None
            except simpy.Interrupt as intr:
                tok.cur_ev = None
                if intr.cause[0] is not tok:  # type: ignore[index]
                    val, exc = None, intr  # for a router inside this request: pass it down
                    continue
                self.inflight.discard(tok)
                start_now(self.env, detached(g, ev))
                return UPSTREAM_RESET if src is not None else 503
            tok.cur_ev = None

    def reset_inflight(self) -> int:
        """The pod died: reset every request it is serving (Envoy's client sees the connection reset,
        ``upstream_rq_rx_reset``, 503 ``UC``). Returns how many. A pod no Scenario kills has none to reset."""
        toks = list(self.inflight)
        self.inflight.clear()
        for tok in toks:
            interrupt_wait(tok, UPSTREAM_RESET)
        return len(toks)

    def _authorize(self, principal: str, call: CallStep, headers: dict[str, str]) -> str | None:
        """The AuthorizationPolicy that denies this request, or None (Istio order: DENY, then ALLOW)."""
        assert self.authz is not None
        deny, allow = self.authz
        ns = principal.split("/")[2] if principal.startswith("cluster.local/ns/") else ""
        return authz_verdict(deny, allow, principal, ns, call.method, call.path, headers, call.port)

    def _deny(
        self, ctx: Ctx, src: Proxy | None, call: CallStep, cname: str, principal: str, policy: str, sid: int, psid: int
    ) -> None:
        """Envoy's RBAC filter at the server sidecar: 403 before the request reaches the app."""
        if ctx.measured:
            self.sink.server_metric(self, src, principal, 403, "-", 0.0)
            if src is not None:
                self.sink.denial(src.src, call.service, cname, policy)
        now = self.env._now
        ctx.spans.inbound(sid, psid, self.wl.service, self.id, now, now, 403, denied_by=policy)

    # ------------------------------------------------------------------ app
    def _fails(self) -> bool:
        if self.nth:
            self.nth_counter += 1
            if self.nth_counter >= self.nth:
                self.nth_counter = 0
                return True
            return False
        return self.u() < self.err_rate

    def _concurrent(self, step: ConcurrentStep, ctx: Ctx, psid: int = 0, incoming: dict[str, str] | None = None) -> Gen:
        env = self.env
        t0 = env._now
        sid = ctx.spans.new_id()
        done = env.event()
        state = [len(step.steps), True]

        def finish(ev: simpy.Event) -> None:
            if ev.value is False:
                state[1] = False
            state[0] -= 1
            if state[0] == 0:
                done.succeed()

        for s in step.steps:
            env.process(self._one(s, ctx, sid, incoming)).callbacks.append(finish)
        if state[0]:
            yield done
        ctx.spans.concurrent(sid, psid, self.id, t0, env._now)
        return state[1]

    def _http_cpu(self, cost: float) -> Gen:
        """The app's own HTTP CPU (``app.cpuPerRequest`` / ``cpuPerCall``) as a burst of its container. Like an
        Envoy traversal's CPU (:class:`~meshsim.sim.cpu.ProxyCPU`), the uncontended cost is already in the
        calibrated per-traversal latency, so on the node's uncontended fast path the request does not wait for
        it; otherwise (a limited container, a contended node) it waits for the burst to finish, its own cost
        then counted twice (well under a millisecond)."""
        env = self.env
        b = self.app_cpu.run(cost)  # type: ignore[union-attr]
        if b.lazy or b.live:
            extra = b.finish - env._now - cost
            if extra > 1e-12:
                yield env.timeout(extra)
        elif b.done_at is None:
            yield b.wait(env)

    def _burn(self, step: CpuStep) -> Gen:
        """A ``cpu`` step: its drawn CPU seconds as a burst of the app container (one thread: the
        request's worker) on the pod's node; with the CPU model off, it simply takes that long."""
        cost = self.samplers[step.index]() * self.slow
        cont = self.app_cpu
        if cont is None:
            yield self.env.timeout(cost)
            return
        b = cont.run(cost)
        if b.done_at is None:
            yield b.wait(self.env)

    def _one(
        self, s: SleepStep | CpuStep | CallStep, ctx: Ctx, psid: int = 0, incoming: dict[str, str] | None = None
    ) -> Gen:
        if type(s) is SleepStep:
            ts = self.env._now
            yield self.env.timeout(self.samplers[s.index]() * self.slow)
            ctx.spans.leaf(psid, "sleep", self.id, ts, self.env._now)
            return True
        if type(s) is CpuStep:
            ts = self.env._now
            yield from self._burn(s)  # type: ignore[arg-type]
            ctx.spans.leaf(psid, "cpu", self.id, ts, self.env._now)
            return True
        ok = yield from self.call(s, ctx, psid, incoming)  # type: ignore[arg-type]
        return ok or s.on_error == "ignore"  # type: ignore[union-attr]

    def call(self, step: CallStep, ctx: Ctx, psid: int = 0, incoming: dict[str, str] | None = None) -> Gen:
        """One app-level call (probability, app timeout, app retries) through this pod's sidecar, with the
        headers of the request the app serves (``incoming``; None: the entry request's) that
        :func:`~meshsim.sim.request.forwarded_headers` copies, plus the call's own.
        Returns True when the call succeeded: a 2xx answer (:func:`app_call_ok`). Traced: a ``call`` span whose children
        (one ``router`` span per try, ``app backoff``) tile it."""
        if step.probability < 1.0 and self.u() >= step.probability:
            if ctx.measured:
                self.sink.call_stats(self.key, step.service).skipped += 1
            return True
        env = self.env
        t0 = env._now
        spans = ctx.spans
        traced = ctx.traced
        sid = spans.new_id() if traced else 0
        headers = ctx.headers if incoming is None else incoming
        if headers:
            headers = forwarded_headers(headers, self.wl.forward_headers)
        if step.headers:
            headers = {**headers, **dict(step.headers)}
        sidecar = self.sidecar
        tries = 1 + (step.retries.attempts if step.retries is not None else 0)
        ok = False
        n = 0
        timeouts = 0
        for i in range(tries):
            n += 1
            if self.call_cpu:
                yield from self._http_cpu(self.call_cpu)
            if traced:
                rsid = spans.new_id()
                tt = env._now
            else:
                rsid = 0
            if step.timeout is None:
                status = yield from sidecar.outbound(step, ctx, headers, None, rsid)
            else:
                ctl = Ctl()
                self.ctx.deadlines.add(step.timeout, lambda c=ctl, sc=sidecar: sc.cancel(c, 0, False), ctl)  # type: ignore[misc]
                status = yield from sidecar.outbound(step, ctx, headers, ctl, rsid)
                if status == CANCELLED:
                    status = APP_TIMEOUT
                    timeouts += 1
            if traced:
                sidecar.router_span(ctx, rsid, sid, step, tt, status)
            if app_call_ok(status):
                ok = True
                break
            if i == tries - 1 or not _app_retriable(step, status):
                break
            rp = step.retries
            if rp is not None and rp.backoff > 0:
                tb = env._now
                yield env.timeout(rp.backoff)
                spans.leaf(sid, "app backoff", self.id, tb, env._now)
        if traced:
            spans.call(sid, psid, step.service, self.id, t0, env._now, n, ok)
        self.sink.call(self.key, step.service, ctx, n, timeouts, ok, t0, env._now)
        return ok


class _Serving:
    """A request a killable pod is serving: the event it waits on (what :func:`interrupt_wait` needs)."""

    __slots__ = ("cur_ev",)

    def __init__(self) -> None:
        self.cur_ev: simpy.Event | None = None


def _app_retriable(step: CallStep, status: int) -> bool:
    """Whether the app retries a try that ended with ``status`` (its ``retryOn``: ``timeout`` for its
    own timeout, ``5xx``, ``4xx``)."""
    rp = step.retries
    if rp is None:
        return False
    on = rp.retry_on
    return (
        (status == APP_TIMEOUT and "timeout" in on)
        or (status >= 500 and "5xx" in on)
        or (400 <= status < 500 and "4xx" in on)
    )


def flat_steps(script: tuple[Any, ...]) -> list[SleepStep | CpuStep | CallStep]:
    """The sleeps, CPU steps and calls of a script, with concurrent groups flattened."""
    out: list[SleepStep | CpuStep | CallStep] = []
    for s in script:
        if isinstance(s, ConcurrentStep):
            out.extend(s.steps)
        else:
            out.append(s)
    return out
