"""Run replications of a model, in parallel processes or on a Dask distributed cluster, in a fixed order.

Replication ``r`` of seed ``s`` draws from :class:`~meshsim.sim.rng.Streams` ``(s, r)``, so results do
not depend on how many processes (or Dask workers) run them or in which order they finish. The returned
list is in replication order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from meshsim.errors import ConfigError
from meshsim.metrics.intervals import min_per_section, relative_half_width
from meshsim.metrics.results import Summary
from meshsim.metrics.summarize import latency
from meshsim.metrics.tally import RepResult
from meshsim.model.ir import MeshModel
from meshsim.sim.options import RunOptions
from meshsim.sim.simulation import Simulation

__all__ = [
    "run_replications",
    "run_until_precise",
    "Precision",
    "record_precision",
    "replications_for_precision",
    "parse_precision",
    "default_workers",
    "DEFAULT_MAX_REPLICATIONS",
    "MIN_INITIAL",
]

DEFAULT_MAX_REPLICATIONS = 50
"""``--max-replications`` default of the sequential procedure."""

MIN_INITIAL = 5
"""Replications the sequential procedure starts with at least (a t-interval over fewer sections is
too unreliable to stop on; Law 2015, section 9.4.1, warns against small initial samples)."""

_progress: Any = None


def _init(progress: Any) -> None:
    global _progress
    _progress = progress


def _one(model: MeshModel, seed: int, rep: int, slot: int, options: RunOptions) -> RepResult:
    def cb(frac: float) -> None:
        if _progress is not None:
            _progress[slot] = frac

    return Simulation(model, seed, rep, progress=cb, options=options).run()


def _remote(model: MeshModel, seed: int, rep: int, options: RunOptions) -> RepResult:
    """One replication on a Dask worker (no progress channel back: the client counts finished tasks)."""
    return Simulation(model, seed, rep, options=options).run()


def dask_client(scheduler: str) -> tuple[Any, Any]:
    """``(Client, as_completed)``: a dask.distributed client connected to ``scheduler`` (``tcp://host:port``, 10 s
    to connect) and distributed's ``as_completed``, for replications and sweeps alike.

    Raises
    ------
    ConfigError
        When dask.distributed is not installed or the scheduler cannot be reached (source ``--scheduler``).
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError(
            "--scheduler", scheduler, "dask.distributed is not installed (pip install 'meshsim[distributed]')"
        ) from None
    try:
        return Client(scheduler, timeout="10s"), as_completed
    except OSError as exc:
        raise ConfigError("--scheduler", scheduler, f"cannot reach the Dask scheduler: {exc}") from None


def _on_dask(
    scheduler: str,
    model: MeshModel,
    seed: int,
    reps: range,
    progress: Callable[[float], None] | None,
    options: RunOptions,
) -> list[RepResult]:
    """Replications ``reps`` as tasks on the Dask scheduler at ``scheduler`` (``tcp://host:port``).

    The model is scattered once; every task has its own key (``pure=False``: two replications are never
    merged as one), and results are put back in replication order whatever order they finish in.

    Raises
    ------
    ConfigError
        When dask.distributed is not installed or the scheduler cannot be reached (source ``--scheduler``).
    """
    client, as_completed = dask_client(scheduler)
    out: list[RepResult | None] = [None] * len(reps)
    try:
        tag = uuid.uuid4().hex[:8]
        [m] = client.scatter([model], hash=False)
        futs = [client.submit(_remote, m, seed, r, options, pure=False, key=f"meshsim-run-{tag}-{r}") for r in reps]
        index = {f.key: i for i, f in enumerate(futs)}
        for done, fut in enumerate(as_completed(futs), 1):
            out[index[fut.key]] = fut.result()
            if progress is not None:
                progress(done / len(reps))
    finally:
        client.close()
    return [r for r in out if r is not None]


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
    first: int = 0,
    options: RunOptions = RunOptions(),
    scheduler: str | None = None,
) -> list[RepResult]:
    """Run ``replications`` independent replications of ``model``: numbers ``first`` ..
    ``first + replications - 1``, in local processes or (``scheduler``) on a Dask cluster; the results
    are the same either way, bit for bit.

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
    options:
        What each replication records (traces, Istio metrics), :class:`~meshsim.sim.options.RunOptions`.
    scheduler:
        A Dask scheduler address (``tcp://host:port``; needs ``dask[distributed]``); ``workers`` is then
        ignored (the cluster's workers run the replications).

    Returns
    -------
    list[RepResult]
        In replication order.

    Raises
    ------
    ConfigError
        When ``scheduler`` is given but dask.distributed is not installed or not reachable.
    """
    if replications < 1:
        raise ValueError("replications must be >= 1")
    if scheduler:
        return _on_dask(scheduler, model, seed, range(first, first + replications), progress, options)
    workers = workers or default_workers(replications)
    if workers == 1:
        out = []
        for i in range(replications):

            def cb(frac: float, i: int = i) -> None:
                if progress is not None:
                    progress((i + frac) / replications)

            out.append(Simulation(model, seed, first + i, progress=cb, options=options).run())
        return out
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    shared = ctx.Array("d", replications, lock=False)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init, initargs=(shared,)) as pool:
        futures = [pool.submit(_one, model, seed, first + i, i, options) for i in range(replications)]
        if progress is not None:
            import time

            while not all(f.done() for f in futures):
                progress(sum(shared) / replications)
                time.sleep(0.1)
        results = [f.result() for f in futures]
    if progress is not None:
        progress(1.0)
    return results


