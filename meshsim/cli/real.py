"""``meshsim real``: run a scenario on a real loopback Envoy mesh.

``real_app`` is a :class:`typer.Typer` mounted by the main CLI as ``meshsim real``. Bad input and run
failures print one line and exit 2; an interrupted run exits 130 after stopping every process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from meshsim.cli.common import (
    DurationOption,
    RpsOption,
    SeedOption,
    SetOption,
    WarmupOption,
    load_overrides,
    seconds,
)
from meshsim.errors import MeshsimError

__all__ = ["real_app"]

real_app = typer.Typer(help="Run scenarios on a real Envoy mesh (loopback, no root).", no_args_is_help=True)


@real_app.callback()
def _root() -> None:
    """Real-mesh commands."""


PathsArgument = typer.Argument(help="Topology, Istio YAML and LoadProfile files or directories.")
RealOutOption = typer.Option(
    "--out",
    "-o",
    help="Directory for summary.json and the raw measurements (default: results/<name>-<digest8>-s<seed>-real).",
)
EnvoyConcurrencyOption = typer.Option("--envoy-concurrency", min=1, help="Worker threads per Envoy.")
NiceOption = typer.Option("--nice", help="Priority of the mesh processes (negative needs root; see real/README.md).")
PrometheusOption = typer.Option(
    "--prometheus",
    help="Also write Istio's standard metrics (istio_requests_total, istio_request_duration_milliseconds) "
    "of the measured window to this file, Prometheus text format, from per-request Envoy access logs.",
)
TracesOption = typer.Option(
    "--traces",
    help="Also write the Envoys' own Zipkin spans (100 % sampled, warm-up and drain included) to this file, "
    "Zipkin v2 JSON, from a collector served on loopback; import it with 'meshsim import traces'.",
)
AddressPrefixOption = typer.Option(
    "--address-prefix",
    help="The first two octets of the loopback addresses the mesh's pods get (127.X); "
    "two real runs at once need different prefixes.",
)


@real_app.command("run")
def run(
    paths: Annotated[list[str], PathsArgument],
    out: Annotated[Path | None, RealOutOption] = None,
    duration: Annotated[str | None, DurationOption] = None,
    rps: Annotated[float | None, RpsOption] = None,
    seed: Annotated[int, SeedOption] = 1,
    warmup: Annotated[str | None, WarmupOption] = None,
    sets: Annotated[list[str] | None, SetOption] = None,
    envoy_concurrency: Annotated[int, EnvoyConcurrencyOption] = 1,
    nice: Annotated[int, NiceOption] = 0,
    prometheus: Annotated[Path | None, PrometheusOption] = None,
    traces: Annotated[Path | None, TracesOption] = None,
    address_prefix: Annotated[str, AddressPrefixOption] = "127.77",
) -> None:
    """Start control plane, Envoys and apps; apply the load; write OUT/summary.json; stop everything.

    --duration, --warmup, --rps and --set are the same options as `meshsim run`'s: they edit the
    LoadProfile (and any document) before validation, so a bad value is named with its flag.
    """
    from meshsim.pipeline import load_and_compile
    from meshsim.real.runner import RunFailed, RunOptions, run_real_sync

    try:
        if rps is not None and rps <= 0:
            raise MeshsimError("--rps must be > 0 (from --rps)")
        _check_address_prefix(address_prefix)
        model, _ = load_and_compile(paths, load_overrides(sets, rps, duration, warmup))  # with its Scenario timeline
        if out is None:
            name = Path(paths[0].rstrip("/")).stem or "run"
            out = Path("results") / f"{name}-{model.digest[:8]}-s{seed}-real"
        opts = RunOptions(
            out=out,
            duration=None,  # the overrides are in the model's LoadProfile
            rps=None,
            warmup=None,
            seed=seed,
            envoy_concurrency=envoy_concurrency,
            nice=nice,
            prometheus=prometheus,
            address_prefix=address_prefix,
        )
        if traces is None:
            summary = run_real_sync(model, opts, paths)
        else:
            summary = _run_traced(model, opts, paths, traces)
    except RunFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(130 if "interrupted" in str(exc) else 2) from None
    except MeshsimError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    _echo_summary(summary, out)


def _check_address_prefix(prefix: str) -> None:
    """Raise :class:`~meshsim.errors.MeshsimError` unless ``prefix`` is ``127.N`` with N in 0..254."""
    octets = prefix.split(".")
    if len(octets) != 2 or octets[0] != "127" or not octets[1].isdigit() or int(octets[1]) > 254:
        raise MeshsimError(f"--address-prefix must be 127.N with N in 0..254, not {prefix!r}")


def _echo_summary(summary: Any, out: Path) -> None:
    """The entry's one-line result (requests, rate, success, p50/p99 in ms) and the run's warnings."""
    e = summary.entry
    lat = e.latency_ms
    typer.echo(
        f"{e.service}: {e.requests} requests, {e.throughput_rps:.0f} req/s, success {e.success_rate.value:.4f}, "
        f"p50 {lat.p50.value:.2f} ms, p99 {lat.p99.value:.2f} ms -> {out / 'summary.json'}"
    )
    for f in summary.findings:
        if f.startswith("warning"):
            typer.echo(f)


def _run_traced(model: Any, opts: Any, inputs: list[str], traces: Path) -> Any:
    """The run with every Envoy's Zipkin tracer pointed at a loopback collector writing ``traces``."""
    from meshsim.real.control_plane import ZIPKIN_TRACING
    from meshsim.real.runner import run_real_sync
    from meshsim.real.telemetry import ZipkinCollector, zipkin_tags
    from meshsim.xds.tracing import ZipkinTarget

    if not traces.parent.is_dir():
        raise MeshsimError(f"--traces {traces}: no such directory {traces.parent}")
    collector = ZipkinCollector(traces)
    token = ZIPKIN_TRACING.set(ZipkinTarget(collector.address, collector.port, zipkin_tags(model)))
    try:
        summary = run_real_sync(model, opts, inputs)
    finally:
        ZIPKIN_TRACING.reset(token)
        collector.close()
    typer.echo(f"{collector.spans} spans in {collector.batches} batches -> {traces}")
    return summary


