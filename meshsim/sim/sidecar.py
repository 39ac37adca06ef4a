"""Envoy proxies: one base (:class:`Proxy`: outbound route match, fault filter, router, upstream
connection) and its two kinds, :class:`Sidecar` (a pod's proxy, with an inbound cluster) and
:class:`GatewayProxy` (an ingress gateway pod's Envoy with the gateway's own routes).

Data path of one call from app A to service B (https://istio.io/latest/docs/ops/deployment/architecture/)::

    A app --call--> A sidecar: route match (VS, first match wins) -> fault (delay DI, abort FI)
        -> weighted cluster pick (once per request) -> router (:mod:`meshsim.sim.router`): route
        timeout, retries with backoff -> LB pick (previous_hosts re-picks) -> connection pool /
        circuit breakers (UO) -> [wire: client traversal + network + server traversal]
        -> B sidecar inbound cluster (DR connectionPool applies here too) -> B app replica
        <- response; outlier detection sees every attempt's status; retry decision (§1.3)

Timing assumptions: all per-hop fixed costs (one draw of the sidecar-traversal latency per proxy and
the one-way network latency each way) are charged on the request path before the server app sees
the request; the response path is instantaneous. Time is float seconds. Connections are mTLS or
plaintext (:func:`~meshsim.model.rules.tls.tls_state`), which decides the peer principal the server
sidecar's AuthorizationPolicy check sees and the handshake cost of new connections.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from meshsim.model.ir import CallStep, Cluster, GatewayIR, MeshModel, Workload
from meshsim.model.rules.tls import tls_state
from meshsim.sim.cluster import ClusterState
from meshsim.sim.context import SimContext
from meshsim.sim.cpu import ProxyCPU, traverse
from meshsim.sim.kernel import Gen, interrupt_wait, sleep, succeed_later
from meshsim.sim.request import CANCELLED, CONNECT_FAIL, PER_TRY_TIMEOUT, TLS_MISMATCH, Attempt, Ctl, Ctx
from meshsim.sim.router import Router
from meshsim.sim.routing import RouteRT, pick_cluster, select_route
from meshsim.sim.sampling import Uniform

__all__ = ["GatewayProxy", "Proxy", "Sidecar"]


class Proxy(Router):
    """What every Envoy here has: identity (workload, namespace, version, principal), a router stream,
    its view of the config (routes, clusters, endpoints, applied by push), per-cluster state and its
    worker threads. Subclasses set ``routes`` and ``cpu``."""

    cpu: ProxyCPU
    by_cluster = False
    """Whether an edge's destination is its cluster's service rather than the call's (a gateway's)."""

    def __init__(
        self,
        ctx: SimContext,
        proxy_id: str,
        src: str,
        labels: dict[str, str],
        wl_name: str,
        version: str,
        namespace: str,
        principal: str,
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.sink = ctx.sink
        self.id = proxy_id
        self.src = src
        self.labels = labels
        self.u = Uniform(ctx.streams.generator(f"proxy/{proxy_id}/router"))
        self.states: dict[str, ClusterState] = {}
        self.counters_at_start: dict[str, dict[str, int]] = {}
        mesh = ctx.mesh
        self.routes: dict[str, list[RouteRT]] = {}
        self.clusters: dict[str, Cluster] = mesh.clusters_of(mesh.config_model)
        self.eds_members: dict[str, tuple[str, ...]] = mesh.eds_members
        self.known: frozenset[str] = mesh.eds_known
        self.config_version = mesh.config_version
        self.wl_name = wl_name
        self.version = version
        self.namespace = namespace
        self.principal = principal

    def _eds_for(self, name: str) -> list[str]:
        return [e for e in self.eds_members.get(name, ()) if e in self.known]

    def state(self, cluster: str) -> ClusterState:
        """The state of an upstream cluster (created on first use, with this proxy's endpoints)."""
        cs = self.states.get(cluster)
        if cs is None:
            c = self.clusters[cluster]
            st = self.ctx.model.settings
            cs = ClusterState(
                self.env,
                c,
                Uniform(self.ctx.streams.generator(f"proxy/{self.id}/{cluster}")),
                connect_latency=st.connect_latency,
                merge_window=st.update_merge_window,
                connect_hook=self._handshake if self.ctx.tls_costs else None,
            )
            eds = self._eds_for(cluster)
            if eds != cs.ids:
                cs.set_endpoints(eds)
            self.states[cluster] = cs
        return cs

    def _handshake(self, cs: ClusterState, endpoint: str) -> float:
        """A new connection to ``endpoint``: with mTLS, the handshake latency plus any wait for a
        worker of either proxy to do the handshake crypto (MeshSettings ``mtls``; Envoy's connection pooling)."""
        rep = self.ctx.pods.get(endpoint)
        if rep is None or tls_state(cs.cluster.tls_mode, rep.wl.mtls_mode) != 1:
            return 0.0
        st = self.ctx.model.settings
        now = self.env._now
        cost = st.mtls_handshake_cpu
        return st.mtls_handshake_latency + self.cpu.handshake(now, cost) + rep.sidecar.cpu.handshake(now, cost)

    def apply_config(self, model: MeshModel, version: int) -> None:
        """CDS/RDS push: new routes take effect for new requests; a cluster whose policy changed is
        rebuilt (breaker and outlier state restart, counters carry on) [UNVERIFIED]."""
        self.routes = self.ctx.mesh.routes_of(model)
        self.clusters = self.ctx.mesh.clusters_of(model)
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
        """EDS push: the endpoints of every cluster this proxy uses."""
        self.eds_members = members
        self.known = known
        for name, cs in self.states.items():
            cs.set_endpoints(self._eds_for(name))

    # ------------------------------------------------------------------ outbound
    def outbound(self, call: CallStep, ctx: Ctx, headers: dict[str, str], ctl: Ctl | None, sid: int = 0) -> Gen:
        """Send one request through this proxy; returns the HTTP status the app receives (or
        CANCELLED when ``ctl`` was cancelled by the app's own timeout). When traced, ``sid`` is the
        id of this request's router span, which the caller records (:meth:`router_span`)."""
        env = self.env
        t0 = env._now
        rt = select_route(self.routes[call.host], call.path, call.method, headers, call.port, self.labels)
        if rt is None:
            self.sink.edge(self, ctx, call.service, "", 404, "NR", 0, t0, env._now, 0, None, call)
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
                    ev = succeed_later(env, fault.delay)
                    ctl.wait = ev
                    yield ev
                    if ctl.cancelled:
                        ctx.spans.leaf(sid, "fault delay", self.id, t0, env._now)
                        return CANCELLED
                ctx.spans.leaf(sid, "fault delay", self.id, t0, env._now)
            if fault.abort_fraction > 0 and self.u() < fault.abort_fraction:
                cname = rt.clusters[0] if len(rt.clusters) == 1 else pick_cluster(rt, self.u())
                self.sink.edge(
                    self,
                    ctx,
                    call.service,
                    cname,
                    fault.abort_status,
                    "FI" if not flag else "DI,FI",
                    0,
                    t0,
                    env._now,
                    0,
                    None,
                    call,
                )
                return fault.abort_status
        cname = rt.clusters[0] if len(rt.clusters) == 1 else pick_cluster(rt, self.u())
        cs = self.states.get(cname) or self.state(cname)
        if ctl is None and rt.timed:
            ctl = Ctl()
        if ctl is not None:
            ctl.cs = cs
            if route.timeout is not None:
                ctl.route_timer = True
                self.ctx.deadlines.add(route.timeout, lambda c=ctl: self._route_timeout(c), ctl)  # type: ignore[misc]
        status, rflag, k, retries, dst = yield from self.route_request(cs, route, ctx, call, headers, ctl, sid)
        if ctl is not None:
            ctl.done = True  # Envoy disarms the route timeout when the response completes
        if status == CANCELLED:
            if ctl is not None and ctl.on_cancel_status:
                status = ctl.on_cancel_status
                rflag = "UT"
            else:
                # the app gave up (its own timeout): Envoy logs the downstream reset as code 0, flag DC
                self.sink.edge(self, ctx, call.service, cname, 0, "DC", k, t0, env._now, retries, dst, call)
                return CANCELLED
        if flag:
            rflag = f"{flag},{rflag}" if rflag else flag
        self.sink.edge(self, ctx, call.service, cname, status, rflag, k, t0, env._now, retries, dst, call)
        return status

    def router_span(self, ctx: Ctx, sid: int, psid: int, call: CallStep, t0: float, status: int) -> None:
        """Record the router span of a request sent through :meth:`outbound` with ``sid``."""
        ctx.spans.router(sid, psid, call.service, self.id, t0, self.env._now, status)

    # ------------------------------------------------------------------ timers
    def _route_timeout(self, ctl: Ctl) -> None:
        if ctl.cancelled or ctl.done or ctl.cs is None:
            return
        ctl.cs.c.upstream_rq_timeout += 1
        self.cancel(ctl, 504, report=True)

    def cancel(self, ctl: Ctl, status: int, report: bool) -> None:
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

    def per_try_timeout(self, cs: ClusterState, att: Attempt, ctl: Ctl) -> None:
        """The per-try timer: reset the attempt (its server keeps working) and wake the router."""
        if att.done:
            return
        att.done = True
        cs.c.upstream_rq_per_try_timeout += 1
        cs.end_stream(att.host, att.served, True)
        interrupt_wait(ctl, PER_TRY_TIMEOUT)

    # ------------------------------------------------------------------ wire
    def wire(
        self, replica: Any, ctx: Ctx, cs: ClusterState, call: CallStep, headers: dict[str, str], asid: int = 0
    ) -> Gen:
        """Client traversal + network + server traversal (one draw each, plus each traversal's per-KiB cost of
        the request and response bodies), plus any wait for a busy worker in either proxy, then the server
        pod. mTLS decides the peer identity the server's authorization sees and adds crypto CPU; a TLS
        mismatch is refused (503 UC)."""
        sc = self.ctx
        env = self.env
        t = env._now
        mode = cs.cluster.tls_mode
        tls = replica.tls_auto if mode is None else tls_state(mode, replica.wl.mtls_mode)
        cpu = sc.cpu_per_request + (sc.mtls_request_cpu if tls == 1 else 0.0)
        measured = ctx.measured
        # both sidecars' workers (ProxyCPU.take); the usual case, a free worker in each, inlined
        ca = self.cpu
        cb = replica.sidecar.cpu
        fa = ca.free
        fb = cb.free
        cpu_on = sc.cpu_on
        if cpu_on:
            # the CPU model: both traversals' CPU runs on their pods' nodes; the drawn latency holds the
            # nominal CPU time, so only their slowdowns (workers, contention, throttling) add to it
            works = (ca.start(t, cpu, measured), cb.start(t, cpu, measured))
            fixed = (
                sc.proxy_cost()
                + sc.proxy_cost()
                + sc.net2
                + (call.request_size + replica.wl.response_size) * sc.per_byte2
            )
            wait = yield from traverse(env, works, fixed)
        elif ca.n == 2 and cb.n == 2 and (fa[0] <= t or fa[1] <= t) and (fb[0] <= t or fb[1] <= t):
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
        if not cpu_on:
            sizes = (call.request_size + replica.wl.response_size) * sc.per_byte2
            yield sleep(env, sc.proxy_cost() + sc.proxy_cost() + sc.net2 + sizes + wait)
        if ctx.traced:
            ctx.spans.wire(asid, self.id, t, env._now, wait, tls == 1)
        if not replica.alive:
            return CONNECT_FAIL
        if tls < 0:
            return TLS_MISMATCH
        status = yield from replica.serve(
            ctx, self, call, headers, cs.cluster.name, self.principal if tls else "", asid
        )
        return status


class Sidecar(Proxy):
    """One pod's Envoy sidecar: its outbound router (client side) and its inbound cluster (server side)."""

    def __init__(self, ctx: SimContext, proxy_id: str, workload: Workload) -> None:
        super().__init__(
            ctx,
            proxy_id,
            workload.key,
            dict(workload.labels),
            workload.workload_name,
            workload.version,
            workload.namespace,
            workload.principal,
        )
        self.inbound = ClusterState(
            ctx.env,
            ctx.model.inbound_cluster(workload.service),
            Uniform(ctx.streams.generator(f"proxy/{proxy_id}/inbound")),
            hosts=1,
        )
        # this sidecar's view of the config (CDS/RDS) and of the endpoints (EDS); they change only
        # when the control plane pushes to this proxy (meshsim.sim.control_plane)
        self.routes = ctx.mesh.routes_of(ctx.mesh.config_model)
        self.cpu = ctx.new_cpu(proxy_id, self.wl_name, workload)


class GatewayProxy(Proxy):
    """One ingress gateway pod's Envoy: a router like a sidecar's outbound side, but with the gateway's
    own route table (VirtualServices bound to the Gateway only) and no inbound cluster or app. It
    shares the mesh's clusters and DestinationRule policies (LB, pools, breakers, outlier detection,
    tls), and its CPU model. Scenario pushes (CDS/EDS) do not reach it [simplification]."""

    def __init__(self, ctx: SimContext, proxy_id: str, gw: GatewayIR) -> None:
        super().__init__(
            ctx, proxy_id, gw.workload, dict(gw.labels), gw.workload, "unknown", gw.namespace, gw.principal
        )
        self.routes = {"*": [RouteRT(r) for r in gw.virtual_host.routes]}
        self.cpu = ctx.new_cpu(proxy_id, gw.workload)
        self.by_cluster = True  # a gateway route may lead to any service
