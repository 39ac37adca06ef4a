"""``cpu:`` steps in the real app burn CPU time on the thread's CPU clock, not wall time, on one thread per
worker."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from meshsim.model.ir import CpuStep, Dist
from meshsim.pipeline import load_and_compile
from meshsim.real import service
from meshsim.real.service import App, burn_cpu
from tests.conftest import ROOT

ONE_SLOW = str(ROOT / "tests" / "fixtures" / "valid" / "one-slow-replica.yaml")


def test_a_burn_uses_the_asked_cpu_time_of_its_thread() -> None:
    t0 = time.thread_time()
    used = burn_cpu(0.05)
    spent = time.thread_time() - t0
    assert 0.05 <= used <= spent
    assert spent < 0.05 + 0.005  # one 4 KiB hash overshoots by microseconds, not milliseconds


def test_a_burn_counts_cpu_not_wall_time_when_the_thread_shares_a_core() -> None:
    """Two burns at once: each thread uses its own CPU time; a thread that waits (GIL-free hashing lets both
    run; on one core they alternate) still ends only when its own CPU time is used."""
    used: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        t0 = time.thread_time()
        burn_cpu(0.03)
        with lock:
            used.append(time.thread_time() - t0)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: one(), range(2)))
    assert len(used) == 2 and all(0.03 <= u < 0.04 for u in used)


def test_a_cpu_step_burns_its_drawn_cpu_time_on_the_pods_pool() -> None:
    model, _ = load_and_compile([ONE_SLOW])
    pod = next(e.id for e in model.endpoints if e.service == "backend")
    step = CpuStep(Dist("constant", (0.02,), 0.02, 0.0), 0)

    async def go() -> tuple[bool, float]:
        app = App(model, pod, "127.0.0.1", 15080, 15001, seed=1)
        p0 = time.process_time()
        ok = await app._one(step, {})
        return ok, time.process_time() - p0

    try:
        ok, cpu = asyncio.run(go())
    finally:
        pool = service._CPU_POOLS.pop(pod)
        pool.shutdown()
    assert ok
    assert cpu == pytest.approx(0.02, abs=0.01)
    # the pool has one thread per worker of the workload (backend: concurrency 4)
    assert pool._max_workers == 4
