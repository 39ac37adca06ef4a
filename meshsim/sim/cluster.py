"""One Envoy cluster as seen by one sidecar: load balancer, connection pools, circuit breakers,
outlier detection and the cluster's Envoy counters.

Everything here is per client sidecar per cluster (Envoy keeps this state per Envoy instance): nothing is shared across
sidecars. Simplification, stated: Envoy keeps one LB instance and one connection pool per *worker
thread*; meshsim keeps one per sidecar (circuit-breaker counters and host ``rq_active`` are shared by
workers in Envoy too, so breakers are exact; RR rotation and the "zero connections" exception are
per-sidecar rather than per-worker).

Sources: Envoy ``least_request_lb.cc`` (P2C), ``conn_pool_base.cc`` (pending queue, overflow),
``outlier_detection_impl.cc`` (consecutive errors, ejection, ticks), ``resource_manager_impl.h``
(retry budget).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from meshsim.metrics.recorder import Level
from meshsim.model.ir import Cluster
from meshsim.sim import lb
from meshsim.sim.outlier import OutlierDetector
from meshsim.sim.pools import OVERFLOW, H2Pools, Pending, _H2Conn

if TYPE_CHECKING:
    import simpy

__all__ = [
    "COUNTERS",
    "Counters",
    "H2_PEER_MAX_CONCURRENT_STREAMS",
    "Pending",
    "ClusterState",
    "OVERFLOW",
    "OVERPROVISIONING_FACTOR",
]

OVERPROVISIONING_FACTOR = 1.4
"""Envoy's default ``ClusterLoadAssignment.policy.overprovisioning_factor`` (140 %,
api/envoy/config/endpoint/v3/endpoint.proto); Istio does not set it."""

COUNTERS = (
    "upstream_rq_total",
    "upstream_rq_completed",
    "upstream_rq_2xx",
    "upstream_rq_4xx",
    "upstream_rq_5xx",
    "upstream_rq_retry",
    "upstream_rq_retry_success",
    "upstream_rq_retry_limit_exceeded",
    "upstream_rq_retry_overflow",
    "retry_or_shadow_abandoned",
    "upstream_rq_pending_total",
    "upstream_rq_pending_overflow",
    "upstream_rq_timeout",
    "upstream_rq_per_try_timeout",
    "upstream_rq_rx_reset",
    "upstream_cx_total",
    "upstream_cx_overflow",
    "upstream_cx_connect_fail",
    "upstream_cx_destroy_with_active_rq",
    "upstream_cx_max_requests",
    "upstream_cx_idle_timeout",
    "outlier_detection_ejections_enforced_total",
    "outlier_detection_ejections_overflow",
)
"""Envoy cluster stats kept (``.`` in Envoy's names is ``_`` here; summary.json restores the dots)."""

ENVOY_IDLE_TIMEOUT = 3600.0
"""Envoy's default upstream connection idle timeout, seconds (``HttpProtocolOptions.idle_timeout``: 1 h when
unset, ``api/envoy/config/core/v3/protocol.proto``); Istio's ``idleTimeout: 0s`` disables it."""


class Counters:
    """Envoy cluster counters; attribute names are Envoy's stat names."""

    __slots__ = COUNTERS
    upstream_rq_total: int
    upstream_rq_completed: int
    upstream_rq_2xx: int
    upstream_rq_4xx: int
    upstream_rq_5xx: int
    upstream_rq_retry: int
    upstream_rq_retry_success: int
    upstream_rq_retry_limit_exceeded: int
    upstream_rq_retry_overflow: int
    retry_or_shadow_abandoned: int
    upstream_rq_pending_total: int
    upstream_rq_pending_overflow: int
    upstream_rq_timeout: int
    upstream_rq_per_try_timeout: int
    upstream_rq_rx_reset: int
    upstream_cx_total: int
    upstream_cx_overflow: int
    upstream_cx_connect_fail: int
    upstream_cx_destroy_with_active_rq: int
    upstream_cx_max_requests: int
    upstream_cx_idle_timeout: int
    outlier_detection_ejections_enforced_total: int
    outlier_detection_ejections_overflow: int

    def __init__(self) -> None:
        for name in COUNTERS:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in COUNTERS}


