# ruff: noqa: T201
"""Planning benchmarks; not a test. Run: ``python benchmarks/bench_planning.py``.

1. Analytic pre-screen: time of an analytic-only Bookinfo plan (500 req/s, reviews pods with one
   worker, p99 < 150 ms), including load + compile. Target: < 1 s.
2. A 16-point Bookinfo sweep: serially in one process, then on 2 local processes. Target: parallel
   wall time <= 0.6 x serial. Also prints the CPU load, since other jobs on a shared machine change
   the ratio.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from meshsim.experiments.sweep import parse_factor, sweep
from meshsim.planning.search import plan
from meshsim.planning.slo import load_slos

ROOT = Path(__file__).resolve().parents[1]
BOOKINFO = str(ROOT / "topologies" / "bookinfo")


def bench_analytic() -> None:
    slos = load_slos([str(ROOT / "topologies" / "slo" / "bookinfo-p99.yaml")])
    over = ["MockServiceGraph.services[name=reviews].concurrency=1"]
    plan([BOOKINFO], slos, over, rate=500, simulate=False)  # warm imports
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        p = plan([BOOKINFO], slos, over, rate=500, simulate=False)
        times.append(time.perf_counter() - t0)
    print(
        f"analytic plan (Bookinfo, 500 req/s): {p.replicas}; best {min(times) * 1e3:.0f} ms, "
        f"median {sorted(times)[2] * 1e3:.0f} ms over 5 runs (target < 1000 ms)"
    )


def bench_sweep() -> None:
    factors = [
        parse_factor("LoadProfile.spec.rate=100,200,300,400"),
        parse_factor("MockServiceGraph.services[name=reviews].concurrency=2,4"),
        parse_factor("VirtualService/reviews.spec.http[0].route[0].weight=90,50"),
    ]
    base = ["LoadProfile.spec.duration=5s", "LoadProfile.spec.warmup=1s"]
    print(f"load average before: {os.getloadavg()}")
    c0 = os.times()
    t0 = time.perf_counter()
    serial = sweep([BOOKINFO], factors, base, seed=1, replications=2, workers=1)
    t_serial = time.perf_counter() - t0
    c1 = os.times()
    t0 = time.perf_counter()
    par = sweep([BOOKINFO], factors, base, seed=1, replications=2, workers=2)
    t_par = time.perf_counter() - t0
    c2 = os.times()
    cpu_serial = (c1.user + c1.system) - (c0.user + c0.system)
    cpu_par = (c2.children_user + c2.children_system) - (c1.children_user + c1.children_system)
    print(
        f"CPU seconds: serial {cpu_serial:.1f}, 2 processes {cpu_par:.1f} (the work is the same; a ratio above "
        f"~0.55 with equal CPU means the cores were busy with other jobs)"
    )
    same = serial.to_frame().equals(par.to_frame())
    print(
        f"16-point sweep: serial {t_serial:.1f} s, 2 processes {t_par:.1f} s, ratio {t_par / t_serial:.2f} "
        f"(target <= 0.60); identical tables: {same}; load average after: {os.getloadavg()}"
    )


if __name__ == "__main__":
    bench_analytic()
    bench_sweep()
