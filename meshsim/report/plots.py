"""Plots as pure functions: a :class:`~meshsim.metrics.results.Summary` in, a matplotlib Figure out.

No global style is set at import; the Agg backend is chosen by the caller (the CLI) when saving.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import networkx as nx
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch
from matplotlib.ticker import MaxNLocator

from meshsim.metrics.results import ScenarioResult, Summary

__all__ = ["edge_colour", "latency_cdf", "service_graph", "storm_phase", "timeline"]


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


# Colours of the service graph. Edges are coloured by the success rate of their responses (status < 500,
# the rule of Istio's and Flagger's success-rate queries): at or above HEALTHY_MIN healthy, at or above
# DEGRADED_MIN degraded, below it failing.
HEALTHY_COLOUR = "#4d4d4d"
DEGRADED_COLOUR = "#ff7f0e"
FAILURE_COLOUR = "#d62728"
NO_DATA_COLOUR = "#bbbbbb"
HEALTHY_MIN = 0.99
DEGRADED_MIN = 0.90
UNBOUNDED_COLOUR = "#dddddd"
LOAD_COLOUR = "#ffffff"
GATEWAY_COLOUR = "#9ecae1"
LOAD_NODE = "load generator"


def edge_colour(success_rate: float | None) -> str:
    """The colour of an edge whose responses succeeded at ``success_rate`` (a fraction in [0, 1],
    ``None`` when it had no responses): :data:`HEALTHY_COLOUR` at or above :data:`HEALTHY_MIN`,
    :data:`DEGRADED_COLOUR` at or above :data:`DEGRADED_MIN`, :data:`FAILURE_COLOUR` below."""
    if success_rate is None or math.isnan(success_rate):
        return NO_DATA_COLOUR
    if success_rate >= HEALTHY_MIN:
        return HEALTHY_COLOUR
    if success_rate >= DEGRADED_MIN:
        return DEGRADED_COLOUR
    return FAILURE_COLOUR


@dataclass
class _Edge:
    rate: float = 0.0
    requests: float = 0.0
    ok: float = 0.0
    answered: float = 0.0

    def add(self, rate: float, requests: float, success: float | None) -> None:
        self.rate += rate
        self.requests += requests
        if success is not None and requests > 0:
            self.ok += success * requests
            self.answered += requests

    @property
    def success(self) -> float | None:
        return self.ok / self.answered if self.answered > 0 else None


def _graph(summary: Summary) -> tuple[nx.DiGraph, dict[str, dict[str, Any]]]:
    """Nodes (load generator, gateways, one per workload) and edges with rate and success."""
    window = summary.run.duration_s * summary.run.replications or 1.0
    nodes: dict[str, dict[str, Any]] = {LOAD_NODE: {"kind": "load"}}
    versions: dict[str, list[str]] = {}
    for s in summary.services:
        key = f"{s.name}.{s.version}"
        util = s.utilization.value if s.utilization is not None else None
        nodes[key] = {"kind": "workload", "util": util, "rate": s.arrival_rate_rps, "replicas": s.replicas}
        versions.setdefault(s.name, []).append(key)
    arrival = {f"{s.name}.{s.version}": s.arrival_rate_rps for s in summary.services}
    # what a version received besides the edges that name it as their subset: the share of unsubsetted edges
    residual = dict(arrival)
    for e in summary.edges:
        if e.subset and f"{e.destination}.{e.subset}" in residual:
            residual[f"{e.destination}.{e.subset}"] -= e.requests / window
    residual = {k: max(0.0, v) for k, v in residual.items()}
    edges: dict[tuple[str, str], _Edge] = {}

    def targets(service: str, subset: str) -> list[tuple[str, float]]:
        """Workloads an edge to ``service`` (``subset``) reached, with the share of its requests each got:
        a subset names one version; without one the split follows what the versions received from
        unsubsetted edges (their arrival rates less the subsetted edges' rates into them)."""
        keys = versions.get(service, [])
        if subset:
            keys = [k for k in keys if k == f"{service}.{subset}"]
        if not keys:
            return []
        weight = residual if sum(residual[k] for k in keys) > 0 else arrival
        total = sum(weight[k] for k in keys)
        return [(k, weight[k] / total if total > 0 else 1.0 / len(keys)) for k in keys]

    def add(src: str, service: str, subset: str, requests: float, success: float | None) -> None:
        for t, share in targets(service, subset):
            edges.setdefault((src, t), _Edge()).add(requests * share / window, requests * share, success)

    entry_sources: list[str] = []
    for e in summary.edges:
        src = e.source
        if src not in nodes:  # a gateway's Envoy (istio-ingressgateway): a proxy outside the workloads
            nodes[src] = {"kind": "gateway"}
            if e.destination == summary.entry.service:
                entry_sources.append(src)
        add(src, e.destination, e.subset, e.requests, e.success_rate.value)
    if entry_sources:  # load enters through the gateway: load generator -> gateway
        for gw in dict.fromkeys(entry_sources):
            gw_requests = sum(e.requests for e in summary.edges if e.source == gw)
            share = gw_requests / max(1, sum(e.requests for e in summary.edges if e.source in entry_sources))
            edges.setdefault((LOAD_NODE, gw), _Edge()).add(
                summary.entry.requests * share / window,
                summary.entry.requests * share,
                summary.entry.success_rate.value,
            )
    else:
        add(LOAD_NODE, summary.entry.service, "", summary.entry.requests, summary.entry.success_rate.value)
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    for (u, v), d in edges.items():
        g.add_edge(u, v, rate=d.rate, success=d.success)
    for n, nd in nodes.items():
        nd["idle"] = nd["kind"] == "workload" and g.in_degree(n) == 0 and not nd["rate"]
    return g, nodes


def _layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Layers by the longest path from the load generator, top to bottom; idle workloads in the last row."""
    try:
        layer = {n: 0 for n in g}
        for n in nx.topological_sort(g):
            for s in g.successors(n):
                layer[s] = max(layer[s], layer[n] + 1)
    except nx.NetworkXUnfeasible:  # a call cycle: breadth-first distance instead
        dist = nx.single_source_shortest_path_length(g, LOAD_NODE)
        layer = {n: dist.get(n, 0) for n in g}
    connected = {n for n in g if g.degree(n) > 0}
    last = max((layer[n] for n in connected), default=0)
    rows: dict[int, list[str]] = {}
    for n in g:  # nodes keep the summary's order within a row
        rows.setdefault(layer[n] if n in connected else last + 1, []).append(n)
    pos: dict[str, tuple[float, float]] = {}
    for y, row in rows.items():
        for i, n in enumerate(row):
            pos[n] = (i - (len(row) - 1) / 2.0, -float(y))
    return pos


def _draw_nodes(
    ax: Any, nodes: dict[str, dict[str, Any]], pos: dict[str, tuple[float, float]], cmap: Any, norm: Normalize
) -> dict[str, Any]:
    """One labelled box per node of :func:`service_graph`; returns the text artists by node."""
    texts = {}
    for n, d in nodes.items():
        if d["kind"] == "load":
            face, label = LOAD_COLOUR, "load generator\n(outside the mesh)"
        elif d["kind"] == "gateway":
            face, label = GATEWAY_COLOUR, f"{n}\n(gateway)"
        else:
            u = d["util"]
            face = UNBOUNDED_COLOUR if u is None or math.isnan(u) else cmap(norm(min(max(u, 0.0), 1.0)))
            if d["idle"]:
                face = "white"
            util = "unbounded" if u is None or math.isnan(u) else f"{100 * u:.0f}% busy"
            label = f"{n}\n{d['replicas']} pod{'s' if d['replicas'] != 1 else ''}, " + (
                "no traffic" if d["idle"] else util
            )
        x, y = pos[n]
        texts[n] = ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=8,
            zorder=3,
            gid=f"node:{n}",
            bbox={
                "boxstyle": "round,pad=0.5",
                "facecolor": face,
                "edgecolor": "black",
                "linestyle": "--" if d.get("idle") else "-",
                "linewidth": 1.0,
            },
        )
    return texts


def _draw_edges(ax: Any, g: nx.DiGraph, pos: dict[str, tuple[float, float]], texts: dict[str, Any]) -> None:
    """The arrows of :func:`service_graph`, coloured by success, with their requests/s labels."""
    for u, v, d in g.edges(data=True):
        colour = edge_colour(d["success"])
        bend = 0.2 if g.has_edge(v, u) else 0.0
        arrow = FancyArrowPatch(
            pos[u],
            pos[v],
            patchA=texts[u].get_bbox_patch(),
            patchB=texts[v].get_bbox_patch(),
            arrowstyle="-|>",
            mutation_scale=14,
            color=colour,
            linewidth=2.0 if colour == FAILURE_COLOUR else 1.3,
            connectionstyle=f"arc3,rad={bend}",
            zorder=4,
            gid=f"edge:{u}->{v}",
        )
        ax.add_patch(arrow)
        label = f"{d['rate']:.1f}/s"
        if d["success"] is not None and d["success"] < HEALTHY_MIN:
            label += f"\n{100 * d['success']:.1f}% ok"
        (x0, y0), (x1, y1) = pos[u], pos[v]
        ax.text(
            (x0 + x1) / 2 + bend * (y1 - y0) / 2,
            (y0 + y1) / 2 - bend * (x1 - x0) / 2,
            label,
            ha="center",
            va="center",
            fontsize=7,
            color=colour,
            zorder=5,
            gid=f"edge-label:{u}->{v}",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )


def _legend(fig: Figure, nodes: dict[str, dict[str, Any]], cmap: Any, norm: Normalize) -> None:
    """The legend of :func:`service_graph`: node kinds and the success colours of edges."""
    handles: list[Artist] = [
        Patch(facecolor=LOAD_COLOUR, edgecolor="black", label="load generator (outside the mesh)"),
        Patch(facecolor=UNBOUNDED_COLOUR, edgecolor="black", label="workload, concurrency unbounded"),
        Patch(facecolor=cmap(norm(0.5)), edgecolor="black", label="workload, colour = utilisation (bar)"),
        Patch(facecolor="white", edgecolor="black", linestyle="--", label="workload with no traffic"),
    ]
    if any(d["kind"] == "gateway" for d in nodes.values()):
        handles.insert(1, Patch(facecolor=GATEWAY_COLOUR, edgecolor="black", label="gateway (Envoy)"))
    handles += [
        Line2D([], [], color=HEALTHY_COLOUR, label=f"success >= {100 * HEALTHY_MIN:g}%"),
        Line2D([], [], color=DEGRADED_COLOUR, label=f"success {100 * DEGRADED_MIN:g}-{100 * HEALTHY_MIN:g}%"),
        Line2D([], [], color=FAILURE_COLOUR, linewidth=2.0, label=f"success < {100 * DEGRADED_MIN:g}%"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=7, frameon=False)


def service_graph(summary: Summary) -> Figure:
    """The call graph of workloads, one box per workload (``name.version``), plus the load generator and
    any gateway the load enters through.

    Edges carry requests/s (an edge without a subset is split over the destination's versions in
    proportion to what they received from unsubsetted edges) and are coloured by success rate (:func:`edge_colour`); nodes
    are coloured by utilisation (busy workers / capacity; grey when concurrency is unbounded). A
    workload that received nothing is drawn dashed in the last row. Node label texts carry
    ``gid="node:<name>"`` and their box is the text's bbox patch, so a label always fits its box.
    """
    g, nodes = _graph(summary)
    pos = _layout(g)
    widest = max(Counter(y for _, y in pos.values()).values())
    rows = len({y for _, y in pos.values()})
    fig = Figure(figsize=(max(8.0, 2.0 * widest + 2.5), max(4.5, 1.5 * rows + 2.0)), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["RdYlGn_r"]
    norm = Normalize(0, 1)
    texts = _draw_nodes(ax, nodes, pos, cmap, norm)
    _draw_edges(ax, g, pos, texts)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.axis("off")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="utilisation (busy workers / capacity)", shrink=0.8)
    _legend(fig, nodes, cmap, norm)
    kind = "simulated" if summary.run.backend == "simulation" else "measured"
    ax.set_title(f"Service graph ({kind}): requests/s and success per edge, utilisation per workload", fontsize=10)
    return fig


def _workload_panels(axes: dict[str, Any], sc: ScenarioResult, ts: list[float], keys: list[str]) -> None:
    """The requests/s, success % and p99 panels of :func:`timeline`, one line per workload."""
    nan = float("nan")
    for k in keys:
        rows = [p.workloads.get(k) for p in sc.series]
        axes["rps"].plot(ts, [r.rps if r else 0.0 for r in rows], label=k, linewidth=1)
        axes["success"].plot(
            ts, [100 * r.success_rate if r and r.success_rate is not None else nan for r in rows], label=k, linewidth=1
        )
        axes["p99"].plot(ts, [r.p99_ms if r and r.p99_ms is not None else nan for r in rows], label=k, linewidth=1)
    axes["rps"].plot(ts, [p.entry_rps for p in sc.series], label="entry", color="black", linewidth=1.5)
    axes["rps"].set_ylabel("requests/s")
    axes["success"].set_ylabel("success %")
    lo = min(
        (100 * r.success_rate for p in sc.series for r in p.workloads.values() if r.success_rate is not None),
        default=0.0,
    )
    bottom = max(0.0, lo - max(1.0, 0.05 * (100.0 - lo)))
    axes["success"].set_ylim(bottom, 100.0 + 0.03 * (100.0 - bottom))
    axes["p99"].set_ylabel("p99 ms")
    if any(r.p99_ms for p in sc.series for r in p.workloads.values()):
        axes["p99"].set_yscale("log")


def _canary_panel(ax: Any, sc: ScenarioResult, ts: list[float]) -> None:
    """The canary weight panel of :func:`timeline`: configured (steps) and observed (dots), %."""
    nan = float("nan")
    ax.plot(
        ts,
        [p.canary_weight_configured if p.canary_weight_configured is not None else nan for p in sc.series],
        drawstyle="steps-post",
        label="canary weight configured",
    )
    ax.plot(
        ts,
        [p.canary_weight_observed if p.canary_weight_observed is not None else nan for p in sc.series],
        marker=".",
        linestyle="none",
        label="canary weight observed",
    )
    ax.set_ylabel("canary weight %")
    ax.set_ylim(-2, 102)


def _ejected_panel(ax: Any, ts: list[float], ejected: list[float]) -> None:
    """The ejected-hosts panel of :func:`timeline` (a count on its own axis, with a note when it stays 0)."""
    ax.plot(ts, ejected, color="grey", linewidth=1.2, drawstyle="steps-post", label="ejected hosts")
    ax.set_ylabel("ejected hosts")
    top = max(1.0, max(ejected, default=0.0)) * 1.1
    ax.set_ylim(-0.06 * top, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not any(x > 0 for x in ejected):
        ax.text(
            0.5,
            0.5,
            "no host ejected by outlier detection",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="grey",
        )
    ax.legend(fontsize=7, loc="upper left")


def _replicas_panel(ax: Any, sc: ScenarioResult, end: float) -> None:
    """The HorizontalPodAutoscaler panel of :func:`timeline`: per HPA, ``desiredReplicas`` and
    ``readyReplicas`` as steps (pods), and on a second axis its first metric at each sync against the target
    (dots; requests/s, or % of the CPU request)."""
    twin = ax.twinx()
    for i, a in enumerate(sc.autoscalers):
        colour = f"C{i}"
        ts = [r.t_s for r in a.replicas] + [end]
        desired = [r.desiredReplicas for r in a.replicas]
        ready = [r.readyReplicas for r in a.replicas]
        ax.plot(ts, [*desired, desired[-1]], drawstyle="steps-post", color=colour, label=f"{a.workload} desired")
        ax.plot(
            ts, [*ready, ready[-1]], drawstyle="steps-post", color=colour, linestyle="--", label=f"{a.workload} ready"
        )
        ds = [d for d in sc.autoscaling if d.hpa == a.hpa and d.metrics]
        m = ds[0].metrics[0].metric if ds else None
        vals = [(d.t_s, d.metrics[0].value) for d in ds if d.metrics[0].value is not None]
        if vals:
            twin.plot(
                [t for t, _ in vals],
                [v for _, v in vals],
                marker=".",
                linestyle="none",
                color=colour,
                alpha=0.6,
                label=f"{a.workload} {m}",
            )
            twin.axhline(ds[0].metrics[0].target, color=colour, alpha=0.3, linewidth=0.8, linestyle=":")
            twin.set_ylabel(f"{m} (dots; target dotted)", fontsize=7)
    ax.set_ylabel("replicas")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    twin.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left")


def timeline(summary: Summary) -> Figure:
    """Per-interval time series of a Scenario/CanaryPolicy run, one panel per quantity that the run
    has: requests/s, success % and p99 (ms, log scale) per workload; the canary weight (%,
    configured and observed) when there is a CanaryPolicy; hosts ejected by outlier detection (a
    count, on its own axis) when there is a canary or an ejection; requests waiting for a worker per
    workload and sidecar attempts per request per edge when they depart from 0 and 1; each
    HorizontalPodAutoscaler's desired and Ready replicas and its metric per sync when there is one. Events
    are red vertical lines, a storm trigger's window is shaded.

    Raises
    ------
    ValueError
        If the summary has no scenario.
    """
    sc = summary.scenario
    if sc is None:
        raise ValueError("the run had no Scenario or CanaryPolicy")
    ts = [p.t_s for p in sc.series]
    keys = sorted({k for p in sc.series for k in p.workloads})
    nan = float("nan")
    ejected = [p.ejected_hosts for p in sc.series]
    queues = sorted({k for p in sc.series for k, v in p.queue.items() if v > 0})
    amplified = sorted({k for p in sc.series for k, v in p.edges.items() if v.amplification > 1.0 + 1e-9})
    panels = ["rps", "success", "p99"]
    if sc.canary is not None:
        panels.append("canary")
    if sc.canary is not None or any(x > 0 for x in ejected):
        panels.append("ejected")
    if queues:
        panels.append("queue")
    if amplified:
        panels.append("amplification")
    if sc.autoscalers:
        panels.append("replicas")
    fig = Figure(figsize=(10, 1.2 + 2.1 * len(panels)), layout="constrained")
    axes = dict(zip(panels, fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0], strict=True))
    _workload_panels(axes, sc, ts, keys)
    if "canary" in axes:
        _canary_panel(axes["canary"], sc, ts)
    if "ejected" in axes:
        _ejected_panel(axes["ejected"], ts, ejected)
    if "queue" in axes:
        for k in queues:
            axes["queue"].plot(ts, [p.queue.get(k, 0.0) for p in sc.series], label=k, linewidth=1)
        axes["queue"].set_ylabel("waiting requests")
    if "amplification" in axes:
        for k in amplified:
            axes["amplification"].plot(
                ts, [p.edges[k].amplification if k in p.edges else nan for p in sc.series], label=k, linewidth=1
            )
        axes["amplification"].set_ylabel("attempts/request")
    if "replicas" in axes:
        _replicas_panel(axes["replicas"], sc, (ts[-1] + sc.interval_s) if ts else 0.0)
    axes[panels[-1]].set_xlabel("time (s)")
    for a in axes.values():
        for e in sc.events:
            a.axvline(e.t_s, color="red", alpha=0.4, linewidth=0.8)
        if sc.storm is not None:
            a.axvspan(sc.storm.trigger_start_s, sc.storm.trigger_end_s, color="red", alpha=0.08)
        a.grid(True, alpha=0.3)
    axes["rps"].legend(fontsize=7, ncol=3, loc="upper left")
    for name in ("canary", "queue", "amplification"):
        if name in axes:
            axes[name].legend(fontsize=7, loc="upper left")
    title = "Scenario timeline"
    if sc.canary is not None:
        title += f": {sc.canary.name} {sc.canary.verdict}"
    elif sc.storm is not None:
        title += f": {sc.storm.verdict.verdict} after {sc.storm.trigger}"
    axes["rps"].set_title(title)
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
    fig = Figure(
        figsize=(max(4.5, 1.0 + 0.9 * len(durs)) * len(loads), max(3.5, 1.2 + 0.6 * len(mags))), layout="constrained"
    )
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
        ax.set_title(
            ("load " + (f"{ld:g} req/s" if ld is not None else "as configured"))
            + f", {phase['replications']} replications/cell",
            fontsize=9,
        )
    if im is not None:
        fig.colorbar(im, ax=list(axes), label="P(not recovered)")
    return fig
