"""Rendering of a :class:`~meshsim.report.compare.Comparison`: the Markdown and rich tables, the latency
and time-series plots, and the files ``meshsim compare`` writes (``compare.json``, ``compare.md``,
``compare.png``, ``compare_series.png``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshsim import atomic
from meshsim.analysis.verdict import VERDICTS
from meshsim.metrics.results import Summary
from meshsim.report.compare_metrics import Kind

if TYPE_CHECKING:
    from meshsim.report.compare import Comparison, Row

__all__ = ["SERIES_KINDS", "to_markdown", "rich_table", "plot", "plot_series", "write_outputs"]

SERIES_KINDS = ("series_split", "series_success", "phase_split", "phase_success")
"""Row kinds of the per-interval and per-phase series (shares and success rates)."""


def _fmt(v: float | None, kind: Kind) -> str:
    if v is None:
        return "–"
    if kind == "verdict":
        return VERDICTS[int(v)] if 0 <= int(v) < len(VERDICTS) else f"{v:g}"
    if kind in ("success", "split", *SERIES_KINDS):
        return f"{v * 100:.2f} %"
    if kind == "storm_amplification":
        return f"{v:.3f}"
    if kind == "recovery":
        return f"{v:.1f} s"
    if kind == "amplification":
        return f"{v:.4f}"
    if kind in ("count", "throttled"):
        return f"{v:.1f}"
    if kind == "container_cpu":
        return f"{v:.4f}"
    return f"{v:.2f}"


def _fmt_err(r: Row) -> str:
    if r.error is None:
        return "–"
    if r.error_unit == "pp":
        return f"{r.error:+.2f} pp"
    if r.error_unit == "abs":
        return f"{r.error:+.1f}" + (" s" if r.kind == "recovery" else "")
    return f"{r.error * 100:+.1f} %"


def _verdict(r: Row) -> str:
    return {True: "pass", False: "FAIL", None: "–"}[r.passed]


def _ci(r: Row) -> str:
    lo, hi = r.predicted_ci
    if lo is None or hi is None:
        return ""
    return f" [{_fmt(lo, r.kind)}, {_fmt(hi, r.kind)}]"


def to_markdown(c: Comparison, title: str = "") -> str:
    """A markdown table of ``c`` (predicted with its 95 % CI, measured median, error, tolerance, verdict)."""
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| metric | predicted [95 % CI] | measured (median) | error (pred − meas) | tolerance | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in c.rows:
        res = _verdict(r) + (f" ({r.note})" if r.note else "")
        lines.append(
            f"| {r.key} | {_fmt(r.predicted, r.kind)}{_ci(r)} | {_fmt(r.measured, r.kind)} | {_fmt_err(r)} "
            f"| {r.tolerance} | {res} |"
        )
    lines.append("")
    verdict = "PASS" if c.passed else "FAIL"
    lines.append(
        f"**{verdict}** ({len(c.failures)} of {sum(r.passed is not None for r in c.rows)} gating rows outside "
        f"tolerance; median of {c.runs} run(s); without latency rows: "
        f"{'pass' if c.passed_without_latency else 'fail'})"
    )
    for n in c.notes:
        lines.append(f"- {n}")
    return "\n".join(lines) + "\n"


def rich_table(c: Comparison, title: str = "predicted vs measured") -> Any:
    """A :class:`rich.table.Table` of ``c``."""
    from rich.table import Table

    t = Table(title=title)
    for col in ("metric", "predicted [95% CI]", "measured", "error (pred − meas)", "tolerance", "result"):
        t.add_column(col, justify="left" if col in ("metric", "result") else "right")
    for r in c.rows:
        style = {True: "green", False: "bold red", None: "dim"}[r.passed]
        t.add_row(
            r.key,
            f"{_fmt(r.predicted, r.kind)}{_ci(r)}",
            _fmt(r.measured, r.kind),
            _fmt_err(r),
            r.tolerance,
            _verdict(r) + (f" ({r.note})" if r.note else ""),
            style=style,
        )
    return t


def plot(c: Comparison, pred: Summary, reals: Sequence[Summary], path: Path) -> None:
    """``compare.png``: entry latency percentiles (bars, predicted with CI) and the entry latency CDFs."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    lat = [r for r in c.rows if r.kind == "latency"]
    xs = list(range(len(lat)))
    pv = [r.predicted or 0.0 for r in lat]
    mv = [r.measured or 0.0 for r in lat]
    lo = [
        max(0.0, p - (r.predicted_ci[0] if r.predicted_ci[0] is not None else p)) for p, r in zip(pv, lat, strict=True)
    ]
    hi = [
        max(0.0, (r.predicted_ci[1] if r.predicted_ci[1] is not None else p) - p) for p, r in zip(pv, lat, strict=True)
    ]
    ax1.bar([x - 0.2 for x in xs], pv, 0.4, yerr=[lo, hi], capsize=3, label="predicted (95 % CI)")
    ax1.bar([x + 0.2 for x in xs], mv, 0.4, label=f"measured (median of {c.runs})")
    ax1.set_xticks(xs, [r.key.split()[1] for r in lat])
    ax1.set_ylabel("entry latency (ms)")
    ax1.legend(fontsize=8)
    ax1.set_title("entry latency percentiles")
    for label, s, lw in [("predicted", pred, 2.5)] + [(f"measured run {i + 1}", r, 1.2) for i, r in enumerate(reals)]:
        pts = s.entry.latency_cdf_ms
        if pts:
            ax2.plot([max(v, 1e-3) for _, v in pts], [q for q, _ in pts], label=label, linewidth=lw)
    ax2.set_xscale("log")
    ax2.set_xlabel("latency (ms)")
    ax2.set_ylabel("fraction of requests")
    ax2.set_ylim(0, 1)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8, loc="lower right")
    ax2.set_title("entry latency CDF")
    atomic.save_figure(fig, path, dpi=100)


