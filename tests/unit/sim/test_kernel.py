"""meshsim.sim.kernel: the SimPy internals it relies on (a canary), start_now, interrupt_wait,
detached, succeed_later and Deadlines."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import simpy

from meshsim.sim.kernel import (
    Deadlines,
    Gen,
    detached,
    interrupt_wait,
    run_until,
    sleep,
    spawn,
    start_now,
    succeed_later,
)


class _Ctl:
    def __init__(self) -> None:
        self.cur_ev: simpy.Event | None = None
        self.done = False


def test_simpy_internals_the_kernel_relies_on_are_there() -> None:
    """Canary: fails loudly when a SimPy release changes what meshsim.sim.kernel uses (pyproject pins
    SimPy 4.1.x; lift the pin only after this test passes on the new version)."""
    assert simpy.__version__.startswith("4.1."), f"kernel written against SimPy 4.1, found {simpy.__version__}"
    env = simpy.Environment()
    assert hasattr(env, "_active_proc"), "Environment._active_proc is gone"
    env.timeout(2.5)
    assert env._now == env.now == 0  # type: ignore[attr-defined]
    assert [e[0] for e in env._queue] == [2.5], "Environment._queue is no longer a heap of (time, ...)"  # type: ignore[attr-defined]
    env.step()
    assert env._now == 2.5, "Environment._now is no longer the clock"  # type: ignore[attr-defined]
    params = list(inspect.signature(simpy.Process._resume).parameters)
    assert params == ["self", "event"], f"Process._resume signature changed: {params}"
    src = inspect.getsource(simpy.Process._resume)
    for name in ("event._ok", "event._value", "event._defused", "self._generator", "_active_proc"):
        assert name in src, f"Process._resume no longer uses {name}"

    def waiter() -> Gen:
        yield ev

    ev = env.event()
    p = env.process(waiter())
    env.step()  # Initialize: the process now waits on ev
    assert ev.callbacks is not None
    assert any(getattr(cb, "__self__", None) is p and cb.__func__ is simpy.Process._resume for cb in ev.callbacks), (
        "a waiting process is no longer registered as its bound _resume in event.callbacks"
    )


def test_start_now_runs_the_first_step_inside_the_caller() -> None:
    env = simpy.Environment()
    log: list[tuple[str, float]] = []

    def child() -> Gen:
        log.append(("child starts", env.now))
        yield env.timeout(1.0)
        log.append(("child ends", env.now))

    def parent() -> Gen:
        yield env.timeout(2.0)
        me = env.active_process
        p = start_now(env, child())
        log.append(("parent continues", env.now))
        assert env.active_process is me  # the caller is the active process again
        yield p
        log.append(("parent joined", env.now))

    env.process(parent())
    env.run()
    assert log == [("child starts", 2.0), ("parent continues", 2.0), ("child ends", 3.0), ("parent joined", 3.0)]


def test_start_now_schedules_one_event_fewer_than_env_process() -> None:
    def count(start: Any) -> int:
        env = simpy.Environment()

        def child() -> Gen:
            yield env.timeout(1.0)

        def parent() -> Gen:
            yield env.timeout(0.0)
            start(env, child())

        env.process(parent())
        n = 0
        while env.peek() != float("inf"):
            env.step()
            n += 1
        return n

    assert count(lambda env, g: env.process(g)) - count(start_now) == 1


def test_interrupt_wait_wakes_the_waiting_process_at_once_with_its_code() -> None:
    env = simpy.Environment()
    ctl = _Ctl()
    seen: list[Any] = []

    def attempt() -> Gen:
        ev = env.timeout(10.0)
        ctl.cur_ev = ev
        try:
            yield ev
            seen.append(("finished", env.now))
        except simpy.Interrupt as intr:
            seen.append(("interrupted", env.now, intr.cause))

    env.process(attempt())
    env.timeout(3.0).callbacks.append(lambda _e: interrupt_wait(ctl, -2))
    env.run()
    assert seen == [("interrupted", 3.0, (ctl, -2))]


def test_interrupt_wait_without_a_wait_does_nothing() -> None:
    ctl = _Ctl()
    interrupt_wait(ctl, -2)  # no attempt in flight
    env = simpy.Environment()
    ev = env.event()
    ctl.cur_ev = ev
    with pytest.raises(AssertionError):
        interrupt_wait(ctl, -2)  # an event nobody waits on: a broken invariant, said loudly


def test_detached_drives_the_rest_of_an_abandoned_generator() -> None:
    env = simpy.Environment()
    log: list[float] = []

    def work() -> Gen:
        yield env.timeout(1.0)
        log.append(env.now)
        yield env.timeout(1.0)
        log.append(env.now)

    def router() -> Gen:
        g = work()
        ev = g.send(None)  # the first wait of the attempt, driven by hand
        start_now(env, detached(g, ev))  # give up on it: it carries on alone
        yield env.timeout(0.5)
        log.append(-env.now)

    env.process(router())
    env.run()
    assert log == [-0.5, 1.0, 2.0]


def test_succeed_later_fires_once_unless_triggered_first() -> None:
    env = simpy.Environment()
    a = succeed_later(env, 2.0)
    b = succeed_later(env, 2.0)
    env.timeout(1.0).callbacks.append(lambda _e: b.succeed(-3))
    env.run()
    assert (a.value, b.value) == (0, -3)


def test_deadlines_fire_in_deadline_order_and_skip_finished_owners() -> None:
    env = simpy.Environment()
    dl = Deadlines(env)
    fired: list[tuple[str, float]] = []
    owners = {k: _Ctl() for k in "abcd"}
    dl.add(3.0, lambda: fired.append(("a", env.now)), owners["a"])
    dl.add(1.0, lambda: fired.append(("b", env.now)), owners["b"])
    dl.add(2.0, lambda: fired.append(("c", env.now)), owners["c"])
    dl.add(2.0, lambda: fired.append(("d", env.now)), owners["d"])  # same deadline: creation order
    owners["c"].done = True  # finished before its timer: never fires
    env.run()
    assert fired == [("b", 1.0), ("d", 2.0), ("a", 3.0)]
    assert all(not q for q in dl.queues.values()) and dl.target == float("inf")


def test_deadlines_due_together_see_what_earlier_ones_did() -> None:
    """Timers due in one wake fire in deadline order across delays; one that finishes another's owner
    stops it, and one added at delay 0 by a firing timer fires in the same instant, after the rest."""
    env = simpy.Environment()
    dl = Deadlines(env)
    fired: list[str] = []
    a, b, c, late = _Ctl(), _Ctl(), _Ctl(), _Ctl()

    def fire_a() -> None:
        fired.append("a")
        b.done = True  # e.g. a route timeout resetting an attempt whose per-try timer is also due
        dl.add(0.0, lambda: fired.append("late"), late)

    env.timeout(1.0).callbacks.append(lambda _e: dl.add(1.0, lambda: fired.append("c"), c))
    dl.add(2.0, fire_a, a)
    dl.add(2.0, lambda: fired.append("b"), b)
    env.run()
    assert fired == ["a", "c", "late"] and env.now == 2.0


def test_deadlines_keep_one_simpy_timeout_armed() -> None:
    """Timers that never fire cost queue appends, not SimPy events: 1,000 later deadlines behind an
    earlier one schedule a single timeout."""
    env = simpy.Environment()
    dl = Deadlines(env)
    first = _Ctl()
    dl.add(1.0, lambda: None, first)
    for i in range(1000):
        dl.add(5.0 + i, lambda: None, _Ctl())
    assert len(env._queue) == 1  # noqa: SLF001 - the observable is SimPy's own queue


def test_spawned_process_runs_inline_and_its_end_schedules_nothing() -> None:
    env = simpy.Environment()
    log: list[tuple[str, float]] = []

    def child() -> Gen:
        log.append(("child starts", env.now))
        yield env.timeout(1.0)
        log.append(("child ends", env.now))

    spawn(env, child())
    assert log == [("child starts", 0.0)] and len(env._queue) == 1  # type: ignore[attr-defined]
    env.step()
    assert log[-1] == ("child ends", 1.0)
    assert env._queue == []  # type: ignore[attr-defined]  # SimPy's Process would have scheduled its end


def test_spawned_process_that_fails_still_crashes_the_run() -> None:
    env = simpy.Environment()

    def bad() -> Gen:
        yield env.timeout(1.0)
        raise ValueError("boom")

    spawn(env, bad())
    with pytest.raises(ValueError, match="boom"):
        run_until(env, env.timeout(5.0))


def _trace(runner: Any) -> list[tuple[float, str]]:
    env = simpy.Environment()
    log: list[tuple[float, str]] = []

    def worker(name: str, d: float) -> Gen:
        for _ in range(3):
            yield env.timeout(d)
            log.append((env.now, name))

    for name, d in (("a", 1.0), ("b", 1.5), ("c", 1.0)):
        env.process(worker(name, d))
    runner(env, env.timeout(3.0))
    log.append((env.now, "end"))
    return log


def test_run_until_processes_the_same_events_in_the_same_order_as_simpy_run() -> None:
    assert _trace(run_until) == _trace(lambda env, ev: env.run(until=ev))


def test_run_until_raises_when_the_queue_empties_first() -> None:
    env = simpy.Environment()
    with pytest.raises(RuntimeError, match="No scheduled events left"):
        run_until(env, env.event())


def test_sleep_is_a_timeout_in_the_same_queue_order() -> None:
    def order(make: Any) -> list[str]:
        env = simpy.Environment()
        log: list[str] = []
        for name, d in (("a", 1.0), ("b", 0.5), ("c", 1.0)):
            make(env, d).callbacks.append(lambda _e, n=name: log.append(n))
        env.run()
        return log

    assert order(sleep) == order(lambda env, d: env.timeout(d)) == ["b", "a", "c"]
    env = simpy.Environment()
    t = sleep(env, 2.0)
    assert isinstance(t, simpy.Timeout) and t._delay == 2.0 and not t.processed  # type: ignore[attr-defined]
    env.run()
    assert env.now == 2.0 and t.processed and t.value is None
    with pytest.raises(ValueError):
        sleep(env, -1.0)
