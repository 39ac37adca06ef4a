"""Nodes and containers of the CPU model: cores shared by runnable threads, CFS bandwidth quotas.

Each :class:`Node` runs its containers' CPU bursts (a thread that needs ``work`` CPU seconds) as a fluid
weighted processor-sharing scheduler, the textbook idealisation of CFS (``Documentation/scheduler/
sched-design-CFS.rst``: "an ideal, precise multi-tasking CPU"):

- a thread runs at most at one core's speed; while the runnable threads fit the node's cores, every
  one runs at full speed (weights are not reservations: they matter only under contention);
- when they do not fit, the cores are divided among the containers in proportion to ``cpu.shares``
  (request x 1024, at least 2; Kubernetes ``pkg/kubelet/cm/helpers_linux.go`` ``MilliCPUToShares``),
  a container never getting more cores than it has runnable threads (water-filling), and each
  container's share equally among its runnable threads;
- a container with a CPU limit has a CFS quota of ``limit x period`` CPU seconds per period
  (``MilliCPUToQuota``, at least 1 ms); the pool is refilled to the quota at each period boundary (no
  carry-over: burst 0, ``__refill_cfs_bandwidth_runtime`` in ``kernel/sched/fair.c``); when it is
  spent the container is throttled, none of its threads run until the next period
  (``Documentation/scheduler/sched-bwc.rst``).

Accounting follows the kernel's ``cpu.stat`` (sched-bwc.rst "Statistics"): ``nr_periods`` counts the
periods in which the container had runnable threads, ``nr_throttled`` those in which it was throttled,
``throttled_time`` the time it spent throttled summed over the CPUs it had runnable threads on
(``min(threads, cores)``). Simplifications: one global pool per container (the kernel's per-CPU 5 ms
slices and slack return are not modelled), periods aligned at multiples of the period from time 0, no
pod-level quota (each container's own quota throttles it; the pod cgroup's only adds when every
container has a limit), and migrations and context switches are free.

The general scheduler recomputes rates only when a burst starts or ends, a quota runs out or a period
ends (O(runnable containers) each time), with one pending SimPy timeout per node; an uncontended node
whose containers cannot be throttled takes a fast path with the same times (:class:`Node`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import simpy

from meshsim.model.rules.cpu import cfs_quota, cpu_shares

__all__ = ["Burst", "Container", "Node"]

_EPS = 1e-12
"""Seconds of CPU below which a burst counts as done (float rounding of rate x time)."""


class Burst:
    """One thread's CPU work: ``work`` seconds, started ``t0``; ``done_at`` the time it finished (None
    while it runs). ``on_done`` is called at the finish; ``event`` (made by :meth:`wait`) succeeds then."""

    __slots__ = (
        "container",
        "done_at",
        "event",
        "finish",
        "lazy",
        "live",
        "on_done",
        "rate",
        "remaining",
        "t0",
        "tag",
        "work",
    )

    def __init__(self, container: Container, work: float, t0: float, on_done: Callable[[Burst], None] | None) -> None:
        self.container = container
        self.work = work
        self.remaining = work
        self.rate = 0.0
        self.t0 = t0
        self.done_at: float | None = None
        self.on_done = on_done
        self.event: simpy.Event | None = None
        # the node's uncontended fast path: ``finish`` is known; ``lazy`` = ended when someone next looks
        # (no timer), ``live`` = its own completion timer is armed
        self.finish = 0.0
        self.lazy = False
        self.live = False
        self.tag: Any = None  # what the submitter needs back in ``on_done``

    def wait(self, env: simpy.Environment) -> simpy.Event:
        """An event that succeeds when the burst has finished (at once if it has)."""
        if self.lazy:
            self.container.node.settle(self)
        ev = self.event
        if ev is None:
            ev = self.event = env.event()
            if self.done_at is not None:
                ev.succeed()
        return ev


class Container:
    """One container's cgroup: its node, ``shares``, ``quota`` (CPU seconds per ``period``, None = no
    limit) and its ``cpu.stat``/``cpuacct.usage`` counters (``usage_s``, ``nr_periods``, ``nr_throttled``,
    ``throttled_s``), cumulative since time 0."""

    __slots__ = (
        "alloc",
        "bursts",
        "counted",
        "free_running",
        "limit_cores",
        "name",
        "node",
        "period",
        "period_idx",
        "pod",
        "quota",
        "request_cores",
        "runtime",
        "shares",
        "throttled",
        "nr_periods",
        "nr_throttled",
        "throttled_s",
        "usage_s",
    )

    def __init__(
        self,
        node: Node,
        pod: str,
        name: str,
        request_cores: float | None,
        limit_cores: float | None,
        max_threads: int | None = None,
    ) -> None:
        self.node = node
        self.pod = pod
        self.name = name
        self.request_cores = request_cores
        self.limit_cores = limit_cores
        self.shares = cpu_shares(request_cores)
        self.period = node.period
        self.quota = cfs_quota(limit_cores, node.period)
        self.runtime = self.quota or 0.0
        self.period_idx = 0
        self.counted = -1  # the last period counted in nr_periods
        self.bursts: list[Burst] = []
        self.alloc = 0.0
        self.throttled = False
        self.usage_s = 0.0
        self.nr_periods = 0
        self.nr_throttled = 0
        self.throttled_s = 0.0
        # a quota that ``max_threads`` threads cannot spend in a period never throttles (Istio's default
        # sidecar: 2 workers under a 2-CPU limit)
        q = self.quota
        self.free_running = q is None or (max_threads is not None and max_threads * node.period <= q + _EPS)

    def run(self, work: float, on_done: Callable[[Burst], None] | None = None) -> Burst:
        """Start a thread's burst of ``work`` CPU seconds now (see :meth:`Node.submit`)."""
        return self.node.submit(self, work, on_done)

    def stat(self) -> tuple[float, int, int, float]:
        """``(usage_s, nr_periods, nr_throttled, throttled_s)`` now (the node's integration brought up to date)."""
        node = self.node
        now = node.env.now
        node.retire(now)
        node.advance(now)
        usage = self.usage_s
        if node.simple:  # fast-path bursts are counted when they end
            usage += sum(now - b.t0 for _, _, b in node.lazy if b.container is self and b.done_at is None)
        return usage, self.nr_periods, self.nr_throttled, self.throttled_s


