# ruff: noqa: T201
"""Sweep benchmark (not a test): a 32-point Bookinfo sweep serially in this process and on a local Dask
``LocalCluster`` of 2 single-threaded worker processes; prints both wall times, their ratio (target <= 0.6
on 2 cores) and whether the two CSVs are byte-identical (they must be: every point draws from the same
streams wherever it runs).

    python benchmarks/bench_sweep.py [--duration 20s] [--replications 2] [--workers 2]

On a real cluster, start ``dask-scheduler`` and ``dask-worker tcp://<scheduler>:8786 --nthreads 1`` on each
machine (or the Dask Helm chart / dask-kubernetes on Kubernetes) and run ``meshsim sweep ... --scheduler
tcp://<scheduler>:8786``; this script measures the same code path on one machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOOKINFO = str(ROOT / "topologies" / "bookinfo")
FACTORS = [
    "LoadProfile.spec.rate=50,100,150,200",
    "MockServiceGraph.services[name=reviews].concurrency=2,4",
    "MockServiceGraph.services[name=details].concurrency=2,4",
    "VirtualService/reviews.spec.http[0].route[0].weight=90,50",
]


def _warm() -> None:
    """Import and compile once on each worker: lazy imports (scipy, RE2, the loaders) are start-up, not work."""
    from meshsim.pipeline import load_and_compile

    load_and_compile([BOOKINFO], [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", default="20s", help="measured window of each point")
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    args = ap.parse_args()

    import distributed

    from meshsim.experiments.sweep import grid, parse_factor, sweep

    factors = [parse_factor(f) for f in FACTORS]
    base = [f"LoadProfile.spec.duration={args.duration}", "LoadProfile.spec.warmup=2s"]
    n = len(grid(factors))
    print(f"{n} points x {args.replications} replications, {args.duration} each; load {os.getloadavg()}")
    t = time.perf_counter()
    serial = sweep([BOOKINFO], factors, base, seed=1, replications=args.replications, workers=1)
    t_serial = time.perf_counter() - t
    print(f"serial:          {t_serial:7.1f} s wall; load {os.getloadavg()}")
    with distributed.LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:  # workers import meshsim before the clock starts
            client.run(_warm)
        t = time.perf_counter()
        remote = sweep(
            [BOOKINFO], factors, base, seed=1, replications=args.replications, scheduler=cluster.scheduler_address
        )
        t_dask = time.perf_counter() - t
    print(
        f"dask x{args.workers} workers: {t_dask:7.1f} s wall (cluster start and imports not counted); load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "serial.csv", Path(tmp) / "dask.csv"
        serial.to_csv(a)
        remote.to_csv(b)
        same = a.read_bytes() == b.read_bytes()
    print(f"ratio dask/serial = {t_dask / t_serial:.2f} (target <= 0.6); CSVs byte-identical: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
