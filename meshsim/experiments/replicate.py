"""Run replications of a model, in parallel processes, in a fixed order.

Replication ``r`` of seed ``s`` draws from :class:`~meshsim.sim.rng.Streams` ``(s, r)``, so results do
not depend on how many processes run them or in which order they finish. The returned list is in
replication order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from meshsim.metrics.tally import RepResult
from meshsim.model.ir import MeshModel
from meshsim.sim.simulation import Simulation

__all__ = ["run_replications", "default_workers"]

_progress: Any = None


def _init(progress: Any) -> None:
    global _progress
    _progress = progress


def _one(model: MeshModel, seed: int, rep: int) -> RepResult:
    def cb(frac: float) -> None:
        if _progress is not None:
            _progress[rep] = frac

    return Simulation(model, seed, rep, progress=cb).run()


def default_workers(replications: int) -> int:
    """Processes to use: one per replication, at most the CPUs this process may use."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    return max(1, min(replications, cpus))


def run_replications(
    model: MeshModel,
    seed: int,
    replications: int,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> list[RepResult]:
    """Run ``replications`` independent replications of ``model``.

    Parameters
    ----------
    model:
        The compiled mesh.
    seed:
        Root seed; replication r uses streams (seed, r).
    replications:
        How many (>= 1).
    workers:
        Processes; default :func:`default_workers`. 1 runs in this process.
    progress:
        Called with the overall fraction done (0..1), from this process.

    Returns
    -------
    list[RepResult]
        In replication order.
    """
    if replications < 1:
        raise ValueError("replications must be >= 1")
    workers = workers or default_workers(replications)
    if workers == 1:
        out = []
        for r in range(replications):
            def cb(frac: float, r: int = r) -> None:
                if progress is not None:
                    progress((r + frac) / replications)

            out.append(Simulation(model, seed, r, progress=cb).run())
        return out
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    shared = ctx.Array("d", replications, lock=False)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init, initargs=(shared,)) as pool:
        futures = [pool.submit(_one, model, seed, r) for r in range(replications)]
        if progress is not None:
            import time

            while not all(f.done() for f in futures):
                progress(sum(shared) / replications)
                time.sleep(0.1)
        results = [f.result() for f in futures]
    if progress is not None:
        progress(1.0)
    return results
