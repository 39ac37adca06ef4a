"""Connection-pool pieces of :class:`meshsim.sim.cluster.ClusterState`: the pending-request handle, the overflow
result, and the HTTP/2 upstream pools (a base class ClusterState inherits):
connections that multiplex streams up to the peer's ``max_concurrent_streams`` and the cluster's
``max_requests_per_connection``, opened on demand within ``max_connections``, with the pending queue and overflow
rules of Envoy's ``source/common/conn_pool/conn_pool_base.cc`` and ``source/common/http/http2/conn_pool.cc``.

The methods use the pool state :class:`~meshsim.sim.cluster.ClusterState` sets up (``h2`` connections per host,
``pending_q``, counters, the cluster's thresholds); they are only ever called on a ClusterState.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

__all__ = ["OVERFLOW", "H2Pools", "Pending"]

OVERFLOW = -100
"""Result of :meth:`ClusterState.new_stream` when a breaker overflows (503 UO)."""


class Pending:
    """A request waiting in a host pool's pending queue (FIFO)."""

    __slots__ = ("event", "host", "cancelled")

    def __init__(self, event: simpy.Event, host: int) -> None:
        self.event = event
        self.host = host
        self.cancelled = False


class _H2Conn:
    """One HTTP/2 connection of a host pool: its streams in flight, the streams it may still start
    (``max_requests_per_connection``; None = unlimited), its concurrent-stream limit and its state
    (``connecting``, ``ready``, ``draining``: takes no new stream, closes when its last one ends)."""

    __slots__ = ("active", "cid", "host", "idle_since", "limit", "remaining", "state")

    def __init__(self, cid: int, host: int, limit: int, remaining: int | None) -> None:
        self.cid = cid
        self.host = host
        self.limit = limit
        self.remaining = remaining
        self.active = 0
        self.state = "connecting"
        self.idle_since = 0.0  # when its last stream ended (meaningful while ready with no stream)

    def capacity(self) -> int:
        """Streams it can take now (Envoy ``ActiveClient::currentUnusedCapacity``)."""
        free = self.limit - self.active
        return free if self.remaining is None else min(free, self.remaining)


