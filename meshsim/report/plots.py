"""Plots as pure functions: a :class:`~meshsim.metrics.results.Summary` in, a matplotlib Figure out.

No global style is set at import; the Agg backend is chosen by the caller (the CLI) when saving.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from meshsim.metrics.results import Summary

__all__ = ["latency_cdf", "service_graph", "storm_phase"]


def latency_cdf(summary: Summary) -> Figure:
    """Latency CDF (log-scaled milliseconds) of entry requests and of every edge."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    curves = [(f"entry ({summary.entry.service})", summary.entry.latency_cdf_ms, 2.5)]
    for e in summary.edges:
        label = f"{e.source} -> {e.destination}" + (f" [{e.subset}]" if e.subset else "")
        curves.append((label, e.latency_cdf_ms, 1.2))
    for label, pts, lw in curves:
        if not pts:
            continue
        qs = [q for q, _ in pts]
        ms = [max(v, 1e-3) for _, v in pts]
        ax.plot(ms, qs, label=label, linewidth=lw)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Latency CDF (simulated)" if summary.run.backend == "simulation" else "Latency CDF (measured)")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def service_graph(summary: Summary) -> Figure:
    """The call graph of workloads: edges labelled with requests/s, nodes coloured by utilisation
    (grey when concurrency is unbounded)."""
    g = nx.DiGraph()
    window = summary.run.duration_s * summary.run.replications
    entry = "load"
    g.add_node(entry)
    util: dict[str, float | None] = {}
    for s in summary.services:
        key = f"{s.name}.{s.version}"
        g.add_node(key)
        util[key] = s.utilization.value if s.utilization is not None else None
    entry_targets = [f"{s.name}.{s.version}" for s in summary.services if s.name == summary.entry.service]
    for t in entry_targets:
        g.add_edge(entry, t, label="")
    g.edges[entry, entry_targets[0]]["label"] = f"{summary.entry.requests / window:.1f}/s" if entry_targets else ""
    for e in summary.edges:
        targets = [f"{s.name}.{s.version}" for s in summary.services if s.name == e.destination and (not e.subset or s.version == e.subset)]
        if not targets:
            targets = [e.destination]
        for t in targets:
            rate = e.requests / window / len(targets)
            if g.has_edge(e.source, t):
                g.edges[e.source, t]["rate"] += rate
            else:
                g.add_edge(e.source, t, rate=rate)
    for _u, _v, d in g.edges(data=True):
        if "rate" in d:
            d["label"] = f"{d['rate']:.1f}/s"
    try:
        layers = {n: 0 for n in g}
        for n in nx.topological_sort(g):
            for s in g.successors(n):
                layers[s] = max(layers[s], layers[n] + 1)
        for n, layer in layers.items():
            g.nodes[n]["layer"] = layer
        pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
        pos = {n: (x, -y) for n, (x, y) in pos.items()}
    except nx.NetworkXUnfeasible:
        pos = nx.spring_layout(g, seed=1)
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["RdYlGn_r"]
    norm = Normalize(0, 1)
    colors = []
    for n in g.nodes:
        u = util.get(n)
        colors.append("#cccccc" if u is None or (isinstance(u, float) and math.isnan(u)) else cmap(norm(u)))
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colors, node_size=1800, edgecolors="black")
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8)
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=15, node_size=1800)
    nx.draw_networkx_edge_labels(g, pos, ax=ax, edge_labels={(u, v): d.get("label", "") for u, v, d in g.edges(data=True)}, font_size=7)
    sm = __import__("matplotlib.cm", fromlist=["ScalarMappable"]).ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, label="utilisation (busy workers / capacity)")
    ax.set_title("Service graph: requests/s per edge, utilisation per workload")
    ax.axis("off")
    return fig


