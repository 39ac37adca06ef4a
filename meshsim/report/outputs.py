"""Write a run's files: ``summary.json`` (deterministic) and its plots."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

from meshsim import atomic
from meshsim.metrics.results import Summary
from meshsim.report.plots import latency_cdf, service_graph, timeline

__all__ = ["write_outputs"]


def write_outputs(summary: Summary, out: Path) -> list[Path]:
    """Write ``summary.json`` (deterministic), ``latency_cdf.png``, ``service_graph.png`` and, for a
    Scenario or CanaryPolicy run, ``timeline.png`` into ``out`` (created if missing). Returns the paths
    written. Every file is written atomically (a temporary file renamed over it, :mod:`meshsim.atomic`), ``summary.json``
    last, so its presence means the run finished. Selects
    matplotlib's Agg backend (no display needed)."""
    matplotlib.use("Agg")
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
