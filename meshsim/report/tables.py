"""Terminal tables (rich) from a :class:`~meshsim.metrics.results.Summary`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from meshsim.metrics.results import Estimate, Summary

__all__ = ["fmt_est", "render_summary"]


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


def render_summary(s: Summary, console: Console) -> None:
    """Print entry, edge and service tables."""
    run = s.run
    load = f"{run.rate_rps:g} req/s {run.arrival}" if run.rate_rps else f"{run.users} users closed-loop"
    t = Table(title=f"Entry: {s.entry.service} ({load}, {run.duration_s:g}s x {run.replications} replication(s), 95% CI by {run.ci_method.replace('_', ' over ')}, sketch alpha {100 * run.sketch_relative_accuracy:g}%)")
    for col in ("requests", "success", "mean ms", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"):
        t.add_column(col, justify="right")
    lat = s.entry.latency_ms
    t.add_row(
        str(s.entry.requests),
        fmt_est(s.entry.success_rate, pct=True, digits=2),
        fmt_est(lat.mean, digits=2),
        fmt_est(lat.p50, digits=2),
        fmt_est(lat.p90, digits=2),
        fmt_est(lat.p99, digits=2),
        fmt_est(lat.p999, digits=2),
    )
    console.print(t)
    window = run.duration_s * run.replications
    flagged = set(s.amplification.flagged) if s.amplification is not None else set()
    if s.edges:
        t = Table(title="Edges (client sidecar -> cluster)")
        for col in ("source", "destination", "subset", "req/s", "attempts/req", "success", "p50 ms", "p99 ms", "flags"):
            t.add_column(col, justify="left" if col in ("source", "destination", "subset", "flags") else "right")
        for e in s.edges:
            flags = ", ".join(f"{k}:{v}" for k, v in e.response_flags.items())
            t.add_row(
                e.source,
                e.destination,
                e.subset or "-",
                f"{e.requests / window:.1f}",
                (f"{e.amplification:.3f}" if e.amplification is not None else "-") + (" !" if f"{e.source}->{e.destination}" in flagged else ""),
                fmt_est(e.success_rate, pct=True, digits=2),
                fmt_est(e.latency_ms.p50, digits=2),
                fmt_est(e.latency_ms.p99, digits=2),
                flags or "-",
            )
        console.print(t)
    t = Table(title="Services")
    for col in ("service", "version", "replicas", "workers", "req/s", "utilisation", "queue", "wait ms", "errors"):
        t.add_column(col, justify="left" if col in ("service", "version") else "right")
    for sv in s.services:
        t.add_row(
            sv.name,
            sv.version,
            str(sv.replicas),
            str(sv.concurrency) if sv.concurrency is not None else "inf",
            f"{sv.arrival_rate_rps:.1f}",
            fmt_est(sv.utilization, pct=True, digits=1),
            f"{sv.mean_queue_length:.2f}",
            f"{sv.mean_wait_ms:.2f}" if sv.mean_wait_ms is not None else "-",
            f"{100 * sv.error_rate:.2f}%" if sv.error_rate is not None else "-",
        )
    console.print(t)
    if s.scenario is not None:
        for ev in s.scenario.events:
            console.print(f"event at {ev.t_s:g}s: {ev.description}", highlight=False)
        pushes = s.scenario.pushes
        if pushes:
            lag = [p.last_applied_s - p.t_s for p in pushes]
            console.print(f"control plane: {len(pushes)} push(es); last proxy applied {min(lag) * 1e3:.0f}-{max(lag) * 1e3:.0f} ms after the push started", highlight=False)
        st = s.scenario.storm
        if st is not None:
            v = st.verdict
            what = v.verdict + (f" {v.recovery_s:g}s after the trigger ended" if v.recovery_s is not None else "")
            console.print(f"[bold]storm: {what}[/bold] (trigger {st.trigger}; goodput {v.baseline_goodput_rps:g} -> {v.end_goodput_rps:g} req/s at the end)", highlight=False)
            if s.run.replications > 1:
                console.print(f"over {s.run.replications} replications: {st.outcomes}; P(metastable) {fmt_est(st.p_metastable, pct=True)}", highlight=False)
        c = s.scenario.canary
        if c is not None:
            console.print(f"[bold]canary {c.name}: {c.verdict}[/bold]")
            if s.run.replications > 1:
                console.print(f"over {s.run.replications} replications: {c.outcomes}; P(promoted) {fmt_est(c.p_promoted, pct=True)}, P(rolled back) {fmt_est(c.p_rolled_back, pct=True)}", highlight=False)
    if s.amplification is not None and s.amplification.flagged:
        amp = s.amplification
        worst = {f"{e.source}->{e.destination}": e for e in amp.edges}
        rows = ", ".join(f"{k} {worst[k].total:.2f} (worst case {worst[k].path_worst_case:g})" for k in amp.flagged)
        console.print(f"[yellow]! attempts per app call above {amp.threshold:g}: {rows}[/yellow]", highlight=False)
    if s.mesh.amplification is not None:
        console.print(f"Mesh: {s.mesh.requests} sidecar requests, {s.mesh.attempts} upstream attempts, amplification {s.mesh.amplification:.3f}")
