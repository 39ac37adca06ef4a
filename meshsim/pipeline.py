"""The public pipeline in three calls: ``load_and_compile`` -> ``simulate`` -> ``write_outputs``.

Example (a notebook)::

    from meshsim.pipeline import load_and_compile, simulate
    model, findings = load_and_compile(["topologies/bookinfo"], overrides=["LoadProfile.spec.rate=200"])
    summary = simulate(model, seed=1, replications=4)
    summary.entry.latency_ms.p99

``meshsim run`` makes the same calls (:func:`simulate_run` keeps the replications for the Prometheus
and Jaeger files), so a notebook's :class:`~meshsim.metrics.results.Summary` equals ``summary.json``.
This module only gathers the layers below it (model, experiments, report); nothing below imports it.
"""

from __future__ import annotations

from meshsim.experiments.simulate import SimulationRun, simulate, simulate_run
from meshsim.model.build import load_and_compile
from meshsim.report.outputs import write_outputs

__all__ = ["SimulationRun", "load_and_compile", "simulate", "simulate_run", "write_outputs"]
