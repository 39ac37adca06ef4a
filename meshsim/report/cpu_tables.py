"""The CPU model's terminal tables (rich): containers (CPU, limit, throttling) and nodes; nothing when
the model is off."""

from __future__ import annotations

from rich.table import Table

from meshsim.metrics.results import Summary

__all__ = ["cpu_tables"]


def _cores(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def cpu_tables(s: Summary) -> list[list[Table]]:
    """Layouts (widest first) of the containers table and of the nodes table; ``[]`` when the CPU model is off."""
    if not s.containers:
        return []
    cols = ("pod", "container", "node", "cores", "request", "limit", "of limit", "throttled periods", "throttled s")
    wide = Table(title="Containers (CPU over the measured window)")
    for col in cols:
        wide.add_column(col, justify="left" if col in ("pod", "container", "node") else "right")
    compact = Table(title="Containers (CPU)")
    for col in ("pod / container", "cores", "limit", "throttled"):
        compact.add_column(col, justify="left" if col.startswith("pod") else "right", overflow="fold")
    for c in s.containers:
        thr = f"{c.nr_throttled}/{c.nr_periods}" if c.limit_cores is not None else "-"
        wide.add_row(
            c.pod,
            c.container,
            c.node or "-",
            _cores(c.cpu_cores),
            _cores(c.request_cores),
            _cores(c.limit_cores),
            _pct(c.utilization_of_limit),
            thr,
            f"{c.throttled_time_s:.2f}" if c.limit_cores is not None else "-",
        )
        compact.add_row(f"{c.pod}\n{c.container}", _cores(c.cpu_cores), _cores(c.limit_cores), thr)
    nodes = Table(title="Nodes")
    for col in ("node", "cores", "used", "utilisation", "run-queue wait ms"):
        nodes.add_column(col, justify="left" if col == "node" else "right")
    for n in s.nodes:
        wait = f"{n.mean_runqueue_wait_ms:.3f}" if n.mean_runqueue_wait_ms is not None else "-"
        nodes.add_row(n.node, f"{n.cores:g}", _cores(n.cpu_cores), _pct(n.utilization), wait)
    return [[wide, compact], [nodes]]