H2_PEER_MAX_CONCURRENT_STREAMS = 1024
"""The server sidecar's HTTP/2 ``SETTINGS_MAX_CONCURRENT_STREAMS``: Envoy's HTTP connection manager default
(1024 since Envoy 1.36, api/envoy/config/core/v3/protocol.proto ``Http2ProtocolOptions``); Istio sets no HCM
``max_concurrent_streams`` on sidecars. A client's streams per connection are the lower of this and its
cluster's ``max_concurrent_streams``."""


class ClusterState(H2Pools, OutlierDetector):
    """Runtime state of ``cluster`` in one sidecar.

    Parameters
    ----------
    env:
        The SimPy environment (only used to create events and the outlier-detection tick process).
    cluster:
        The compiled cluster.
    uniform:
        A zero-argument sampler of U[0,1) from this sidecar-cluster's own stream.
    hosts:
        Number of hosts when not the cluster's endpoints (an inbound cluster has one: the local app).
    connect_latency:
        Seconds to establish a new upstream connection (TCP); 0 = instant.
    connect_hook:
        Called as ``connect_hook(self, endpoint_id)`` when a connection is opened; returns extra
        seconds (the mTLS handshake, MeshSettings ``mtls``) added to ``connect_latency``.
    merge_window:
        Envoy's ``update_merge_window`` (seconds): a health-only host-set change (an outlier ejection or
        un-ejection) made within this time of the previous host-set update reaches the load balancer
        only when the window ends (``ClusterManagerImpl::scheduleUpdate``). 0 = at once.
    """

    # slots, not a __dict__: with more than 30 attributes an instance gets a dict of its own (no shared keys), and a
    # large mesh has two or more of these per pod; slots keep each state's hot fields in one small object
    # fmt: off
    __slots__ = (
        "env", "cluster", "u", "c", "ids", "n", "max_connections", "max_pending", "max_requests", "max_retries",
        "retry_budget", "max_rpc", "connect_latency", "merge_window", "last_update", "merge_pending",
        "connect_hook", "instant", "connecting", "h2", "h2_limit", "h2_conns", "h2_by_id", "h2_next",
        "h2_connecting_cap", "policy", "active", "rr_next", "_hash_tables", "idle", "idle_since",
        "idle_timeout", "cx_host", "draining", "pending_q", "cx", "pending", "rq_active", "active_retries",
        "alive", "healthy", "eds", "od", "panic", "ejections", "on_eject", "c5", "cgw", "ejected", "eject_time",
        "mult",
    )
    # fmt: on

    def __init__(
        self,
        env: simpy.Environment,
        cluster: Cluster,
        uniform: Callable[[], float],
        hosts: int | None = None,
        connect_latency: float = 0.0,
        connect_hook: Callable[[ClusterState, str], float] | None = None,
        merge_window: float = 0.0,
    ) -> None:
        self.env = env
        self.cluster = cluster
        self.u = uniform
        self.c = Counters()
        self.ids: list[str] = list(cluster.endpoints) if hosts is None else [f"local-{i}" for i in range(hosts)]
        n = len(self.ids)
        self.n = n
        cb = cluster.circuit_breakers
        self.max_connections = cb.max_connections
        self.max_pending = cb.max_pending_requests
        self.max_requests = cb.max_requests
        self.max_retries = cb.max_retries
        self.retry_budget = cb.retry_budget
        self.max_rpc = cluster.max_requests_per_connection
        self.connect_latency = connect_latency
        self.merge_window = merge_window
        self.last_update = float("-inf")
        self.merge_pending = False
        self.connect_hook = connect_hook
        self.instant = connect_latency <= 0 and connect_hook is None
        self.connecting = [0] * n
        self.h2 = cluster.protocol == "HTTP2"
        # HTTP/2 pools (Envoy's multiplexing pool, source/common/http/http2/conn_pool.cc): per host, its
        # connections; ``h2_connecting_cap`` is Envoy's ``connecting_stream_capacity_`` per host
        self.h2_limit = min(cluster.max_concurrent_streams, H2_PEER_MAX_CONCURRENT_STREAMS)
        self.h2_conns: list[list[_H2Conn]] = [[] for _ in range(n)]
        self.h2_by_id: dict[int, _H2Conn] = {}
        self.h2_next = 0
        self.h2_connecting_cap = [0] * n
        # LB state
        self.policy = cluster.lb_policy
        self.active = [0] * n  # rq_active per host
        self.rr_next = int(uniform() * n) if n else 0  # random start index [UNVERIFIED]
        # consistent-hash tables by the host set they were built over (at most the healthy and the panic set)
        self._hash_tables: dict[tuple[int, ...], lb.RingHashTable | lb.MaglevTable] = {}
        # pools (HTTP/1.1: one request per connection); idle holds served-counts of idle connections, newest
        # last (Envoy reuses the most recently used one), idle_since when each became idle
        self.idle: list[list[int]] = [[] for _ in range(n)]
        self.idle_since: list[list[float]] = [[] for _ in range(n)]
        t = cluster.idle_timeout
        self.idle_timeout: float | None = ENVOY_IDLE_TIMEOUT if t is None else (t or None)
        self.cx_host = [0] * n
        # busy connections of a drained host (ejected: DrainExistingConnections) that close when a stream ends;
        # HTTP/1.1 carries one stream per connection, so the next streams to end on that host hold them
        self.draining = [0] * n
        self.pending_q: list[deque[Pending]] = [deque() for _ in range(n)]
        self.cx = 0
        self.pending = 0
        self.rq_active = 0
        self.active_retries = 0
        # health: ``alive`` is this sidecar's EDS view (False = the host is not in its EDS any more);
        # host indices are stable for the life of the state: EDS updates append hosts, never remove.
        self.alive: list[bool] = [True] * n
        self.healthy: list[int] = list(range(n))
        self.eds: list[int] = list(range(n))
        self.od = cluster.outlier_detection
        self.panic = cluster.healthy_panic_threshold
        self.ejections = Level(env._now)
        self.on_eject: Callable[[int, bool], None] | None = None
        if self.od is not None:
            self.c5 = [0] * n
            self.cgw = [0] * n
            self.ejected = [False] * n
            self.eject_time = [0.0] * n
            self.mult = [0] * n
            env.process(self._od_ticks())

    # ---------------------------------------------------------------- load balancing
    def pick(self, tried: set[int] | None, max_repicks: int, hash_key: int | None = None) -> int:
        """Pick a host index, or -1 when no healthy host is left (503 UH).

        ``tried`` (the ``previous_hosts`` predicate): a pick that hits a tried host is redone up to
        ``max_repicks`` times; the last pick stands even if tried (the previous_hosts retry predicate, source/extensions/retry/host/previous_hosts).
        ``hash_key``: the request's hash (:func:`meshsim.sim.lb.request_hash` of the route's ``hash_policy``)
        for a ``RING_HASH`` / ``MAGLEV`` cluster; None there = a random hash, as Envoy draws one.
        """
        hosts = self.healthy
        if not hosts:
            if self.eds and self.panic > 0:
                hosts = self.eds
            else:
                return -1
        elif self.panic > 0 and len(hosts) < len(self.eds) and self._in_panic(len(hosts), len(self.eds)):
            hosts = self.eds  # panic mode: balance over all hosts
        h = self._pick_once(hosts, hash_key)
        if tried:
            for attempt in range(1, max_repicks + 1):
                if h not in tried:
                    break
                h = self._pick_once(hosts, hash_key, attempt)
        return h

    def _in_panic(self, healthy: int, total: int) -> bool:
        """Envoy ``LoadBalancerBase::recalculatePerPriorityPanic`` (source/common/upstream/load_balancer_impl.cc)
        for one priority: no panic while the normalized availability ``min(100, 1.4 x 100 x healthy / total)``
        (the default overprovisioning factor 140, which Istio does not change) is 100, else panic when the
        healthy percentage is below ``healthy_panic_threshold``."""
        pct = 100.0 * healthy / total
        return min(100.0, OVERPROVISIONING_FACTOR * pct) < 100.0 and pct < self.panic

    def _pick_once(self, hosts: list[int], hash_key: int | None = None, attempt: int = 0) -> int:
        if len(hosts) == 1:
            return hosts[0]
        if self.policy == "RING_HASH" or self.policy == "MAGLEV":
            return self._hash_pick(hosts, hash_key, attempt)
        if self.policy == "LEAST_REQUEST":
            return lb.p2c(hosts, self.active, self.u(), self.u())
        if self.policy == "ROUND_ROBIN":
            h, self.rr_next = lb.round_robin(hosts, self.rr_next)
            return h
        return lb.random_pick(hosts, self.u())

    def _hash_pick(self, hosts: list[int], hash_key: int | None, attempt: int) -> int:
        """RING_HASH / MAGLEV: look ``hash_key`` up in the table of the current host set, built when that
        set changes (Envoy rebuilds it on each host-set update, ``ThreadAwareLoadBalancerBase::refresh``);
        without a key, a random 64-bit hash (``ThreadAwareLoadBalancerBase::LoadBalancerImpl::chooseHost``)."""
        key = tuple(hosts)
        table = self._hash_tables.get(key)
        if table is None:
            ids = [self.ids[i] for i in hosts]
            c = self.cluster
            if self.policy == "MAGLEV":
                table = lb.MaglevTable(ids, c.maglev_table_size or lb.DEFAULT_MAGLEV_TABLE_SIZE)
            else:
                table = lb.RingHashTable(ids, c.ring_hash_min_ring_size or lb.DEFAULT_MIN_RING_SIZE)
            if len(self._hash_tables) >= 2:  # the healthy set's and the panic (all hosts) one, as Envoy keeps
                self._hash_tables.clear()
            self._hash_tables[key] = table
        h = hash_key if hash_key is not None else int(self.u() * 2.0**64)
        return hosts[table.choose(h, attempt)]

    # ---------------------------------------------------------------- connection pool
    def new_stream(self, host: int) -> int | Pending:
        """Ask the host's pool for a stream (source/common/conn_pool/conn_pool_base.cc ``newStreamImpl``).

        Returns the connection's served-count (a ready stream), :data:`OVERFLOW` (503 UO, counted as
        ``upstream_rq_pending_overflow``), or a :class:`Pending` whose event fires with the
        served-count (or OVERFLOW) once a connection is free or established.

        With ``connect_latency`` > 0, a request that needs a new connection waits in the pending
        queue while it is established (so it counts against ``max_pending_requests``, as in Envoy's
        ``newStreamImpl``: the pending check comes before ``tryCreateNewConnections``). With 0, the
        connection is ready at once and the request attaches immediately.
        """
        if self.h2:
            return self._h2_new_stream(host)
        idle = self.idle[host]
        if idle:
            since = self.idle_since[host]
            if self.idle_timeout is not None and since[0] <= self.env._now - self.idle_timeout:
                self._expire_idle(host)
        if idle:
            self.idle_since[host].pop()
            if self.rq_active >= self.max_requests:
                return self._attach(host, idle.pop())
            # _attach's usual case, inline (two calls fewer per stream)
            self.rq_active += 1
            self.active[host] += 1
            self.c.upstream_rq_total += 1
            return idle.pop()
        can_open = self.cx_host[host] == 0 or self.cx < self.max_connections
        extra = None
        if can_open and not self.instant and self.connect_latency <= 0 and self.pending < self.max_pending:
            # only the hook (mTLS) can make this connection take time: ask it now
            extra = self.connect_hook(self, self.ids[host]) if self.connect_hook is not None else 0.0
        if can_open and (self.instant or extra == 0.0):
            if self.cx >= self.max_connections:
                self.c.upstream_cx_overflow += 1
            self._open(host)
            return self._attach(host, 0)
        if self.pending >= self.max_pending:
            # newStreamImpl fails a pending overflow before tryCreateNewConnections: no upstream_cx_overflow
            self.c.upstream_rq_pending_overflow += 1
            return OVERFLOW
        self.pending += 1
        self.c.upstream_rq_pending_total += 1
        p = Pending(self.env.event(), host)
        self.pending_q[host].append(p)
        self._maybe_connect(host, extra)
        return p

    def _open(self, host: int) -> None:
        self.cx += 1
        self.cx_host[host] += 1
        self.c.upstream_cx_total += 1

    def _maybe_connect(self, host: int, extra: float | None = None) -> None:
        """Envoy ``tryCreateNewConnections``: open a connection while the pool's pending requests
        exceed the connections already being established, within ``max_connections`` (a pool with
        no connection at all may always open one)."""
        live = sum(1 for p in self.pending_q[host] if not p.cancelled)
        if self.connecting[host] >= live:
            return
        if self.cx >= self.max_connections:
            # counted even when the pool opens one anyway because it has none (ConnPoolImplBase::
            # tryCreateNewConnection counts upstream_cx_overflow before that exception)
            self.c.upstream_cx_overflow += 1
            if self.cx_host[host] != 0:
                return
        self._open(host)
        latency = self.connect_latency
        if extra is not None:
            latency += extra  # the hook already ran for this connection
        elif self.connect_hook is not None:
            latency += self.connect_hook(self, self.ids[host])
        if latency <= 0:
            self._connected(host)
            return
        self.connecting[host] += 1
        self.env.timeout(latency).callbacks.append(lambda _e, h=host: self._connect_done(h))  # type: ignore[misc]

    def _connect_done(self, host: int) -> None:
        self.connecting[host] -= 1
        self._connected(host)

    def _connected(self, host: int) -> None:
        """A new connection is ready: it serves the oldest pending request of its pool, or idles."""
        q = self.pending_q[host]
        while q and q[0].cancelled:
            q.popleft()
        if q:
            p = q.popleft()
            self.pending -= 1
            p.event.succeed(self._attach(host, 0))
        else:
            self._idle_push(host, 0)

    def _idle_push(self, host: int, served: int) -> None:
        self.idle[host].append(served)
        self.idle_since[host].append(self.env._now)

    def _idle_close_all(self, host: int) -> int:
        """Close every idle connection of ``host``; returns how many."""
        closed = len(self.idle[host])
        self.idle[host].clear()
        self.idle_since[host].clear()
        return closed

    def _expire_idle(self, host: int) -> None:
        """Envoy's connection idle timeout (``common_http_protocol_options.idle_timeout``; Istio's
        ``connectionPool.http.idleTimeout``, default 1 h): an HTTP/1.1 connection idle for that long has
        closed (``upstream_cx_idle_timeout``). Applied when the pool is next asked for a stream, which is the
        first moment the closed connection would have mattered."""
        assert self.idle_timeout is not None
        limit = self.env._now - self.idle_timeout
        since = self.idle_since[host]
        k = 0
        while k < len(since) and since[k] <= limit:
            k += 1
        del since[:k]
        del self.idle[host][:k]
        self.cx -= k
        self.cx_host[host] -= k
        self.c.upstream_cx_idle_timeout += k

    def _attach(self, host: int, served: int) -> int:
        """Attach a stream to a connection, checking ``max_requests`` (overflow keeps the connection idle).

        An attached stream counts in the cluster's ``upstream_rq_active`` and in the host's ``rq_active``
        (``self.active``, what LEAST_REQUEST compares) until :meth:`end_stream`, as Envoy's
        ``ConnPoolImplBase::attachStreamToClient`` / ``onStreamClosed`` (source/common/conn_pool/conn_pool_base.cc)
        increment and decrement ``host->stats().rq_active_``; a pending request counts in neither."""
        if self.rq_active >= self.max_requests:
            self.c.upstream_rq_pending_overflow += 1
            if not self.h2:
                self._idle_push(host, served)
            return OVERFLOW
        self.rq_active += 1
        self.active[host] += 1
        self.c.upstream_rq_total += 1
        return served

    def cancel_pending(self, p: Pending) -> None:
        """A pending request gave up (route timeout, downstream reset). If it was already dequeued
        and attached (its event fired in the same instant), it is no longer pending: the caller
        releases the attached stream instead."""
        if not p.cancelled and not p.event.triggered:
            p.cancelled = True
            self.pending -= 1

    def end_stream(self, host: int, served: int, reset: bool) -> None:
        """Release a stream: ``reset`` (timeout, abandonment) closes its HTTP/1.1 connection; an HTTP/2
        stream reset leaves its connection open (RST_STREAM)."""
        self.rq_active -= 1
        self.active[host] -= 1
        if self.h2:
            self._h2_end(host, served)
            return
        served += 1
        drain = self.draining[host] > 0
        if reset or drain or (self.max_rpc is not None and served >= self.max_rpc):
            if drain:
                self.draining[host] -= 1
            if reset:
                self.c.upstream_cx_destroy_with_active_rq += 1
            elif not drain:
                self.c.upstream_cx_max_requests += 1
            self.cx -= 1
            self.cx_host[host] -= 1
            q = self.pending_q[host]
            while q and q[0].cancelled:
                q.popleft()
            if q:
                self._maybe_connect(host)
            return
        q = self.pending_q[host]
        while q and q[0].cancelled:
            q.popleft()
        if q:
            p = q.popleft()
            self.pending -= 1
            p.event.succeed(self._attach(host, served))
        else:
            self.idle[host].append(served)  # _idle_push, inline
            self.idle_since[host].append(self.env._now)

    # ---------------------------------------------------------------- HTTP/2 pool
    def pending_q_empty(self, host: int) -> bool:
        """Whether no live request waits in ``host``'s pending queue."""
        return not any(not p.cancelled for p in self.pending_q[host])

    def retry_allowed(self) -> bool:
        """Whether one more active retry fits the ``max_retries`` breaker or the retry budget:
        ``max(floor(percent/100 x (active + pending)), min_retry_concurrency)``, the product truncated to an
        integer as Envoy's ``RetryBudgetImpl::max`` does (``std::max<uint64_t>``,
        source/common/upstream/resource_manager_impl.h)."""
        if self.retry_budget is not None:
            pct, min_conc = self.retry_budget
            limit = max(math.floor(pct / 100.0 * (self.rq_active + self.pending)), min_conc)
            return self.active_retries < limit
        return self.active_retries < self.max_retries

    # ---------------------------------------------------------------- outlier detection
    def _health_changed(self) -> None:
        """An ejection or un-ejection: the OD state changed now; the LB sees it now if the last host-set update
        is older than the update merge window, else one full window later (merged with any other change
        meanwhile)."""
        if self.od is not None:
            self.ejections.set(self.env._now, float(sum(self.ejected)))
        now = self.env._now
        if self.merge_pending:
            return  # merged into the update already scheduled
        if self.merge_window <= 0 or now - self.last_update > self.merge_window:
            self._refresh_healthy()
        else:
            # ClusterManagerImpl::scheduleUpdate (source/common/upstream/cluster_manager_impl.cc): inside the
            # window, a mergeable update arms the timer for a full window from now
            self.merge_pending = True
            self.env.timeout(self.merge_window).callbacks.append(lambda _e: self._merged())  # type: ignore[misc]

    def _merged(self) -> None:
        if self.merge_pending:
            self._refresh_healthy()

    def _refresh_healthy(self) -> None:
        """Recompute the LB's host sets from EDS and outlier state (a host-set update)."""
        self.last_update = self.env._now
        self.merge_pending = False
        self.eds = [i for i in range(self.n) if self.alive[i]]
        if self.od is not None:
            ejected = self.ejected
            self.healthy = [i for i in self.eds if not ejected[i]]
            self.ejections.set(self.env._now, float(sum(ejected)))
        else:
            self.healthy = list(self.eds)

    def set_endpoints(self, ids: list[str]) -> None:
        """An EDS update: ``ids`` is the new host set. New hosts are appended (indices of existing hosts
        never change, so in-flight requests keep valid handles); hosts no longer listed leave the
        healthy set, their idle connections are closed and their in-flight streams drain."""
        want = set(ids)
        known = {h: i for i, h in enumerate(self.ids)}
        for h in ids:
            if h not in known:
                known[h] = len(self.ids)
                self.ids.append(h)
                self.active.append(0)
                self.idle.append([])
                self.idle_since.append([])
                self.cx_host.append(0)
                self.draining.append(0)
                self.pending_q.append(deque())
                self.connecting.append(0)
                self.h2_conns.append([])
                self.h2_connecting_cap.append(0)
                self.alive.append(True)
                if self.od is not None:
                    self.c5.append(0)
                    self.cgw.append(0)
                    self.ejected.append(False)
                    self.eject_time.append(0.0)
                    self.mult.append(0)
        self.n = len(self.ids)
        for i, h in enumerate(self.ids):
            keep = h in want
            if self.alive[i] and not keep:
                if self.h2:
                    self._h2_drain_host(i)
                closed = self._idle_close_all(i)
                self.cx -= closed
                self.cx_host[i] -= closed
                if self.od is not None:
                    # Envoy's detector erases a removed host's monitor (and un-counts it from ejections_active
                    # if it was ejected): it no longer blocks other ejections, and it returns as a new host
                    self.ejected[i] = False
                    self.c5[i] = self.cgw[i] = self.mult[i] = 0
            self.alive[i] = keep
        self._refresh_healthy()

    def set_alive(self, host: int, alive: bool) -> None:
        """EDS view of a host: False removes it from the healthy set (a pod the sidecar knows is gone)."""
        self.alive[host] = alive
        self._refresh_healthy()
