"""``meshsim plan``: the fewest replicas that meet every SLO (or, with ``--max-load``, the highest load)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import typer
from rich.table import Table

from meshsim import atomic
from meshsim.cli.common import (
    MaxReplicationsOption,
    PrecisionOption,
    SetOption,
    choose_replications,
    console,
    err_console,
    load_overrides,
    user_errors,
)
from meshsim.cli.output import OutputFormat, OutputOption, print_json

__all__ = ["plan_command", "SloOption", "Paths"]

Paths = Annotated[
    list[str], typer.Argument(help="YAML files or directories of the mesh (as for `meshsim run`).", show_default=False)
]
SloOption = typer.Option(
    "--slo", help="File(s) with `kind: SLO` documents (default: SLO documents among PATHS). Repeatable."
)


RpsOpt = Annotated[float | None, typer.Option("--rps", help="Entry rate to plan for, requests/s.")]
MaxLoadOpt = Annotated[
    bool, typer.Option("--max-load", help="Find the highest entry rate the config, as given, sustains within its SLOs.")
]
SidecarLimitOpt = Annotated[
    bool,
    typer.Option(
        "--sidecar-cpu-limit",
        help="Find the smallest sidecar CPU limit (sidecar.istio.io/proxyCPULimit, the same on every Deployment)"
        " at which every SLO holds at the config's rate (or --rps), by bisection between 10m and 2000m.",
    ),
]
AnalyticOnlyOpt = Annotated[bool, typer.Option("--analytic-only", help="Only the analytic pre-screen (no simulation).")]
PointDurationOpt = Annotated[
    str | None, typer.Option("--duration", help="Measured window per simulated point, e.g. 20s.")
]
PointWarmupOpt = Annotated[str | None, typer.Option("--warmup", help="Warm-up per simulated point, e.g. 5s.")]
PlanSeedOpt = Annotated[
    int, typer.Option("--seed", min=0, help="Root seed; every point uses it (common random numbers).")
]
PlanReplicationsOpt = Annotated[
    int, typer.Option("--replications", "-r", min=1, help="Replications per point (CIs, paired differences).")
]
CriterionOpt = Annotated[
    str, typer.Option("--criterion", help="'ci': the 95% CI must lie within each SLO; 'point': the estimate decides.")
]
SidecarVcpuOpt = Annotated[
    float,
    typer.Option(
        "--sidecar-vcpu-per-krps",
        min=0,
        help="Sidecar vCPU per 1000 req/s over a call's two proxies (reference: 0.2-0.5).",
    ),
]
PlanOutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Output directory (default: results/<name>-<digest8>-s<seed>-plan).")
]


def _fmt(v: float | None, nd: int = 4) -> str:
    return "-" if v is None else f"{v:.{nd}g}"


def plan_command(
    paths: Paths,
    slo: Annotated[list[str] | None, SloOption] = None,
    rps: RpsOpt = None,
    max_load_: MaxLoadOpt = False,
    sidecar_limit: SidecarLimitOpt = False,
    analytic_only: AnalyticOnlyOpt = False,
    duration: PointDurationOpt = None,
    warmup: PointWarmupOpt = None,
    seed: PlanSeedOpt = 1,
    replications: PlanReplicationsOpt = 4,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processes for replications.")] = None,
    criterion: CriterionOpt = "ci",
    vcpu_per_replica: Annotated[float, typer.Option("--vcpu-per-replica", min=0, help="vCPU of one pod (cost).")] = 1.0,
    sidecar_vcpu: SidecarVcpuOpt = 0.35,
    sets: Annotated[list[str] | None, SetOption] = None,
    out: PlanOutOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the one-line answer.")] = False,
    output: Annotated[OutputFormat, OutputOption] = OutputFormat.table,
    precision: Annotated[str | None, PrecisionOption] = None,
    max_replications: Annotated[int, MaxReplicationsOption] = 50,
) -> None:
    """Find the fewest replicas per service version such that every SLO holds.

    An analytic lower bound (Erlang C / Allen-Cunneen over the mesh) seeds a simulated search with
    common random numbers; the trace shows every point tried, e.g. why 7 replicas and not 6. With a
    HorizontalPodAutoscaler in the config, searches its minReplicas, target and maxReplicas instead, under the
    config's load shape (meshsim.planning.hpa). With --sidecar-cpu-limit, finds the smallest sidecar CPU limit
    instead (meshsim.planning.sidecar_limit). Writes plan.json, plan_trace.csv, checks.csv and
    provenance.json. Exit 1 when no plan meets the SLOs.
    """
    from meshsim.analysis.slo import load_slos
    from meshsim.planning.provenance import default_out_dir, run_digest

    with user_errors():
        crit = _criterion(criterion)
        slos = load_slos(slo or paths)
        overrides = load_overrides(sets, None, duration, warmup)
        rate_set = [f"LoadProfile.spec.rate={rps}"] if rps is not None else []
        replications = choose_replications(
            paths, [*overrides, *rate_set], seed, None if analytic_only else precision, replications,
            max_replications, workers, quiet,
        )  # fmt: skip
        command = "max-load" if max_load_ else "sidecar-cpu-limit" if sidecar_limit else "plan"
        params = dict(
            command=command, overrides=overrides, rps=rps, seed=seed,
            replications=replications, criterion=criterion, slo_digest=slos.digest,
            vcpu_per_replica=vcpu_per_replica, sidecar_vcpu_per_krps=sidecar_vcpu, analytic_only=analytic_only,
        )  # fmt: skip
        digest = run_digest(paths, params)
        out = out or default_out_dir(paths, digest, seed, command)
        as_json = output is OutputFormat.json
        progress_console = err_console if as_json else console  # with --output json stdout holds only the JSON
        say = (lambda m: None) if quiet else (lambda m: progress_console.print(f"  {m}", highlight=False))
        t0 = time.perf_counter()
        out.mkdir(parents=True, exist_ok=True)
        run = _Run(paths, slos, overrides, rps, seed, replications, workers, crit, say)
        if max_load_ or sidecar_limit:
            (_max_load if max_load_ else _sidecar_limit)(run, out, digest, params, t0, as_json)
            return
        p = _plan(run, vcpu_per_replica, sidecar_vcpu, analytic_only)
        _write_result(p, out, ("plan.json", "plan_trace.csv", "checks.csv"), paths, digest, params, t0)
    _report(p, out, as_json, quiet)


def _criterion(criterion: str) -> Literal["ci", "point"]:
    if criterion not in ("ci", "point"):
        from meshsim.errors import ConfigError

        raise ConfigError("--criterion", "", f"expected 'ci' or 'point', got {criterion!r}")
    return cast(Literal["ci", "point"], criterion)


@dataclass
class _Run:
    """What every search of ``meshsim plan`` is given."""

    paths: list[str]
    slos: Any
    overrides: list[str]
    rps: float | None
    seed: int
    replications: int
    workers: int | None
    criterion: Literal["ci", "point"]
    say: Any

    def with_rate(self) -> list[str]:
        """The overrides with ``--rps`` as a ``LoadProfile.spec.rate`` assignment."""
        return [*self.overrides, *([f"LoadProfile.spec.rate={self.rps}"] if self.rps is not None else [])]

    def search_args(self) -> dict[str, Any]:
        """The keyword arguments every simulated search takes."""
        return dict(
            seed=self.seed, replications=self.replications, workers=self.workers, criterion=self.criterion,
            progress=self.say,
        )  # fmt: skip


def _max_load(run: _Run, out: Path, digest: str, params: Any, t0: float, as_json: bool) -> None:
    """``--max-load``: the highest entry rate within the SLOs (exit 1 when none)."""
    from meshsim.planning.max_load import max_load

    ml = max_load(run.paths, run.slos, run.with_rate(), **run.search_args())
    _write_result(ml, out, ("max_load.json", "trace.csv", "checks.csv"), run.paths, digest, params, t0)
    if as_json:
        print_json({**ml.to_dict(), "out": str(out)})
    else:
        console.print(
            f"max load: {_fmt(ml.rate)} req/s within the SLOs (fails at {_fmt(ml.failed_at)}; analytic {_fmt(ml.analytic_rate)}); wrote {out}"
        )
    if ml.rate is None:
        raise typer.Exit(1)


def _sidecar_limit(run: _Run, out: Path, digest: str, params: Any, t0: float, as_json: bool) -> None:
    """``--sidecar-cpu-limit``: the smallest sidecar CPU limit within the SLOs (exit 1 when even 2000m fails)."""
    from meshsim.planning.sidecar_limit import sidecar_cpu_limit

    sl = sidecar_cpu_limit(run.paths, run.slos, run.with_rate(), **run.search_args())
    _write_result(sl, out, ("sidecar_limit.json", "trace.csv", "checks.csv"), run.paths, digest, params, t0)
    if as_json:
        print_json({**sl.to_dict(), "out": str(out)})
        if sl.limit_m is None:
            raise typer.Exit(1)
        return
    lim = "none up to 2000m" if sl.limit_m is None else f"{sl.limit_m}m"
    fails = f"fails at {sl.failed_at_m}m" if sl.failed_at_m is not None else "every limit tried holds"
    worst = max(sl.throttled.items(), key=lambda kv: kv[1], default=None)
    thr = f"; most throttled sidecar {worst[0]} in {worst[1]:.0%} of its periods" if worst else ""
    console.print(f"sidecar CPU limit: {lim} at {_fmt(sl.rate)} req/s ({fails}){thr}; wrote {out}", highlight=False)
    if sl.untouched:
        console.print(f"  kept Istio's default sidecar resources (no Deployment): {', '.join(sl.untouched)}")
    if sl.limit_m is None:
        raise typer.Exit(1)


def _plan(run: _Run, vcpu_per_replica: float, sidecar_vcpu: float, analytic_only: bool) -> Any:
    """The fixed-replica search, or the HPA search when the config has a HorizontalPodAutoscaler (and the
    question is not the analytic pre-screen, which has no autoscaler)."""
    from meshsim.model.build import load_and_compile
    from meshsim.planning.hpa import plan_hpa
    from meshsim.planning.search import plan

    rate_set = [f"LoadProfile.spec.rate={run.rps}"] if run.rps is not None else []
    has_hpa = bool(load_and_compile(run.paths, [*run.overrides, *rate_set])[0].autoscalers)
    search = plan_hpa if has_hpa and not analytic_only else plan
    kwargs: dict[str, Any] = {} if search is plan_hpa else {"simulate": not analytic_only}
    return search(
        run.paths, run.slos, run.overrides, rate=run.rps, seed=run.seed, replications=run.replications,
        workers=run.workers, criterion=run.criterion, vcpu_per_replica=vcpu_per_replica,
        sidecar_vcpu_per_krps=sidecar_vcpu, progress=run.say, **kwargs,
    )  # fmt: skip


def _report(p: Any, out: Path, as_json: bool, quiet: bool) -> None:
    """Print the plan (JSON, or the tables and the one-line answer); exit 1 when it is not feasible."""
    from meshsim.planning.hpa import HPAPlan

    if as_json:
        print_json({**p.to_dict(), "out": str(out)})
    elif isinstance(p, HPAPlan):
        if not quiet:
            _render_hpa(p)
        what = ", ".join(
            f"{s.hpa} minReplicas={s.min_replicas} maxReplicas={s.max_replicas} target={_fmt(s.target)}"
            for s in p.settings
        )
        cost = f"; {p.cost_vcpu:.2f} vCPU (time-averaged)" if p.cost_vcpu is not None else ""
        console.print(
            f"plan at {_fmt(p.rate)} req/s: {what or '-'}{cost} ({'feasible' if p.feasible else 'NOT feasible'}); wrote {out}",
            highlight=False,
        )
    else:
        if not quiet:
            _render(p)
        summary = ", ".join(f"{k}={v}" for k, v in sorted(p.replicas.items()))
        cost = f"; {p.cost.total_vcpu:.2f} vCPU" if p.cost is not None else ""
        console.print(
            f"plan at {_fmt(p.rate)} req/s: {summary}{cost} ({'feasible' if p.feasible else 'NOT feasible'}); wrote {out}",
            highlight=False,
        )
    if not p.feasible:
        raise typer.Exit(1)


def _render(p: object) -> None:
    from meshsim.planning.search import Plan

    assert isinstance(p, Plan)
    t = Table(title="plan", title_justify="left")
    for col in ("workload", "configured", "analytic bound", "plan", "utilisation [95% CI]"):
        t.add_column(col)
    for k in sorted(p.replicas):
        u = p.utilization.get(k)
        ut = (
            "-"
            if u is None or u.value is None
            else f"{u.value:.3f}"
            + (f" [{u.ci_low:.3f}, {u.ci_high:.3f}]" if u.ci_low is not None and u.ci_high is not None else "")
        )
        t.add_row(k, str(p.configured.get(k)), str(p.analytic.get(k)), str(p.replicas[k]), ut)
    console.print(t)
    _render_checks(p.checks)
    console.print(_trace_table(p))
    if p.cost is not None and p.cost.basis == "requests":
        console.print(
            f"cost: {p.cost.pods} pods, {p.cost.replica_vcpu:.2f} vCPU of CPU requests (app and sidecar containers)",
            highlight=False,
        )
    elif p.cost is not None:
        console.print(
            f"cost: {p.cost.pods} pods x {p.cost.vcpu_per_replica:g} vCPU = {p.cost.replica_vcpu:.2f} vCPU + sidecars "
            f"{p.cost.sidecar_vcpu:.2f} vCPU ({p.cost.proxy_krps:.2f} k req/s x {p.cost.sidecar_vcpu_per_krps:g}) = {p.cost.total_vcpu:.2f} vCPU",
            highlight=False,
        )
    for n in p.notes:
        console.print(f"note: {n}", style="yellow", highlight=False)


def _render_checks(checks: Any) -> None:
    c = Table(title="SLOs at the plan", title_justify="left")
    for col in ("objective", "metric", "limit", "value", "95% CI", "ok"):
        c.add_column(col)
    for ch in checks:
        ci = f"[{_fmt(ch.ci_low)}, {_fmt(ch.ci_high)}]" if ch.ci_low is not None else "-"
        c.add_row(
            ch.objective,
            ch.metric,
            f"{'<=' if ch.bound == 'max' else '>='} {ch.limit:g}",
            _fmt(ch.value),
            ci,
            "yes" if ch.ok else "NO",
        )
    console.print(c)


def _trace_table(p: Any) -> Table:
    """The search trace of a fixed-replica plan: full, else compact (phase under the step, the worst objective
    over its value, one replica per line)."""
    from meshsim.report.tables import fits

    tr = Table(title="search trace", title_justify="left")
    for col in (
        "#",
        "phase",
        "action",
        "replicas",
        "ok",
        "worst objective",
        "value",
        "paired diff vs reference [95% CI]",
    ):
        tr.add_column(col)
    for s in p.trace:
        reps = " ".join(f"{k}={v}" for k, v in sorted(s.replicas.items()))
        ok = "yes" if s.ok else "no"
        tr.add_row(str(s.step), s.phase, s.action, reps, ok, s.worst, _fmt(s.worst_value), str(s.paired or ""))
    if fits(tr, console):
        return tr
    tr = Table(title="search trace", title_justify="left")
    for col in ("#", "action", "replicas", "ok", "worst objective\n= value", "paired diff vs\nreference [95% CI]"):
        tr.add_column(col, overflow="fold")
    for s in p.trace:
        reps = "\n".join(f"{k}={v}" for k, v in sorted(s.replicas.items()))
        paired = (
            ""
            if s.paired is None
            else f"{s.paired.mean:+.3g}"
            + (
                f"\n[{s.paired.ci_low:+.3g}, {s.paired.ci_high:+.3g}]"
                if s.paired.ci_low is not None and s.paired.ci_high is not None
                else ""
            )
        )
        ok = "yes" if s.ok else "no"
        tr.add_row(f"{s.step}\n{s.phase}", s.action, reps, ok, f"{s.worst}\n= {_fmt(s.worst_value)}", paired)
    return tr


def _render_hpa(p: Any) -> None:
    """The HPA plan: the chosen settings beside the configured ones, the SLOs, and every point tried."""
    t = Table(title="plan (HorizontalPodAutoscalers)", title_justify="left")
    for col in ("hpa", "configured min/max/target", "plan min/max/target"):
        t.add_column(col)
    conf = {s.hpa: s for s in p.configured}
    for s in p.settings:
        c = conf[s.hpa]
        t.add_row(
            s.hpa,
            f"{c.min_replicas}/{c.max_replicas}/{_fmt(c.target)}",
            f"{s.min_replicas}/{s.max_replicas}/{_fmt(s.target)}",
        )
    console.print(t)
    _render_checks(p.checks)
    tr = Table(title="search trace", title_justify="left")
    for col in ("#", "action", "ok", "mean pods", "peak pods", "vCPU", "worst objective", "value"):
        tr.add_column(col, overflow="fold")
    for pt in p.trace:
        row = pt.as_row()
        tr.add_row(
            str(pt.step),
            pt.action,
            "yes" if pt.ok else "no",
            " ".join(f"{_fmt(v)}" for v in pt.mean_pods.values()),
            " ".join(str(v) for v in pt.peak_pods.values()),
            f"{pt.cost_vcpu:.2f}",
            row["worst"],
            _fmt(row["worst_value"]),
        )
    console.print(tr)
    for n in p.notes:
        console.print(f"note: {n}", style="yellow", highlight=False)


def _write_result(
    result: Any, out: Path, names: tuple[str, str, str], paths: list[str], digest: str, params: Any, t0: float
) -> None:
    """Write a plan or max-load ``result`` (its JSON, trace and checks tables, atomically) and the run's
    ``provenance.json`` into ``out``; ``names`` are the three file names."""
    from meshsim.planning.provenance import write_provenance

    written = [out / n for n in names]
    atomic.write_text(written[0], json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    atomic.to_csv(result.trace_frame(), written[1], index=False)
    atomic.to_csv(result.checks_frame(), written[2], index=False)
    write_provenance(
        out,
        ["meshsim", *sys.argv[1:]],
        paths,
        digest,
        params,
        written,
        time.perf_counter() - t0,
        {"config_digest": result.digest, "point_digests": [t.digest for t in result.trace if t.digest]},
    )
