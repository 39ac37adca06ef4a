"""The simulator's kernel on top of SimPy: the one module that relies on SimPy internals.

- :func:`start_now` starts a process without SimPy's ``Initialize`` event, :func:`spawn` one whose end
  resumes its waiter at once (no event);
- :func:`sleep` is ``env.timeout(delay)`` built in one call;
- :func:`run_until` is ``Environment.run(until=event)`` with SimPy's ``step`` inlined;
- :func:`interrupt_wait` throws an interrupt into the process waiting on an attempt's event, at once;
- :func:`detached` carries on an attempt its router gave up on, in a process of its own;
- :class:`Deadlines` keeps timers that almost never fire in lazily pruned FIFO queues, one per delay;
- :func:`collector_tuned` keeps Python's cyclic GC out of the hot loop.

The internals used (SimPy 4.1, ``simpy/events.py``): ``Process._resume(event)`` reading
``event._ok``/``event._value`` (and ``event._defused`` for a failure), ``Process._generator``,
``Environment._active_proc``, an event's ``callbacks`` list holding the waiting process's bound
``_resume``, and ``Environment._queue`` (a heap of ``(time, priority, eid, event)``) and ``_now`` (the
clock, which the data-path modules also read directly: the ``now`` property costs a Python call, ~40 per
entry request). ``pyproject.toml`` pins the SimPy minor version and ``tests/unit/sim/test_kernel.py`` fails
loudly if any of them changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any, Protocol

import simpy
from simpy.core import EmptySchedule, StopSimulation

__all__ = [
    "Gen",
    "Deadlines",
    "Waiter",
    "collector_tuned",
    "detached",
    "interrupt_wait",
    "run_until",
    "sleep",
    "spawn",
    "start_now",
    "succeed_later",
]

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
    """
    p = simpy.Process.__new__(simpy.Process)
    p.env = env
    p.callbacks = []
    p._generator = gen
    caller = env._active_proc
    p._resume(_STARTED)  # type: ignore[arg-type]
    env._active_proc = caller
    return p


class _Spawned(simpy.Process):
    """A process started by :func:`spawn`: SimPy's ``Process._resume`` (simpy/events.py, 4.1) except that
    a generator that returns schedules no event: whoever waits for the process (its callbacks) is resumed
    at once, in the same step, as if the generator had run inline under ``yield from`` in the waiter.
    A process nobody waits for ends without a trace (SimPy would process an event without callbacks,
    which does nothing, and leaving it out keeps every other event's ``(time, priority, eid)`` order). A
    failure is still scheduled, so it crashes the run as in SimPy. No reference cycle: the process is
    freed by reference counting once its last event is processed."""

    def _resume(self, event: Any) -> None:  # type: ignore[override]
        env = self.env
        env._active_proc = self
        gen = self._generator
        while True:
            try:
                if event._ok:
                    event = gen.send(event._value)
                else:
                    event._defused = True
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    event = gen.throw(exc)
            except StopIteration as e:
                event = None
                self._ok = True
                self._value = e.args[0] if len(e.args) else None
                cbs, self.callbacks = self.callbacks, None  # type: ignore[assignment]
                for cb in cbs:
                    cb(self)
                break
            except BaseException as e:
                event = None
                self._ok = False
                e.__traceback__ = e.__traceback__.tb_next  # type: ignore[union-attr]
                self._value = e
                env.schedule(self)
                break
            cbs = event.callbacks
            if cbs is not None:
                cbs.append(self._resume)
                break
        self._target = event
        env._active_proc = None


def spawn(env: simpy.Environment, gen: Gen) -> simpy.Process:
    """Start ``gen`` now, inside the caller (as :func:`start_now`), as a process of its own: an entry
    request, or an upstream attempt its router waits for (``yield p``). When it returns, a waiting
    process resumes at once with its value, in the same step (as under ``yield from``; SimPy would
    schedule an event: one fewer per entry request and per attempt). A router that gives up on it (a
    timer, :func:`interrupt_wait`) simply stops waiting and the attempt carries on."""
    p = _Spawned.__new__(_Spawned)
    p.env = env
    p.callbacks = []
    p._generator = gen
    caller = env._active_proc
    p._resume(_STARTED)
    env._active_proc = caller
    return p


_new = object.__new__
_Timeout = simpy.Timeout


def sleep(env: simpy.Environment, delay: float) -> simpy.Timeout:
    """``env.timeout(delay)`` (``delay`` seconds >= 0, value None) without its two Python calls
    (``Timeout.__init__`` and ``Environment.schedule``): the same attributes and the same queue entry
    ``(now + delay, NORMAL, next eid, event)``, so the same order. The data path's waits (network and
    proxies, app sleeps, arrivals) use it; anything else may use ``env.timeout``."""
    if delay < 0:
        raise ValueError(f"negative delay {delay}")
    t = _new(_Timeout)
    t.env = env
    t.callbacks = []
    t._value = None
    t._delay = delay
    t._ok = True
    heappush(env._queue, (env._now + delay, 1, next(env._eid), t))  # type: ignore[attr-defined,misc]
    return t