@real_app.command("calibrate")
def calibrate_cmd(
    out: Path = typer.Option(Path("calibration.yaml"), "--out", help="The MeshSettings file to write."),  # noqa: B008
    workdir: Path | None = typer.Option(None, "--workdir", help="Raw runs (default: <out stem>-runs/ next to --out)."),  # noqa: B008
    rps: float = typer.Option(100.0, "--rps", help="Open-loop rate of each calibration run, requests/s."),
    duration: str = typer.Option("8s", "--duration", help="Measured window of each run, e.g. 8s."),
    seed: int = typer.Option(1, "--seed"),
    envoy_concurrency: int = typer.Option(1, "--envoy-concurrency", min=1),
    nice: int = typer.Option(
        0, "--nice", help="Priority of the mesh processes (negative needs root; see real/README.md)."
    ),
    body_kib: int = typer.Option(
        512, "--body-kib", min=0, max=1024, help="KiB each way of the body-size run (perKiB); 0 skips it."
    ),
    cpu: bool = typer.Option(
        True,
        "--cpu/--no-cpu",
        help="Measure idle CPU and CPU per request from cgroup accounting at ~1 req/s, --rps and twice it (needs root).",
    ),
) -> None:
    """Measure this machine's sidecar cost: per-traversal latency, cost per KiB of body, Envoy CPU per traversal
    and idle CPU (cgroup accounting at ~1 req/s, --rps and twice it); write a MeshSettings YAML.

    Use it with `meshsim run TOPOLOGY calibration.yaml` or `meshsim real validate --calibration FILE`.
    """
    from meshsim.real.calibrate import calibrate
    from meshsim.real.runner import RunFailed

    try:
        window = seconds(duration, "--duration") or 0.0
        if rps <= 0 or window <= 0:
            raise MeshsimError("--rps and --duration must be > 0")
        wd = workdir or out.with_name(out.stem + "-runs")
        res = calibrate(
            out,
            wd,
            rate=rps,
            duration=window,
            seed=seed,
            envoy_concurrency=envoy_concurrency,
            nice=nice,
            body_kib=body_kib,
            cpu=cpu,
        )
    except RunFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(130 if "interrupted" in str(exc) else 2) from None
    except MeshsimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    e, a = res.envoy_traversal_ms, res.app_overhead_ms
    typer.echo(f"one Envoy traversal: p50 {e['p50']:.3f} ms, p99 {e['p99']:.3f} ms; app overhead p50 {a['p50']:.3f} ms")
    typer.echo(
        f"per-traversal latency for the simulator: lognormal median {res.fitted_median_s * 1e3:.3f} ms, "
        f"p99 {res.fitted_p99_s * 1e3:.3f} ms -> {out}"
    )
    if res.per_kib_raw_s is not None:
        typer.echo(f"per KiB per traversal: {res.per_kib_raw_s * 1e9:.0f} ns ({res.body_kib} KiB bodies each way)")
    if res.cpu is not None:
        c = res.cpu
        typer.echo(
            f"Envoy CPU per traversal: {c.envoy_per_traversal_ms:.3f} ms at {c.rates_rps[1]:.0f} req/s (cgroup accounting)"
        )
        if c.envoy_idle_cores is not None:
            app_idle = f", app {c.app_idle_cores * 1e3:.1f} m" if c.app_idle_cores is not None else ""
            typer.echo(f"idle CPU: Envoy {c.envoy_idle_cores * 1e3:.1f} m{app_idle} (at {c.idle_rate_rps:g} req/s)")
    else:
        typer.echo(f"CPU not measured: {res.cpu_note}")


