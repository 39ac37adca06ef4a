"""Terminal tables (rich) from a :class:`~meshsim.metrics.results.Summary`."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from meshsim.metrics.results import Estimate, HPADecision, HPAResult, Summary

__all__ = ["entry_path", "fits", "fmt_est", "render_summary"]


def fmt_est(e: Estimate | None, scale: float = 1.0, digits: int = 1, pct: bool = False) -> str:
    """``12.3 [11.9, 12.8]``; percentages when ``pct``. Without an interval the reason follows the
    value: ``42.5 n/a (needs >= 10000 requests)``."""
    if e is None or e.value is None:
        return "-"
    mul = 100.0 if pct else scale
    suffix = "%" if pct else ""
    v = f"{e.value * mul:.{digits}f}{suffix}"
    if e.ci_low is not None and e.ci_high is not None:
        v += f" [{e.ci_low * mul:.{digits}f}, {e.ci_high * mul:.{digits}f}]"
    elif e.ci_reason == "too_few_samples" and e.ci_needs is not None:
        v += f" n/a (needs >= {e.ci_needs} requests)"
    return v


def _stack(text: str) -> str:
    """``12.3 [11.9, 12.8]`` (or ``12.3 n/a (needs >= N requests)``) -> the value over its interval (or over
    the reason it has none), so a column is as wide as the interval."""
    return text.replace(" [", "\n[", 1).replace(" n/a (", "\nn/a (", 1)


def fits(t: Table, console: Console) -> bool:
    """Whether ``t`` fits ``console.width`` without wrapping any cell."""
    # measured without the console's width limit (rich clamps a measurement to the available width)
    return Measurement.get(console, console.options.update_width(10**5), t).maximum <= console.width


def _entry_tables(s: Summary) -> list[Table]:
    run = s.run
    load = f"{run.rate_rps:g} req/s {run.arrival}" if run.rate_rps else f"{run.users} users closed-loop"
    title = (
        f"Entry: {entry_path(s)} ({load}, {run.duration_s:g}s x {run.replications} replication(s), "
        f"95% CI by {run.ci_method.replace('_', ' over ')}, sketch alpha {100 * run.sketch_relative_accuracy:g}%)"
    )
    lat = s.entry.latency_ms
    cells = [
        ("requests", str(s.entry.requests)),
        ("success", fmt_est(s.entry.success_rate, pct=True, digits=2)),
        ("mean ms", fmt_est(lat.mean, digits=2)),
        ("p50 ms", fmt_est(lat.p50, digits=2)),
        ("p90 ms", fmt_est(lat.p90, digits=2)),
        ("p99 ms", fmt_est(lat.p99, digits=2)),
        ("p99.9 ms", fmt_est(lat.p999, digits=2)),
    ]
    wide = Table(title=title)
    for col, _ in cells:
        wide.add_column(col, justify="right")
    wide.add_row(*(v for _, v in cells))
    stacked = Table(title=title)
    for col, _ in cells:
        stacked.add_column(col, justify="right", overflow="fold")
    stacked.add_row(*(_stack(v) for _, v in cells))
    # narrowest: one row per metric, the interval in its own column
    narrow = Table(title=title)
    for col in ("metric", "estimate", "95% CI"):
        narrow.add_column(col, justify="left" if col == "metric" else "right", overflow="fold")
    for col, v in cells:
        value, _, ci = v.partition(" [")
        narrow.add_row(col, value, f"[{ci}" if ci else "-")
    return [wide, stacked, narrow]


def _edge_tables(s: Summary) -> list[Table]:
    window = s.run.duration_s * s.run.replications
    flagged = set(s.amplification.flagged) if s.amplification is not None else set()
    title = "Edges (client sidecar -> cluster)"
    rows = []
    for e in s.edges:
        rows.append(
            {
                "source": e.source,
                "destination": e.destination,
                "subset": e.subset or "-",
                "req/s": f"{e.requests / window:.1f}",
                "attempts/req": (f"{e.amplification:.3f}" if e.amplification is not None else "-")
                + (" !" if f"{e.source}->{e.destination}" in flagged else ""),
                "success": fmt_est(e.success_rate, pct=True, digits=2),
                "p50 ms": fmt_est(e.latency_ms.p50, digits=2),
                "p99 ms": fmt_est(e.latency_ms.p99, digits=2),
                "flags": ", ".join(f"{k}:{v}" for k, v in e.response_flags.items()) or "-",
            }
        )
    left = ("source", "destination", "subset", "flags", "edge")
    wide = Table(title=title)
    for col in rows[0]:
        wide.add_column(col, justify="left" if col in left else "right")
    for r in rows:
        wide.add_row(*r.values())
    compact = Table(title=title)
    for col in ("edge", "req/s", "attempts\n/req", "success", "p99 ms", "flags"):
        compact.add_column(col, justify="left" if col in left else "right", overflow="fold")
    for r in rows:
        edge = f"{r['source']}\n-> {r['destination']}" + (f" {r['subset']}" if r["subset"] != "-" else "")
        compact.add_row(
            edge,
            r["req/s"],
            r["attempts/req"],
            _stack(r["success"]),
            _stack(r["p99 ms"]),
            r["flags"].replace(", ", "\n"),
        )
    return [wide, compact]


def _service_tables(s: Summary) -> list[Table]:
    rows = []
    for sv in s.services:
        rows.append(
            {
                "service": sv.name,
                "version": sv.version,
                "replicas": str(sv.replicas),
                "workers": str(sv.concurrency) if sv.concurrency is not None else "inf",
                "req/s": f"{sv.arrival_rate_rps:.1f}",
                "utilisation": fmt_est(sv.utilization, pct=True, digits=1),
                "queue": f"{sv.mean_queue_length:.2f}",
                "wait ms": f"{sv.mean_wait_ms:.2f}" if sv.mean_wait_ms is not None else "-",
                "errors": f"{100 * sv.error_rate:.2f}%" if sv.error_rate is not None else "-",
            }
        )
    wide = Table(title="Services")
    for col in rows[0] if rows else ("service",):
        wide.add_column(col, justify="left" if col in ("service", "version") else "right")
    for r in rows:
        wide.add_row(*r.values())
    compact = Table(title="Services")
    for col in ("workload", "pods x\nworkers", "req/s", "utilisation", "queue", "wait\nms", "errors"):
        compact.add_column(col, justify="left" if col == "workload" else "right", overflow="fold")
    for r in rows:
        compact.add_row(
            f"{r['service']} {r['version']}",
            f"{r['replicas']} x {r['workers']}",
            r["req/s"],
            _stack(r["utilisation"]),
            r["queue"],
            r["wait ms"],
            r["errors"],
        )
    return [wide, compact]


def entry_path(s: Summary) -> str:
    """Where the load enters: the entry service, or ``gateway -> service`` when it enters through an
    ingress gateway (an edge from a proxy that is not one of the workloads to the entry service)."""
    workloads = {f"{sv.name}.{sv.version}" for sv in s.services}
    gateways = sorted({e.source for e in s.edges if e.source not in workloads and e.destination == s.entry.service})
    return f"{', '.join(gateways)} -> {s.entry.service}" if gateways else s.entry.service


def autoscaling_lines(decisions: list[HPADecision], autoscalers: Sequence[HPAResult] = ()) -> list[str]:
    """One line per HorizontalPodAutoscaler (replication 0): its replica range over the run and each change,
    ``HPA default/reviews (reviews.v3): 1 -> 3 at 75s, 3 -> 1 at 450s; 1-3 pods``, then how long its scale-ups
    took from the decision until the last sidecar routed to the new pods (``autoscalers``' time to scale)."""
    by: dict[str, list[HPADecision]] = {}
    for d in decisions:
        by.setdefault(f"{d.hpa} ({d.workload})", []).append(d)
    out = []
    for name, ds in by.items():
        changes = [f"{d.current} -> {d.desired} at {d.t_s:g}s" for d in ds if d.desired != d.current]
        sizes = [n for d in ds for n in (d.current, d.desired)]
        what = ", ".join(changes[:6]) + (f", ... ({len(changes)} changes)" if len(changes) > 6 else "")
        out.append(f"HPA {name}: {what or 'no change'}; {min(sizes)}-{max(sizes)} pods")
    for a in autoscalers:
        took = [s.time_to_scale_s for s in a.scales if s.time_to_scale_s is not None]
        if took:
            lo, hi = f"{min(took):.3g}", f"{max(took):.3g}"
            span = f"{lo} s" if lo == hi else f"{lo}-{hi} s"
            peak = (
                f"; reached maxReplicas {a.maxReplicas} at {a.max_reached_s:g}s" if a.max_reached_s is not None else ""
            )
            out.append(f"HPA {a.hpa}: time to scale {span} (decision to new pods in every sidecar's EDS){peak}")
    return out


def render_summary(s: Summary, console: Console) -> None:
    """Print entry, edge and service tables.

    Each table is printed in the widest layout that fits ``console.width`` (rich's measurement);
    below that a compact one: intervals under their values, fewer columns (edges lose p50, services
    merge name and version), the entry as one row per metric. Nothing is cut to an ellipsis.
    """
    from meshsim.report.cpu_tables import cpu_tables

    for layouts in (_entry_tables(s), _edge_tables(s) if s.edges else [], _service_tables(s), *cpu_tables(s)):
        if layouts:
            console.print(next((t for t in layouts if fits(t, console)), layouts[-1]))
    if s.scenario is not None:
        for ev in s.scenario.events:
            console.print(f"event at {ev.t_s:g}s: {ev.description}", highlight=False)
        pushes = s.scenario.pushes
        if pushes:
            lag = [p.last_applied_s - p.t_s for p in pushes]
            console.print(
                f"control plane: {len(pushes)} push(es); last proxy applied {min(lag) * 1e3:.0f}-{max(lag) * 1e3:.0f} ms after the push started",
                highlight=False,
            )
        for line in autoscaling_lines(s.scenario.autoscaling, s.scenario.autoscalers):
            console.print(line, highlight=False)
        st = s.scenario.storm
        if st is not None:
            v = st.verdict
            what = v.verdict + (f" {v.recovery_s:g}s after the trigger ended" if v.recovery_s is not None else "")
            console.print(
                f"[bold]storm: {what}[/bold] (trigger {st.trigger}; goodput {v.baseline_goodput_rps:g} -> {v.end_goodput_rps:g} req/s at the end)",
                highlight=False,
            )
            if v.autoscaling is not None:
                console.print(f"storm and autoscaling: {v.autoscaling.summary}", highlight=False)
            if s.run.replications > 1:
                console.print(
                    f"over {s.run.replications} replications: {st.outcomes}; P(metastable) {fmt_est(st.p_metastable, pct=True)}",
                    highlight=False,
                )
        c = s.scenario.canary
        if c is not None:
            console.print(f"[bold]canary {c.name}: {c.verdict}[/bold]")
            if s.run.replications > 1:
                console.print(
                    f"over {s.run.replications} replications: {c.outcomes}; P(promoted) {fmt_est(c.p_promoted, pct=True)}, P(rolled back) {fmt_est(c.p_rolled_back, pct=True)}",
                    highlight=False,
                )
    if s.amplification is not None and s.amplification.flagged:
        amp = s.amplification
        worst = {f"{e.source}->{e.destination}": e for e in amp.edges}
        rows = ", ".join(f"{k} {worst[k].total:.2f} (worst case {worst[k].path_worst_case:g})" for k in amp.flagged)
        console.print(f"[yellow]! attempts per app call above {amp.threshold:g}: {rows}[/yellow]", highlight=False)
    if s.mesh.amplification is not None:
        console.print(
            f"Mesh: {s.mesh.requests} sidecar requests, {s.mesh.attempts} upstream attempts, amplification {s.mesh.amplification:.3f}"
        )
