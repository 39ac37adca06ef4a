"""The worker threads of one Envoy proxy: the CPU time each traversal needs and the wait for a busy worker
(:class:`ProxyCPU`: the proxy's own unlimited CPU; :class:`ScheduledProxyCPU`: inside the CPU model, on
its pod's node and under its container's quota)."""

from __future__ import annotations

from collections import deque

import simpy

from meshsim.sim.kernel import Gen
from meshsim.sim.node import Burst, Container, Node
from meshsim.telemetry.record import ProxyUsage

__all__ = ["ProxyCPU", "ScheduledProxyCPU", "Traversal", "traverse"]


class ProxyCPU:
    """The worker threads of one Envoy (Istio's performance page, https://istio.io/latest/docs/ops/deployment/performance-and-scalability/: "worker count (2) bounds per-proxy
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

    def start(self, now: float, cost: float, measured: bool) -> Traversal:
        """:meth:`take` as a :class:`Traversal` whose finish is known at once (an Envoy outside the CPU model)."""
        return Traversal(now, cost, measured, now + cost + self.take(now, cost, measured))

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


class Traversal:
    """The CPU work of one proxy traversal: requested at ``t0``, ``cost`` CPU seconds, finished at
    ``done_at`` (None while it waits for a worker or runs); :meth:`slowdown` is how much later than
    ``t0 + cost`` it finished (a worker's wait, a contended node, a spent quota)."""

    __slots__ = ("burst", "cost", "done_at", "event", "measured", "t0")

    def __init__(self, t0: float, cost: float, measured: bool, done_at: float | None = None) -> None:
        self.t0 = t0
        self.cost = cost
        self.measured = measured
        self.done_at = done_at
        self.event: simpy.Event | None = None
        self.burst: Burst | None = None  # its CPU burst once a worker runs it

    def slowdown(self) -> float:
        assert self.done_at is not None
        return self.done_at - self.t0 - self.cost


def traverse(env: simpy.Environment, works: tuple[Traversal, ...], base: float) -> Gen:
    """Wait ``base`` seconds (the traversals' drawn latency, which already holds their nominal CPU
    time) plus the sum of their slowdowns, counted from their start; returns that sum (seconds)."""
    t0 = env._now
    if base > 0:
        yield env.timeout(base)
    for w in works:
        if w.done_at is None and w.burst is not None:
            w.burst.container.node.settle(w.burst)  # a fast-path burst that is due ends now
        if w.done_at is None:
            ev = w.event
            if ev is None:
                ev = w.event = env.event()
            yield ev
    extra = 0.0
    for w in works:
        s = w.slowdown()
        if s > _TINY:
            extra += s
    rest = t0 + base + extra - env._now
    if rest > _TINY:
        yield env.timeout(rest)
    return extra


_TINY = 1e-9
"""Seconds below which a slowdown is float rounding (a burst that ran at full speed), not a wait."""


class ScheduledProxyCPU(ProxyCPU):
    """An Envoy inside the CPU model: its ``n`` worker threads (Envoy ``--concurrency``) take traversals
    FIFO, and each traversal's CPU runs as a burst of its ``istio-proxy`` container on the node
    (:mod:`meshsim.sim.node`), so a contended node or a spent CFS quota slows it. Usage is counted as
    by :class:`ProxyCPU` (``waited``/``wait_s``: traversals that found every worker busy).

    The load source's traversals into an entry pod arrive through :meth:`take` (which cannot block); their
    bursts start there and :meth:`claim_entry` hands the oldest to the pod when it serves a request from
    the load source, so each request pays one entry traversal's slowdown (in arrival order)."""

    __slots__ = ("busy", "container", "entry", "on_burst", "queue")

    def __init__(self, usage: ProxyUsage, t_start: float, t_end: float, container: Container) -> None:
        super().__init__(usage, t_start, t_end)
        self.container = container
        self.busy = 0
        self.queue: deque[Traversal] = deque()
        self.entry: deque[Traversal] = deque()
        self.on_burst = self._burst_done  # bound once: called for every burst

    def start(self, now: float, cost: float, measured: bool) -> Traversal:
        """Request a worker for ``cost`` CPU seconds now; returns the traversal (finishing later)."""
        u = self.usage
        if measured:
            u.requests += 1
            u.cpu_s += cost
        tr = Traversal(now, cost, measured)
        node = self.container.node
        if self.busy >= self.n and self.n:
            node.retire(now)  # workers whose bursts ended by now are free
        if self.busy < self.n or not self.n:
            self.busy += 1
            self._run(node, tr)
        else:
            if not self.queue and node.simple:
                # the queue starts when a worker frees: its running fast-path bursts must end on time
                for _, _, b in list(node.lazy):
                    if b.container is self.container and b.lazy:
                        node.settle(b)
            self.queue.append(tr)
        return tr

    def _run(self, node: Node, tr: Traversal) -> None:
        b = tr.burst = node.submit(self.container, tr.cost, self.on_burst, tr)
        if self.queue and b.lazy:
            node.settle(b)

    def _burst_done(self, b: Burst) -> None:
        tr: Traversal = b.tag
        now = b.done_at
        assert now is not None
        tr.done_at = now
        ev = tr.event
        if ev is not None:
            ev.succeed()
        if self.queue:
            nxt = self.queue.popleft()
            if nxt.measured:
                self.usage.waited += 1
                self.usage.wait_s += now - nxt.t0
            self._run(self.container.node, nxt)
        else:
            self.busy -= 1

    def take(self, now: float, cost: float, measured: bool) -> float:
        """The load source's traversal into this pod: started now, its slowdown paid in :meth:`claim_entry`."""
        self.entry.append(self.start(now, cost, measured))
        if len(self.entry) > _ENTRY_BACKLOG:
            self.entry.popleft()  # a pod that never serves them (killed, or STRICT to plaintext)
        return 0.0

    def claim_entry(self) -> Traversal | None:
        """The oldest entry traversal not yet paid for (None when there is none)."""
        return self.entry.popleft() if self.entry else None

    def handshake(self, now: float, cost: float) -> float:
        """A TLS handshake's CPU: a burst on a worker (its CPU and quota counted); the connection does
        not wait for it (simplification)."""
        measured = self.t_start <= now < self.t_end
        if measured:
            self.usage.handshakes += 1
            self.usage.requests -= 1  # start() counts a request; a handshake is not one
        self.start(now, cost, measured)
        return 0.0


_ENTRY_BACKLOG = 10_000
"""Entry traversals kept for pods that do not serve them; older ones are dropped (memory stays bounded)."""
