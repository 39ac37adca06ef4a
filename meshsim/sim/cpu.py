"""The worker threads of one Envoy proxy: the CPU time each traversal needs and the wait for a busy worker."""

from __future__ import annotations

from meshsim.telemetry.record import ProxyUsage

__all__ = ["ProxyCPU"]


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
