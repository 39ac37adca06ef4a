"""``meshsim run | validate | schema`` (and ``meshsim real ...`` when the real-mesh extra is installed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from meshsim import __version__, atomic
from meshsim.cli.common import (
    DurationOption,
    MaxReplicationsOption,
    PrecisionOption,
    RpsOption,
    SeedOption,
    SetOption,
    WarmupOption,
    console,
    err_console,
    load_overrides,
    progress_bar,
    shadowed_sets,
    user_errors,
)
from meshsim.cli.output import OutputFormat, OutputOption, print_json

app = typer.Typer(
    help="meshsim: predict what an Istio/Envoy config does to latency, errors and load, before production does.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Paths = Annotated[
    list[str],
    typer.Argument(
        help="YAML files or directories: an isotope MockServiceGraph topology, Kubernetes Deployments/Services, "
        "Istio VirtualServices/DestinationRules (unmodified), a meshsim LoadProfile and MeshSettings.",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"meshsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """meshsim: a discrete-event simulator and capacity planner for Istio/Envoy service meshes."""


_Replications = typer.Option(
    "--replications", "-r", min=1, help="Independent replications (run in parallel processes); they give the CIs."
)
_Workers = typer.Option("--workers", min=1, help="Processes for replications (default: one per CPU).")
_Quiet = typer.Option("--quiet", "-q", help="No tables or progress bar.")
_Amplification = typer.Option(
    "--amplification-threshold",
    min=1.0,
    help="Flag edges whose attempts per app-level call exceed this (Envoy's default retry budget allows ~1.25).",
)
_Prometheus = typer.Option(
    "--prometheus",
    help="Also write Istio's standard metrics (istio_requests_total, istio_request_duration_milliseconds) in "
    "Prometheus text format to FILE.",
)
_Traces = typer.Option("--traces", help="Also write sampled request traces as Jaeger JSON to FILE.")
_TraceSample = typer.Option(
    "--trace-sample", min=0.0, max=1.0, help="Fraction of measured entry requests traced (with --traces)."
)
_Force = typer.Option(
    "--force", help="Run even when the pre-run estimate exceeds the limits policy's budget of simulated calls."
)
_Scheduler = typer.Option(
    "--scheduler",
    help="Run the replications on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 (results identical to local).",
)
_Out = typer.Option("--out", "-o", help="Output directory (default: results/<name>-<digest>-s<seed>).")


@app.command()
def run(
    paths: Paths,
    out: Annotated[Path | None, _Out] = None,
    rps: Annotated[float | None, RpsOption] = None,
    duration: Annotated[str | None, DurationOption] = None,
    warmup: Annotated[str | None, WarmupOption] = None,
    seed: Annotated[int, SeedOption] = 1,
    replications: Annotated[int, _Replications] = 1,
    workers: Annotated[int | None, _Workers] = None,
    scheduler: Annotated[str | None, _Scheduler] = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    quiet: Annotated[bool, _Quiet] = False,
    amplification_threshold: Annotated[float, _Amplification] = 1.2,
    prometheus: Annotated[Path | None, _Prometheus] = None,
    traces: Annotated[Path | None, _Traces] = None,
    trace_sample: Annotated[float, _TraceSample] = 0.01,
    output: Annotated[OutputFormat, OutputOption] = OutputFormat.table,
    precision: Annotated[str | None, PrecisionOption] = None,
    max_replications: Annotated[int, MaxReplicationsOption] = 50,
    force: Annotated[bool, _Force] = False,
) -> None:
    """Simulate the mesh and write summary.json, a latency CDF and a service graph.

    Prints entry latency percentiles with 95% confidence intervals, per-edge traffic (split across
    subsets, retries, response flags) and per-service utilisation.
    """
    from meshsim.config.checks import analysis_message
    from meshsim.experiments.replicate import parse_precision
    from meshsim.pipeline import load_and_compile, simulate_run
    from meshsim.sim.options import RunOptions

    with user_errors():
        origins: dict[tuple[str, str, str], str] = {}
        overrides = load_overrides(sets, rps, duration, warmup)
        model, findings = load_and_compile(paths, overrides, force=force, origins=origins)
        warnings = [*shadowed_sets(sets, rps, duration, warmup), *(f for f in findings if f.level != "info")]
        for f in warnings:  # as `meshsim validate` prints them
            err_console.print(str(analysis_message(f, origins)), style="yellow", highlight=False, soft_wrap=True)
        if out is None:
            name = Path(paths[0].rstrip("/")).stem or "run"
            out = Path("results") / f"{name}-{model.digest[:8]}-s{seed}"
        t0 = time.perf_counter()
        options = RunOptions(
            trace_sample=trace_sample if traces is not None else 0.0, istio_metrics=prometheus is not None
        )
        target = parse_precision(precision) if precision is not None else None
        with progress_bar("simulating", enabled=not quiet) as update:
            result = simulate_run(
                model,
                seed,
                replications,
                workers=workers,
                progress=update,
                inputs=list(paths),
                findings=[str(f) for f in warnings],
                amplification_threshold=amplification_threshold,
                precision=target,
                max_replications=max_replications,
                options=options,
                scheduler=scheduler,
            )
        summary = result.summary
        for line in summary.findings[len(warnings) :]:  # found in the output (initial transient)
            err_console.print(line, style="yellow", highlight=False, soft_wrap=True)
        if summary.run.precision_met is False:
            err_console.print(
                f"warning: --precision {precision} not met after {summary.run.replications} replications "
                f"(entry p99 +/- {_pct(summary.run.precision_achieved)}); raise --max-replications",
                style="yellow",
                highlight=False,
            )
        wall = time.perf_counter() - t0
        record = {"command": ["meshsim", "run", *paths], "overrides": overrides, "wall_time_s": round(wall, 3)}
        _write_run(result, model, out, record, seed, prometheus, traces, output, quiet, wall)


def _write_run(
    result: Any,
    model: Any,
    out: Path,
    record: dict[str, Any],
    seed: int,
    prometheus: Path | None,
    traces: Path | None,
    output: OutputFormat,
    quiet: bool,
    wall: float,
) -> None:
    """The outputs of ``meshsim run``: Prometheus and Jaeger files first, run.json, then summary.json last
    (its presence means the run finished), and the tables or the JSON on stdout."""
    from meshsim.pipeline import write_outputs
    from meshsim.report.tables import render_summary
    from meshsim.telemetry.jaeger import write_jaeger
    from meshsim.telemetry.prometheus import write_prometheus

    summary = result.summary
    extra: list[Path] = []
    observations = result.observations
    if prometheus is not None:
        extra.append(write_prometheus([o.metrics for o in observations], prometheus))
    if traces is not None:
        extra.append(write_jaeger([(o.replication, o.traces) for o in observations], traces, model))
    out.mkdir(parents=True, exist_ok=True)
    run_json = {
        **record,
        "meshsim_version": __version__,
        "seed": seed,
        "replications": summary.run.replications,
        "config_digest": model.digest,
    }
    atomic.write_text(out / "run.json", json.dumps(run_json, indent=2) + "\n")
    written = [*write_outputs(summary, out), *extra]
    if output is OutputFormat.json:  # the summary.json content, alone on stdout
        print_json(summary.model_dump(mode="json"))
    elif not quiet:
        render_summary(summary, console)
        simulated = summary.run.warmup_s + summary.run.duration_s
        console.print(f"Wrote {', '.join(str(p) for p in written)}", highlight=False)
        console.print(
            f"Simulated {simulated:g} s of mesh time x {summary.run.replications} replication(s) in {wall:.3g} s of "
            "wall-clock time (loading, compiling and writing outputs not counted)",
            highlight=False,
        )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


@app.command()
def schema() -> None:
    """Print the JSON Schema of summary.json."""
    from meshsim.metrics.results import Summary

    typer.echo(json.dumps(Summary.model_json_schema(), indent=2))


from meshsim.cli.check import check_command  # noqa: E402  (one file per command)
from meshsim.cli.plan import plan_command  # noqa: E402
from meshsim.cli.sweep import sweep_command  # noqa: E402

app.command("plan")(plan_command)
app.command("sweep")(sweep_command)
app.command("check")(check_command)


from meshsim.cli.compare import compare_cmd  # noqa: E402

app.command("compare")(compare_cmd)

try:  # the real-mesh commands exist only with the [real] extra installed
    from meshsim.cli.real import real_app

    app.add_typer(
        real_app, name="real", help="Deploy the same compiled config to a real Envoy mesh on loopback and measure it."
    )
except ImportError:  # pragma: no cover - depends on the installed extra
    pass

from meshsim.cli.storm import storm_command  # noqa: E402

app.command("storm")(storm_command)

from meshsim.cli.validate import validate_command  # noqa: E402  (istioctl analyze's conventions)

app.command("validate")(validate_command)

from meshsim.cli.init import init_command  # noqa: E402  (a starter topology from Kubernetes manifests)

app.command("init")(init_command)

from meshsim.cli.importer import import_app  # noqa: E402  (bring your own mesh: traces, metrics, kubectl exports)

app.add_typer(import_app, name="import", help="Build a topology from traces, Prometheus metrics or Kubernetes exports.")