def timeline(summary: Summary) -> Figure:
    """Per-interval time series of a Scenario/CanaryPolicy run: requests/s, success rate and p99 per
    workload, canary weights (configured and observed) and ejected hosts, with events marked.

    Raises
    ------
    ValueError
        If the summary has no scenario.
    """
    sc = summary.scenario
    if sc is None:
        raise ValueError("the run had no Scenario or CanaryPolicy")
    fig = Figure(figsize=(10, 9), layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    ts = [p.t_s for p in sc.series]
    keys = sorted({k for p in sc.series for k in p.workloads})
    for k in keys:
        rows = [p.workloads.get(k) for p in sc.series]
        axes[0].plot(ts, [r.rps if r else 0.0 for r in rows], label=k, linewidth=1)
        axes[1].plot(ts, [100 * r.success_rate if r and r.success_rate is not None else float("nan") for r in rows], label=k, linewidth=1)
        axes[2].plot(ts, [r.p99_ms if r and r.p99_ms is not None else float("nan") for r in rows], label=k, linewidth=1)
    axes[0].plot(ts, [p.entry_rps for p in sc.series], label="entry", color="black", linewidth=1.5)
    axes[0].set_ylabel("requests/s")
    axes[1].set_ylabel("success %")
    axes[2].set_ylabel("p99 ms")
    axes[2].set_yscale("log")
    ax = axes[3]
    if sc.canary is not None:
        ax.plot(ts, [p.canary_weight_configured if p.canary_weight_configured is not None else float("nan") for p in sc.series],
                drawstyle="steps-post", label="canary weight configured")
        ax.plot(ts, [p.canary_weight_observed if p.canary_weight_observed is not None else float("nan") for p in sc.series],
                marker=".", linestyle="none", label="canary weight observed")
        ax.set_ylabel("canary weight %")
    ax2 = ax.twinx()
    ax2.plot(ts, [p.ejected_hosts for p in sc.series], color="grey", linewidth=1, label="ejected hosts")
    ax2.set_ylabel("ejected hosts")
    ax.set_xlabel("time (s)")
    for a in axes:
        for e in sc.events:
            a.axvline(e.t_s, color="red", alpha=0.4, linewidth=0.8)
        a.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7, ncol=3, loc="upper left")
    ax.legend(fontsize=7, loc="upper left")
    title = "Scenario timeline"
    if sc.canary is not None:
        title += f": {sc.canary.name} {sc.canary.verdict}"
    axes[0].set_title(title)
    return fig


def storm_phase(phase: dict[str, Any]) -> Figure:
    """Heatmap of P(not recovered) over trigger duration (x) and magnitude (y), one panel per load,
    from :meth:`meshsim.storm.phase.PhaseResult.to_json`; each cell shows the probability and the
    boundary (P crossing 0.5 between neighbouring cells) is drawn as a thick black line."""
    import numpy as np

    pts = phase["points"]
    loads = sorted({p["load"] for p in pts}, key=lambda x: (x is None, x))
    mags = sorted({p["magnitude"] for p in pts})
    durs = sorted({p["duration_s"] for p in pts})
    fig = Figure(figsize=(max(4.5, 1.0 + 0.9 * len(durs)) * len(loads), max(3.5, 1.2 + 0.6 * len(mags))), layout="constrained")
    axes = fig.subplots(1, len(loads), squeeze=False)[0]
    cmap = colormaps["RdYlGn_r"]
    unit = phase["trigger"]["magnitude_unit"]
    im = None
    for ax, ld in zip(axes, loads, strict=True):
        grid = np.full((len(mags), len(durs)), np.nan)
        for p in pts:
            if p["load"] == ld and p["p_not_recovered"] is not None:
                grid[mags.index(p["magnitude"]), durs.index(p["duration_s"])] = p["p_not_recovered"]
        im = ax.imshow(grid, origin="lower", cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for i in range(len(mags)):
            for j in range(len(durs)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8)
                if j + 1 < len(durs) and (grid[i, j] >= 0.5) != (grid[i, j + 1] >= 0.5):
                    ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], color="black", linewidth=2.5)
                if i + 1 < len(mags) and (grid[i, j] >= 0.5) != (grid[i + 1, j] >= 0.5):
                    ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], color="black", linewidth=2.5)
        ax.set_xticks(range(len(durs)), [f"{d:g}" for d in durs])
        ax.set_yticks(range(len(mags)), [f"{m:g}" for m in mags])
        ax.set_xlabel("trigger duration (s)")
        ax.set_ylabel(f"trigger magnitude ({unit})")
        ax.set_title(("load " + (f"{ld:g} req/s" if ld is not None else "as configured")) + f", {phase['replications']} replications/cell", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=list(axes), label="P(not recovered)")
    return fig