@real_app.command("validate")
def validate_cmd(
    paths: list[Path] = typer.Argument(..., help="Topology, Istio YAML and LoadProfile files or directories."),  # noqa: B008
    out: Path = typer.Option(..., "--out", help="Directory: pred/, run-N/, compare.json/.md/.png."),  # noqa: B008
    runs: int = typer.Option(3, "--runs", min=1, help="Real runs; the median of each metric is compared."),
    calibration: Path | None = typer.Option(None, "--calibration", help="A MeshSettings file from `real calibrate`."),  # noqa: B008
    replications: int = typer.Option(8, "--replications", "-r", min=2, help="Simulated replications (CIs)."),
    duration: Annotated[str | None, DurationOption] = None,
    rps: Annotated[float | None, RpsOption] = None,
    warmup: Annotated[str | None, WarmupOption] = None,
    seed: Annotated[int, SeedOption] = 1,
    envoy_concurrency: int = typer.Option(1, "--envoy-concurrency", min=1),
    nice: int = typer.Option(
        0, "--nice", help="Priority of the mesh processes (negative needs root; see real/README.md)."
    ),
) -> None:
    """Predict (simulate), run for real `--runs` times, compare the median; exit 1 outside tolerance."""
    from rich.console import Console

    from meshsim.real.runner import RunFailed
    from meshsim.real.validate import validate

    con = Console()
    try:
        window, warm = seconds(duration, "--duration"), seconds(warmup, "--warmup")
        if window is not None and window <= 0:
            raise MeshsimError("--duration must be > 0 (from --duration)")
        if warm is not None and warm < 0:
            raise MeshsimError("--warmup must be >= 0 (from --warmup)")
        if rps is not None and rps <= 0:
            raise MeshsimError("--rps must be > 0 (from --rps)")
        res = validate(
            [str(p) for p in paths],
            out,
            runs=runs,
            calibration=calibration,
            replications=replications,
            duration=window,
            rps=rps,
            warmup=warm,
            seed=seed,
            envoy_concurrency=envoy_concurrency,
            nice=nice,
            progress=lambda m: con.print(m, style="dim"),
        )
    except RunFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(130 if "interrupted" in str(exc) else 2) from None
    except MeshsimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from meshsim.report.compare import rich_table

    con.print(rich_table(res, title=f"predicted vs measured (median of {runs} runs)"))
    for n in res.notes:
        con.print(n, style="yellow")
    con.print(
        f"{'PASS' if res.passed else 'FAIL'}: {len(res.failures)} row(s) outside tolerance -> {out / 'compare.md'}"
    )
    raise typer.Exit(0 if res.passed else 1)


if __name__ == "__main__":
    real_app()
