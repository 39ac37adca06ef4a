"""Write a run's files: ``summary.json`` (deterministic) and its plots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

from meshsim.metrics.results import Summary
from meshsim.report.plots import latency_cdf, service_graph, timeline

__all__ = ["write_outputs"]


def write_outputs(summary: Summary, out: Path) -> list[Path]:
    """Write ``summary.json`` (deterministic), ``latency_cdf.png``, ``service_graph.png`` and, for a
    Scenario or CanaryPolicy run, ``timeline.png`` into ``out`` (created if missing). Returns the paths
    written. ``summary.json`` is written atomically (a temporary file renamed over it). Selects
    matplotlib's Agg backend (no display needed)."""
    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "summary.json", out / "latency_cdf.png", out / "service_graph.png"]
    tmp = paths[0].with_name(paths[0].name + ".tmp")
    tmp.write_text(json.dumps(summary.model_dump(mode="json"), indent=2, sort_keys=False) + "\n")
    os.replace(tmp, paths[0])
    latency_cdf(summary).savefig(paths[1], dpi=110)
    service_graph(summary).savefig(paths[2], dpi=110)
    if summary.scenario is not None:
        paths.append(out / "timeline.png")
        timeline(summary).savefig(paths[-1], dpi=110)
    return paths