def plot_series(pred: Summary, reals: Sequence[Summary], path: Path) -> None:
    """``compare_series.png``: per interval, predicted and measured subset shares, entry success rate
    and sidecar amplification (all edges pooled), with the scenario's events marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    assert pred.scenario is not None
    fig = Figure(figsize=(11, 8), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    runs = [("predicted", pred, 2.5, "-")] + [(f"measured run {i + 1}", r, 1.2, "--") for i, r in enumerate(reals)]
    for label, s, lw, ls in runs:
        if s.scenario is None:
            continue
        pts = s.scenario.series
        ts = [p.t_s for p in pts]
        svcs: dict[str, list[str]] = defaultdict(list)
        for p in pts:
            for k in p.workloads:
                if k not in svcs[k.rsplit(".", 1)[0]]:
                    svcs[k.rsplit(".", 1)[0]].append(k)
        for _svc, keys in sorted(svcs.items()):
            if len(keys) < 2:
                continue
            for k in sorted(keys)[1:]:
                ys = []
                for p in pts:
                    n = sum(p.workloads[x].rps for x in keys if x in p.workloads)
                    ys.append(100 * p.workloads[k].rps / n if n and k in p.workloads else float("nan"))
                ax1.plot(ts, ys, ls, linewidth=lw, label=f"{label}: {k}")
        ax2.plot(
            ts,
            [100 * p.entry_success_rate if p.entry_success_rate is not None else float("nan") for p in pts],
            ls,
            linewidth=lw,
            label=label,
        )
        amp = []
        for p in pts:
            req = sum(e.rps for e in p.edges.values())
            amp.append(sum(e.rps * e.amplification for e in p.edges.values()) / req if req else float("nan"))
        ax3.plot(ts, amp, ls, linewidth=lw, label=label)
    for ax in (ax1, ax2, ax3):
        for e in pred.scenario.events:
            ax.axvline(e.t_s, color="grey", linewidth=0.8, linestyle=":")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    ax1.set_ylabel("share of service requests (%)")
    ax2.set_ylabel("entry success (%)")
    ax3.set_ylabel("sidecar attempts / request")
    ax3.set_xlabel("interval start (s from the start of load)")
    ax1.set_title("per-interval time series, predicted vs measured")
    atomic.save_figure(fig, path, dpi=100)


def write_outputs(c: Comparison, pred: Summary, reals: Sequence[Summary], out: Path, title: str = "") -> list[Path]:
    """Write ``compare.json``, ``compare.md`` and ``compare.png`` (and ``compare_series.png`` for a
    scenario run) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.json", out / "compare.md", out / "compare.png"]
    atomic.write_text(paths[0], c.model_dump_json(indent=1) + "\n")
    atomic.write_text(paths[1], to_markdown(c, title))
    plot(c, pred, reals, paths[2])
    if pred.scenario is not None and any(r.scenario is not None for r in reals):
        paths.append(out / "compare_series.png")
        plot_series(pred, reals, paths[-1])
    return paths
