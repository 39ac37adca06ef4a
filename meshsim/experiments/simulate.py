"""Simulate a compiled model and summarise it: the one code path behind ``meshsim run`` and
:func:`meshsim.pipeline.simulate` (a notebook's call), so both give the same :class:`Summary`.

A run is ``replications`` replications (:func:`~meshsim.experiments.replicate.run_replications`,
replication r draws from streams (seed, r)), summarised by :func:`meshsim.metrics.summarize.summarize`
and judged by :mod:`meshsim.analysis`: the metastability verdict of a Scenario with a bounded trigger
(``scenario.storm``) and the measured retry amplification per edge and depth (``amplification``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from meshsim.analysis.amplification import DEFAULT_FLAG_THRESHOLD, amplification_report
from meshsim.analysis.verdict import storm_result
from meshsim.experiments.replicate import (
    DEFAULT_MAX_REPLICATIONS,
    record_precision,
    run_replications,
    run_until_precise,
)
from meshsim.metrics.results import Summary
from meshsim.metrics.summarize import summarize
from meshsim.metrics.tally import RepResult
from meshsim.model.ir import MeshModel
from meshsim.sim.options import RunOptions

__all__ = ["SimulationRun", "simulate", "simulate_run", "summarize_run"]


@dataclass(frozen=True)
class SimulationRun:
    """A finished run: its ``summary`` and the replications it summarises (in replication order)."""

    summary: Summary
    replications: tuple[RepResult, ...]

    @property
    def observations(self) -> list[Any]:
        """Per-replication observations (``RepResult.observations``: Istio metrics when the model's
        run's ``RunOptions.istio_metrics`` is set, traces sampled at ``trace_sample``, proxy CPU), in replication order."""
        return [r.observations for r in self.replications if r.observations is not None]


def summarize_run(
    model: MeshModel,
    reps: Sequence[RepResult],
    inputs: Sequence[str] = (),
    findings: Sequence[str] = (),
    amplification_threshold: float | None = DEFAULT_FLAG_THRESHOLD,
) -> Summary:
    """:func:`~meshsim.metrics.summarize.summarize` ``reps``, then attach the storm verdict (when the
    model's Scenario has a bounded trigger) and, unless ``amplification_threshold`` is None, the
    amplification report (edges whose attempts per app-level call exceed the threshold are flagged)."""
    s = summarize(model, reps, inputs=inputs, findings=findings)
    if s.scenario is not None:
        storm = storm_result(model, reps)
        if storm is not None:
            s = s.model_copy(update={"scenario": s.scenario.model_copy(update={"storm": storm})})
    if amplification_threshold is not None:
        s = s.model_copy(update={"amplification": amplification_report(model, s, amplification_threshold)})
    return s


def simulate_run(
    model: MeshModel,
    seed: int = 1,
    replications: int = 1,
    workers: int | None = None,
    progress: Callable[..., None] | None = None,
    inputs: Sequence[str] = (),
    findings: Sequence[str] = (),
    amplification_threshold: float | None = DEFAULT_FLAG_THRESHOLD,
    precision: float | None = None,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
    options: RunOptions = RunOptions(),
    scheduler: str | None = None,
) -> SimulationRun:
    """Simulate ``replications`` replications of ``model`` (in up to ``workers`` processes; default one
    per CPU) and summarise them (:func:`summarize_run`). ``progress`` receives the fraction done.

    With ``precision`` (a relative half-width, 0.05 for 5 %), replications are added until the entry p99 CI
    is that tight or ``max_replications`` ran (:func:`meshsim.experiments.replicate.run_until_precise`, Law,
    *Simulation Modeling and Analysis*, 5th ed., section 9.4.1; ``replications`` is then the initial count);
    ``run.replications`` and ``run.precision_*`` record the outcome, and ``progress`` is called as
    ``progress(fraction, note)``. ``options``: what each replication records (traces, Istio metrics). ``scheduler``: a Dask
    scheduler address (``tcp://host:port``) to run the replications on instead of local processes.

    The same ``seed`` and ``replications`` (and ``precision``) give the same :class:`Summary`, bit for bit.
    """
    if precision is not None:
        reps, prec = run_until_precise(
            model,
            seed,
            precision,
            replications,
            max_replications,
            workers=workers,
            progress=progress,
            options=options,
            scheduler=scheduler,
        )
        summary = record_precision(summarize_run(model, reps, inputs, findings, amplification_threshold), prec)
        return SimulationRun(summary, tuple(reps))
    reps = run_replications(
        model, seed, replications, workers=workers, progress=progress, options=options, scheduler=scheduler
    )
    summary = summarize_run(model, reps, inputs, findings, amplification_threshold)
    return SimulationRun(summary, tuple(reps))


def simulate(
    model: MeshModel,
    seed: int = 1,
    replications: int = 1,
    workers: int | None = None,
    progress: Callable[..., None] | None = None,
    inputs: Sequence[str] = (),
    findings: Sequence[str] = (),
    amplification_threshold: float | None = DEFAULT_FLAG_THRESHOLD,
    precision: float | None = None,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
) -> Summary:
    """The :class:`Summary` of :func:`simulate_run` (what ``summary.json`` holds)."""
    return simulate_run(
        model,
        seed,
        replications,
        workers,
        progress,
        inputs,
        findings,
        amplification_threshold,
        precision,
        max_replications,
    ).summary
