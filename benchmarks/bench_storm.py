# ruff: noqa: T201
"""Storm benchmarks; not a test. Run: ``python benchmarks/bench_storm.py``.

Wall and CPU time of one replication of ``topologies/storm`` (50 s simulated) when it ends
metastable (as configured: the leaf's queue and 9x amplification grow for 30 s) and when it recovers
(10% retry budget), and of a 2 x 2 phase grid with 4 replications per point on 2 processes. Prints
the load average, since other jobs on a shared machine change wall times.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from meshsim.experiments.replicate import run_replications
from meshsim.pipeline import load_and_compile
from meshsim.storm.phase import phase_diagram
from meshsim.storm.trigger import find_trigger
from meshsim.storm.verdict import storm_result

ROOT = Path(__file__).resolve().parents[1]
MESH = str(ROOT / "topologies" / "storm" / "mesh")
BUDGET = str(ROOT / "topologies" / "storm" / "mitigations" / "retry-budget.yaml")


def one(paths: list[str], label: str) -> None:
    model, _ = load_and_compile(paths)
    c0, t0 = time.process_time(), time.perf_counter()
    reps = run_replications(model, 1, 1, workers=1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = storm_result(model, reps)
    assert st is not None
    print(
        f"{label}: verdict {st.verdict.verdict}, {wall:.2f}s wall, {cpu:.2f}s CPU per replication "
        f"(entry requests {reps[0].entry_requests}, leaf queue at the end {st.verdict.end_queue.get('leaf.v1', 0):.0f})"
    )


def grid() -> None:
    trig = find_trigger([MESH])
    t0 = time.perf_counter()
    res = phase_diagram([MESH], trig, [1.5, 2.0], [1.0, 3.0], replications=4, workers=2)
    print(
        f"2 x 2 phase grid, 4 replications/point, 2 processes: {time.perf_counter() - t0:.1f}s wall; "
        f"P(not recovered) {[r['p_not_recovered'] for r in res.rows]}"
    )


if __name__ == "__main__":
    print(f"load average {os.getloadavg()}")
    one([MESH], "as configured")
    one([MESH, BUDGET], "retry budget 10%")
    grid()
    print(f"load average {os.getloadavg()}")