def parse_precision(text: str) -> float:
    """``"5%"`` or ``"0.05"`` -> 0.05 (a relative half-width in (0, 1)).

    Raises
    ------
    ConfigError
        On anything else (source ``--precision``).
    """
    t = text.strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise ConfigError(
            "--precision", "", f"expected a relative half-width such as 5% or 0.05, got {text!r}"
        ) from None
    if not 0.0 < v < 1.0:
        raise ConfigError("--precision", "", f"must be between 0% and 100% (exclusive), got {text!r}")
    return v


@dataclass(frozen=True)
class Precision:
    """Outcome of :func:`run_until_precise`: ``achieved`` is the entry p99 CI's relative
    half-width after ``replications`` replications (None when the p99 has no interval)."""

    target: float
    achieved: float | None
    met: bool
    replications: int


def entry_p99_precision(reps: Sequence[RepResult]) -> float | None:
    """Relative half-width of the entry p99 CI over ``reps`` (sections = replications)."""
    tallies = [r.entry_latency for r in reps if r.entry_latency is not None]
    if len(tallies) < 2:
        return None
    return relative_half_width(latency(tallies).p99)


def run_until_precise(
    model: MeshModel,
    seed: int,
    target: float,
    initial: int = MIN_INITIAL,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
    workers: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    options: RunOptions = RunOptions(),
    scheduler: str | None = None,
) -> tuple[list[RepResult], Precision]:
    """Add replications until the entry p99 CI's relative half-width is at most ``target``.

    The sequential procedure of Law (*Simulation Modeling and Analysis*, 5th ed., 2015, section
    9.4.1): start with ``max(initial, MIN_INITIAL)`` replications, then add one at a time and stop
    at the first count n whose interval has relative half-width <= ``target / (1 + target)`` (Law's
    adjusted gamma', so the actual relative error is <= ``target``), or at ``max_replications``.
    Replications run in parallel chunks of ``workers``, but the stopping rule is checked after every
    single replication in replication order and the surplus of the last chunk is dropped, so the count
    and the results depend only on ``seed``, never on ``workers``.

    ``progress(fraction_of_max, note)`` reports the current half-width. With ``scheduler`` the chunks run
    on that Dask cluster (:func:`run_replications`).

    Raises
    ------
    ConfigError
        If a replication is too short for a p99 interval at all (adding replications cannot help;
        the message says how many requests a replication needs).
    """
    if max_replications < 2:
        raise ConfigError("--max-replications", "", f"must be >= 2 for a confidence interval, got {max_replications}")
    n0 = min(max(initial, MIN_INITIAL), max_replications)
    goal = target / (1 + target)
    w = workers or default_workers(max_replications)

    def note(n: int, h: float | None) -> str:
        cur = "n/a" if h is None else f"{100 * h:.1f}%"
        return f"replication {n}: entry p99 +/- {cur} (target {100 * target:g}%)"

    reps = run_replications(model, seed, n0, workers=min(w, n0), options=options, scheduler=scheduler)
    h = entry_p99_precision(reps)
    if progress is not None:
        progress(len(reps) / max_replications, note(len(reps), h))
    p99 = latency([r.entry_latency for r in reps if r.entry_latency is not None]).p99 if reps else None
    if p99 is not None and p99.ci_reason == "too_few_samples":
        need = min_per_section(0.99)
        raise ConfigError(
            "LoadProfile",
            "spec.duration",
            f"--precision: each replication needs >= {need} measured entry requests for a p99 interval; lengthen the duration or raise the rate",
        )
    while not (h is not None and h <= goal) and len(reps) < max_replications:
        k = min(w, max_replications - len(reps))
        chunk = run_replications(
            model, seed, k, workers=min(w, k), first=len(reps), options=options, scheduler=scheduler
        )
        for r in chunk:
            reps.append(r)
            h = entry_p99_precision(reps)
            if progress is not None:
                progress(len(reps) / max_replications, note(len(reps), h))
            if h is not None and h <= goal:
                break
    met = h is not None and h <= goal
    return reps, Precision(target, None if h is None else round(h, 6), met, len(reps))


def record_precision(summary: Summary, prec: Precision) -> Summary:
    """``summary`` with ``run.precision_*`` set from ``prec`` (``run.replications`` is already the
    count the procedure stopped at)."""
    run = summary.run.model_copy(
        update={"precision_target": prec.target, "precision_achieved": prec.achieved, "precision_met": prec.met}
    )
    return summary.model_copy(update={"run": run})


def replications_for_precision(
    paths: Sequence[str],
    overrides: Sequence[str],
    seed: int,
    target: float,
    initial: int = MIN_INITIAL,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
    workers: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Precision:
    """The replication count :func:`run_until_precise` reaches on ``paths`` with ``overrides``.

    ``plan``, ``sweep`` and ``check`` choose the count once, on the baseline (the inputs as given),
    and then run every point with it, so every comparison stays paired replication by replication
    (common random numbers need the same count on both sides).

    Raises
    ------
    ConfigError
        As :func:`run_until_precise`, or when the inputs do not compile.
    """
    from meshsim.model.build import load_and_compile

    model, _ = load_and_compile(list(paths), list(overrides))
    _, prec = run_until_precise(model, seed, target, initial, max_replications, workers=workers, progress=progress)
    return prec
