"""The CPU model's scheduler (meshsim.sim.node): processor sharing, shares, CFS quota, cpu.stat counters.

Every expected value is worked out by hand from the rules in the module docstring."""

from __future__ import annotations

import pytest
import simpy

from meshsim.model.rules.cpu import cfs_quota, cpu_shares, envoy_concurrency
from meshsim.sim.node import Container, Node


def _node(cores: float, period: float = 0.1) -> tuple[simpy.Environment, Node]:
    env = simpy.Environment()
    return env, Node(env, "n", cores, period)


def _finish_times(env: simpy.Environment, node: Node, jobs: list[tuple[Container, float, float]]) -> list[float]:
    """Submit ``(container, at, work)`` bursts and return when each finished."""
    done: list[float] = [0.0] * len(jobs)

    def submit(i: int, c: Container, at: float, work: float):  # type: ignore[no-untyped-def]
        yield env.timeout(at)
        b = c.run(work)
        yield b.wait(env)
        done[i] = env.now

    for i, (c, at, work) in enumerate(jobs):
        env.process(submit(i, c, at, work))
    env.run()
    return done


def test_kubernetes_conversions() -> None:
    assert cpu_shares(None) == 2
    assert cpu_shares(0.1) == 102  # MilliCPUToShares(100) = 100 * 1024 / 1000
    assert cpu_shares(1.0) == 1024
    assert cpu_shares(0.001) == 2
    assert cfs_quota(None, 0.1) is None
    assert cfs_quota(0.12, 0.1) == pytest.approx(0.012)
    assert cfs_quota(0.001, 0.1) == pytest.approx(0.001)  # the 1 ms floor (MinQuotaPeriod)
    assert [envoy_concurrency(x, 8) for x in (2.0, 0.5, 2.5, 0.12, None)] == [2, 1, 3, 1, 8]


def test_unlimited_uncontended_burst_takes_its_work_exactly() -> None:
    env, node = _node(2)
    c = Container(node, "p", "app", None, None)
    assert _finish_times(env, node, [(c, 0.013, 0.0071)]) == [0.013 + 0.0071]
    assert c.stat()[0] == pytest.approx(0.0071)


def test_two_equal_threads_on_one_core_share_it() -> None:
    env, node = _node(1)
    a = Container(node, "a", "app", 1.0, None)
    b = Container(node, "b", "app", 1.0, None)
    # 10 ms each from t=0 at half speed: both end at 20 ms
    assert _finish_times(env, node, [(a, 0.0, 0.010), (b, 0.0, 0.010)]) == pytest.approx([0.020, 0.020])


def test_shares_weight_a_contended_core() -> None:
    env, node = _node(1)
    a = Container(node, "a", "app", 0.6, None)  # 614 shares
    b = Container(node, "b", "app", 0.3, None)  # 307 shares: a gets 2/3 of the core
    # a: 100 ms at 2/3 -> 150 ms; b has then done 50 ms and runs alone: 200 ms
    assert _finish_times(env, node, [(a, 0.0, 0.1), (b, 0.0, 0.1)]) == pytest.approx([0.150, 0.200])


def test_shares_do_not_matter_without_contention() -> None:
    env, node = _node(2)
    a = Container(node, "a", "app", 1.9, None)
    b = Container(node, "b", "app", None, None)  # 2 shares, but a core is free for it
    assert _finish_times(env, node, [(a, 0.0, 0.05), (b, 0.0, 0.05)]) == pytest.approx([0.05, 0.05])


def test_water_filling_caps_a_container_at_its_threads() -> None:
    env, node = _node(2)
    a = Container(node, "a", "app", 1.0, None)
    b = Container(node, "b", "app", 1.0, None)
    # equal shares of 2 cores: a's one thread takes 1 core, b's three threads share the other
    got = _finish_times(env, node, [(a, 0.0, 0.03), (b, 0.0, 0.01), (b, 0.0, 0.01), (b, 0.0, 0.01)])
    assert got == pytest.approx([0.03, 0.03, 0.03, 0.03])


def test_quota_throttles_until_the_next_period() -> None:
    env, node = _node(4)
    c = Container(node, "p", "app", 0.5, 0.5)  # 50 ms per 100 ms period
    # 120 ms of CPU from t=0: runs [0, 50], throttled to 100, runs [100, 150], throttled to 200, runs 20 ms
    assert _finish_times(env, node, [(c, 0.0, 0.12)]) == pytest.approx([0.22])
    usage, periods, throttled, thr_s = c.stat()
    assert usage == pytest.approx(0.12)
    assert (periods, throttled) == (3, 2)
    assert thr_s == pytest.approx(0.1)


def test_quota_is_summed_over_threads_and_not_carried_over() -> None:
    env, node = _node(4)
    c = Container(node, "p", "istio-proxy", 0.2, 0.2)  # 20 ms per period
    # two threads of 15 ms at t=10 ms spend the 20 ms in 10 ms (the quota is summed over cores), wait
    # for t=100 ms, then finish their last 5 ms each together: 105 ms; a third burst at 250 ms starts
    # a fresh period (nothing carried over) and takes its 5 ms
    got = _finish_times(env, node, [(c, 0.01, 0.015), (c, 0.01, 0.015), (c, 0.25, 0.005)])
    assert got == pytest.approx([0.105, 0.105, 0.255])
    usage, periods, throttled, thr_s = c.stat()
    assert usage == pytest.approx(0.035)
    assert (periods, throttled) == (3, 1)
    assert thr_s == pytest.approx(2 * 0.080)  # two runnable threads on two CPUs, throttled 80 ms


def test_idle_periods_are_not_counted() -> None:
    env, node = _node(1)
    c = Container(node, "p", "app", None, 1.0)
    _finish_times(env, node, [(c, 0.05, 0.01), (c, 0.55, 0.01)])
    assert c.stat()[1:3] == (2, 0)


def test_fast_path_hands_over_to_the_scheduler_when_the_node_becomes_contended() -> None:
    env, node = _node(1)
    a = Container(node, "a", "app", 1.0, None)
    b = Container(node, "b", "app", 1.0, None)
    # a alone at full speed for 4 ms (its own timer), then b arrives: both at half speed; a's last 6 ms
    # take 12 ms (done at 16 ms), b has 4 ms left and runs alone: 20 ms
    assert _finish_times(env, node, [(a, 0.0, 0.010), (b, 0.004, 0.010)]) == pytest.approx([0.016, 0.020])
    assert node.simple  # idle again
    assert a.stat()[0] + b.stat()[0] == pytest.approx(0.020)


def test_a_quota_its_threads_cannot_spend_is_never_throttled_and_its_periods_are_counted() -> None:
    env, node = _node(4)
    c = Container(node, "p", "istio-proxy", 0.1, 1.0, max_threads=1)  # Envoy with 1 worker under 1 CPU
    assert c.free_running
    _finish_times(env, node, [(c, 0.05, 0.1), (c, 0.55, 0.01)])
    assert c.stat()[1:] == (3, 0, 0.0)  # periods 0 and 1 (the 100 ms burst spans both), then 5
    assert not Container(node, "q", "istio-proxy", 0.1, 1.0, max_threads=2).free_running
