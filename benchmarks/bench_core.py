"""Benchmarks of the simulator core (not tests). Prints ratios measured in this one run.

    python benchmarks/bench_core.py [--requests 1000000] [--quick]

Rates are per CPU-second of the benchmark process (on an idle machine that is wall time; on a shared
one it keeps other processes' load out of the ratios).

1. Simulated entry requests per CPU-second: Bookinfo (4 services, ~2.1 calls per request with the 90/10 split) and a bare
   SimPy M/M/c loop (one timeout per request, no mesh), and their ratio.
2. Cost of the resilience machinery: Bookinfo with retries, per-try and route timeouts, connection-pool
   limits and outlier detection configured but never triggered, vs plain Bookinfo (target <= 1.3x).
3. Bookinfo at --requests entry requests on one core: wall time and peak RSS, and peak RSS at 10x
   fewer requests (memory must be flat: streaming sketches, no per-request lists). Each size runs in
   its own process so that ru_maxrss is that run's peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOOKINFO = [str(ROOT / "topologies" / "bookinfo")]
RESILIENCE = [
    str(ROOT / "topologies" / "bookinfo" / p) for p in ("topology.yaml", "load.yaml", "platform/bookinfo.yaml")
] + [str(ROOT / "benchmarks" / "bookinfo-resilience.yaml")]


def bookinfo_rate(paths: list[str], requests: int, rate: float = 100.0) -> tuple[float, int]:
    """Simulated entry requests per CPU-second of this process (on an idle machine, per wall-second;
    CPU time keeps other processes' load out of the comparison)."""
    from meshsim.pipeline import load_and_compile
    from meshsim.sim.simulation import Simulation

    duration = requests / rate
    model, _ = load_and_compile(
        paths, [f"LoadProfile.spec.rate={rate}", f"LoadProfile.spec.duration={duration}s", "LoadProfile.spec.warmup=1s"]
    )
    t = time.process_time()
    rep = Simulation(model, seed=1).run()
    cpu = time.process_time() - t
    return rep.entry_requests / cpu, rep.entry_requests


def bare_simpy_rate(requests: int) -> float:
    """M/M/4 in plain SimPy with a Resource, exponential service: the floor of SimPy's cost."""
    import numpy as np
    import simpy

    rng = np.random.default_rng(1)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=4)
    inter = rng.exponential(1 / 320, requests).tolist()
    service = rng.exponential(0.01, requests).tolist()
    done = [0]

    def job(i: int):  # type: ignore[no-untyped-def]
        with servers.request() as req:
            yield req
            yield env.timeout(service[i])
        done[0] += 1

    def source():  # type: ignore[no-untyped-def]
        for i in range(requests):
            yield env.timeout(inter[i])
            env.process(job(i))

    env.process(source())
    t = time.process_time()
    env.run()
    return done[0] / (time.process_time() - t)


def child(requests: int) -> None:
    t = time.perf_counter()
    rate, n = bookinfo_rate(BOOKINFO, requests, rate=500.0)
    wall = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"requests": n, "rate": rate, "cpu_s": n / rate, "wall_s": wall, "peak_rss_mb": peak_mb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="skip the large-run memory check")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    n = 30_000
    bi, _ = bookinfo_rate(BOOKINFO, n)
    bare = bare_simpy_rate(n)
    print(f"bookinfo:        {bi:10.0f} entry requests / CPU-s")
    print(f"bare SimPy M/M/c:{bare:10.0f} requests / CPU-s")
    print(f"ratio bare/bookinfo = {bare / bi:.2f}  (cost of one Bookinfo request in bare-SimPy requests)")
    # interleaved pairs, so that load from other processes hits both sides alike; median ratio
    ratios = []
    for _ in range(3):
        plain, _ = bookinfo_rate(BOOKINFO, n)
        res, _ = bookinfo_rate(RESILIENCE, n)
        ratios.append(plain / res)
    ratios.sort()
    print(
        f"bookinfo + resilience machinery (never triggered), 3 interleaved pairs: wall-time ratios "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; median {ratios[1]:.2f} (target <= 1.3)"
    )
    if args.quick:
        return
    for size in (args.requests // 10, args.requests):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size)], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"bookinfo {r['requests']:>8} requests: CPU {r['cpu_s']:7.1f} s (wall {r['wall_s']:7.1f} s, includes "
            f"compile), peak RSS {r['peak_rss_mb']:6.1f} MB"
        )


if __name__ == "__main__":
    main()
