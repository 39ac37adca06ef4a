"""``meshsim real``: run a scenario on a real loopback Envoy mesh (issue #4).

``real_app`` is a :class:`typer.Typer` mounted by the main CLI as ``meshsim real``. Bad input and run
failures print one line and exit 2; an interrupted run exits 130 after stopping every process.
"""

from __future__ import annotations

from pathlib import Path

import typer

from meshsim.errors import MeshsimError

__all__ = ["real_app"]

real_app = typer.Typer(help="Run scenarios on a real Envoy mesh (loopback, no root).", no_args_is_help=True)


@real_app.callback()
def _root() -> None:
    """Real-mesh commands."""


@real_app.command("run")
def run(
    paths: list[Path] = typer.Argument(..., help="Topology, Istio YAML and LoadProfile files or directories."),  # noqa: B008
    out: Path = typer.Option(..., "--out", help="Directory for summary.json and the raw measurements."),  # noqa: B008
    duration: float | None = typer.Option(
        None, "--duration", help="Measured window, seconds (overrides the LoadProfile)."
    ),
    rps: float | None = typer.Option(None, "--rps", help="Open-loop rate, requests/s (overrides the LoadProfile)."),
    seed: int = typer.Option(1, "--seed", help="Seed for arrivals, service times and errors."),
    warmup: float | None = typer.Option(None, "--warmup", help="Warm-up, seconds (overrides the LoadProfile)."),
    envoy_concurrency: int = typer.Option(1, "--envoy-concurrency", min=1, help="Worker threads per Envoy."),
) -> None:
    """Start control plane, Envoys and apps; apply the load; write OUT/summary.json; stop everything."""
    from meshsim.config import load
    from meshsim.model import compile_model
    from meshsim.real.runner import RunFailed, RunOptions, run_real_sync

    try:
        if duration is not None and duration <= 0:
            raise MeshsimError("--duration must be > 0")
        if rps is not None and rps <= 0:
            raise MeshsimError("--rps must be > 0")
        model = compile_model(load([str(p) for p in paths]))
        opts = RunOptions(
            out=out, duration=duration, rps=rps, warmup=warmup, seed=seed, envoy_concurrency=envoy_concurrency
        )
        summary = run_real_sync(model, opts, [str(p) for p in paths])
    except RunFailed as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(130 if "interrupted" in str(exc) else 2) from None
    except MeshsimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    e = summary.entry
    lat = e.latency_ms
    typer.echo(
        f"{e.service}: {e.requests} requests, {e.throughput_rps:.0f} req/s, success {e.success_rate.value:.4f}, "
        f"p50 {lat.p50.value:.2f} ms, p99 {lat.p99.value:.2f} ms -> {out / 'summary.json'}"
    )
    for f in summary.findings:
        if f.startswith("warning"):
            typer.echo(f)


if __name__ == "__main__":
    real_app()