class H2Pools:
    """The HTTP/2 half of a cluster's connection pools (see the module docstring). The attributes below are
    :class:`~meshsim.sim.cluster.ClusterState`'s, declared here for the type checker."""

    if not TYPE_CHECKING:  # the type checker would read the annotations below as missing slots
        __slots__ = ()  # no __dict__ of its own: ClusterState declares the slots

    env: simpy.Environment
    c: Any  # the cluster's Counters
    ids: list[str]
    instant: bool
    connect_latency: float
    connect_hook: Callable[[Any, str], float] | None
    max_connections: int
    max_pending: int
    max_rpc: int | None
    idle_timeout: float | None
    h2_limit: int
    h2_conns: list[list[_H2Conn]]
    h2_by_id: dict[int, _H2Conn]
    h2_next: int
    h2_connecting_cap: list[int]
    cx: int
    cx_host: list[int]
    pending: int
    pending_q: list[deque[Pending]]

    def pending_q_empty(self, host: int) -> bool:
        """Whether no live request waits in ``host``'s pending queue (ClusterState's)."""
        raise NotImplementedError

    def _open(self, host: int) -> None:
        raise NotImplementedError

    def _attach(self, host: int, served: int) -> int:
        raise NotImplementedError

    def _h2_new_stream(self, host: int) -> int | Pending:
        """Envoy ``ConnPoolImplBase::newStreamImpl`` (source/common/conn_pool/conn_pool_base.cc) for a
        multiplexing pool: a stream on the first ready connection with spare capacity (``max_requests``
        checked, ``upstream_rq_pending_overflow``); else the pending check (``max_pending_requests``,
        ``upstream_rq_pending_overflow``), then the request waits in the pending queue while
        ``tryCreateNewConnections`` opens connections within ``max_connections`` (``upstream_cx_overflow``;
        a pool with no connection may always open one). A connection carries up to ``max_concurrent_streams``
        streams at once (:data:`H2_PEER_MAX_CONCURRENT_STREAMS` at most) and ``max_requests_per_connection``
        in its life (then it drains, ``upstream_cx_max_requests``). With instant connections
        (``connect_latency`` 0 and no handshake) a new connection takes the stream at once, as on HTTP/1.1.
        Returns the connection's id (>= 0), :data:`OVERFLOW` or a :class:`Pending`."""
        if self.idle_timeout is not None:
            limit = self.env._now - self.idle_timeout
            for conn in [
                c for c in self.h2_conns[host] if c.state == "ready" and c.active == 0 and c.idle_since <= limit
            ]:
                self.c.upstream_cx_idle_timeout += 1
                self._h2_close(conn)
        for conn in self.h2_conns[host]:
            if conn.state == "ready" and conn.capacity() > 0:
                return self._h2_attach(conn)
        can_open = self.cx < self.max_connections or self.cx_host[host] == 0
        latency: float | None = None
        if can_open and self.pending_q_empty(host):
            if self.instant:
                latency = 0.0
            elif self.pending < self.max_pending:
                latency = self._h2_connect_time(host)  # asked once: the hook may charge handshake CPU
            if latency is not None and latency <= 0:
                if self.cx >= self.max_connections:
                    self.c.upstream_cx_overflow += 1  # counted before the zero-connection exception
                conn = self._h2_open(host)
                conn.state = "ready"
                return self._h2_attach(conn)
        if self.pending >= self.max_pending:
            self.c.upstream_rq_pending_overflow += 1
            return OVERFLOW
        self.pending += 1
        self.c.upstream_rq_pending_total += 1
        p = Pending(self.env.event(), host)
        self.pending_q[host].append(p)
        self._h2_try_connect(host, latency)
        return p

    def _h2_connect_time(self, host: int) -> float:
        """Seconds to establish a new connection to ``host``: TCP plus the hook's handshake."""
        if self.instant:
            return 0.0
        extra = self.connect_hook(self, self.ids[host]) if self.connect_hook is not None else 0.0
        return self.connect_latency + extra

    def _h2_open(self, host: int) -> _H2Conn:
        self._open(host)
        conn = _H2Conn(self.h2_next, host, self.h2_limit, self.max_rpc)
        self.h2_next += 1
        self.h2_conns[host].append(conn)
        self.h2_by_id[conn.cid] = conn
        return conn

    def _h2_try_connect(self, host: int, latency: float | None = None) -> None:
        """Envoy ``tryCreateNewConnections`` (at most 3 at once): open a connection while the pool's live
        pending requests exceed the stream capacity of its connections being established."""
        for _ in range(3):
            live = sum(1 for p in self.pending_q[host] if not p.cancelled)
            if live <= self.h2_connecting_cap[host]:
                return
            if self.cx >= self.max_connections:
                self.c.upstream_cx_overflow += 1
                if self.cx_host[host] != 0:
                    return
            conn = self._h2_open(host)
            cap = conn.capacity()
            self.h2_connecting_cap[host] += cap
            t = self._h2_connect_time(host) if latency is None else latency
            latency = None  # measured for the first connection only
            if t <= 0:
                self._h2_connected(conn, cap)
            else:
                self.env.timeout(t).callbacks.append(lambda _e, c=conn, k=cap: self._h2_connected(c, k))  # type: ignore[misc]

    def _h2_connected(self, conn: _H2Conn, cap: int) -> None:
        """A connection is ready (Envoy ``onUpstreamReady``): it takes the oldest pending requests up to
        its capacity (``max_requests`` checked for each)."""
        host = conn.host
        self.h2_connecting_cap[host] -= cap
        if conn.state == "connecting":
            conn.state = "ready"
        self._h2_serve_pending(conn)
        if conn.active == 0:
            conn.idle_since = self.env._now
        if conn.state == "draining" and conn.active == 0:
            self._h2_close(conn)

    def _h2_serve_pending(self, conn: _H2Conn) -> None:
        q = self.pending_q[conn.host]
        while q and conn.state == "ready" and conn.capacity() > 0:
            p = q.popleft()
            if p.cancelled:
                continue
            self.pending -= 1
            p.event.succeed(self._h2_attach(conn))

    def _h2_attach(self, conn: _H2Conn) -> int:
        """A stream on ``conn`` (Envoy ``attachStreamToClient``): the ``max_requests`` breaker first; the
        connection drains once it has started ``max_requests_per_connection`` streams."""
        if self._attach(conn.host, 0) == OVERFLOW:
            return OVERFLOW
        conn.active += 1
        if conn.remaining is not None:
            conn.remaining -= 1
            if conn.remaining == 0:
                self.c.upstream_cx_max_requests += 1
                conn.state = "draining"
        return conn.cid

    def _h2_end(self, host: int, cid: int) -> None:
        """A stream ended (Envoy ``onStreamClosed``): a draining connection closes with its last stream;
        a ready one takes pending requests."""
        conn = self.h2_by_id.get(cid)
        if conn is None:
            return
        conn.active -= 1
        if conn.state == "draining":
            if conn.active == 0:
                self._h2_close(conn)
        elif conn.state == "ready":
            self._h2_serve_pending(conn)
            if conn.active == 0:
                conn.idle_since = self.env._now

    def _h2_close(self, conn: _H2Conn) -> None:
        """The connection closes; the pool opens another if requests are still pending (Envoy
        ``onConnectionEvent``)."""
        host = conn.host
        del self.h2_by_id[conn.cid]
        self.h2_conns[host].remove(conn)
        self.cx -= 1
        self.cx_host[host] -= 1
        if not self.pending_q_empty(host):
            self._h2_try_connect(host)

    def _h2_drain_host(self, host: int) -> None:
        """Drain ``host``'s connections (ejection, EDS removal): idle ones close now, busy ones take no new
        stream and close with their last one; connections still being established are left alone."""
        for conn in list(self.h2_conns[host]):
            if conn.state == "connecting":
                continue
            conn.state = "draining"
            if conn.active == 0:
                self._h2_close(conn)

    # ---------------------------------------------------------------- retry breaker
