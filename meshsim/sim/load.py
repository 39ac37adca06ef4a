"""The load source outside the mesh: open-loop (Poisson or constant) or closed-loop arrivals, the
header mix, and each entry request's way in (directly to an entry pod's sidecar, or through an
ingress gateway pod)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from meshsim.model.ir import CallStep, Dist
from meshsim.sim.context import SimContext
from meshsim.sim.kernel import Gen, sleep, spawn
from meshsim.sim.pods import Pods
from meshsim.sim.request import BATCHES, Ctx
from meshsim.sim.sampling import Uniform, sampler
from meshsim.sim.sidecar import GatewayProxy
from meshsim.sim.spans import NO_SPANS, Spans, TraceSpans
from meshsim.telemetry.record import Trace

__all__ = ["LoadSource"]


class LoadSource:
    """Sends the LoadProfile's entry requests and follows each to its response.

    ``rate`` is the current rate (requests/s; a scenario may change it). ``in_flight`` counts measured
    requests not answered yet; ``finished`` succeeds when arrivals are over and none is in flight.
    ``on_window_end`` is called once, when the last measured arrival has happened. Measured requests
    are sampled for tracing with probability ``trace_sample`` (their traces go to ``traces``).
    """

    def __init__(
        self,
        ctx: SimContext,
        pods: Pods,
        gateways: list[GatewayProxy],
        trace_sample: float,
        u_trace: Callable[[], float] | None,
        on_window_end: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.pods = pods
        model = ctx.model
        load = model.load
        self.load = load
        entry = model.service(load.entry)
        self.entry_pods = [pods.replicas[e.id] for e in entry.endpoints]
        # the load source's request as a call (authz and telemetry see its path, method and port)
        self.entry_call = CallStep(
            entry.name, entry.host, entry.port, load.path, load.method, (), 0, 1.0, None, None, "fail", -1
        )
        self.gateways = gateways
        self.gw_call = replace(self.entry_call, host="*")
        self.rate = load.rate or 1.0
        self.trace_sample = trace_sample
        self.u_trace = u_trace
        self.traces: list[Trace] = []
        self.u_entry = Uniform(ctx.streams.generator("load/pick"))
        self.u_hdr = Uniform(ctx.streams.generator("load/headers"))
        self.mix_cum: list[tuple[float, dict[str, str]]] = []
        acc = 0.0
        for w, h in load.header_mix:
            acc += w
            self.mix_cum.append((acc, dict(h)))
        self.batch_len = load.duration / BATCHES
        self.in_flight = 0
        self.arrivals_done = False
        self.finished = self.env.event()
        self.on_window_end = on_window_end
        self._users_left = 0

    def headers(self) -> dict[str, str]:
        """The headers of the next entry request, drawn from the weighted mix."""
        if len(self.mix_cum) == 1:
            return self.mix_cum[0][1]
        u = self.u_hdr()
        for acc, h in self.mix_cum:
            if u < acc:
                return h
        return self.mix_cum[-1][1]

    def set_entry_pods(self, known: frozenset[str]) -> None:
        """kube-proxy's view of the entry service's endpoints (follows the EndpointSlice)."""
        reps = self.pods.replicas
        pods = [reps[p] for p in sorted(known) if p in reps and reps[p].wl.service == self.load.entry]
        if pods:
            self.entry_pods = pods

    def entry(self, t_arrival: float) -> Gen:
        """One entry request arriving now; returns its status."""
        ctx = self.ctx
        measured = ctx.t_start <= t_arrival < ctx.t_end
        batch = min(int((t_arrival - ctx.t_start) / self.batch_len), BATCHES - 1) if measured else 0
        spans: Spans = NO_SPANS
        traced = False
        if measured and self.u_trace is not None and self.u_trace() < self.trace_sample:
            tr = Trace(len(self.traces))
            self.traces.append(tr)
            spans = TraceSpans(tr)
            traced = True
        rctx = Ctx(self.headers(), measured, batch, spans, traced)
        env = self.env
        if measured:
            self.in_flight += 1
        root = spans.new_id() if traced else 0
        if self.gateways:
            status = yield from self._via_gateway(rctx, root)
        else:
            # directly to an entry pod's sidecar (kube-proxy picks one at random); inline: this is
            # the hot path of every request
            pods = self.entry_pods
            pod = pods[int(self.u_entry() * len(pods))] if len(pods) > 1 else pods[0]
            t = env._now
            wait = pod.sidecar.cpu.take(t, ctx.cpu_per_request, measured)
            yield sleep(env, ctx.proxy_cost() + ctx.net2 / 2 + wait)
            if traced:
                spans.leaf(root, "network and inbound proxy", pod.id, t, env._now, proxy_wait_ms=wait * 1e3)
            if not pod.alive:
                status = 503
            elif pod.tls_auto and pod.wl.mtls_mode == "STRICT":
                status = 503  # the load source is outside the mesh (plaintext): STRICT refuses it (reset)
            else:
                status = yield from pod.serve(rctx, None, self.entry_call, rctx.headers, "", "", root)
        now = env._now
        if traced:
            spans.entry(root, self.load.entry, t_arrival, now, status, self.load.path)
        ctx.sink.entry(rctx, status, t_arrival, now)
        if measured:
            self.in_flight -= 1
            if self.arrivals_done and self.in_flight == 0 and not self.finished.triggered:
                self.finished.succeed()
        return status

    def _via_gateway(self, rctx: Ctx, root: int) -> Gen:
        """Load enters through a gateway pod (kube-proxy picks one at random): one-way network to
        it, then its router (gateway routes, retries, timeouts) to the mesh."""
        env = self.env
        gws = self.gateways
        gw = gws[int(self.u_entry() * len(gws))] if len(gws) > 1 else gws[0]
        net2 = self.ctx.net2
        if net2 > 0:
            t = env._now
            yield env.timeout(net2 / 2)
            rctx.spans.leaf(root, "network", "load-source", t, env._now)
        rsid = rctx.spans.new_id()
        t = env._now
        status = yield from gw.outbound(self.gw_call, rctx, rctx.headers, None, rsid)
        gw.router_span(rctx, rsid, root, self.gw_call, t, status)
        return status

    def open_loop(self) -> Gen:
        """Open-loop arrivals (Poisson or constant) at the current ``rate`` until the window ends."""
        load = self.load
        env = self.env
        if load.arrival == "poisson":
            # unit-mean exponentials divided by the current rate, so a scenario can change the rate
            unit = sampler(Dist("exponential", (1.0,), 1.0, 1.0), self.ctx.streams.generator("load/arrivals"))

            def inter() -> float:
                return unit() / self.rate

        else:

            def inter() -> float:
                return 1.0 / self.rate

        t_end = self.ctx.t_end
        while True:
            yield sleep(env, inter())
            if env._now >= t_end:
                break
            spawn(env, self.entry(env._now))
        self._arrivals_over()

    def closed_loop(self, user: int) -> Gen:
        """One closed-loop user: a request, its response, a think time, until the window ends."""
        load = self.load
        env = self.env
        think = sampler(load.think_time, self.ctx.streams.generator(f"load/think/{user}")) if load.think_time else None
        while env._now < self.ctx.t_end:
            yield from self.entry(env._now)
            if think is not None:
                yield env.timeout(think())
        self._users_left -= 1
        if self._users_left == 0:
            self._arrivals_over()

    def start(self) -> None:
        """Start the arrival processes."""
        env = self.env
        load = self.load
        if load.arrival == "closed":
            self._users_left = load.users or 1
            for u in range(load.users or 1):
                env.process(self.closed_loop(u))
        else:
            env.process(self.open_loop())

    def _arrivals_over(self) -> None:
        self.arrivals_done = True
        self.on_window_end()
        if self.in_flight == 0 and not self.finished.triggered:
            self.finished.succeed()