class Node:
    """A node's cores (``cores``) shared by its containers' bursts; ``period`` the CFS period (seconds).

    Fast path: while every running burst belongs to a container that cannot be throttled and they fit the
    cores (``simple``), each runs at full speed, so its end is known when it starts: it is ended lazily
    (when the node is next used, :meth:`retire`) or, when someone must wake at that instant (a waiter, a
    queued traversal), by a timer of its own (:meth:`settle`). The first burst that breaks the condition
    switches the node to the general scheduler until it is idle again. Both give the same times.
    ``usage_s``, ``wait_s`` (runnable, not throttled, but not running: the run-queue wait, summed over
    threads) and ``bursts_done`` are cumulative."""

    def __init__(self, env: simpy.Environment, name: str, cores: float, period: float) -> None:
        self.env = env
        self.name = name
        self.cores = cores
        self.period = period
        self.active: list[Container] = []  # containers with bursts (running or throttled)
        self.last = 0.0
        self.gen = 0
        self.usage_s = 0.0
        self.wait_s = 0.0
        self.bursts_done = 0
        self.simple = True
        self.running = 0  # fast-path bursts not yet ended
        self.lazy: list[tuple[float, int, Burst]] = []  # fast-path bursts by end (a heap)
        self.seq = 0

    # ------------------------------------------------------------------ public
    def submit(self, c: Container, work: float, on_done: Callable[[Burst], None] | None, tag: Any = None) -> Burst:
        """A burst of ``work`` CPU seconds for one thread of ``c``, starting now; ``on_done(burst)`` is
        called when it finishes (at once for ``work <= 0``); ``tag`` is kept on the burst for it."""
        now = self.env.now
        b = Burst(c, work, now, on_done)
        b.tag = tag
        if work <= _EPS:
            self._finish(b, now)
            return b
        if self.simple:
            lazy = self.lazy
            if lazy and lazy[0][0] <= now:
                self.retire(now)
            if c.free_running and self.running + 1 <= self.cores:
                b.rate = 1.0
                b.lazy = True
                b.finish = f = now + work
                self.running += 1
                if c.quota is not None:
                    self._count(c, now, now)
                self.seq += 1
                heapq.heappush(lazy, (f, self.seq, b))
                return b
            self._to_fluid(now)
        self.advance(now)
        if not c.bursts:
            self.active.append(c)
            if c.quota is not None:
                self._refill(c, now)
        c.bursts.append(b)
        self._reschedule(now)
        return b

    def usage(self) -> float:
        """CPU seconds used by the node's containers so far (bursts on their own timers up to now)."""
        now = self.env.now
        self.advance(now)
        self.retire(now)
        if self.simple:
            return self.usage_s + sum(now - b.t0 for _, _, b in self.lazy if b.done_at is None)
        return self.usage_s

    def advance(self, now: float) -> None:
        """Integrate every running burst's progress and every counter up to ``now`` (rates unchanged);
        nothing to do while every burst is on its own timer (they are counted when they end)."""
        dt = now - self.last
        if dt <= 0:
            return
        self.last = now
        if self.simple:
            return
        cores = self.cores
        for c in self.active:
            n = len(c.bursts)
            if c.throttled:
                c.throttled_s += dt * min(n, cores)
                continue
            a = c.alloc
            used = a * dt
            c.usage_s += used
            self.usage_s += used
            if c.quota is not None:
                c.runtime -= used
            if a < n:
                self.wait_s += (n - a) * dt
            for b in c.bursts:
                b.remaining -= b.rate * dt

    # ------------------------------------------------------------------ internals
    def _count(self, c: Container, t0: float, t1: float) -> None:
        """Count in ``nr_periods`` the periods ``[t0, t1]`` touches (a limited container ran in all of them)."""
        if c.quota is None or t1 < (c.counted + 1) * c.period - 1e-9 * c.period:
            return  # no limit, or every period it touches is counted already
        first = max(c.counted + 1, int(t0 / c.period + 1e-9))
        last = int(t1 / c.period + 1e-9)
        if last >= first:
            c.nr_periods += last - first + 1
            c.counted = last

    def retire(self, now: float) -> None:
        """End the fast-path bursts whose end is due (at their end times, in order)."""
        lazy = self.lazy
        while lazy and lazy[0][0] <= now:
            f, _, b = heapq.heappop(lazy)
            if b.done_at is None and (b.lazy or b.live):
                self._retire(b, f)  # a due one with its own timer too: the timer then finds it ended

    def settle(self, b: Burst) -> None:
        """Make sure ``b`` ends at its instant: end it if due, else arm its own timer."""
        now = self.env.now
        self.retire(now)
        if b.lazy:
            b.lazy = False
            b.live = True
            self.env.timeout(b.finish - now, b).callbacks.append(self._simple_cb)

    def _simple_cb(self, ev: simpy.Event) -> None:
        b = ev.value
        assert isinstance(b, Burst)
        if b.live and b.done_at is None:
            self.retire(self.env.now)  # due bursts end in order of their ends, this one among them
            if b.done_at is None:
                self._retire(b, self.env.now)

    def _retire(self, b: Burst, now: float) -> None:
        b.lazy = b.live = False
        c = b.container
        self.running -= 1
        c.usage_s += b.work
        self.usage_s += b.work
        if c.quota is not None:
            self._count(c, b.t0, now)
        self._finish(b, now)

    def _to_fluid(self, now: float) -> None:
        """Hand the bursts on their own timers to the general scheduler (the node is about to be
        contended, or a container that can be throttled runs)."""
        self.retire(now)
        idx = int(now / self.period + 1e-9)
        self.last = now
        for _, _, b in sorted(self.lazy):
            if b.done_at is not None:
                continue  # ended by its own timer
            c = b.container
            if not c.bursts:
                self.active.append(c)
            c.bursts.append(b)
            done = now - b.t0
            c.usage_s += done
            self.usage_s += done
            b.remaining = b.work - done
            b.live = b.lazy = False
        self.lazy.clear()
        for c in self.active:
            if c.quota is not None:
                # it could not be throttled so far, and cannot spend its quota in what is left of the period
                self._count(c, now, now)
                c.period_idx = idx
                c.runtime = c.quota
        self.simple = False
        self.running = 0

    def _finish(self, b: Burst, now: float) -> None:
        b.done_at = now
        b.remaining = 0.0
        self.bursts_done += 1
        if b.on_done is not None:
            b.on_done(b)
        if b.event is not None and not b.event.triggered:
            b.event.succeed()

    def _refill(self, c: Container, now: float) -> None:
        """Period bookkeeping of a limited container at ``now``: a new period refills the pool and lifts
        a throttle; a period with runnable threads counts in ``nr_periods``."""
        idx = int(now / c.period + 1e-9)
        if idx > c.period_idx:
            c.period_idx = idx
            c.runtime = c.quota or 0.0
            c.throttled = False
        if c.bursts and c.counted != idx:
            c.counted = idx
            c.nr_periods += 1

    def _wake(self, gen: int) -> None:
        if gen != self.gen:
            return  # superseded
        now = self.env.now
        self.advance(now)
        self._reschedule(now)

    def _reschedule(self, now: float) -> None:
        """Finish what is done, apply period boundaries and throttles, recompute rates, arm the next wake."""
        done: list[Burst] = []
        keep: list[Container] = []
        for c in self.active:
            if not c.throttled:
                left = [b for b in c.bursts if b.remaining > _EPS]
                if len(left) != len(c.bursts):
                    done.extend(b for b in c.bursts if b.remaining <= _EPS)
                    c.bursts = left
            if c.quota is not None:
                self._refill(c, now)
                end = (c.period_idx + 1) * c.period - now  # a quota spent at a period's very end is refilled at once
                if c.bursts and not c.throttled and c.runtime <= _EPS and end > _EPS:
                    c.throttled = True
                    c.nr_throttled += 1
            if c.bursts:
                keep.append(c)
            else:
                c.alloc = 0.0
        self.active = keep
        if not keep:
            self.simple = True  # idle: bursts may take the fast path again
        self._allocate()
        self._arm(now)
        for b in done:
            self._finish(b, now)  # callbacks may submit new bursts (which reschedule themselves)

    def _allocate(self) -> None:
        """Water-filling of the cores over the runnable containers by shares, capped by their threads."""
        run = [c for c in self.active if not c.throttled]
        for c in self.active:
            if c.throttled:
                c.alloc = 0.0
                for b in c.bursts:
                    b.rate = 0.0
        total = sum(len(c.bursts) for c in run)
        if total <= self.cores:
            for c in run:
                c.alloc = float(len(c.bursts))
                for b in c.bursts:
                    b.rate = 1.0
            return
        left = self.cores
        todo = run
        while todo:
            w = sum(c.shares for c in todo)
            per = left / w
            capped = [c for c in todo if c.shares * per >= len(c.bursts)]
            if not capped:
                for c in todo:
                    c.alloc = c.shares * per
                break
            for c in capped:
                c.alloc = float(len(c.bursts))
                left -= c.alloc
            todo = [c for c in todo if c not in capped]
        for c in run:
            r = c.alloc / len(c.bursts)
            for b in c.bursts:
                b.rate = r

    def _arm(self, now: float) -> None:
        """One timeout for the earliest of: a burst finishing, a quota running out, a period ending."""
        delay = float("inf")
        for c in self.active:
            if c.throttled:
                delay = min(delay, (c.period_idx + 1) * c.period - now)
                continue
            for b in c.bursts:
                if b.rate > 0:
                    d = b.remaining / b.rate
                    if d < delay:
                        delay = d
            if c.quota is not None:
                if c.alloc > 0:
                    delay = min(delay, c.runtime / c.alloc)
                delay = min(delay, (c.period_idx + 1) * c.period - now)
        self.gen += 1
        if delay == float("inf"):
            return
        gen = self.gen
        self.env.timeout(max(0.0, delay)).callbacks.append(lambda _e, g=gen: self._wake(g))  # type: ignore[misc]
