# ruff: noqa: T201
"""Benchmarks of the simulator core (not tests). Prints ratios measured in this one run.

    python benchmarks/bench_core.py [--requests 1000000] [--quick]

Rates are per CPU-second of the benchmark process (on an idle machine that is wall time; on a shared
one it keeps other processes' load out of the ratios).

1. Simulated entry requests per CPU-second: Bookinfo (4 services, ~2.1 calls per request with the 90/10 split) and a bare
   SimPy M/M/c loop (one customer: a process, a Resource request and a timeout, no mesh), and the cost of one
   Bookinfo hop visit (a request served by a pod: the entry request or one upstream attempt) in bare-SimPy
   customers (target <= 1.2).
2. Cost of the resilience machinery: Bookinfo with retries, per-try and route timeouts, connection-pool
   limits and outlier detection configured but never triggered, vs plain Bookinfo (target <= 1.15x).
3. A 121-service ternary tree (every entry request visits all 121 services, 2 pods each): its cost per hop
   visit against Bookinfo's (target <= 1.15x: no per-request work grows with the number of services).
4. Bookinfo at --requests entry requests on one core: wall time and peak RSS, and peak RSS at 10x
   fewer requests (memory must be flat: streaming sketches, no per-request lists). Each size runs in
   its own process so that ru_maxrss is that run's peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOOKINFO = [str(ROOT / "topologies" / "bookinfo")]
RESILIENCE = [
    str(ROOT / "topologies" / "bookinfo" / p) for p in ("topology.yaml", "load.yaml", "platform/bookinfo.yaml")
] + [str(ROOT / "benchmarks" / "bookinfo-resilience.yaml")]


def bookinfo_rate(paths: list[str], requests: int, rate: float = 100.0) -> tuple[float, int, float]:
    """Simulated entry requests per CPU-second of this process (on an idle machine, per wall-second;
    CPU time keeps other processes' load out of the comparison), the entry requests, and hop visits per
    entry request (pods serving: the entry request plus every upstream attempt)."""
    from meshsim.pipeline import load_and_compile
    from meshsim.sim.simulation import Simulation

    duration = requests / rate
    model, _ = load_and_compile(
        paths, [f"LoadProfile.spec.rate={rate}", f"LoadProfile.spec.duration={duration}s", "LoadProfile.spec.warmup=1s"]
    )
    t = time.process_time()
    rep = Simulation(model, seed=1).run()
    cpu = time.process_time() - t
    hops = (rep.entry_requests + sum(es.attempts for es in rep.edges.values())) / max(rep.entry_requests, 1)
    return rep.entry_requests / cpu, rep.entry_requests, hops


def tree_topology(directory: Path, fanout: int = 3, depth: int = 4, replicas: int = 2) -> list[str]:
    """A MockServiceGraph of ``1 + fanout + ... + fanout**depth`` services (121 for 3 and 4), each calling
    its children in turn with a 3 s timeout as Bookinfo's productpage does; returns its paths."""
    n = sum(fanout**d for d in range(depth + 1))
    lines = ["apiVersion: meshsim.io/v1alpha1", "kind: MockServiceGraph", "services:"]
    for i in range(n):
        lines += [f"- name: s{i:03d}", f"  numReplicas: {replicas}", "  concurrency: 16", "  script:"]
        lines.append("  - sleep: {dist: lognormal, median: 1ms, p99: 5ms}")
        for c in range(fanout * i + 1, min(fanout * i + fanout, n - 1) + 1):
            lines.append(f"  - call: {{service: s{c:03d}, timeout: 3s, onError: ignore}}")
        if i == 0:
            lines.insert(lines.index("- name: s000") + 1, "  isEntrypoint: true")
    (directory / "tree.yaml").write_text("\n".join(lines) + "\n")
    (directory / "load.yaml").write_text(
        "apiVersion: meshsim.io/v1alpha1\nkind: LoadProfile\nmetadata: {name: tree}\n"
        "spec: {entry: s000, arrival: poisson, rate: 10, duration: 10s, warmup: 1s}\n"
    )
    return [str(directory / "tree.yaml"), str(directory / "load.yaml")]


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
    rate, n, _ = bookinfo_rate(BOOKINFO, requests, rate=500.0)
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
    # interleaved (Bookinfo, bare SimPy) pairs, so that load from other processes hits both sides alike
    per_hop = []
    for _ in range(3):
        bi, _, hops = bookinfo_rate(BOOKINFO, n)
        bare = bare_simpy_rate(n)
        per_hop.append(bare / (bi * hops))
        print(f"bookinfo {bi:8.0f} entry requests / CPU-s ({hops:.2f} hop visits each); bare SimPy {bare:8.0f} / CPU-s")
    per_hop.sort()
    print(
        f"cost of one Bookinfo hop visit in bare-SimPy customers, 3 pairs: {', '.join(f'{r:.2f}' for r in per_hop)}; "
        f"median {per_hop[1]:.2f} (target <= 1.2)"
    )
    ratios = []
    for _ in range(3):
        plain, _, _ = bookinfo_rate(BOOKINFO, n)
        res, _, _ = bookinfo_rate(RESILIENCE, n)
        ratios.append(plain / res)
    ratios.sort()
    print(
        f"bookinfo + resilience machinery (never triggered), 3 interleaved pairs: CPU-time ratios "
        f"{', '.join(f'{r:.2f}' for r in ratios)}; median {ratios[1]:.2f} (target <= 1.15)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tree = tree_topology(Path(tmp))
        tr = []
        for _ in range(3):
            t_rate, _, t_hops = bookinfo_rate(tree, n // 100, rate=10.0)
            b_rate, _, b_hops = bookinfo_rate(BOOKINFO, n // 3)
            tr.append((b_rate * b_hops) / (t_rate * t_hops))
        tr.sort()
        print(
            f"121-service tree ({t_hops:.0f} hop visits per request) per hop visit vs Bookinfo's, 3 interleaved pairs: "
            f"{', '.join(f'{r:.2f}' for r in tr)}; median {tr[1]:.2f} (target <= 1.15)"
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
