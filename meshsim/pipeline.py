"""The public pipeline in four calls: ``load`` -> ``compile_model`` -> ``simulate`` -> ``write_outputs``.

Example (a notebook)::

    from meshsim.pipeline import load_and_compile, simulate
    model, findings = load_and_compile(["topologies/bookinfo"], overrides=["LoadProfile.spec.rate=200"])
    summary = simulate(model, seed=1, replications=4)
    summary.entry.latency_ms.p99
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from meshsim import atomic
from meshsim.config.checks import before_run, located
from meshsim.config.loader import load
from meshsim.errors import Finding
from meshsim.experiments.replicate import run_replications
from meshsim.metrics.results import Summary
from meshsim.metrics.summarize import summarize
from meshsim.model.compile import compile_model, compile_with_findings
from meshsim.model.ir import MeshModel
from meshsim.model.timeline import compile_timeline

__all__ = ["load_and_compile", "simulate", "write_outputs"]


def load_and_compile(
    paths: Sequence[str], overrides: Sequence[str] = (), force: bool = False
) -> tuple[MeshModel, list[Finding]]:
    """Load YAML ``paths`` (with ``--set`` style ``overrides``) and compile them.

    ``force`` lets a run estimated over the limits policy's budget through
    (:func:`meshsim.config.checks.before_run`).

    Returns the model and every finding (warnings and notes).

    Raises
    ------
    meshsim.errors.ConfigError
        On invalid input or a config that cannot be resolved (one line: file, field, message).
    """
    cfg = load(list(paths), list(overrides))
    _, findings = compile_with_findings(cfg)
    with located(cfg):  # the compiler's errors with their YAML line
        model = compile_model(cfg)
        before_run(cfg, model, force)
        timeline = compile_timeline(cfg, model)
    if timeline is not None:
        model = replace(model, timeline=timeline)
    return model, findings


def simulate(
    model: MeshModel,
    seed: int = 1,
    replications: int = 1,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
    inputs: Sequence[str] = (),
    findings: Sequence[str] = (),
) -> Summary:
    """Simulate ``replications`` replications of ``model`` (in parallel processes) and summarise.

    The same ``seed`` and ``replications`` give the same :class:`Summary`, bit for bit.
    """
    reps = run_replications(model, seed, replications, workers=workers, progress=progress)
    return summarize(model, reps, inputs=inputs, findings=findings)


def write_outputs(summary: Summary, out: Path) -> list[Path]:
    """Write ``summary.json`` (deterministic), ``latency_cdf.png``, ``service_graph.png`` and, for a
    Scenario or CanaryPolicy run, ``timeline.png`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    from meshsim.report.plots import latency_cdf, service_graph, timeline

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "summary.json", out / "latency_cdf.png", out / "service_graph.png"]
    # every file atomically (meshsim.atomic); summary.json last, so its presence means all are complete
    atomic.save_figure(latency_cdf(summary), paths[1], dpi=110)
    atomic.save_figure(service_graph(summary), paths[2], dpi=110)
    if summary.scenario is not None:
        paths.append(out / "timeline.png")
        atomic.save_figure(timeline(summary), paths[-1], dpi=110)
    atomic.write_text(paths[0], json.dumps(summary.model_dump(mode="json"), indent=2, sort_keys=False) + "\n")
    return paths