def run_until(env: simpy.Environment, until: simpy.Event) -> None:
    """``env.run(until=until)`` with ``Environment.step`` inlined in the loop (simpy/core.py, 4.1): the same
    events in the same order, one Python call fewer per event. Raises RuntimeError as SimPy does when the
    queue empties before ``until`` triggers; a failed event nobody defused crashes the run as in SimPy."""
    if until.callbacks is None:
        return
    until.callbacks.append(StopSimulation.callback)
    queue = env._queue  # type: ignore[attr-defined]
    try:
        while True:
            try:
                env._now, _, _, event = heappop(queue)  # type: ignore[attr-defined]
            except IndexError:
                raise EmptySchedule from None
            callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
            try:
                for callback in callbacks:
                    callback(event)
            except StopSimulation:
                event.callbacks = callbacks[callbacks.index(callback) + 1 :]
                env.schedule(event, -1)  # type: ignore[arg-type]
                raise
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
    except StopSimulation:
        return
    except EmptySchedule:
        raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {until}') from None


@contextmanager
def collector_tuned() -> Iterator[None]:
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


class Waiter(Protocol):
    """What :func:`interrupt_wait` needs of a request's control block: the event its in-flight
    attempt waits on (None when there is none)."""

    cur_ev: simpy.Event | None


def interrupt_wait(ctl: Waiter, code: int) -> None:
    """Wake the router of ``ctl`` now with ``code`` if it is waiting on an in-flight attempt.

    The router, and every router its attempt runs through, pass the attempt's innermost event up as
    their own wait, so the process waiting on ``ctl.cur_ev`` is the one whose generator chain holds
    this router. The interrupt ``simpy.Interrupt((ctl, code))`` is thrown into that process (SimPy's
    ``Interruption._interrupt``, synchronously: timers call this from an event callback, never from
    inside a process); routers above pass it down until ``ctl``'s router takes it.

    Raises AssertionError when the event has no process waiting on it (a broken invariant).
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


def detached(g: Gen, ev: simpy.Event) -> Gen:
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


def succeed_later(env: simpy.Environment, delay: float) -> simpy.Event:
    """An event that succeeds with 0 after ``delay`` seconds unless someone triggered it first (a
    cancellable wait: the canceller calls ``ev.succeed(value)`` and the timer then does nothing)."""
    ev = env.event()
    env.timeout(delay).callbacks.append(lambda _e, ev=ev: ev.triggered or ev.succeed(0))  # type: ignore[misc]
    return ev


class Deadlines:
    """Timers that almost never fire (route, per-try and app timeouts), in lazily pruned FIFO queues.

    Each timer is ``(when, seq, fn, owner)``; it is stale once ``owner.done`` is true (the request or
    attempt finished first) and is then dropped without ever reaching SimPy's event queue. Timers of one
    delay are due in the order they were added, so each delay has a FIFO queue (an append and a popleft
    per timer instead of a heap's O(log n) push and pop; a mesh has a handful of distinct timeouts). A
    single SimPy timeout is kept armed for the earliest deadline, so a request that completes before its
    timeouts costs two appends instead of two SimPy events. Timers fire at exactly their deadline, in
    deadline order (ties: creation order), so results are unchanged and deterministic.
    """

    __slots__ = ("env", "queues", "seq", "target")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.queues: dict[float, deque[tuple[float, int, Callable[[], None], Any]]] = {}
        self.seq = 0
        self.target = float("inf")

    def add(self, delay: float, fn: Callable[[], None], owner: Any) -> None:
        """Call ``fn()`` in ``delay`` seconds unless ``owner.done`` is true by then."""
        when = self.env._now + delay  # type: ignore[attr-defined]
        q = self.queues.get(delay)
        if q is None:
            q = self.queues[delay] = deque()
        q.append((when, self.seq, fn, owner))
        self.seq += 1
        if when < self.target:
            self._arm(when)

    def _arm(self, when: float) -> None:
        self.target = when
        self.env.timeout(when - self.env._now).callbacks.append(lambda _e, w=when: self._wake(w))  # type: ignore[attr-defined,misc]

    def _wake(self, when: float) -> None:
        if when != self.target:
            return  # superseded by an earlier arming
        now = self.env._now  # type: ignore[attr-defined]
        while True:
            due = []
            for q in self.queues.values():
                while q:
                    head = q[0]
                    if head[3].done:
                        q.popleft()
                    elif head[0] <= now:
                        due.append(q.popleft())
                    else:
                        break
            if not due:
                break
            # in deadline order; a timer fired here may finish (or add) others, as one heap would see it
            due.sort(key=lambda t: (t[0], t[1]))
            for _w, _s, fn, owner in due:
                if not owner.done:
                    fn()
        heads = [q[0][0] for q in self.queues.values() if q]
        if heads:
            self._arm(min(heads))
        else:
            self.target = float("inf")
